// Mount: one filesystem mount as containerd describes it (containerd.types.Mount), and the
// helpers that perform and undo such mounts.
//
// Snapshotters only *return* Mounts; whoever needs the filesystem mounts them: ctr itself,
// berth-runtime for a container's rootfs, Diff for a temporary mount, the client library and
// the tests — all through this one implementation. MountAll
// understands what berth's snapshotters return (bind, rbind, ro, overlay with lowerdir,
// upperdir, workdir, index=off, userxattr) and containerd's usual flag names.
//
// Long overlay lowerdir lists: the legacy mount(2) takes the option string in one page (4096
// bytes) and silently cuts longer ones. MountAll passes an overlay through the new mount API
// (fsopen/fsconfig, one `lowerdir+` per layer, Linux 6.8+) so any number of layers fits;
// on older kernels it falls back to mount(2), and when the string is too long for a page it
// does what containerd's mount helper does: a child process chdirs to the lowerdirs' common
// parent and mounts with relative paths.
//
// Thread-safety: the functions are safe to call from any thread (mount(2) and friends are
// per-call; the chdir fallback runs in a child process, never in ours).
#ifndef BERTH_LIB_MOUNT_MOUNT_H_
#define BERTH_LIB_MOUNT_MOUNT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace berth::mount {

struct Mount {
  // Filesystem type: "bind", "overlay", "tmpfs", ...
  std::string type;
  // What is mounted: a host directory for bind, "overlay" for overlay.
  std::string source;
  // Sub-path below the mount point; empty for the mount point itself.
  std::string target;
  // mount(8)-style options: flags ("ro", "rbind", "nosuid", ...) and filesystem data
  // ("lowerdir=...", "upperdir=...").
  std::vector<std::string> options;

  friend bool operator==(const Mount& a, const Mount& b) {
    return a.type == b.type && a.source == b.source && a.target == b.target &&
           a.options == b.options;
  }
  friend bool operator!=(const Mount& a, const Mount& b) { return !(a == b); }
};

// Renders a mount as `ctr snapshots mounts` prints it: `mount -t <type> <source> <target>
// -o <opts>` (for logs and error messages).
std::string MountToString(const Mount& mount, const std::string& target);

// Mounts each of `mounts` in order on `target` (or target + "/" + mount.target). On error
// the mounts already made by this call are undone and the error names the failing mount:
// `mount "<target>": <reason>` with ErrnoToStatus's codes.
[[nodiscard]] absl::Status MountAll(const std::vector<Mount>& mounts, const std::string& target);

// Unmounts everything mounted on `target`, the topmost first, until nothing is left; never
// follows a symlink at `target` (UMOUNT_NOFOLLOW). OK when nothing was mounted there or
// `target` does not exist. With `detach`, uses MNT_DETACH (lazy) for busy mounts.
[[nodiscard]] absl::Status UnmountAll(const std::string& target, bool detach = false);

// True when `path` is a mount point: statx's STATX_ATTR_MOUNT_ROOT where the kernel has it,
// else listed in /proc/self/mountinfo (symlinks in `path` resolved, mountinfo's octal escapes
// decoded).
bool IsMountPoint(const std::string& path);

// True when this process runs in a user namespace that does not map the whole uid range
// (rootless): overlay then needs `userxattr`, and device nodes can not be created.
bool RunningInUserNamespace();

namespace internal {
// MountAll restricted to mount(2), as on kernels without `lowerdir+` (before 6.8): long
// overlay lowerdir lists go through the chdir-and-relative-paths fallback. For tests.
[[nodiscard]] absl::Status MountAllLegacy(const std::vector<Mount>& mounts,
                                          const std::string& target);
}  // namespace internal

}  // namespace berth::mount

#endif  // BERTH_LIB_MOUNT_MOUNT_H_
