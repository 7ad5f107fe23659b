#include "lib/store/store.h"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "lib/status/status.h"
#include "lib/store/keys.h"
#include "lib/store/rocksdb_status.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"

namespace berth::store {
namespace {

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

absl::Status CheckUserKey(std::string_view key, std::string_view op) {
  if (key.empty()) return InvalidArgumentError(std::string(op) + ": empty key");
  if (key == kSchemaVersionKey) {
    return InvalidArgumentError(std::string(op) + " " + Quote(key) +
                                ": reserved for the schema version");
  }
  return absl::OkStatus();
}

rocksdb::Options MakeOptions(const Options& options) {
  rocksdb::Options rocks;
  rocks.create_if_missing = options.create_if_missing;
  rocks.paranoid_checks = true;
  rocks.max_background_jobs = options.max_background_jobs;
  rocks.keep_log_file_num = options.keep_log_files;
  rocks.max_log_file_size = 8u << 20;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  if (options.bloom_bits_per_key > 0) {
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(options.bloom_bits_per_key));
  }
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  rocks.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return rocks;
}

rocksdb::WriteOptions MakeWriteOptions(Durability durability) {
  rocksdb::WriteOptions write;
  write.sync = durability == Durability::kSync;
  return write;
}

}  // namespace

// --- Batch ---------------------------------------------------------------------------------

Batch::Batch() : batch_(std::make_unique<rocksdb::WriteBatch>()) {}
Batch::~Batch() = default;
Batch::Batch(Batch&&) noexcept = default;
Batch& Batch::operator=(Batch&&) noexcept = default;

void Batch::Put(std::string_view key, std::string_view value) {
  if (!status_.ok()) return;
  status_ = CheckUserKey(key, "batch put");
  if (status_.ok()) {
    rocksdb::Status s = batch_->Put(ToSlice(key), ToSlice(value));
    if (!s.ok()) status_ = InvalidArgumentError("batch put " + Quote(key) + ": " + s.ToString());
  }
}

void Batch::Delete(std::string_view key) {
  if (!status_.ok()) return;
  status_ = CheckUserKey(key, "batch delete");
  if (status_.ok()) {
    rocksdb::Status s = batch_->Delete(ToSlice(key));
    if (!s.ok()) {
      status_ = InvalidArgumentError("batch delete " + Quote(key) + ": " + s.ToString());
    }
  }
}

int Batch::Count() const { return static_cast<int>(batch_->Count()); }

// --- Iterator ------------------------------------------------------------------------------

Iterator::Iterator(std::string prefix, std::string path)
    : prefix_(std::move(prefix)), upper_(PrefixEnd(prefix_)), path_(std::move(path)) {
  upper_slice_ = std::make_unique<rocksdb::Slice>(upper_);
}

Iterator::~Iterator() = default;

bool Iterator::Valid() const {
  // The upper bound already stops the scan; the prefix check covers prefixes that have no
  // upper bound (empty, or all 0xff bytes).
  return it_->Valid() && ToView(it_->key()).substr(0, prefix_.size()) == prefix_;
}

std::string_view Iterator::key() const { return ToView(it_->key()); }

std::string_view Iterator::value() const { return ToView(it_->value()); }

void Iterator::Next() {
  it_->Next();
  SkipReserved();
}

void Iterator::Seek(std::string_view target) {
  if (target < std::string_view(prefix_)) target = prefix_;
  it_->Seek(ToSlice(target));
  SkipReserved();
}

void Iterator::SkipReserved() {
  // The schema-version key is not part of any tree.
  if (it_->Valid() && ToView(it_->key()) == kSchemaVersionKey) it_->Next();
}

absl::Status Iterator::status() const {
  return FromRocksDB(it_->status(), "scan " + Quote(prefix_) + " in", path_);
}

// --- Store ---------------------------------------------------------------------------------

Store::Store(std::string path, bool secondary) : path_(std::move(path)), secondary_(secondary) {}

