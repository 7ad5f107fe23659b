// NativeSnapshotter: snapshots as full directory copies, containerd's `native` snapshotter.
// It works on any filesystem and needs no overlay support, at the cost of copying the parent
// for every new snapshot (reflinked where the filesystem can share extents).
//
// Layout under <root>: snapshots/<id> is the snapshot's whole tree. A new active snapshot
// or view is a faithful copy of its parent (owners, modes, xattrs, hard links, devices,
// fifos, mtimes: see CopyDirectory); Commit leaves the directory where it is.
//
// Mounts: one bind mount of snapshots/<id>, [rw|ro, rbind].
//
// Thread-safety: safe to call from many threads at once.
#ifndef BERTH_SERVICES_SNAPSHOT_NATIVE_SNAPSHOTTER_H_
#define BERTH_SERVICES_SNAPSHOT_NATIVE_SNAPSHOTTER_H_

#include <memory>
#include <string>

#include "services/snapshot/directory_snapshotter.h"

namespace berth::snapshot {

class NativeSnapshotter final : public DirectorySnapshotter {
 public:
  // Name in requests and metadata.
  static constexpr char kName[] = "native";

  // Creates the snapshotter over `root` (created 0700). `meta` must outlive it.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<NativeSnapshotter>> Create(std::string root,
                                                                                 MetaStore* meta);

 protected:
  absl::Status CreateLayout(std::uint64_t id, Kind kind,
                            const std::vector<std::uint64_t>& parent_ids) override;
  std::vector<Mount> MountsFor(const SnapshotChain& chain) const override;
  std::string UsageDir(std::uint64_t id) const override { return SnapshotDir(id); }

 private:
  NativeSnapshotter(std::string root, MetaStore* meta);
};

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_NATIVE_SNAPSHOTTER_H_
