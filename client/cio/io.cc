#include "client/cio/io.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::cio {
namespace {

std::string RandomName() {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  std::string out;
  for (int i = 0; i < 16; ++i) out += kChars[gen() % (sizeof(kChars) - 1)];
  return out;
}

void CloseFd(int* fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

// Waits until `fd` has `events` or `cancel_fd` is readable. False when cancelled.
bool PollOrCancel(int fd, short events, int cancel_fd) {
  while (true) {
    struct pollfd fds[2] = {{fd, events, 0}, {cancel_fd, POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (fds[1].revents != 0) return false;
    if (fds[0].revents != 0) return true;
  }
}

// A plain IO: just the paths, no copying (NullIO, WithFIFOs, LogFile).
class PathIO final : public IO {
 public:
  explicit PathIO(Config config) : config_(std::move(config)) {}
  const Config& config() const override { return config_; }
  void AttachStdinCloser(std::function<void()>) override {}
  void Cancel() override {}
  void Wait() override {}
  absl::Status Close() override { return absl::OkStatus(); }

 private:
  Config config_;
};

// FIFOs plus copy threads.
class FIFOIO final : public IO {
 public:
  FIFOIO(FIFOSet set, Streams streams) : set_(std::move(set)), streams_(std::move(streams)) {}
  ~FIFOIO() override { (void)Close(); }

  // Opens the FIFO ends and starts the copies.
  absl::Status Start() {
    cancel_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (cancel_fd_ < 0) return ErrnoToStatus("eventfd", "", errno);
    const Config& c = set_.config;
    // Output read ends first (O_NONBLOCK opens without a writer), so the shim's writer open
    // succeeds and nothing written before we read is lost.
    if (!c.stdout_path.empty()) {
      stdout_fd_ = open(c.stdout_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      if (stdout_fd_ < 0) return ErrnoToStatus("open", c.stdout_path, errno);
    }
    if (!c.stderr_path.empty()) {
      stderr_fd_ = open(c.stderr_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      if (stderr_fd_ < 0) return ErrnoToStatus("open", c.stderr_path, errno);
    }
    if (!c.stdin_path.empty()) {
      // O_RDWR: never blocks waiting for a reader and keeps what we write buffered until the
      // shim opens its end.
      stdin_fifo_ = open(c.stdin_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (stdin_fifo_ < 0) return ErrnoToStatus("open", c.stdin_path, errno);
    }
    if (stdout_fd_ >= 0) {
      ++outputs_running_;
      threads_.emplace_back([this] { CopyOut(stdout_fd_, streams_.stdout_sink); });
    }
    if (stderr_fd_ >= 0) {
      ++outputs_running_;
      threads_.emplace_back([this] { CopyOut(stderr_fd_, streams_.stderr_sink); });
    }
    if (stdin_fifo_ >= 0) threads_.emplace_back([this] { CopyIn(); });
    return absl::OkStatus();
  }

  const Config& config() const override { return set_.config; }

  void AttachStdinCloser(std::function<void()> closer) override {
    bool run_now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stdin_fifo_ < 0 && !stdin_ended_) return;  // no stdin at all
      if (stdin_ended_) {
        run_now = true;
      } else {
        closer_ = std::move(closer);
        attached_ = true;
      }
    }
    if (run_now) {
      CloseStdinFifo();
      if (closer) closer();
    }
  }

  void Cancel() override {
    if (cancel_fd_ >= 0) {
      uint64_t one = 1;
      (void)!write(cancel_fd_, &one, sizeof(one));
    }
  }

  void Wait() override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return outputs_running_ == 0; });
  }

  absl::Status Close() override {
    if (closed_) return absl::OkStatus();
    closed_ = true;
    Cancel();
    for (std::thread& t : threads_) {
      if (!t.joinable()) continue;
      // The last owner may drop the IO from the stdin thread's closer: never join oneself.
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();
      } else {
        t.join();
      }
    }
    threads_.clear();
    CloseFd(&stdout_fd_);
    CloseFd(&stderr_fd_);
    CloseStdinFifo();
    CloseFd(&cancel_fd_);
    return RemoveFIFOSet(set_);
  }

 private:
  void CopyOut(int fd, const Sink& sink) {
    char buf[32768];
    while (PollOrCancel(fd, POLLIN, cancel_fd_)) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;  // End-of-file: the writers are gone.
      if (sink) sink(std::string_view(buf, static_cast<size_t>(n)));
    }
    std::lock_guard<std::mutex> lock(mu_);
    --outputs_running_;
    cv_.notify_all();
  }

  void CopyIn() {
    char buf[32768];
    const int src = streams_.stdin_fd;
    bool cancelled = false;
    while (src >= 0) {
      if (!PollOrCancel(src, POLLIN, cancel_fd_)) {
        cancelled = true;
        break;
      }
      ssize_t n = read(src, buf, sizeof(buf));
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) break;
      size_t off = 0;
      while (off < static_cast<size_t>(n)) {
        ssize_t w = write(stdin_fifo_, buf + off, static_cast<size_t>(n) - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
          if (!PollOrCancel(stdin_fifo_, POLLOUT, cancel_fd_)) {
            cancelled = true;
            break;
          }
          continue;
        }
        if (w < 0) break;
        off += static_cast<size_t>(w);
      }
      if (cancelled) break;
    }
    if (cancelled) return;
    std::function<void()> closer;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stdin_ended_ = true;
      if (!attached_) return;  // AttachStdinCloser runs it.
      closer = std::move(closer_);
    }
    CloseStdinFifo();
    if (closer) closer();
  }

  void CloseStdinFifo() {
    std::lock_guard<std::mutex> lock(fifo_mu_);
    CloseFd(&stdin_fifo_);
  }

  FIFOSet set_;
  Streams streams_;
  int cancel_fd_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int stdin_fifo_ = -1;
  std::mutex fifo_mu_;
  std::vector<std::thread> threads_;
  bool closed_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  int outputs_running_ = 0;
  bool stdin_ended_ = false;
  bool attached_ = false;
  std::function<void()> closer_;
};