Store::~Store() {
  if (db_ != nullptr) {
    // Close reports errors from the last flush of a primary; nothing can be done about them
    // here, and the WAL still holds every acknowledged write.
    (void)db_->Close();
  }
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path,
                                                   const Options& options) {
  if (path.empty()) return InvalidArgumentError("open store: empty path");
  if (options.schema_version.empty()) {
    return InvalidArgumentError("open store " + Quote(path) + ": empty schema version");
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(MakeOptions(options), path, &raw);
  if (!s.ok()) return FromRocksDB(s, "open store", path);
  std::unique_ptr<Store> store(new Store(path, /*secondary=*/false));
  store->db_.reset(raw);
  RETURN_IF_ERROR(store->CheckSchemaVersion(options));
  return store;
}

absl::StatusOr<std::unique_ptr<Store>> Store::OpenSecondary(const std::string& primary_path,
                                                            const std::string& secondary_path,
                                                            const Options& options) {
  if (primary_path.empty() || secondary_path.empty()) {
    return InvalidArgumentError("open secondary store: empty path");
  }
  if (mkdir(secondary_path.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus("open secondary store: mkdir", secondary_path, errno);
  }
  rocksdb::Options rocks = MakeOptions(options);
  rocks.create_if_missing = false;
  rocks.max_open_files = -1;  // Required by secondary instances.
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenAsSecondary(rocks, primary_path, secondary_path, &raw);
  if (!s.ok()) return FromRocksDB(s, "open secondary store", primary_path);
  std::unique_ptr<Store> store(new Store(primary_path, /*secondary=*/true));
  store->db_.reset(raw);
  RETURN_IF_ERROR(store->CheckSchemaVersion(options));
  return store;
}

absl::Status Store::CheckSchemaVersion(const Options& options) {
  std::string on_disk;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), kSchemaVersionKey, &on_disk);
  if (s.IsNotFound()) {
    if (secondary_) {
      return FailedPreconditionError("open secondary store " + Quote(path_) +
                                     ": no schema version yet (has a primary opened it?)");
    }
    return FromRocksDB(
        db_->Put(MakeWriteOptions(Durability::kSync), kSchemaVersionKey, options.schema_version),
        "write schema version of", path_);
  }
  if (!s.ok()) return FromRocksDB(s, "read schema version of", path_);
  if (on_disk != options.schema_version) {
    return FailedPreconditionError("open store " + Quote(path_) + ": schema version " +
                                   Quote(on_disk) + " on disk, this build reads " +
                                   Quote(options.schema_version));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Store::Get(std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), ToSlice(key), &value);
  if (s.IsNotFound())
    return NotFoundError("get " + Quote(key) + " in " + Quote(path_) + ": not found");
  if (!s.ok()) return FromRocksDB(s, "get " + Quote(key) + " in", path_);
  return value;
}

absl::Status Store::Put(std::string_view key, std::string_view value, Durability durability) {
  if (secondary_) {
    return FailedPreconditionError("put " + Quote(key) + " in " + Quote(path_) +
                                   ": read-only secondary");
  }
  RETURN_IF_ERROR(CheckUserKey(key, "put"));
  return FromRocksDB(db_->Put(MakeWriteOptions(durability), ToSlice(key), ToSlice(value)),
                     "put " + Quote(key) + " in", path_);
}

absl::Status Store::Delete(std::string_view key, Durability durability) {
  if (secondary_) {
    return FailedPreconditionError("delete " + Quote(key) + " in " + Quote(path_) +
                                   ": read-only secondary");
  }
  RETURN_IF_ERROR(CheckUserKey(key, "delete"));
  return FromRocksDB(db_->Delete(MakeWriteOptions(durability), ToSlice(key)),
                     "delete " + Quote(key) + " in", path_);
}

absl::Status Store::Write(const Batch& batch, Durability durability) {
  if (secondary_) {
    return FailedPreconditionError("write batch to " + Quote(path_) + ": read-only secondary");
  }
  RETURN_IF_ERROR(batch.status());
  if (batch.Count() == 0) return absl::OkStatus();
  return FromRocksDB(db_->Write(MakeWriteOptions(durability), batch.batch_.get()), "write batch to",
                     path_);
}

std::unique_ptr<Iterator> Store::NewIterator(std::string_view prefix) const {
  std::unique_ptr<Iterator> it(new Iterator(std::string(prefix), path_));
  rocksdb::ReadOptions read;
  if (!it->upper_.empty()) read.iterate_upper_bound = it->upper_slice_.get();
  it->it_.reset(db_->NewIterator(read));
  it->Seek(it->prefix_);
  return it;
}

absl::Status Store::Scan(
    std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) const {
  for (std::unique_ptr<Iterator> it = NewIterator(prefix);; it->Next()) {
    if (!it->Valid()) return it->status();
    if (!fn(it->key(), it->value())) return absl::OkStatus();
  }
}

absl::Status Store::CatchUp() {
  if (!secondary_) {
    return FailedPreconditionError("catch up " + Quote(path_) + ": not a secondary store");
  }
  return FromRocksDB(db_->TryCatchUpWithPrimary(), "catch up with", path_);
}

}  // namespace berth::store
