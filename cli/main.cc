// berth: the command-line client of a berth suite (ctr's verbs and flags). See cli/cli.h.
#include "cli/cli.h"

int main(int argc, char** argv) { return berth::cli::Main(argc, argv); }
