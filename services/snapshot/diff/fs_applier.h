// FileSystemApplier: Applier over a content store, writing into the snapshot's directory.
//
// Where the layer is written (containerd's apply.apply):
//  - one overlay mount with an upperdir (outside a user namespace): straight into the upper
//    directory, whiteouts as overlay whiteouts, implied parents copying the lowers'
//    attributes — nothing is mounted;
//  - one bind mount: straight into its source directory, whiteouts as deletions;
//  - anything else (several mounts, an overlay without upper, other types, or an overlay in a
//    user namespace): the mounts are mounted on a private temporary directory under
//    `temp_dir`, the layer is applied there, and the mounts are always undone.
// The blob streams from the content store in 1 MiB reads; reading, digest verification,
// decompression and the diffID hash run on a reader thread ahead of the tar extraction.
//
// Thread-safety: safe to call from many threads at once (each call has its own pipeline).
#ifndef BERTH_SERVICES_SNAPSHOT_DIFF_FS_APPLIER_H_
#define BERTH_SERVICES_SNAPSHOT_DIFF_FS_APPLIER_H_

#include <string>

#include "services/content/store.h"
#include "services/snapshot/diff/differ.h"

namespace berth::snapshot::diff {

struct FileSystemApplierOptions {
  // Directory for temporary mount points (created 0700 when missing). Required.
  std::string temp_dir;
  // Run reading, verification and decompression on a separate thread.
  bool prefetch = true;
  // syncfs(2) the target filesystem after a layer is applied (containerd's sync_fs): the
  // layer then survives a power loss once Apply returned. Off by default, as containerd.
  bool sync_fs = false;
};

class FileSystemApplier final : public Applier {
 public:
  // `content` is not owned and must outlive the applier.
  FileSystemApplier(content::Provider* content, FileSystemApplierOptions options);

  absl::StatusOr<Descriptor> Apply(const CallContext& ctx, const Descriptor& desc,
                                   const std::vector<Mount>& mounts) override;

 private:
  content::Provider* content_;
  FileSystemApplierOptions options_;
};

// Makes a fresh, private directory under `parent` (created 0700 when missing) for a
// temporary mount, and removes it (after unmounting whatever is still on it) when destroyed.
class TempMount {
 public:
  // Mounts `mounts` on a new directory under `parent`.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TempMount>> Create(
      const std::string& parent, const std::vector<Mount>& mounts);
  ~TempMount();
  TempMount(const TempMount&) = delete;
  TempMount& operator=(const TempMount&) = delete;

  const std::string& path() const { return path_; }

 private:
  explicit TempMount(std::string path) : path_(std::move(path)) {}
  std::string path_;
  // Where each mount went, in mounting order (undone in reverse).
  std::vector<std::string> targets_;
};

// The mounts with everything writable made read-only: "ro" added, and an overlay's
// upperdir turned into its topmost lowerdir (workdir dropped), so that a snapshot in use by
// a running container can be mounted again for reading (containerd's readonly temp mount).
std::vector<Mount> ReadonlyMounts(const std::vector<Mount>& mounts);

}  // namespace berth::snapshot::diff

#endif  // BERTH_SERVICES_SNAPSHOT_DIFF_FS_APPLIER_H_
