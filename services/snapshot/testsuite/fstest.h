// fstest: build directory trees and compare them, for snapshotter and differ tests — the
// C++ counterpart of containerd's continuity/fs/fstest.
//
//   Applier layer = Apply({CreateDir("/etc", 0755), CreateFile("/etc/hosts", "x", 0644),
//                          Symlink("hosts", "/etc/h"), Link("/etc/hosts", "/etc/hl")});
//   ASSERT_OK(layer(dir));
//   ASSERT_OK(CheckDirectoryEqual(dir, other));   // InvalidArgument describing differences
//
// Paths inside an Applier are relative to the root it is applied to (a leading '/' is
// allowed). Appliers use plain path calls: they are for trees the test controls.
//
// Thread-safety: free functions.
#ifndef BERTH_SERVICES_SNAPSHOT_TESTSUITE_FSTEST_H_
#define BERTH_SERVICES_SNAPSHOT_TESTSUITE_FSTEST_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace berth::snapshot::fstest {

using Applier = std::function<absl::Status(const std::string& root)>;

Applier Apply(std::vector<Applier> appliers);
Applier CreateFile(std::string path, std::string content, mode_t mode);
Applier CreateDir(std::string path, mode_t mode);
Applier RemoveAll(std::string path);
Applier Link(std::string existing, std::string link);
Applier Symlink(std::string target, std::string link);
Applier Chown(std::string path, uid_t uid, gid_t gid);
Applier Chmod(std::string path, mode_t mode);
Applier SetXattr(std::string path, std::string name, std::string value);
Applier Mknod(std::string path, mode_t mode, dev_t dev);
// Sets atime and mtime (seconds, nanoseconds) without following a symlink.
Applier Chtimes(std::string path, long sec, long nsec);

struct CompareOptions {
  // Also compare mtimes of non-directories and directories (to the nanosecond).
  bool mtimes = false;
  // Compare xattrs, except trusted.overlay.* / user.overlay.* which belong to overlayfs.
  bool xattrs = true;
};

// OK when the trees at `a` and `b` hold the same paths with the same type, permission bits
// (incl. setuid/setgid/sticky), owner, content, symlink target, device numbers, xattrs and
// hard-link groups. Otherwise InvalidArgument listing the first differences.
absl::Status CheckDirectoryEqual(const std::string& a, const std::string& b,
                                 const CompareOptions& options = {});

// Applies `applier` to a fresh temporary directory and compares `dir` with it.
absl::Status CheckDirectoryEqualWithApplier(const std::string& dir, const Applier& applier,
                                            const CompareOptions& options = {});

}  // namespace berth::snapshot::fstest

#endif  // BERTH_SERVICES_SNAPSHOT_TESTSUITE_FSTEST_H_
