#include "lib/testing/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "lib/status/status.h"

extern char** environ;

namespace berth::testing {
namespace {

absl::StatusOr<std::string> FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) != 0) return ErrnoToStatus("exec", name, errno);
    return name;
  }
  const char* env_path = std::getenv("PATH");
  std::string path = env_path != nullptr ? env_path : "/usr/local/bin:/usr/bin:/bin";
  path += ":/usr/sbin:/sbin";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return NotFoundError("exec " + Quote(name) + ": not found in $PATH");
}

std::string ReadWholeFile(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// Opens `path` for the child's stdout/stderr; "" means /dev/null.
int OpenOutput(const std::string& path) {
  if (path.empty()) return open("/dev/null", O_WRONLY | O_CLOEXEC);
  return open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

// Child side of the fork: only async-signal-safe calls until execve. Reports a failure as an
// errno written to `err_fd` (close-on-exec, so a successful exec writes nothing).
[[noreturn]] void ExecChild(const char* program, char* const* argv, char* const* envp,
                            const char* cwd, int in_fd, int out_fd, int err_fd_child, int report_fd,
                            pid_t parent) {
  auto fail = [report_fd](int err) {
    ssize_t ignored = write(report_fd, &err, sizeof(err));
    (void)ignored;
    _exit(127);
  };
  if (setpgid(0, 0) != 0) fail(errno);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(errno);
  if (getppid() != parent) _exit(127);  // The test died before prctl took effect.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2}) {
    signal(sig, SIG_DFL);
  }
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd_child, 2) < 0) fail(errno);
  if (cwd != nullptr && chdir(cwd) != 0) fail(errno);
  execve(program, argv, envp);
  fail(errno);
  _exit(127);
}

}  // namespace

absl::StatusOr<ChildProcess> ChildProcess::Start(ChildProcessOptions options) {
  if (options.argv.empty()) return InvalidArgumentError("start child: empty argv");
  ASSIGN_OR_RETURN(std::string program, FindProgram(options.argv[0]));

  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& arg : options.argv) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  if (options.env.has_value()) {
    for (std::string& kv : *options.env) envp.push_back(kv.data());
  } else {
    for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  }
  envp.push_back(nullptr);

  int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in_fd < 0) return ErrnoToStatus("open", "/dev/null", errno);
  int out_fd = OpenOutput(options.stdout_path);
  if (out_fd < 0) {
    absl::Status s = ErrnoToStatus("open", options.stdout_path, errno);
    close(in_fd);
    return s;
  }
  // stdout and stderr into one file share one description, or they would overwrite each other.
  int err_fd = !options.stderr_path.empty() && options.stderr_path == options.stdout_path
                   ? fcntl(out_fd, F_DUPFD_CLOEXEC, 3)
                   : OpenOutput(options.stderr_path);
  if (err_fd < 0) {
    absl::Status s = ErrnoToStatus("open", options.stderr_path, errno);
    close(in_fd);
    close(out_fd);
    return s;
  }
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    absl::Status s = ErrnoToStatus("pipe2", "", errno);
    close(in_fd);
    close(out_fd);
    close(err_fd);
    return s;
  }

  const pid_t parent = getpid();
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  pid_t pid = fork();
  if (pid == 0) {
    ExecChild(program.c_str(), argv.data(), envp.data(), cwd, in_fd, out_fd, err_fd, report[1],
              parent);
  }
  int fork_errno = errno;
  close(in_fd);
  close(out_fd);
  close(err_fd);
  close(report[1]);
  if (pid < 0) {
    close(report[0]);
    return ErrnoToStatus("fork", program, fork_errno);
  }

  ChildProcess child;
  child.pid_ = pid;
  child.stdout_path_ = options.stdout_path;
  child.stderr_path_ = options.stderr_path;
  child.pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));

  // Blocks until the child execs (EOF) or reports why it could not.
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n == sizeof(child_errno)) {
    child.KillGroupAndReap();
    return ErrnoToStatus("exec", program, child_errno);
  }
  // The group exists from setpgid in the child; make sure of it before anyone signals it, in
  // case the child exited at once (then the call fails harmlessly).
  setpgid(pid, pid);
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) KillGroupAndReap();
  Reset();
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      stdout_path_(std::move(other.stdout_path_)),
      stderr_path_(std::move(other.stderr_path_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) KillGroupAndReap();
    Reset();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    stdout_path_ = std::move(other.stdout_path_);
    stderr_path_ = std::move(other.stderr_path_);
  }
  return *this;
}

void ChildProcess::Reset() {
  if (pidfd_ >= 0) close(pidfd_);
  pidfd_ = -1;
  pid_ = -1;
}

bool ChildProcess::Running() const {
  if (pid_ <= 0) return false;
  return !WaitExited(std::chrono::milliseconds(0));
}

absl::Status ChildProcess::Signal(int sig) {
  if (pid_ <= 0) return NotFoundError("signal child: already reaped");
  if (killpg(pid_, sig) != 0) return ErrnoToStatus("killpg", std::to_string(pid_), errno);
  return absl::OkStatus();
}

bool ChildProcess::WaitExited(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (pidfd_ >= 0) {
    // A pidfd becomes readable when the process exits.
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      struct pollfd pfd = {pidfd_, POLLIN, 0};
      int r = poll(&pfd, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
      if (r > 0) return true;
      if (r == 0) return false;
      if (errno != EINTR) break;  // Fall back to polling waitid below.
    }
  }
  auto backoff = std::chrono::milliseconds(1);
  for (;;) {
    siginfo_t info = {};
    if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid_) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(20));
  }
}

int ChildProcess::KillGroupAndReap() {
  // The group is killed while the leader is still unreaped (a zombie at worst), so its id
  // cannot have been reused by an unrelated process.
  killpg(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  Reset();
  return status;
}

absl::StatusOr<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return FailedPreconditionError("wait child: already reaped");
  if (!WaitExited(timeout)) {
    return DeadlineExceededError("wait child " + std::to_string(pid_) + ": still running after " +
                                 std::to_string(timeout.count()) + "ms");
  }
  return KillGroupAndReap();
}

absl::StatusOr<int> ChildProcess::Terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return FailedPreconditionError("terminate child: already reaped");
  killpg(pid_, SIGTERM);
  WaitExited(timeout);
  return KillGroupAndReap();
}

std::string ChildProcess::ReadStdout() const { return ReadWholeFile(stdout_path_); }
std::string ChildProcess::ReadStderr() const { return ReadWholeFile(stderr_path_); }

}  // namespace berth::testing
