// LocalStore: the content::Store (and content::Admin) of berth-content, on a local
// filesystem plus a RocksDB metadata database. services/content/schema.h draws the layout.
//
// Writes: chunks go to <root>/ingest/<id>/data with pwrite and are hashed as they stream in,
// each on a thread of the writer's own (ingest_pipeline.h), so that a Write returns as soon
// as the chunk is accepted and hashing overlaps with receiving the next one; the data is never
// read back at commit. The hash state survives a closed Writer (a broken stream resumes
// without re-reading); only after a restart is it rebuilt, by reading the existing data once
// when the ingest is reopened. Commit waits for the pipeline, verifies size and digest, fsyncs
// the data, renames it to <root>/blobs/sha256/<hex>, fsyncs that directory, and only then
// records the blob in one WriteBatch — so a crash leaves either no blob or a whole verified
// one.
//
// A write that fails in the background (ENOSPC: ResourceExhausted naming the data file) is
// reported by the writer's next call; the file is cut back to the last good chunk, and the
// writer's offset with it, so the ingest stays consistent, resumable and abortable.
//
// Namespaces share the blob files: committing a digest that is already on disk (for another
// namespace) records it without writing it again, and deleting removes the file only when
// no namespace (and no shared ingest) holds it.
//
// Start-up (Open) creates the layout, opens RocksDB and reconciles ingests only (their
// directories against their records; O(ingests), never a scan of the blobs). The check that
// every blob record still has its file runs afterwards on a background thread
// (options.verify_blobs): records without a file are logged and dropped. Another thread
// expires unleased, idle ingests (options.ingest_expiry).
//
// Read-only mode (options.read_only, a read replica): the store opens another LocalStore's
// root without changing anything in it — the metadata database as a RocksDB secondary
// instance that follows the primary's writes, blobs and ingest directories as plain files.
// It serves Info, Walk, OpenReader, Status, ListStatuses and the Admin reads; every write
// (OpenWriter, Update, Delete, Abort, the Admin writes) is FailedPrecondition naming the
// primary. It catches up with the primary every options.catch_up_interval, before every Walk
// and the Admin reads, and when a lookup misses (then it retries once), so what the primary
// committed before a read began is found. Ingests are read from their directories on every
// call (their offset is the data file's size, which may trail the primary's view by the
// chunks it has accepted but not yet written).
//
// Thread-safety: safe to use from any number of threads (content::Store's contract).
#ifndef BERTH_SERVICES_CONTENT_LOCAL_STORE_H_
#define BERTH_SERVICES_CONTENT_LOCAL_STORE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/content/admin.h"
#include "services/content/store.h"

namespace berth::store {
class Store;
}  // namespace berth::store

namespace berth::content {

struct LocalStoreOptions {
  // Directory holding blobs, ingests and (by default) the metadata database. Required,
  // absolute; created when missing.
  std::string root;
  // RocksDB directory; empty means <root>/meta.
  std::string metadata_dir;
  // Reserve a writer's declared total with fallocate (FALLOC_FL_KEEP_SIZE) when an ingest
  // is created, so a full disk is reported at once instead of part-way through a download.
  bool preallocate = true;
  // Chunks a Writer may have waiting to be written, and again waiting to be hashed, before
  // Write blocks (memory bound: 2 x depth x chunk size). Chunks smaller than
  // inline_write_bytes arriving when nothing is queued are written and hashed on the caller's
  // thread, where a thread hand-off would cost more than the work.
  int pipeline_depth = 4;
  std::size_t inline_write_bytes = 64 << 10;
  // Check, in the background after Open, that every blob record has its file.
  bool verify_blobs = true;
  // Ingests held by no lease and untouched (no writer, no write) for this long are aborted,
  // as containerd expires unleased ingests after 24 h; checked every expiry_interval
  // (0: never, ExpireIngests may still be called).
  std::chrono::seconds ingest_expiry = std::chrono::hours(24);
  std::chrono::seconds expiry_interval = std::chrono::minutes(10);

  // Read replica of the store at `root` (see the file comment). The root and its database
  // must exist; nothing under root is created or changed, so preallocate, verify_blobs,
  // ingest_expiry and expiry_interval do not apply.
  bool read_only = false;
  // Read-only: directory of the secondary database's own files (its info log), outside
  // root; created when missing. Required when read_only.
  std::string secondary_dir;
  // Read-only: how often to catch up with the primary in the background; 0: only on misses,
  // before Walk and before the Admin reads.
  std::chrono::milliseconds catch_up_interval = std::chrono::milliseconds(100);
  // Read-only: the primary, as named in the errors of refused writes (its address).
  std::string primary;
};

// Counters a LocalStore keeps for metrics (monotonic, read at scrape time).
struct LocalStoreCounters {
  std::atomic<uint64_t> bytes_ingested{0};     // Bytes accepted by Writer::Write.
  std::atomic<uint64_t> bytes_read{0};         // Bytes returned by ReaderAt::ReadAt.
  std::atomic<uint64_t> commits{0};            // Successful commits (AlreadyExists included).
  std::atomic<uint64_t> digest_mismatches{0};  // Commits refused for size or digest.
  std::atomic<uint64_t> missing_blobs{0};      // Blob records dropped: file gone.
  std::atomic<uint64_t> bytes_rehashed{0};     // Ingest bytes read back to rebuild a hash
                                               // (only when reopened after a restart).
};

class LocalStore final : public Store, public Admin {
 public:
  // Opens the store at options.root (see the file comment for what happens at start).
  // InvalidArgument for a relative or empty root (or read_only without secondary_dir);
  // Unavailable when another process has the metadata database open; FailedPrecondition for
  // a database of another schema version; errno-derived codes for the directories
  // (read-only: NotFound when root or its database does not exist).
  static absl::StatusOr<std::unique_ptr<LocalStore>> Open(LocalStoreOptions options);

