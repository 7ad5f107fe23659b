// MetaStore: the snapshot records of every snapshotter and namespace, in the RocksDB database
// whose key tree services/snapshot/schema.h draws. It is containerd's snapshots/storage
// package for berth: the snapshotters do the filesystem work, and each metadata change they
// need (create, commit, remove, label update) is one atomic call here that also checks the
// rules clients depend on (AlreadyExists, NotFound, FailedPrecondition).
//
// Thread-safety: safe to use from many threads. Each mutating call is atomic with respect
// to every other call (a mutex orders them, and each writes one batch).
#ifndef BERTH_SERVICES_SNAPSHOT_METADATA_H_
#define BERTH_SERVICES_SNAPSHOT_METADATA_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/snapshot/snapshotter.h"

namespace berth::store {
class Store;
}

namespace berth::snapshot {

// One snapshot as stored.
struct SnapshotRecord {
  std::uint64_t id = 0;
  Kind kind = Kind::kUnknown;
  std::string parent;
  Labels labels;
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point updated;
  snapshot::Usage usage;  // Committed snapshots only.
  std::vector<std::string> leases;

  Info ToInfo(std::string name) const;
};

// What a snapshotter needs to build mounts: the snapshot's own id and kind, and the ids of
// its parent chain, nearest parent first.
struct SnapshotChain {
  std::uint64_t id = 0;
  Kind kind = Kind::kUnknown;
  std::vector<std::uint64_t> parent_ids;
};

// A snapshot held by a lease.
struct LeasedSnapshot {
  std::string snapshotter;
  std::string key;

  friend bool operator==(const LeasedSnapshot& a, const LeasedSnapshot& b) {
    return a.snapshotter == b.snapshotter && a.key == b.key;
  }
};

// What a namespace holds in the snapshot service.
struct NamespaceUsage {
  std::int64_t snapshots = 0;        // Snapshots of every kind and snapshotter.
  std::int64_t committed_bytes = 0;  // Disk usage of the committed ones, measured at commit.
  std::int64_t leases = 0;           // Leases holding at least one snapshot here.

  bool empty() const { return snapshots == 0 && leases == 0; }
};

class MetaStore {
 public:
  // Opens (creating) the database at `path`.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MetaStore>> Open(const std::string& path);
  explicit MetaStore(std::unique_ptr<store::Store> db);
  ~MetaStore();

  MetaStore(const MetaStore&) = delete;
  MetaStore& operator=(const MetaStore&) = delete;

  // Reserves a backend id for `snapshotter`, never handed out before (it becomes durable
  // with the record that uses it).
  [[nodiscard]] absl::StatusOr<std::uint64_t> ReserveId(std::string_view snapshotter);

  // The parent chain that a new snapshot on `parent` will have (empty for no parent).
  // NotFound for a missing parent, InvalidArgument when it is not committed.
  [[nodiscard]] absl::StatusOr<std::vector<std::uint64_t>> ParentChain(std::string_view ns,
                                                                       std::string_view snapshotter,
                                                                       std::string_view parent);

  // Records a new active or view snapshot `key` with backend id `id` on `parent`, held by
  // `lease` when non-empty. AlreadyExists when `key` exists; NotFound / InvalidArgument for
  // the parent as ParentChain; InvalidArgument for an empty key or bad labels. Returns the
  // chain of the new snapshot.
  [[nodiscard]] absl::StatusOr<SnapshotChain> Create(std::string_view ns,
                                                     std::string_view snapshotter,
                                                     std::string_view key, Kind kind,
                                                     std::string_view parent, std::uint64_t id,
                                                     const Labels& labels, std::string_view lease);

  // The record of `key`. NotFound when there is none.
  [[nodiscard]] absl::StatusOr<SnapshotRecord> Get(std::string_view ns,
                                                   std::string_view snapshotter,
                                                   std::string_view key);

