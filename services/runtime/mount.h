// Mounting a task's rootfs: the containerd.types.Mount list of Tasks.Create (what the
// snapshot service's Mounts returned: one `bind` or one `overlay` mount, usually) onto
// <bundle>/rootfs, and taking it down again on Delete — through berth's one mount
// implementation (lib/mount), so a rootfs of any number of overlay layers mounts here as it
// does in the snapshot service.
//
// Thread-safety: pure functions over the filesystem; callers serialise work on one target.
#ifndef BERTH_SERVICES_RUNTIME_MOUNT_H_
#define BERTH_SERVICES_RUNTIME_MOUNT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/containerd/types/mount.pb.h"

namespace berth::runtime {

// Mounts every mount of `mounts` onto `target`, in order. On failure, what was mounted is
// taken down again. InvalidArgument for a mount without a source, or without a type that is
// not a bind mount; errno-derived codes otherwise, naming the mount.
absl::Status MountAll(const std::vector<containerd::types::Mount>& mounts,
                      const std::string& target);

// Unmounts everything mounted at `target` (a lazy detach as the last resort when busy).
// OK when nothing is mounted there or `target` does not exist.
absl::Status UnmountAll(const std::string& target);

// True when `path` is a mount point.
bool IsMountPoint(const std::string& path);

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_MOUNT_H_
