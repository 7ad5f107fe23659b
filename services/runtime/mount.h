// Mounting a task's rootfs: the containerd.types.Mount list of Tasks.Create (what the
// snapshot service's Mounts returned: one `bind` or one `overlay` mount, usually) onto
// <bundle>/rootfs, and taking it down again on Delete.
//
// Options follow containerd's mount.parseMountOptions: the flag words (ro, rw, bind, rbind,
// nosuid, nodev, noexec, sync, remount, relatime, noatime, ...) become mount(2) flags, the
// rest is passed as the data string (overlay's lowerdir=..,upperdir=..,workdir=..). A
// read-only bind mount is made in two steps (bind, then remount read-only), as the kernel
// requires.
//
// Thread-safety: pure functions over the filesystem; callers serialise work on one target.
#ifndef BERTH_SERVICES_RUNTIME_MOUNT_H_
#define BERTH_SERVICES_RUNTIME_MOUNT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/containerd/types/mount.pb.h"

namespace berth::runtime {

// Parsed mount options.
struct MountOptions {
  unsigned long flags = 0;  // MS_*
  std::string data;         // comma-joined non-flag options
  bool propagation_private = false;
};

// Splits `options` into flags and data as containerd does.
MountOptions ParseMountOptions(const std::vector<std::string>& options);

// Mounts every mount of `mounts` onto `target`, in order. On failure, what was mounted is
// taken down again. InvalidArgument for a mount without type or source (types other than
// bind need a source too); errno-derived codes otherwise, naming the mount.
absl::Status MountAll(const std::vector<containerd::types::Mount>& mounts,
                      const std::string& target);

// Unmounts everything mounted at `target` (repeatedly, a lazy detach as the last resort).
// OK when nothing is mounted there or `target` does not exist.
absl::Status UnmountAll(const std::string& target);

// True when `path` is a mount point (its device differs from its parent's, or it is a bind
// mount of the same filesystem, per /proc/self/mountinfo).
bool IsMountPoint(const std::string& path);

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_MOUNT_H_