  // The chain of an active or view snapshot. NotFound when missing, FailedPrecondition when
  // it is committed.
  [[nodiscard]] absl::StatusOr<SnapshotChain> ActiveChain(std::string_view ns,
                                                          std::string_view snapshotter,
                                                          std::string_view key);

  // Turns the active snapshot `key` into the committed `name` with `usage`, merging
  // `labels` into its labels, moving it from the key's leases to `lease` (when non-empty).
  // NotFound, FailedPrecondition (not active), AlreadyExists (name taken), InvalidArgument
  // (empty name, bad labels). Returns the backend id.
  [[nodiscard]] absl::StatusOr<std::uint64_t> Commit(std::string_view ns,
                                                     std::string_view snapshotter,
                                                     std::string_view name, std::string_view key,
                                                     const snapshot::Usage& usage,
                                                     const Labels& labels, std::string_view lease);

  // Deletes the record of `key` with its child and lease entries and returns it. NotFound;
  // FailedPrecondition when it has children.
  [[nodiscard]] absl::StatusOr<SnapshotRecord> Remove(std::string_view ns,
                                                      std::string_view snapshotter,
                                                      std::string_view key);

  // Label update with containerd's field-mask rules (see Snapshotter::Update).
  [[nodiscard]] absl::StatusOr<Info> Update(std::string_view ns, std::string_view snapshotter,
                                            const Info& info,
                                            const std::vector<std::string>& fieldpaths);

  // Calls fn(key, record) for every snapshot of `snapshotter` in `ns`, in key order, until
  // fn returns an error (returned).
  [[nodiscard]] absl::Status Walk(
      std::string_view ns, std::string_view snapshotter,
      const std::function<absl::Status(const std::string& key, const SnapshotRecord&)>& fn);

  // The backend ids of every record of `snapshotter` in every namespace (for cleanup).
  [[nodiscard]] absl::StatusOr<std::vector<std::uint64_t>> AllIds(std::string_view snapshotter);

  // Lease resources (the gateway's Leases.AddResource / DeleteResource / ListResources).
  // AddLease: the snapshot need not exist (as containerd); adding twice is OK. DeleteLease:
  // OK when it was not held. ListLease: sorted by (snapshotter, key). DropLease: forgets
  // every resource of the lease.
  [[nodiscard]] absl::Status AddLease(std::string_view ns, std::string_view lease,
                                      std::string_view snapshotter, std::string_view key);
  [[nodiscard]] absl::Status DeleteLease(std::string_view ns, std::string_view lease,
                                         std::string_view snapshotter, std::string_view key);
  [[nodiscard]] absl::StatusOr<std::vector<LeasedSnapshot>> ListLease(std::string_view ns,
                                                                      std::string_view lease);
  [[nodiscard]] absl::Status DropLease(std::string_view ns, std::string_view lease);

  // What namespace `ns` holds, over every snapshotter.
  [[nodiscard]] absl::StatusOr<NamespaceUsage> UsageOf(std::string_view ns);

 private:
  absl::StatusOr<SnapshotRecord> GetLocked(std::string_view ns, std::string_view snapshotter,
                                           std::string_view key);
  absl::StatusOr<std::vector<std::uint64_t>> ParentChainLocked(std::string_view ns,
                                                               std::string_view snapshotter,
                                                               std::string_view parent);
  absl::StatusOr<bool> HasChildrenLocked(std::string_view ns, std::string_view snapshotter,
                                         std::string_view key);
  absl::StatusOr<std::uint64_t> LoadNextIdLocked(std::string_view snapshotter);

  std::unique_ptr<store::Store> db_;
  std::mutex mu_;
  // Next backend id per snapshotter, loaded lazily; guarded by mu_.
  std::map<std::string, std::uint64_t, std::less<>> next_id_;
};

// The record's stored form (berth.snapshot.v1.SnapshotRecord) and back; exposed for tests.
std::string EncodeRecord(const SnapshotRecord& record);
absl::StatusOr<SnapshotRecord> DecodeRecord(std::string_view data);

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_METADATA_H_
