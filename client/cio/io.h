// Process stdio for berth tasks, as containerd's cio package: FIFOs that the shim opens on
// its side, and copy threads that move bytes between them and the caller's streams.
//
//   cio::Creator io = cio::WithStdio();               // the program's own 0/1/2
//   cio::Creator io = cio::NewCreator({.stdin_fd = -1, .stdout_sink = cio::FdSink(fd)});
//   cio::Creator io = cio::NullIO();                    // no stdio at all
//   cio::Creator io = cio::LogFile("/var/log/x.log");   // the shim writes the file itself
//
// A Creator makes the IO of one process (`id` names its FIFOs: <dir>/<id>-stdin, -stdout,
// -stderr). The FIFOs' read ends are opened before the Create/Exec call is sent, so output of
// a process that exits at once is never lost: it waits in the pipe until copied. A stdout
// copy ends at end-of-file, which the shim gives once the process is gone and its output
// drained; Wait() returns then. Input: when the caller's stdin reaches end-of-file, the IO
// closes its side of the stdin FIFO and calls the closer the task attached (the task's
// CloseIO(stdin)), but never before the task exists, so a short input is not lost either.
//
// Thread-safety: an IO is driven by one owner; its copy threads are internal. Sinks are
// called from a copy thread (one per stream), never concurrently for the same stream.
#ifndef BERTH_CLIENT_CIO_IO_H_
#define BERTH_CLIENT_CIO_IO_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::cio {

// The stdio paths sent to the server (Tasks.Create / Tasks.Exec), as containerd's
// cio.Config. Empty means "none" (the process gets /dev/null).
struct Config {
  std::string stdin_path;
  std::string stdout_path;
  std::string stderr_path;
  bool terminal = false;
};

// The default directory for FIFO sets ("/run/berth/fifo").
inline constexpr char kDefaultFIFODir[] = "/run/berth/fifo";

// A set of FIFOs in a directory of its own.
struct FIFOSet {
  Config config;
  // The directory holding the FIFOs (removed by RemoveFIFOSet).
  std::string dir;
};

// Makes <root>/<random>/ (0700, root created 0700 when missing) and in it the FIFOs
// <id>-stdin (when with_stdin), <id>-stdout, and <id>-stderr (unless terminal, where the
// terminal carries both). InvalidArgument for a relative root or an id that is empty or has
// a '/'; errno errors naming the path.
absl::StatusOr<FIFOSet> NewFIFOSetInDir(const std::string& root, const std::string& id,
                                        bool terminal, bool with_stdin = true);

// Removes the FIFOs of `set` and its directory. OK when they are already gone.
absl::Status RemoveFIFOSet(const FIFOSet& set);

class IO {
 public:
  virtual ~IO() = default;

  // The paths to send to the server.
  virtual const Config& config() const = 0;

  // Attaches what to call once the caller's stdin ended (the task's CloseIO(stdin)). Called
  // by the task right after the server accepted the process; if stdin already ended, the
  // closer runs at once on the calling thread, else later on the stdin copy thread.
  virtual void AttachStdinCloser(std::function<void()> closer) = 0;

  // Stops copying at once (output not read yet is dropped). Idempotent.
  virtual void Cancel() = 0;

  // Blocks until every output copy reached end-of-file (or Cancel). Call after the process
  // exited to be sure all its output arrived.
  virtual void Wait() = 0;

  // Cancels what still runs, joins the copy threads, closes the FIFOs and removes them.
  // Idempotent; the destructor does it too.
  virtual absl::Status Close() = 0;
};

// Makes the IO of the process `id`.
using Creator = std::function<absl::StatusOr<std::unique_ptr<IO>>(const std::string& id)>;

// Receives a chunk of process output (on a copy thread).
using Sink = std::function<void(std::string_view data)>;

// Writes everything to `fd` (not owned, not closed), retrying short writes; errors drop the
// rest of the chunk.
Sink FdSink(int fd);

// What a FIFO-backed IO connects the process to.
struct Streams {
  // Read until end-of-file into the process' stdin (not owned, not closed). -1: no stdin.
  int stdin_fd = -1;
  // Receive the process' stdout / stderr. Null: none. Ignored for stderr with a terminal.
  Sink stdout_sink;
  Sink stderr_sink;
  // A terminal: stdout carries both streams (the task must be created with a terminal).
  bool terminal = false;
};

struct CreatorOptions {
  // Where FIFO sets are made; empty means kDefaultFIFODir.
  std::string fifo_dir;
};

// FIFOs in a fresh directory of options.fifo_dir plus copy threads (containerd's
// cio.NewCreator(cio.WithStreams(...))).
Creator NewCreator(Streams streams, CreatorOptions options = {});

// The program's own stdin, stdout and stderr (fds 0, 1, 2), or with `terminal` stdin and
// stdout only.
Creator WithStdio(bool terminal = false, CreatorOptions options = {});

// No stdio: the process gets /dev/null.
Creator NullIO();

// Uses an existing FIFO set as is: no copying, nothing removed (the caller owns the FIFOs).
Creator WithFIFOs(FIFOSet set);

// stdout and stderr go to the file `path` (absolute), which the shim opens itself
// (`file://` URI).
Creator LogFile(std::string path);

}  // namespace berth::cio

#endif  // BERTH_CLIENT_CIO_IO_H_
