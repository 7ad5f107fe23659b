// Store: a thin wrapper over one RocksDB database, the metadata store of every berth service.
//
// One column family, the write-ahead log on, bloom filters for point lookups, keys in
// byte order. Keys are built with lib/store/keys.h; the key "version" is reserved for the
// schema version, checked at open:
//
//   store::Options options;
//   options.schema_version = "v1";
//   ASSIGN_OR_RETURN(auto db, store::Store::Open("/var/lib/berth/content/meta", options));
//   store::Batch batch;                        // several keys change together or not at all
//   batch.Put(record_key, record);
//   batch.Delete(ingest_key);
//   RETURN_IF_ERROR(db->Write(batch));         // Durability::kSync: survives power loss
//   RETURN_IF_ERROR(db->Scan(prefix, [&](std::string_view key, std::string_view value) {
//     ...; return true;                        // false stops the scan
//   }));
//
// A read-only follower opens the same database as a RocksDB secondary instance
// (OpenSecondary) and sees the primary's writes after CatchUp(); several content-service
// replicas scale reads this way.
//
// Errors name the database path: `op "path": reason`. RocksDB's codes map as follows:
// NotFound -> NotFound, Corruption -> DataLoss, IOError "no space" -> ResourceExhausted,
// IOError "path not found" -> NotFound, IOError "permission denied" -> PermissionDenied, the
// database LOCK held by another primary -> Unavailable, other IOError -> Internal,
// Busy / TryAgain / ShutdownInProgress / Incomplete -> Unavailable, TimedOut / Expired ->
// DeadlineExceeded, Aborted -> Aborted, InvalidArgument "does not exist" -> NotFound, other
// InvalidArgument -> InvalidArgument, NotSupported -> Unimplemented, anything else -> Internal.
//
// Thread-safety: a Store is safe to use from many threads at once (RocksDB's guarantee).
// A Batch or an Iterator belongs to one thread. Iterators must not outlive their Store.
#ifndef BERTH_LIB_STORE_STORE_H_
#define BERTH_LIB_STORE_STORE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rocksdb {
class DB;
class Iterator;
class Slice;
class WriteBatch;
}  // namespace rocksdb

namespace berth::store {

// How far a write must have reached before it returns.
enum class Durability {
  // The WAL is fsync'd: the write survives a power loss. The default, as containerd's bolt
  // database syncs every transaction.
  kSync,
  // The WAL is written but not synced: survives a crash of the process, not of the machine.
  // For writes that can be redone after a power loss (caches, progress markers).
  kBuffered,
};

struct Options {
  // Schema version this build reads and writes, kept under kSchemaVersionKey. A new
  // database gets it written; an existing one with another value is refused.
  std::string schema_version = "v1";
  // Create the database directory and files when missing (primary only).
  bool create_if_missing = true;
  // Shared block cache for data, index and filter blocks.
  size_t block_cache_bytes = 32u << 20;
  // Bloom filter bits per key (10 ~ 1% false positives); 0 disables the filter.
  int bloom_bits_per_key = 10;
  // Background flush and compaction threads.
  int max_background_jobs = 2;
  // RocksDB info LOG files kept in the database directory.
  size_t keep_log_files = 3;
};

// An atomic group of writes: Store::Write applies all of it or none. A Put or Delete with an
// invalid key (empty, or the reserved schema-version key) poisons the batch: Write then
// returns that error and writes nothing.
class Batch {
 public:
  Batch();
  ~Batch();
  Batch(Batch&&) noexcept;
  Batch& operator=(Batch&&) noexcept;
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);

  // Number of Put and Delete operations recorded.
  int Count() const;
  // OK, or the first invalid-key error recorded.
  const absl::Status& status() const { return status_; }

 private:
  friend class Store;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
  absl::Status status_;
};

// Walks the keys under one prefix in byte order.
//
//   for (auto it = db->NewIterator(prefix); it->Valid(); it->Next()) { it->key(); ... }
//   RETURN_IF_ERROR(it->status());
class Iterator {
 public:
  ~Iterator();
  Iterator(const Iterator&) = delete;
  Iterator& operator=(const Iterator&) = delete;

  // True while positioned on a key under the prefix.
  bool Valid() const;
  // The current key and value; views stay valid until the next move. Only when Valid().
  std::string_view key() const;
  std::string_view value() const;
  void Next();
  // Moves to the first key >= `target` (clamped to the prefix range).
  void Seek(std::string_view target);
  // OK, or the error that ended the iteration early.
  absl::Status status() const;

 private:
  friend class Store;
  Iterator(std::string prefix, std::string path);
  void SkipReserved();

  std::string prefix_;
  std::string upper_;  // PrefixEnd(prefix_); backs upper_slice_.
  std::string path_;   // For error messages.
  std::unique_ptr<rocksdb::Slice> upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

class Store {
 public:
  // Opens (creating it when missing and options.create_if_missing) the primary database at
  // `path` and checks its schema version. InvalidArgument for an empty path, Unavailable when
  // another primary holds the database, FailedPrecondition naming both versions when the
  // schema version on disk differs, DataLoss for a corrupt database, NotFound when it does
  // not exist and create_if_missing is false.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& path,
                                                     const Options& options = {});

  // Opens a read-only secondary instance that follows the primary database at
  // `primary_path`; `secondary_path` is its own directory (created when missing) for its
  // info log. Writes on it return FailedPrecondition. FailedPrecondition when the primary
  // database has no schema version yet or a different one; NotFound when there is no
  // database at `primary_path`.
  static absl::StatusOr<std::unique_ptr<Store>> OpenSecondary(const std::string& primary_path,
                                                              const std::string& secondary_path,
                                                              const Options& options = {});

  // Closes the database (waits for background work).
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The value at `key`; NotFound when absent.
  absl::StatusOr<std::string> Get(std::string_view key) const;

  // Writes one key. InvalidArgument for an empty or reserved key; FailedPrecondition on a
  // secondary.
  absl::Status Put(std::string_view key, std::string_view value,
                   Durability durability = Durability::kSync);

  // Deletes one key; OK when it was absent. Same errors as Put.
  absl::Status Delete(std::string_view key, Durability durability = Durability::kSync);

  // Applies the whole batch atomically, or nothing (returns batch.status() if the batch is
  // poisoned). An empty batch is OK and writes nothing. FailedPrecondition on a secondary.
  absl::Status Write(const Batch& batch, Durability durability = Durability::kSync);

  // Calls fn(key, value) for every key starting with `prefix`, in byte order, from one
  // consistent view of the database, until fn returns false. Returns the iteration error,
  // if any. Use a KeyPrefix (ending in '/') to keep neighbouring trees out.
  absl::Status Scan(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const;

  // An iterator over the keys starting with `prefix`, positioned on the first one, reading one
  // consistent view of the database. Like Scan, it never shows the schema-version key.
  std::unique_ptr<Iterator> NewIterator(std::string_view prefix) const;

  // Secondary only: replays what the primary has written since the last call, so that later
  // reads see it. FailedPrecondition on a primary.
  absl::Status CatchUp();

  bool read_only() const { return secondary_; }
  const std::string& path() const { return path_; }

 private:
  Store(std::string path, bool secondary);
  absl::Status CheckSchemaVersion(const Options& options);

  std::string path_;
  bool secondary_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace berth::store

#endif  // BERTH_LIB_STORE_STORE_H_
