// berth-shim: one per task, started by berth-runtime (services/runtime/shim_launcher.h):
//
//   berth-shim --namespace NS --id ID --bundle DIR --socket PATH --runtime BIN
//              --runtime-root DIR [--systemd-cgroup] [--shared-pid-ns] [--ready-fd N]
//
// It becomes the child subreaper of the container, binds PATH, writes "OK <pid>\n" to the
// ready fd (or "ERR <message>\n" and exits 1), and serves until told to shut down. It is
// started detached (its own session) by berth-runtime and outlives it.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "services/runtime/shim/shim.h"

namespace {

void Ready(int fd, const std::string& line) {
  if (fd < 0) return;
  std::string text = line + "\n";
  ssize_t n = write(fd, text.data(), text.size());
  (void)n;
  close(fd);
}

int Usage(const char* message) {
  std::fprintf(stderr,
               "berth-shim: %s\nusage: berth-shim --namespace NS --id ID --bundle DIR "
               "--socket PATH --runtime BIN --runtime-root DIR [--systemd-cgroup] "
               "[--shared-pid-ns] [--ready-fd N]\n",
               message);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using berth::shim::Shim;
  using berth::shim::ShimOptions;
  ShimOptions options;
  int ready_fd = -1;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (flag == "--namespace") {
      if (!value(&options.ns)) return Usage("--namespace needs a value");
    } else if (flag == "--id") {
      if (!value(&options.id)) return Usage("--id needs a value");
      options.runtime.id = options.id;
    } else if (flag == "--bundle") {
      if (!value(&options.bundle)) return Usage("--bundle needs a value");
      options.runtime.bundle = options.bundle;
    } else if (flag == "--socket") {
      if (!value(&options.socket)) return Usage("--socket needs a value");
    } else if (flag == "--runtime") {
      if (!value(&options.runtime.binary)) return Usage("--runtime needs a value");
    } else if (flag == "--runtime-root") {
      if (!value(&options.runtime.root)) return Usage("--runtime-root needs a value");
    } else if (flag == "--systemd-cgroup") {
      options.runtime.systemd_cgroup = true;
    } else if (flag == "--shared-pid-ns") {
      options.shared_pid_ns = true;
    } else if (flag == "--ready-fd") {
      if (!value(&v)) return Usage("--ready-fd needs a value");
      ready_fd = std::atoi(v.c_str());
    } else {
      return Usage(("unknown flag " + flag).c_str());
    }
  }
  if (options.ns.empty() || options.id.empty() || options.bundle.empty() ||
      options.socket.empty() || options.runtime.root.empty()) {
    Ready(ready_fd, "ERR missing required flags");
    return Usage("missing required flags");
  }

  // berth-runtime blocks SIGTERM/SIGINT in its threads and the mask survives exec: start from
  // a clean slate. SIGPIPE would kill the shim when a client goes away mid-write.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    std::string message = std::string("prctl(PR_SET_CHILD_SUBREAPER): ") + strerror(errno);
    Ready(ready_fd, "ERR " + message);
    std::fprintf(stderr, "berth-shim: %s\n", message.c_str());
    return 1;
  }
  if (chdir("/") != 0) {
    // Not fatal: every path the shim uses is absolute.
  }

  Shim shim(options);
  berth::shim::Result r = shim.Listen();
  if (!r.ok()) {
    Ready(ready_fd, "ERR " + r.message);
    std::fprintf(stderr, "berth-shim: %s\n", r.message.c_str());
    return 1;
  }
  Ready(ready_fd, "OK " + std::to_string(getpid()));
  return shim.Run();
}
