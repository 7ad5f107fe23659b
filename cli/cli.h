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

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
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

// Progress of blobs being transferred: pull, import, export (push prints one line per blob
// itself). On a terminal, one bar per blob redrawn in place (role, digest, bytes/total,
// speed, state) under an overall line (bytes/total, elapsed, speed); otherwise one
// parseable line per step, `<kind> key=value...`, a byte-count step at most once per 10% of
// its blob. Quiet: nothing. Thread-safety: one thread (the client calls back on the calling
// thread).
class ProgressPrinter {
 public:
  // key=value pairs of a line, in order; pairs with an empty value are left out.
  using Fields = std::vector<std::pair<std::string, std::string>>;

  struct Step {
    // The line's first word; on a terminal the blob's state.
    std::string kind;
    // Names the blob across its steps (digest, or archive path); empty: a step about no
    // blob, printed only when not on a terminal.
    std::string key;
    // "layer", "config", ... (may be empty), and what the blob's bar shows (a digest).
    std::string role;
    std::string label;
    int64_t offset = 0;
    int64_t total = 0;  // 0: unknown
    // Bytes are coming (`offset` counts); all bytes are there (the bar fills).
    bool moving = false;
    bool complete = false;
    // The rest of the line.
    Fields fields;
  };

  // `out`: stdout, or stderr when the data itself goes to stdout. `tty`: draw bars.
  ProgressPrinter(std::FILE* out, bool tty, bool quiet);

  // A line about the whole transfer: `<kind> key=value...` (on a terminal `<kind> value...`).
  void Note(const std::string& kind, const Fields& fields);
  void Update(const Step& step);
  // The totals, after the transfer, as a line `total blobs=N bytes=M` (not on a terminal,
  // where the overall line says it; not when quiet).
  void Summary();

  // Blobs seen, and the sum of their sizes.
  size_t blobs() const { return blobs_.size(); }
  int64_t bytes() const;

 private:
  struct Blob {
    std::string key;
    std::string role;
    std::string label;
    int64_t offset = 0;
    int64_t total = 0;
    std::string state;
    std::chrono::steady_clock::time_point first;
    std::chrono::steady_clock::time_point last;  // of the last byte count
  };
  void Line(const std::string& kind, const Fields& fields);
  void Redraw(bool force);

  std::FILE* out_;
  bool tty_;
  bool quiet_;
  std::vector<Blob> blobs_;
  std::map<std::string, int64_t> printed_;  // key -> offset of its last byte-count line
  int drawn_ = 0;                           // lines of bars on the terminal now
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point drawn_at_;
};

// The printer's steps for a pull's and for an import's or export's progress.
void PrintPullProgress(ProgressPrinter& printer, const PullProgress& p);
void PrintArchiveProgress(ProgressPrinter& printer, const ArchiveProgress& p);

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
void AddImageCommands(CLI::App& app, Env& env);  // images, pull
void AddPushCommands(CLI::App& app, Env& env);   // push, images push, images export (after images)
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