  // Waits for the background blob check. Writers and readers must be gone.
  ~LocalStore() override;
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  // content::Store.
  absl::StatusOr<content::Info> Info(const CallContext& ctx, const digest::Digest& d) override;
  absl::StatusOr<content::Info> Update(const CallContext& ctx, const content::Info& info,
                                       const std::vector<std::string>& fieldpaths) override;
  absl::Status Walk(const CallContext& ctx, const std::vector<std::string>& filters,
                    const std::function<absl::Status(const content::Info&)>& fn) override;
  absl::Status Delete(const CallContext& ctx, const digest::Digest& d) override;
  absl::StatusOr<std::unique_ptr<ReaderAt>> OpenReader(const CallContext& ctx,
                                                       const digest::Digest& d) override;
  absl::StatusOr<IngestStatus> Status(const CallContext& ctx, const std::string& ref) override;
  absl::StatusOr<std::vector<IngestStatus>> ListStatuses(
      const CallContext& ctx, const std::vector<std::string>& filters) override;
  absl::Status Abort(const CallContext& ctx, const std::string& ref) override;
  absl::StatusOr<std::unique_ptr<content::Writer>> OpenWriter(
      const CallContext& ctx, const WriterOptions& options) override;

  // content::Admin.
  absl::StatusOr<std::vector<LeaseResource>> ListLeaseResources(const CallContext& ctx,
                                                                const std::string& lease) override;
  absl::Status AddLeaseResource(const CallContext& ctx, const std::string& lease,
                                const LeaseResource& resource) override;
  absl::Status DeleteLeaseResource(const CallContext& ctx, const std::string& lease,
                                   const LeaseResource& resource) override;
  absl::Status DeleteLease(const CallContext& ctx, const std::string& lease) override;
  absl::StatusOr<content::NamespaceUsage> NamespaceUsage(const CallContext& ctx,
                                                         const std::string& ns) override;

  // Blob count and bytes of every namespace that holds blobs, from the holders index
  // (O(blobs); for metrics scrapes).
  absl::StatusOr<std::map<std::string, content::NamespaceUsage>> UsageByNamespace() const;
  // Ingests that exist now (all namespaces), and how many of them a Writer holds.
  int64_t IngestCount() const;
  int64_t ActiveWriterCount() const;

  const LocalStoreCounters& counters() const { return counters_; }
  const std::string& root() const { return options_.root; }

  // Aborts the ingests that no lease holds, no writer holds, and that were last updated
  // before now - options.ingest_expiry. Returns how many went.
  int ExpireIngests(Time now);

  // Blocks until the background blob check (options.verify_blobs) has finished. For tests
  // and orderly shutdown.
  void WaitForBlobCheck();

  // Whether this is a read replica (options.read_only).
  bool read_only() const { return options_.read_only; }

  // Read-only: replays the primary's metadata changes made since the last catch-up, so that
  // later reads see them. FailedPrecondition on a primary.
  absl::Status CatchUp();

 private:
  struct Ingest;
  class LocalWriter;
  class FileReader;

  explicit LocalStore(LocalStoreOptions options);
  absl::Status Init();
  absl::Status InitReadOnly();
  absl::Status ReconcileIngests();
  // Read-only: FailedPrecondition for the write `op`, naming the primary; OK on a primary.
  absl::Status CheckWritable(std::string_view op) const;
  // Read-only: the ingests of namespace `ns` ("" = all namespaces) as their directories show
  // them now; with `id` set, only that one (NotFound when absent).
  absl::StatusOr<std::vector<std::pair<std::string, IngestStatus>>> ReadIngestDirs(
      const std::string& ns, const std::string& id);
  void CheckBlobs();

  std::string BlobPath(const digest::Digest& d) const;
  std::string IngestPath(const std::string& id) const;
  std::mutex& DigestLock(const digest::Digest& d);

  // Ingest bookkeeping (local_store.cc).
  absl::Status AttachIngestLease(Ingest& ingest, const std::string& lease);
  absl::Status RemoveIngest(const std::shared_ptr<Ingest>& ingest);
  absl::Status PutIngestRecord(const Ingest& ingest);
  absl::Status CommitIngest(Ingest& ingest, const std::string& lease, const digest::Digest& actual,
                            int64_t size, const Labels& labels);
  absl::Status AdoptSharedBlob(Ingest& ingest, const std::string& lease, const Labels& labels);
  absl::Status RecordCommit(Ingest& ingest, const std::string& lease, const digest::Digest& d,
                            int64_t size, const Labels& labels, bool* already_exists);
  bool SharedIngestHolds(const digest::Digest& d) const;
  // Removes the blob's file when no namespace and no shared ingest holds it.
  void ReleaseUnheldBlob(const digest::Digest& d);
  void Unlock(Ingest& ingest);

  LocalStoreOptions options_;
  std::unique_ptr<store::Store> db_;
  LocalStoreCounters counters_;

  // Guards ingests_ and every Ingest's `locked` flag.
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Ingest>> ingests_;  // By ingest id.

  // Striped locks serialising commit, delete and label updates of one digest.
  static constexpr std::size_t kDigestLockStripes = 64;
  std::mutex digest_locks_[kDigestLockStripes];

  std::thread blob_checker_;

  // The expiry thread (options.expiry_interval), or in read-only mode the catch-up thread
  // (options.catch_up_interval).
  void ExpireLoop();
  void CatchUpLoop();
  std::mutex expiry_mu_;
  std::condition_variable expiry_cv_;
  bool stopping_ = false;  // Guarded by expiry_mu_.
  std::thread expirer_;
};

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_LOCAL_STORE_H_
