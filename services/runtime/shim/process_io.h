// ProcessIo: the stdio of one container process inside berth-shim — the client's FIFOs (or
// `file://` paths) on one side, the process's pipes or its pty master on the other, and the
// Pumps that copy between them without ever blocking the shim's loop.
//
// Without a terminal the process gets three pipes; the shim copies stdin FIFO -> pipe and
// pipe -> stdout/stderr FIFO. With a terminal the process gets a pty whose master the
// runtime sends over the console socket; the shim copies stdin FIFO -> master -> stdout FIFO.
// FIFOs are opened O_RDWR, which never blocks and keeps them alive: the stdin FIFO then never
// reads EOF, so the process sees EOF only when CloseIO(stdin) closes its side (containerd's
// contract, reference/containerd-api.md §4 "FIFO contract"). When a process's output ends
// (all writers closed, or EIO on the pty master once the process is gone) and what was read
// has been written, the shim closes the FIFO so the client's copy loop sees EOF.
//
// Thread-safety: not thread-safe; the shim's one thread uses it.
#ifndef BERTH_SERVICES_RUNTIME_SHIM_PROCESS_IO_H_
#define BERTH_SERVICES_RUNTIME_SHIM_PROCESS_IO_H_

#include <poll.h>

#include <memory>
#include <string>
#include <vector>

#include "services/runtime/shim/oci_runtime.h"
#include "services/runtime/shim/result.h"

namespace berth::shim {

// Copies bytes from a non-blocking `src` to a non-blocking `dst`, holding at most one buffer
// in between (back-pressure: src is not read while the buffer is full).
class Pump {
 public:
  // Takes ownership of both fds (closing them when done). `dst_shared`: dst is also used by
  // another pump (a pty master), so it is closed by its owner, not here.
  Pump(int src, int dst, bool close_src, bool close_dst);
  ~Pump();
  Pump(const Pump&) = delete;
  Pump& operator=(const Pump&) = delete;

  // Adds what this pump waits for to `fds` and remembers where.
  void AddPollFds(std::vector<struct pollfd>* fds);
  // Handles the results of the poll (by the positions AddPollFds recorded).
  void HandlePoll(const std::vector<struct pollfd>& fds);
  // Reads what src has now, then treats src as ended: the pump finishes once that is written.
  void Drain();
  // True once src ended and everything read was written (or dst failed); fds are closed.
  bool done() const { return done_; }

 private:
  void ReadSome();
  void WriteSome();
  void Finish();

  int src_;
  int dst_;
  bool close_src_;
  bool close_dst_;
  std::string buffer_;
  size_t written_ = 0;
  bool src_ended_ = false;
  bool done_ = false;
  int src_index_ = -1;
  int dst_index_ = -1;
};

class ProcessIo {
 public:
  ~ProcessIo();

  // Opens the client's stdio and makes the process's side. With `terminal`, `console_socket`
  // is the path of a listening socket made here for the runtime's --console-socket (the
  // master is attached later with AttachConsole).
  static Result Open(const std::string& stdin_path, const std::string& stdout_path,
                     const std::string& stderr_path, bool terminal,
                     const std::string& console_socket, std::unique_ptr<ProcessIo>* io);

  // What to give the runtime binary for the process.
  ProcessStdio stdio() const;
  // Closes the shim's copies of the process's ends (after create/exec succeeded) and starts
  // copying. For a terminal, `console_master` is the pty master received from the runtime.
  void Started(int console_master);

  void AddPollFds(std::vector<struct pollfd>* fds);
  void HandlePoll(const std::vector<struct pollfd>& fds);

  // Closes the process's stdin once what the client already wrote is delivered.
  void CloseStdin();
  // Sets the pty window size. FailedPrecondition without a terminal.
  Result Resize(unsigned width, unsigned height);
  // True while some output is still being copied.
  bool copying() const;

 private:
  ProcessIo() = default;
  void CloseProcessEnds();

  bool terminal_ = false;
  // Client side.
  int stdin_fifo_ = -1;
  int stdout_fifo_ = -1;
  int stderr_fifo_ = -1;
  // Process side (handed to the runtime, closed after Started) and the shim's ends.
  int proc_in_ = -1, proc_out_ = -1, proc_err_ = -1;
  int in_w_ = -1, out_r_ = -1, err_r_ = -1;
  // Terminal.
  std::string console_socket_;
  int console_listen_ = -1;
  int master_ = -1;
  std::unique_ptr<Pump> stdin_pump_;
  std::unique_ptr<Pump> stdout_pump_;
  std::unique_ptr<Pump> stderr_pump_;
};

}  // namespace berth::shim

#endif  // BERTH_SERVICES_RUNTIME_SHIM_PROCESS_IO_H_
