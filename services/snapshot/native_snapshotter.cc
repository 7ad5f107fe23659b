#include "services/snapshot/native_snapshotter.h"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "lib/status/status.h"
#include "services/snapshot/fs.h"

namespace berth::snapshot {

NativeSnapshotter::NativeSnapshotter(std::string root, MetaStore* meta)
    : DirectorySnapshotter(kName, std::move(root), meta) {}

absl::StatusOr<std::unique_ptr<NativeSnapshotter>> NativeSnapshotter::Create(std::string root,
                                                                             MetaStore* meta) {
  std::unique_ptr<NativeSnapshotter> sn(new NativeSnapshotter(std::move(root), meta));
  RETURN_IF_ERROR(sn->Init());
  return sn;
}

absl::Status NativeSnapshotter::CreateLayout(std::uint64_t id, Kind kind,
                                             const std::vector<std::uint64_t>& parent_ids) {
  const std::string dir = SnapshotDir(id);
  if (parent_ids.empty()) {
    if (chmod(dir.c_str(), 0755) != 0) return ErrnoToStatus("chmod", dir, errno);
    return absl::OkStatus();
  }
  // Copies the root's owner and mode too.
  return CopyDirectory(SnapshotDir(parent_ids[0]), dir);
}

std::vector<Mount> NativeSnapshotter::MountsFor(const SnapshotChain& chain) const {
  return {
      Mount{"bind", SnapshotDir(chain.id), "", {chain.kind == Kind::kView ? "ro" : "rw", "rbind"}}};
}

}  // namespace berth::snapshot
