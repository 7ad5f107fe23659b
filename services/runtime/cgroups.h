// Reading a container's cgroup statistics into containerd's metrics messages
// (reference/containerd-api.md §7.1): `io.containerd.cgroups.v1.Metrics` on hosts whose
// controllers are in cgroup v1 hierarchies (legacy and hybrid layouts), and
// `io.containerd.cgroups.v2.Metrics` on unified (cgroup v2 only) hosts — containerd's choice
// too. Files that do not exist (a controller not mounted, swap accounting off) leave their
// fields zero.
//
// A process's cgroups are found from /proc/<pid>/cgroup against /proc/self/mountinfo, so
// non-standard mount points and mounts of a sub-tree (nested containers) work.
//
// Thread-safety: pure functions over the filesystem.
#ifndef BERTH_SERVICES_RUNTIME_CGROUPS_H_
#define BERTH_SERVICES_RUNTIME_CGROUPS_H_

#include <sys/types.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "proto/containerd/cgroups/stats/v1/metrics.pb.h"
#include "proto/containerd/cgroups/v2/stats/metrics.pb.h"

namespace berth::runtime::cgroups {

enum class Mode {
  kLegacy,   // cgroup v1 hierarchies only
  kHybrid,   // v1 hierarchies plus a v2 one at <root>/unified
  kUnified,  // cgroup v2 only
};

// Looks at the filesystem mounted at `root` (default /sys/fs/cgroup).
Mode DetectMode(const std::string& root = "/sys/fs/cgroup");
const char* ModeName(Mode mode);

// Where one process's cgroups are, as directories on this host.
struct Paths {
  // v1 controller ("memory", "cpuacct", "name=systemd", ...) -> its cgroup directory.
  std::map<std::string, std::string> v1;
  // The cgroup directory in the v2 hierarchy; "" when there is none mounted.
  std::string unified;
  bool empty() const { return v1.empty() && unified.empty(); }
};

// Resolves the text of a /proc/<pid>/cgroup file against the text of a mountinfo file. Pure
// (for tests); ForPid reads the files.
Paths Resolve(const std::string& proc_cgroup, const std::string& mountinfo);

// The cgroups of `pid`. NotFound when the process does not exist.
absl::StatusOr<Paths> ForPid(pid_t pid);

// Reads cgroup v1 statistics from `paths.v1`. NotFound when no v1 controller is known.
absl::StatusOr<io::containerd::cgroups::v1::Metrics> ReadV1(const Paths& paths);

// Reads cgroup v2 statistics from the directory `dir`. NotFound when it does not exist.
absl::StatusOr<io::containerd::cgroups::v2::Metrics> ReadV2(const std::string& dir);

}  // namespace berth::runtime::cgroups

#endif  // BERTH_SERVICES_RUNTIME_CGROUPS_H_
