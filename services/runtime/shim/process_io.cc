#include "services/runtime/shim/process_io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

namespace berth::shim {
namespace {

constexpr size_t kBufferBytes = 32 << 10;

void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

bool HasPrefix(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

// Opens a client output: a FIFO (O_RDWR: never blocks, keeps the FIFO alive), or a file for
// `file://`. "" -> -1 (the process gets /dev/null).
Result OpenOutput(const std::string& what, const std::string& path, int* fd) {
  *fd = -1;
  if (path.empty()) return Result::Ok();
  if (HasPrefix(path, "binary://")) {
    return Result::Error(kUnimplemented,
                         "open " + what + " \"" + path + "\": binary:// logging is not supported");
  }
  if (HasPrefix(path, "file://")) {
    std::string file = path.substr(7);
    if (file.empty() || file[0] != '/') {
      return Result::Error(kInvalidArgument,
                           "open " + what + " \"" + path + "\": file:// needs an absolute path");
    }
    *fd = open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  } else {
    *fd = open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  }
  if (*fd < 0) return ErrnoResult("open " + what, path, errno);
  return Result::Ok();
}

}  // namespace

Pump::Pump(int src, int dst, bool close_src, bool close_dst)
    : src_(src), dst_(dst), close_src_(close_src), close_dst_(close_dst) {
  if (src_ >= 0) SetNonBlocking(src_);
  if (dst_ >= 0) SetNonBlocking(dst_);
  if (src_ < 0) Finish();
}

Pump::~Pump() {
  if (!done_) {
    src_ended_ = true;
    buffer_.clear();
    written_ = 0;
    Finish();
  }
}

void Pump::AddPollFds(std::vector<struct pollfd>* fds) {
  src_index_ = dst_index_ = -1;
  if (done_) return;
  if (written_ < buffer_.size()) {
    dst_index_ = static_cast<int>(fds->size());
    fds->push_back({dst_, POLLOUT, 0});
  } else if (!src_ended_) {
    src_index_ = static_cast<int>(fds->size());
    fds->push_back({src_, POLLIN, 0});
  }
}

void Pump::HandlePoll(const std::vector<struct pollfd>& fds) {
  if (done_) return;
  if (src_index_ >= 0 && fds[src_index_].revents != 0) ReadSome();
  if (dst_index_ >= 0 && fds[dst_index_].revents != 0) WriteSome();
}

void Pump::ReadSome() {
  if (done_ || src_ended_ || written_ < buffer_.size()) return;
  buffer_.resize(kBufferBytes);
  written_ = 0;
  ssize_t n;
  do {
    n = read(src_, buffer_.data(), buffer_.size());
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    buffer_.resize(static_cast<size_t>(n));
    WriteSome();
    return;
  }
  buffer_.clear();
  // 0: every writer closed. EIO: a pty master whose slave side is gone. Anything but EAGAIN
  // ends the stream.
  if (n == 0 || errno != EAGAIN) src_ended_ = true;
  if (src_ended_) Finish();
}

void Pump::WriteSome() {
  while (written_ < buffer_.size()) {
    if (dst_ < 0) {  // Nobody wants this stream: discard.
      written_ = buffer_.size();
      break;
    }
    ssize_t n = write(dst_, buffer_.data() + written_, buffer_.size() - written_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      // The reader is gone (EPIPE: the process closed its stdin). Stop copying.
      buffer_.clear();
      written_ = 0;
      src_ended_ = true;
      Finish();
      return;
    }
    written_ += static_cast<size_t>(n);
  }
  buffer_.clear();
  written_ = 0;
  if (src_ended_) Finish();
}

void Pump::Drain() {
  if (done_) return;
  // Take what the source holds right now; stop at EAGAIN, EOF, or a destination that is full
  // (the rest of the buffer is then written by later polls before the pump finishes).
  while (!src_ended_ && written_ >= buffer_.size()) {
    buffer_.resize(kBufferBytes);
    written_ = 0;
    ssize_t n;
    do {
      n = read(src_, buffer_.data(), buffer_.size());
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      buffer_.clear();
      break;
    }
    buffer_.resize(static_cast<size_t>(n));
    WriteSome();
    if (done_) return;
  }
  src_ended_ = true;
  if (written_ >= buffer_.size()) Finish();
}

void Pump::Finish() {
  if (done_) return;
  done_ = true;
  if (close_src_ && src_ >= 0) close(src_);
  if (close_dst_ && dst_ >= 0) close(dst_);
  src_ = dst_ = -1;
}

ProcessIo::~ProcessIo() {
  stdin_pump_.reset();
  stdout_pump_.reset();
  stderr_pump_.reset();
  CloseProcessEnds();
  CloseFd(&stdin_fifo_);
  CloseFd(&stdout_fifo_);
  CloseFd(&stderr_fifo_);
  CloseFd(&in_w_);
  CloseFd(&out_r_);
  CloseFd(&err_r_);
  CloseFd(&master_);
}

Result ProcessIo::Open(const std::string& stdin_path, const std::string& stdout_path,
                       const std::string& stderr_path, bool terminal,
                       const std::string& console_socket, std::unique_ptr<ProcessIo>* out) {
  std::unique_ptr<ProcessIo> io(new ProcessIo());
  io->terminal_ = terminal;
  if (!stdin_path.empty()) {
    io->stdin_fifo_ = open(stdin_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (io->stdin_fifo_ < 0) return ErrnoResult("open stdin", stdin_path, errno);
  }
  if (Result r = OpenOutput("stdout", stdout_path, &io->stdout_fifo_); !r.ok()) return r;
  if (!terminal) {
    if (Result r = OpenOutput("stderr", stderr_path, &io->stderr_fifo_); !r.ok()) return r;
  }

  if (terminal) {
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    if (console_socket.size() >= sizeof addr.sun_path) {
      return Result::Error(kInvalidArgument, "console socket \"" + console_socket + "\": too long");
    }
    std::memcpy(addr.sun_path, console_socket.c_str(), console_socket.size() + 1);
    io->console_listen_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (io->console_listen_ < 0) return ErrnoResult("socket", console_socket, errno);
    unlink(console_socket.c_str());
    if (bind(io->console_listen_, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
      return ErrnoResult("bind console socket", console_socket, errno);
    }
    io->console_socket_ = console_socket;
    chmod(console_socket.c_str(), 0600);
    if (listen(io->console_listen_, 1) != 0) {
      return ErrnoResult("listen console socket", console_socket, errno);
    }
  } else {
    int p[2];
    if (io->stdin_fifo_ >= 0) {
      if (pipe2(p, O_CLOEXEC) != 0) return ErrnoResult("pipe", "stdin", errno);
      io->proc_in_ = p[0];
      io->in_w_ = p[1];
    }
    if (io->stdout_fifo_ >= 0) {
      if (pipe2(p, O_CLOEXEC) != 0) return ErrnoResult("pipe", "stdout", errno);
      io->out_r_ = p[0];
      io->proc_out_ = p[1];
    }
    if (io->stderr_fifo_ >= 0) {
      if (pipe2(p, O_CLOEXEC) != 0) return ErrnoResult("pipe", "stderr", errno);
      io->err_r_ = p[0];
      io->proc_err_ = p[1];
    }
  }
  *out = std::move(io);
  return Result::Ok();
}

ProcessStdio ProcessIo::stdio() const {
  ProcessStdio s;
  s.in = proc_in_;
  s.out = proc_out_;
  s.err = proc_err_;
  s.console_socket = console_socket_;
  s.console_listen_fd = console_listen_;
  return s;
}

void ProcessIo::CloseProcessEnds() {
  CloseFd(&proc_in_);
  CloseFd(&proc_out_);
  CloseFd(&proc_err_);
  if (console_listen_ >= 0) {
    CloseFd(&console_listen_);
    unlink(console_socket_.c_str());
  }
}

void ProcessIo::Started(int console_master) {
  CloseProcessEnds();
  if (terminal_) {
    master_ = console_master;
    if (master_ < 0) return;
    SetNonBlocking(master_);
    if (stdin_fifo_ >= 0) {
      stdin_pump_ = std::make_unique<Pump>(stdin_fifo_, master_, true, false);
      stdin_fifo_ = -1;
    }
    // Output nobody asked for is still read (and dropped) so the process never blocks.
    stdout_pump_ = std::make_unique<Pump>(master_, stdout_fifo_, false, true);
    stdout_fifo_ = -1;
    return;
  }
  if (stdin_fifo_ >= 0) {
    stdin_pump_ = std::make_unique<Pump>(stdin_fifo_, in_w_, true, true);
    stdin_fifo_ = in_w_ = -1;
  }
  if (out_r_ >= 0) {
    stdout_pump_ = std::make_unique<Pump>(out_r_, stdout_fifo_, true, true);
    out_r_ = stdout_fifo_ = -1;
  }
  if (err_r_ >= 0) {
    stderr_pump_ = std::make_unique<Pump>(err_r_, stderr_fifo_, true, true);
    err_r_ = stderr_fifo_ = -1;
  }
}

void ProcessIo::AddPollFds(std::vector<struct pollfd>* fds) {
  for (Pump* p : {stdin_pump_.get(), stdout_pump_.get(), stderr_pump_.get()}) {
    if (p != nullptr) p->AddPollFds(fds);
  }
}

void ProcessIo::HandlePoll(const std::vector<struct pollfd>& fds) {
  for (Pump* p : {stdin_pump_.get(), stdout_pump_.get(), stderr_pump_.get()}) {
    if (p != nullptr) p->HandlePoll(fds);
  }
  // A terminal's input pump writes into the master the output pump reads: once output has
  // ended (the process is gone), input has nowhere to go.
  if (terminal_ && stdout_pump_ != nullptr && stdout_pump_->done() && stdin_pump_ != nullptr &&
      !stdin_pump_->done()) {
    stdin_pump_.reset();
  }
}

void ProcessIo::CloseStdin() {
  if (stdin_pump_ != nullptr) {
    stdin_pump_->Drain();
  } else {
    CloseFd(&stdin_fifo_);
    CloseFd(&in_w_);
  }
}

Result ProcessIo::Resize(unsigned width, unsigned height) {
  if (!terminal_ || master_ < 0) {
    return Result::Error(kFailedPrecondition, "resize pty: the process has no terminal");
  }
  struct winsize ws = {};
  ws.ws_col = static_cast<unsigned short>(width);
  ws.ws_row = static_cast<unsigned short>(height);
  if (ioctl(master_, TIOCSWINSZ, &ws) != 0) return ErrnoResult("resize pty", "", errno);
  return Result::Ok();
}

bool ProcessIo::copying() const {
  return (stdout_pump_ != nullptr && !stdout_pump_->done()) ||
         (stderr_pump_ != nullptr && !stderr_pump_->done());
}

}  // namespace berth::shim
