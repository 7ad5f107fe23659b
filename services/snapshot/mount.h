// The snapshotters' Mount is berth's one mount implementation (lib/mount/mount.h), named in
// this namespace because Snapshotter's interface returns it.
#ifndef BERTH_SERVICES_SNAPSHOT_MOUNT_H_
#define BERTH_SERVICES_SNAPSHOT_MOUNT_H_

#include "lib/mount/mount.h"

namespace berth::snapshot {

using mount::IsMountPoint;
using mount::Mount;
using mount::MountAll;
using mount::MountToString;
using mount::RunningInUserNamespace;
using mount::UnmountAll;

namespace internal {
using mount::internal::MountAllLegacy;
}  // namespace internal

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_MOUNT_H_
