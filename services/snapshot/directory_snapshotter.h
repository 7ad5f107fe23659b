// DirectorySnapshotter: the part OverlaySnapshotter and NativeSnapshotter share — snapshots
// are directories `<root>/snapshots/<id>` named by a backend id, recorded in a MetaStore
// under the snapshotter's name, one key space per namespace. This class does the metadata
// side of every Snapshotter call (codes, leases, filters, usage, cleanup) in containerd's
// order; a subclass says how a snapshot directory is laid out and what its mounts are.
//
// Order of work, so that a crash at any point leaves nothing that can not be cleaned:
//   Prepare/View: reserve id -> create and fill the directory -> record (one batch);
//                 a directory without a record is an orphan that Cleanup removes.
//   Commit:       measure usage -> record (the directory stays; committed snapshots are
//                 never written again).
//   Remove:       delete the record (one batch) -> rename the directory to `rm-<id>` ->
//                 delete it; a left-over `rm-*` is removed by Cleanup.
// Cleanup, which the service runs at start, takes an exclusive lock; every other call takes
// a shared one, so it never races an operation in flight.
//
// Thread-safety: safe to call from many threads at once.
#ifndef BERTH_SERVICES_SNAPSHOT_DIRECTORY_SNAPSHOTTER_H_
#define BERTH_SERVICES_SNAPSHOT_DIRECTORY_SNAPSHOTTER_H_

#include <cstdint>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "services/snapshot/metadata.h"
#include "services/snapshot/snapshotter.h"

namespace berth::snapshot {

class DirectorySnapshotter : public Snapshotter {
 public:
  absl::StatusOr<Info> Stat(const CallContext& ctx, std::string_view key) override;
  absl::StatusOr<Info> Update(const CallContext& ctx, const Info& info,
                              const std::vector<std::string>& fieldpaths) override;
  absl::StatusOr<snapshot::Usage> Usage(const CallContext& ctx, std::string_view key) override;
  absl::StatusOr<std::vector<Mount>> Mounts(const CallContext& ctx, std::string_view key) override;
  absl::StatusOr<std::vector<Mount>> Prepare(const CallContext& ctx, std::string_view key,
                                             std::string_view parent,
                                             const Labels& labels) override;
  absl::StatusOr<std::vector<Mount>> View(const CallContext& ctx, std::string_view key,
                                          std::string_view parent, const Labels& labels) override;
  absl::Status Commit(const CallContext& ctx, std::string_view name, std::string_view key,
                      const Labels& labels) override;
  absl::Status Remove(const CallContext& ctx, std::string_view key) override;
  absl::Status Walk(const CallContext& ctx, const std::vector<std::string>& filters,
                    const std::function<absl::Status(const Info&)>& fn) override;
  absl::Status Cleanup(const CallContext& ctx) override;

  // The snapshotter's name in requests and in the metadata ("overlayfs", "native").
  const std::string& name() const { return name_; }
  // The root directory given at construction.
  const std::string& root() const { return root_; }

  // Directory holding the snapshot with backend id `id`: <root>/snapshots/<id>.
  std::string SnapshotDir(std::uint64_t id) const;

 protected:
  // `meta` must outlive the snapshotter. `root` is created (0700) by Init().
  DirectorySnapshotter(std::string name, std::string root, MetaStore* meta);

  // Creates <root> and <root>/snapshots (0700: CVE-2021-41103, no other user may traverse
  // into image files). Subclasses call it from their factory.
  [[nodiscard]] absl::Status Init();

  // Fills the new, empty directory SnapshotDir(id) for a snapshot of `kind` on the parent
  // chain `parent_ids` (nearest first).
  [[nodiscard]] virtual absl::Status CreateLayout(std::uint64_t id, Kind kind,
                                                  const std::vector<std::uint64_t>& parent_ids) = 0;
  // The mounts of an active or view snapshot.
  virtual std::vector<Mount> MountsFor(const SnapshotChain& chain) const = 0;
  // The directory whose disk usage is the snapshot's own.
  virtual std::string UsageDir(std::uint64_t id) const = 0;
  // Called after a snapshot's directory was removed (or is about to be, by Cleanup) to drop
  // whatever else the layout made for it.
  virtual void ForgetId(std::uint64_t id) {}
  // Extra cleanup with the set of live ids, under Cleanup's exclusive lock.
  [[nodiscard]] virtual absl::Status CleanupExtra(const std::set<std::uint64_t>& live) {
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<std::vector<Mount>> CreateSnapshot(const CallContext& ctx, Kind kind,
                                                    std::string_view key, std::string_view parent,
                                                    const Labels& labels);
  // Renames SnapshotDir(id) aside and deletes it; logs what it can not delete.
  void RemoveDirectory(std::uint64_t id);

  const std::string name_;
  const std::string root_;
  MetaStore* const meta_;
  // Shared by every call, exclusive for Cleanup.
  std::shared_mutex cleanup_mu_;
};

// FailedPrecondition "namespace is required" for an empty namespace, as containerd.
[[nodiscard]] absl::Status RequireNamespace(const CallContext& ctx);

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_DIRECTORY_SNAPSHOTTER_H_
