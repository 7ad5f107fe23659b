// The berth command's top level: global flags, environment defaults, command groups.
#include <cstdlib>

#include "cli/cli.h"
#include "cli/signals.h"

namespace berth::cli {
namespace {

std::string FromEnv(std::initializer_list<const char*> names, const std::string& fallback) {
  for (const char* n : names) {
    const char* v = std::getenv(n);
    if (v != nullptr && *v != '\0') return v;
  }
  return fallback;
}

}  // namespace

int Main(int argc, char** argv) {
  // Before any thread exists, so that every thread inherits the mask: signals are taken by
  // one thread and forwarded to an attached process, or end the program.
  StartSignalRouter();

  CLI::App app{"berth: the command-line client of a berth (containerd-compatible) suite"};
  app.name("berth");
  app.require_subcommand(1);
  app.fallthrough();
  Env env;
  env.globals.address = FromEnv({"BERTH_ADDRESS", "CONTAINERD_ADDRESS"}, "/run/berth/berth.sock");
  env.globals.ns = FromEnv({"BERTH_NAMESPACE", "CONTAINERD_NAMESPACE"}, "default");
  env.globals.fifo_dir = FromEnv({"BERTH_FIFO_DIR"}, "");
  app.add_option("-a,--address", env.globals.address,
                 "address of the berth socket ($BERTH_ADDRESS; unix path, unix:// or tcp://)")
      ->capture_default_str();
  app.add_option("-n,--namespace", env.globals.ns,
                 "namespace ($BERTH_NAMESPACE, $CONTAINERD_NAMESPACE)")
      ->capture_default_str();
  app.add_option("--timeout", env.globals.timeout_seconds,
                 "deadline of each call in seconds (0: none)");
  app.add_option("--fifo-dir", env.globals.fifo_dir, "directory for task FIFOs ($BERTH_FIFO_DIR)");

  AddNamespaceCommands(app, env);
  AddLeaseCommands(app, env);
  AddVersionCommands(app, env);
  AddContentCommands(app, env);
  AddSnapshotCommands(app, env);
  AddImageCommands(app, env);
  AddPushCommands(app, env);
  AddContainerCommands(app, env);
  AddTaskCommands(app, env);
  AddRunCommand(app, env);
  AddEventCommands(app, env);
  AddGcCommand(app, env);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return env.exit_code;
}

}  // namespace berth::cli
