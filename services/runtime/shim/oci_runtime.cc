#include "services/runtime/shim/oci_runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace berth::shim {
namespace {

std::string ReadFileFrom(const std::string& path, off_t offset) {
  std::string out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  if (offset > 0 && lseek(fd, offset, SEEK_SET) < 0) {
    close(fd);
    return out;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

// The first executable `name` in PATH (execvp's default PATH when unset); `name` itself when
// it has a '/' or none is found (the exec then fails with the usual error).
std::string FindInPath(const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) return name;
  const char* env = getenv("PATH");
  const std::string path = env != nullptr && *env != '\0' ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const std::string dir = end > start ? path.substr(start, end - start) : ".";
    const std::string candidate = dir + "/" + name;
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return name;
}

off_t FileSize(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return st.st_size;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Receives one fd sent with SCM_RIGHTS over a connected unix socket. -1 on failure.
int ReceiveFd(int sock) {
  char data[4096];
  struct iovec iov = {data, sizeof data};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  }
  return -1;
}

// Waits for the pty master on the console socket while the runtime runs. Returns the master
// fd, or -1 when the runtime exited without sending one.
int AcceptConsole(int listen_fd, pid_t child) {
  int pidfd = PidfdOpen(child);
  for (;;) {
    struct pollfd p[2] = {{listen_fd, POLLIN, 0}, {pidfd, POLLIN, 0}};
    int n = poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 100);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (p[0].revents & POLLIN) {
      int conn = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      int fd = ReceiveFd(conn);
      close(conn);
      if (pidfd >= 0) close(pidfd);
      return fd;
    }
    if (pidfd >= 0 && (p[1].revents & POLLIN)) break;
    if (pidfd < 0 && waitpid(child, nullptr, WNOHANG | WNOWAIT) == child) break;
  }
  if (pidfd >= 0) close(pidfd);
  return -1;
}

}  // namespace

OciRuntime::OciRuntime(OciRuntimeOptions options) : options_(std::move(options)) {
  options_.binary = FindInPath(options_.binary);
}

