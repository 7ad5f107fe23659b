#include "services/runtime/shim_launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "fmt/format.h"
#include "lib/status/status.h"

extern char** environ;

namespace berth::runtime {

std::string DefaultShimBinary() {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    std::string dir(self);
    dir = dir.substr(0, dir.rfind('/'));
    std::string candidate = dir + "/berth-shim";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "berth-shim";
}

absl::StatusOr<pid_t> LaunchShim(const ShimLaunchOptions& o) {
  if (o.binary.find('/') != std::string::npos && access(o.binary.c_str(), X_OK) != 0) {
    return ErrnoToStatus("start shim", o.binary, errno);
  }
  std::vector<std::string> args = {
      o.binary,         "--namespace",    o.ns,           "--id",       o.id,
      "--bundle",       o.bundle,         "--socket",     o.socket,     "--runtime",
      o.runtime_binary, "--runtime-root", o.runtime_root, "--ready-fd", "3"};
  if (o.systemd_cgroup) args.push_back("--systemd-cgroup");
  if (o.shared_pid_ns) args.push_back("--shared-pid-ns");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int log = open(o.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) return ErrnoToStatus("open shim log", o.log_file, errno);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    int err = errno;
    close(log);
    if (devnull >= 0) close(devnull);
    return ErrnoToStatus("pipe", "", err);
  }
  // Grandchild: where to write its pid if exec fails is irrelevant; the ready pipe tells.
  pid_t child = fork();
  if (child < 0) {
    int err = errno;
    close(log), close(ready[0]), close(ready[1]);
    if (devnull >= 0) close(devnull);
    return ErrnoToStatus("fork", o.binary, err);
  }
  if (child == 0) {
    // Async-signal-safe calls only from here on.
    setsid();
    pid_t shim = fork();
    if (shim != 0) _exit(shim < 0 ? 1 : 0);
    int in = devnull >= 0 ? fcntl(devnull, F_DUPFD, 10) : -1;
    int out = fcntl(log, F_DUPFD, 10);
    int rdy = fcntl(ready[1], F_DUPFD, 10);
    if (in >= 0) dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    dup2(rdy, 3);
    syscall(SYS_close_range, 4, ~0U, 0);
    execvpe(argv[0], argv.data(), environ);
    static const char kFailed[] = "ERR cannot execute berth-shim\n";
    ssize_t ignored = write(3, kFailed, sizeof kFailed - 1);
    (void)ignored;
    _exit(127);
  }
  close(log);
  close(ready[1]);
  if (devnull >= 0) close(devnull);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }

  // Read the shim's report.
  std::string report;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    long left = static_cast<long>(o.timeout.count()) - elapsed;
    if (left <= 0) break;
    struct pollfd p = {ready[0], POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    char buf[512];
    ssize_t got = read(ready[0], buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    report.append(buf, static_cast<size_t>(got));
    if (report.find('\n') != std::string::npos) break;
  }
  close(ready[0]);
  while (!report.empty() && (report.back() == '\n' || report.back() == ' ')) report.pop_back();
  if (report.rfind("OK ", 0) == 0) {
    long pid = std::strtol(report.c_str() + 3, nullptr, 10);
    if (pid > 0) return static_cast<pid_t>(pid);
  }
  if (report.rfind("ERR ", 0) == 0) {
    return FailedPreconditionError(fmt::format("start shim for {:?}: {}", o.id, report.substr(4)));
  }
  return UnavailableError(
      fmt::format("start shim for {:?}: it did not report ready within {} ms (see {:?})", o.id,
                  o.timeout.count(), o.log_file));
}

}  // namespace berth::runtime
