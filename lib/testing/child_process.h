// ChildProcess: a helper process started by a test (nats-server, a registry, a service
// binary), with its stdout and stderr in files, in a process group of its own so that
// everything it starts dies with it.
//
// The destructor always kills the group (SIGKILL) and reaps the child, so a failing test
// leaves nothing behind. The child also gets PR_SET_PDEATHSIG(SIGKILL): if the test process
// crashes, its direct children die with it. Linux ties that signal to the *thread* that
// started the child, so start children from a thread that outlives them (the test's own).
//
// Thread-safety: not thread-safe; one thread drives a ChildProcess. Distinct objects are
// independent.
#ifndef BERTH_LIB_TESTING_CHILD_PROCESS_H_
#define BERTH_LIB_TESTING_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::testing {

struct ChildProcessOptions {
  // argv[0] is the program: a path containing '/', or a name looked up in $PATH. Required.
  std::vector<std::string> argv;
  // Files that receive the child's stdout and stderr (created or truncated, mode 0644);
  // empty means /dev/null. The same path for both gives one interleaved file. stdin is always
  // /dev/null.
  std::string stdout_path;
  std::string stderr_path;
  // "KEY=value" entries; unset means the test's own environment.
  std::optional<std::vector<std::string>> env;
  // Working directory of the child; empty means the test's.
  std::string cwd;
};

class ChildProcess {
 public:
  // Starts the child. InvalidArgument for an empty argv, NotFound when the program does not
  // exist, or the errno of the failed fork/exec step as ErrnoToStatus maps it.
  static absl::StatusOr<ChildProcess> Start(ChildProcessOptions options);

  // Kills the process group with SIGKILL and reaps the child if that has not happened yet.
  ~ChildProcess();

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The child's pid (also its process group id); -1 once it has been reaped.
  pid_t Pid() const { return pid_; }

  // True while the child has not exited.
  bool Running() const;

  // Sends `sig` to the child's whole process group. NotFound once the child has been reaped.
  absl::Status Signal(int sig);

  // Waits up to `timeout` for the child to exit on its own, then kills what is left of its
  // group and reaps it. Returns the wait status (use WIFEXITED / WEXITSTATUS / WTERMSIG).
  // DeadlineExceeded (child left running) on timeout; FailedPrecondition if already reaped.
  absl::StatusOr<int> Wait(std::chrono::milliseconds timeout);

  // SIGTERM to the group, up to `timeout` for the child to exit, then SIGKILL; kills any
  // stray member of the group and reaps the child. Returns the wait status.
  // FailedPrecondition if already reaped.
  absl::StatusOr<int> Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // The contents of the stdout / stderr files so far ("" when they went to /dev/null).
  std::string ReadStdout() const;
  std::string ReadStderr() const;

 private:
  ChildProcess() = default;
  // Waits up to `timeout` for the child to become a zombie, without reaping it.
  bool WaitExited(std::chrono::milliseconds timeout) const;
  // Kills the group, reaps the child, returns its wait status.
  int KillGroupAndReap();
  void Reset();

  pid_t pid_ = -1;
  int pidfd_ = -1;  // -1 on kernels without pidfd_open; then waiting polls.
  std::string stdout_path_;
  std::string stderr_path_;
};

}  // namespace berth::testing

#endif  // BERTH_LIB_TESTING_CHILD_PROCESS_H_