Result OciRuntime::Run(const std::string& op, const std::vector<std::string>& args,
                       const ProcessStdio* stdio, std::string* output, int* console_master) {
  std::string log = options_.bundle + "/log.json";
  std::vector<std::string> argv = {options_.binary, "--root", options_.root, "--log", log,
                                   "--log-format",  "json"};
  if (options_.systemd_cgroup) argv.push_back("--systemd-cgroup");
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  off_t log_start = FileSize(log);
  int out_pipe[2] = {-1, -1};
  if (output != nullptr && pipe2(out_pipe, O_CLOEXEC) != 0) {
    return ErrnoResult(op, options_.id, errno);
  }
  int in = -1, out = -1, err = -1;
  if (stdio != nullptr) {
    in = stdio->in;
    out = stdio->out;
    err = stdio->err;
  }
  if (output != nullptr) out = err = out_pipe[1];

  pid_t child = fork();
  if (child < 0) {
    int e = errno;
    if (out_pipe[0] >= 0) close(out_pipe[0]), close(out_pipe[1]);
    return ErrnoResult(op, options_.id, e);
  }
  if (child == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDWR);
    int fds[3] = {in >= 0 ? in : devnull, out >= 0 ? out : devnull, err >= 0 ? err : devnull};
    // Move the sources above 2 first so that dup2 onto 0..2 never clobbers one still needed.
    for (int i = 0; i < 3; ++i) fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
    for (int i = 0; i < 3; ++i) dup2(fds[i], i);
    syscall(SYS_close_range, 3, ~0U, 0);
    execvp(cargv[0], cargv.data());
    dprintf(2, "exec %s: %s\n", cargv[0], strerror(errno));
    _exit(127);
  }
  if (console_master != nullptr && stdio != nullptr && stdio->console_listen_fd >= 0) {
    *console_master = AcceptConsole(stdio->console_listen_fd, child);
  }
  if (output != nullptr) {
    close(out_pipe[1]);
    char buf[4096];
    for (;;) {
      ssize_t n = read(out_pipe[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (output->size() < (1u << 20)) output->append(buf, static_cast<size_t>(n));
    }
    close(out_pipe[0]);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Result::Ok();

  std::string reason = LastLogError(ReadFileFrom(log, log_start));
  if (reason.empty() && output != nullptr) {
    reason = *output;
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
  }
  if (reason.empty()) {
    reason = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                               : "killed by signal " + std::to_string(WTERMSIG(status));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && reason.rfind("exec ", 0) == 0) {
    return Result::Error(kFailedPrecondition, op + " \"" + options_.id + "\": " + reason);
  }
  return Result::Error(kUnknown,
                       options_.binary + " " + op + " \"" + options_.id + "\": " + reason);
}

Result OciRuntime::Create(const ProcessStdio& stdio, bool no_pivot_root, bool no_new_keyring,
                          pid_t* pid, int* console_master) {
  std::string pid_file = options_.bundle + "/init.pid";
  std::vector<std::string> args = {"create", "--bundle", options_.bundle, "--pid-file", pid_file};
  if (!stdio.console_socket.empty()) {
    args.push_back("--console-socket");
    args.push_back(stdio.console_socket);
  }
  if (no_pivot_root) args.push_back("--no-pivot");
  if (no_new_keyring) args.push_back("--no-new-keyring");
  args.push_back(options_.id);
  if (console_master != nullptr) *console_master = -1;
  Result r = Run("create", args, &stdio, nullptr, console_master);
  if (!r.ok()) {
    if (console_master != nullptr && *console_master >= 0) close(*console_master);
    return r;
  }
  *pid = ReadPidFile(pid_file);
  if (*pid <= 0) {
    return Result::Error(kInternal, "create \"" + options_.id + "\": no pid in " + pid_file);
  }
  if (!stdio.console_socket.empty() && (console_master == nullptr || *console_master < 0)) {
    return Result::Error(kInternal, "create \"" + options_.id +
                                        "\": runtime sent no console over " + stdio.console_socket);
  }
  return Result::Ok();
}

Result OciRuntime::Start() {
  std::string out;
  return Run("start", {"start", options_.id}, nullptr, &out, nullptr);
}

Result OciRuntime::Kill(int signal, bool all) {
  std::vector<std::string> args = {"kill"};
  if (all) args.push_back("--all");
  args.push_back(options_.id);
  args.push_back(std::to_string(signal));
  std::string out;
  return Run("kill", args, nullptr, &out, nullptr);
}

Result OciRuntime::Delete(bool force) {
  std::vector<std::string> args = {"delete"};
  if (force) args.push_back("--force");
  args.push_back(options_.id);
  std::string out;
  return Run("delete", args, nullptr, &out, nullptr);
}

Result OciRuntime::Pause() {
  std::string out;
  return Run("pause", {"pause", options_.id}, nullptr, &out, nullptr);
}

Result OciRuntime::Resume() {
  std::string out;
  return Run("resume", {"resume", options_.id}, nullptr, &out, nullptr);
}

Result OciRuntime::Exec(const std::string& process_json, const std::string& pid_file,
                        const ProcessStdio& stdio, pid_t* pid, int* console_master) {
  std::vector<std::string> args = {"exec",     "--process",  process_json,
                                   "--detach", "--pid-file", pid_file};
  if (!stdio.console_socket.empty()) {
    args.push_back("--console-socket");
    args.push_back(stdio.console_socket);
  }
  args.push_back(options_.id);
  if (console_master != nullptr) *console_master = -1;
  Result r = Run("exec", args, &stdio, nullptr, console_master);
  if (!r.ok()) {
    if (console_master != nullptr && *console_master >= 0) close(*console_master);
    return r;
  }
  *pid = ReadPidFile(pid_file);
  if (*pid <= 0) return Result::Error(kInternal, "exec \"" + options_.id + "\": no pid file");
  return Result::Ok();
}

Result OciRuntime::Ps(std::vector<pid_t>* pids) {
  std::string out;
  Result r = Run("ps", {"ps", "--format", "json", options_.id}, nullptr, &out, nullptr);
  if (!r.ok()) return r;
  *pids = ParsePsOutput(out);
  return Result::Ok();
}

Result OciRuntime::Update(const std::string& resources_json_file) {
  std::string out;
  return Run("update", {"update", "--resources", resources_json_file, options_.id}, nullptr, &out,
             nullptr);
}

pid_t ReadPidFile(const std::string& path) {
  std::string text = ReadFileFrom(path, 0);
  long value = std::strtol(text.c_str(), nullptr, 10);
  return value > 0 ? static_cast<pid_t>(value) : 0;
}

std::vector<pid_t> ParsePsOutput(const std::string& output) {
  std::vector<pid_t> pids;
  long current = -1;
  for (char c : output) {
    if (c >= '0' && c <= '9') {
      current = (current < 0 ? 0 : current * 10) + (c - '0');
      if (current > (1L << 31)) current = -1;
    } else {
      if (current > 0) pids.push_back(static_cast<pid_t>(current));
      current = -1;
    }
  }
  if (current > 0) pids.push_back(static_cast<pid_t>(current));
  return pids;
}

namespace {

// The JSON string value following `"key":` on `line`, unescaped; false when absent.
bool JsonStringField(const std::string& line, const std::string& key, std::string* value) {
  std::string needle = "\"" + key + "\"";
  size_t at = line.find(needle);
  if (at == std::string::npos) return false;
  size_t i = at + needle.size();
  while (i < line.size() && (line[i] == ' ' || line[i] == ':')) ++i;
  if (i >= line.size() || line[i] != '"') return false;
  ++i;
  value->clear();
  while (i < line.size() && line[i] != '"') {
    char c = line[i++];
    if (c == '\\' && i < line.size()) {
      char e = line[i++];
      switch (e) {
        case 'n':
          value->push_back('\n');
          break;
        case 't':
          value->push_back('\t');
          break;
        case 'u':
          // Keep \uXXXX escapes as they are: messages are for humans.
          value->append("\\u");
          break;
        default:
          value->push_back(e);
      }
    } else {
      value->push_back(c);
    }
  }
  return true;
}

}  // namespace

std::string LastLogError(const std::string& log_text) {
  std::string last;
  size_t start = 0;
  while (start < log_text.size()) {
    size_t end = log_text.find('\n', start);
    if (end == std::string::npos) end = log_text.size();
    std::string line = log_text.substr(start, end - start);
    std::string level, msg;
    if (JsonStringField(line, "level", &level) && level == "error" &&
        JsonStringField(line, "msg", &msg)) {
      last = msg;
    }
    start = end + 1;
  }
  return last;
}

Result ErrnoResult(const std::string& op, const std::string& object, int err) {
  int code = kInternal;
  switch (err) {
    case ENOENT:
      code = kNotFound;
      break;
    case EEXIST:
      code = kAlreadyExists;
      break;
    case EINVAL:
    case ENAMETOOLONG:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
      code = kInvalidArgument;
      break;
    case EBUSY:
    case ENOTEMPTY:
      code = kFailedPrecondition;
      break;
    case ENOSYS:
    case EOPNOTSUPP:
      code = kUnimplemented;
      break;
    case EAGAIN:
    case ECONNREFUSED:
      code = kUnavailable;
      break;
    default:
      break;
  }
  std::string message = op;
  if (!object.empty()) message += " \"" + object + "\"";
  message += ": ";
  message += strerror(err);
  return Result::Error(code, message);
}

}  // namespace berth::shim