absl::Status MakeDirs(const std::string& path) {
  if (path.empty()) return InvalidArgumentError("fifo dir: empty path");
  size_t pos = 1;
  while (true) {
    pos = path.find('/', pos);
    std::string part = path.substr(0, pos);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST)
      return ErrnoToStatus("mkdir", part, errno);
    if (pos == std::string::npos) return absl::OkStatus();
    ++pos;
  }
}

}  // namespace

absl::StatusOr<FIFOSet> NewFIFOSetInDir(const std::string& root, const std::string& id,
                                        bool terminal, bool with_stdin) {
  if (id.empty() || id.find('/') != std::string::npos) {
    return InvalidArgumentError(fmt::format("fifo set: invalid process id {:?}", id));
  }
  if (root.empty() || root[0] != '/') {
    return InvalidArgumentError(fmt::format("fifo dir {:?}: must be an absolute path", root));
  }
  RETURN_IF_ERROR(MakeDirs(root));
  FIFOSet set;
  for (int attempt = 0;; ++attempt) {
    set.dir = root + "/" + RandomName();
    if (mkdir(set.dir.c_str(), 0700) == 0) break;
    if (errno != EEXIST || attempt > 10) return ErrnoToStatus("mkdir", set.dir, errno);
  }
  set.config.terminal = terminal;
  auto make = [&](const std::string& name, std::string* path) -> absl::Status {
    *path = set.dir + "/" + id + "-" + name;
    if (mkfifo(path->c_str(), 0700) != 0) {
      absl::Status s = ErrnoToStatus("mkfifo", *path, errno);
      (void)RemoveFIFOSet(set);
      return s;
    }
    return absl::OkStatus();
  };
  if (with_stdin) RETURN_IF_ERROR(make("stdin", &set.config.stdin_path));
  RETURN_IF_ERROR(make("stdout", &set.config.stdout_path));
  if (!terminal) RETURN_IF_ERROR(make("stderr", &set.config.stderr_path));
  return set;
}

absl::Status RemoveFIFOSet(const FIFOSet& set) {
  for (const std::string* p :
       {&set.config.stdin_path, &set.config.stdout_path, &set.config.stderr_path}) {
    if (!p->empty() && unlink(p->c_str()) != 0 && errno != ENOENT) {
      return ErrnoToStatus("unlink", *p, errno);
    }
  }
  if (!set.dir.empty() && rmdir(set.dir.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus("rmdir", set.dir, errno);
  }
  return absl::OkStatus();
}

Sink FdSink(int fd) {
  return [fd](std::string_view data) {
    while (!data.empty()) {
      ssize_t n = write(fd, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) {
        struct pollfd p = {fd, POLLOUT, 0};
        (void)poll(&p, 1, -1);
        continue;
      }
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  };
}

Creator NewCreator(Streams streams, CreatorOptions options) {
  return [streams = std::move(streams), options = std::move(options)](
             const std::string& id) -> absl::StatusOr<std::unique_ptr<IO>> {
    const std::string root = options.fifo_dir.empty() ? kDefaultFIFODir : options.fifo_dir;
    Streams s = streams;
    if (s.terminal) s.stderr_sink = nullptr;
    ASSIGN_OR_RETURN(FIFOSet set, NewFIFOSetInDir(root, id, s.terminal, s.stdin_fd >= 0));
    if (!s.stdout_sink) {
      // The path is still sent (the shim needs somewhere to write); the output is dropped.
      s.stdout_sink = [](std::string_view) {};
    }
    if (!s.terminal && !s.stderr_sink) s.stderr_sink = [](std::string_view) {};
    auto io = std::make_unique<FIFOIO>(std::move(set), std::move(s));
    RETURN_IF_ERROR(io->Start());
    return std::unique_ptr<IO>(std::move(io));
  };
}

Creator WithStdio(bool terminal, CreatorOptions options) {
  Streams s;
  s.stdin_fd = 0;
  s.stdout_sink = FdSink(1);
  if (!terminal) s.stderr_sink = FdSink(2);
  s.terminal = terminal;
  return NewCreator(std::move(s), std::move(options));
}

Creator NullIO() {
  return [](const std::string&) -> absl::StatusOr<std::unique_ptr<IO>> {
    return std::unique_ptr<IO>(std::make_unique<PathIO>(Config{}));
  };
}

Creator WithFIFOs(FIFOSet set) {
  return [set = std::move(set)](const std::string&) -> absl::StatusOr<std::unique_ptr<IO>> {
    return std::unique_ptr<IO>(std::make_unique<PathIO>(set.config));
  };
}

Creator LogFile(std::string path) {
  return [path = std::move(path)](const std::string&) -> absl::StatusOr<std::unique_ptr<IO>> {
    if (path.empty() || path[0] != '/') {
      return InvalidArgumentError(fmt::format("log file {:?}: must be an absolute path", path));
    }
    Config c;
    c.stdout_path = "file://" + path;
    c.stderr_path = c.stdout_path;
    return std::unique_ptr<IO>(std::make_unique<PathIO>(std::move(c)));
  };
}

}  // namespace berth::cio
