// Starting a berth-shim: berth-runtime forks, the child starts a new session and forks again,
// and the grandchild execs berth-shim — so the shim is nobody's child in berth-runtime's
// process tree, shares neither its session nor its process group, and outlives it (a
// `kill -9` of berth-runtime, or of its whole process group, leaves the shim running). The
// shim reports readiness ("OK <pid>") or its error on a pipe passed as fd 3.
//
// Thread-safety: LaunchShim may be called from any thread; between fork and exec the child
// only makes async-signal-safe calls.
#ifndef BERTH_SERVICES_RUNTIME_SHIM_LAUNCHER_H_
#define BERTH_SERVICES_RUNTIME_SHIM_LAUNCHER_H_

#include <sys/types.h>

#include <chrono>
#include <string>

#include "absl/status/statusor.h"

namespace berth::runtime {

struct ShimLaunchOptions {
  // The berth-shim executable (absolute path, or a name looked up in $PATH).
  std::string binary;
  std::string ns;
  std::string id;
  std::string bundle;
  std::string socket;
  // The OCI runtime the shim runs and its --root.
  std::string runtime_binary;
  std::string runtime_root;
  bool systemd_cgroup = false;
  bool shared_pid_ns = false;
  // File the shim's stdout and stderr are appended to.
  std::string log_file;
  // How long to wait for the shim to report that it serves.
  std::chrono::milliseconds timeout{10000};
};

// Starts the shim and waits until it serves on options.socket. Returns its pid.
// FailedPrecondition with the shim's own message when it reports an error, Unavailable when
// it exits or stays silent past the timeout (naming its log file), NotFound when the binary
// does not exist.
absl::StatusOr<pid_t> LaunchShim(const ShimLaunchOptions& options);

// The berth-shim to use when none is configured: the one beside the running executable if it
// exists, else "berth-shim" (looked up in $PATH).
std::string DefaultShimBinary();

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_SHIM_LAUNCHER_H_
