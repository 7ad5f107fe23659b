// The `berth` command: ctr's verbs and flags over berth's client library (client/berth.h).
//
//   berth [-a ADDRESS] [-n NAMESPACE] [--timeout D] COMMAND ...
//
// ADDRESS defaults to $BERTH_ADDRESS or /run/berth/berth.sock; NAMESPACE to $BERTH_NAMESPACE,
// then $CONTAINERD_NAMESPACE, then "default". Each command group lives in its own file and
// registers its subcommands on the CLI11 app; a command's callback sets Env::exit_code.
// Errors are printed as one line, `berth: <message> (<code>)`, with exit status 1; `run` and
// `tasks exec`/`start` exit with the process' own status.
//
// Thread-safety: a command runs on the main thread (run/exec add signal and copy threads).
#ifndef BERTH_CLI_CLI_H_
#define BERTH_CLI_CLI_H_

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "client/berth.h"
#include "nlohmann/json.hpp"

namespace berth::cli {

struct Globals {
  std::string address;
  std::string ns;
  // Per-call deadline in seconds; 0: none.
  int timeout_seconds = 0;
  // Where task FIFOs go.
  std::string fifo_dir;
};

// What every command shares.
class Env {
 public:
  Globals globals;
  int exit_code = 0;

  // The client for the global flags (made on first use).
  const Client& client();

 private:
  std::optional<Client> client_;
};

// Prints `berth: <message> (<code>)` to stderr and returns 1.
int Fail(const absl::Status& status);
// Prints `berth: <message>` for a usage error and returns 2.
int Usage(const std::string& message);

// An aligned text table, as ctr prints them: columns separated by at least 3 spaces.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  // `quiet`: only the first column of the rows, no header.
  void Print(std::FILE* out = stdout, bool quiet = false) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "1.5 MiB", "730 B".
std::string HumanSize(int64_t bytes);
// "3 seconds ago", "2 hours ago".
std::string HumanAge(Time t);
// RFC 3339 with nanoseconds, UTC: "2024-01-02T03:04:05.123456789Z".
std::string FormatTime(Time t);
// "k=v,k2=v2" (sorted).
std::string FormatLabels(const Labels& labels);
// Parses "k=v" arguments (a bare "k" gives an empty value).
Labels ParseLabels(const std::vector<std::string>& args);
// Prints JSON (indented) and a newline.
void PrintJson(const nlohmann::json& j);
// Parses a signal: "SIGKILL", "KILL", "9". InvalidArgument otherwise.
absl::StatusOr<int> ParseSignal(const std::string& s);

// Command groups.
void AddNamespaceCommands(CLI::App& app, Env& env);
void AddLeaseCommands(CLI::App& app, Env& env);
void AddVersionCommands(CLI::App& app, Env& env);  // version, info
void AddContentCommands(CLI::App& app, Env& env);
// `content fetch` (in images.cc: a pull without unpack), added by AddContentCommands.
void AddContentFetchCommand(CLI::App* content, Env& env);
void AddSnapshotCommands(CLI::App& app, Env& env);
void AddImageCommands(CLI::App& app, Env& env);      // images, pull
void AddPushCommands(CLI::App& app, Env& env);  // push, images push, images export (after images)
void AddContainerCommands(CLI::App& app, Env& env);  // containers, ps
void AddTaskCommands(CLI::App& app, Env& env);
void AddRunCommand(CLI::App& app, Env& env);
void AddEventCommands(CLI::App& app, Env& env);
void AddGcCommand(CLI::App& app, Env& env);  // gc

// Runs a process' stdio through this terminal (raw mode and window size when `tty`),
// forwards signals to it, waits for its exit and returns the exit status. Used by run, tasks
// exec and tasks start. `start` runs between setting up the wait and waiting.
absl::StatusOr<uint32_t> Attach(const Process& process, bool tty,
                                const std::function<absl::Status()>& start);

// The whole program.
int Main(int argc, char** argv);

}  // namespace berth::cli

#endif  // BERTH_CLI_CLI_H_
