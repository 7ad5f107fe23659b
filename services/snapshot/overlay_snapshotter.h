// OverlaySnapshotter: snapshots as kernel overlayfs layers, containerd's `overlayfs`
// snapshotter.
//
// Layout under <root>:
//   snapshots/<id>/fs     the snapshot's own layer: upperdir while active, a lowerdir once
//                         committed (never written again)
//   snapshots/<id>/work   overlay's workdir
//   l/<short>             symlink -> ../snapshots/<id>/fs; <short> is the id in base 36, so
//                         a lowerdir list stays short (128 layers under a 20-byte root fit
//                         easily in the one page mount(2) accepts)
//
// Mounts, as containerd returns them (reference/containerd-api.md §3.9):
//   no parent                    bind <root>/snapshots/<id>/fs, [rw|ro, rbind]
//   view of one committed layer  bind <parent fs>, [ro, rbind]
//   otherwise                    overlay "overlay", [index=off, (userxattr,)
//                                workdir=..., upperdir=... (active only),
//                                lowerdir=<l/parent>:<l/grandparent>:...]
// Every path is an absolute host path: ctr mounts these itself. `userxattr` is added only
// when berth runs in a user namespace (then whiteouts and opaque markers use user.overlay.*).
//
// Thread-safety: safe to call from many threads at once.
#ifndef BERTH_SERVICES_SNAPSHOT_OVERLAY_SNAPSHOTTER_H_
#define BERTH_SERVICES_SNAPSHOT_OVERLAY_SNAPSHOTTER_H_

#include <memory>
#include <string>

#include "services/snapshot/directory_snapshotter.h"

namespace berth::snapshot {

class OverlaySnapshotter final : public DirectorySnapshotter {
 public:
  // Name in requests and metadata.
  static constexpr char kName[] = "overlayfs";

  // Creates the snapshotter over `root` (created 0700). FailedPrecondition when the
  // filesystem of `root` can not hold overlay layers (no d_type support). `meta` must
  // outlive the snapshotter.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<OverlaySnapshotter>> Create(std::string root,
                                                                                  MetaStore* meta);

  // <root>/snapshots/<id>/fs and the short link to it.
  std::string UpperDir(std::uint64_t id) const;
  std::string LinkPath(std::uint64_t id) const;

 protected:
  absl::Status CreateLayout(std::uint64_t id, Kind kind,
                            const std::vector<std::uint64_t>& parent_ids) override;
  std::vector<Mount> MountsFor(const SnapshotChain& chain) const override;
  std::string UsageDir(std::uint64_t id) const override { return UpperDir(id); }
  void ForgetId(std::uint64_t id) override;
  absl::Status CleanupExtra(const std::set<std::uint64_t>& live) override;

 private:
  OverlaySnapshotter(std::string root, MetaStore* meta);

  bool index_off_ = false;  // The kernel knows overlay's `index` option.
  bool userxattr_ = false;  // Running in a user namespace.
};

// The id in base 36 ("1" -> "1", "36" -> "10"): the short name of a layer's link.
std::string ShortId(std::uint64_t id);

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_OVERLAY_SNAPSHOTTER_H_
