#include "services/content/local_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "fmt/format.h"
#include "lib/filters/filters.h"
#include "lib/identifiers/identifiers.h"
#include "lib/labels/labels.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "lib/store/keys.h"
#include "lib/store/store.h"
#include "proto/berth/content/v1/records.pb.h"
#include "services/content/fs_util.h"
#include "services/content/ingest_pipeline.h"
#include "services/content/schema.h"

namespace berth::content {
namespace {

using berth::content::v1::BlobRecord;
using berth::content::v1::IngestRecord;

Time Now() { return std::chrono::system_clock::now(); }

absl::Status CheckNamespace(const CallContext& ctx) {
  if (ctx.ns.empty()) return FailedPreconditionError("namespace is required");
  return Annotate(identifiers::Validate(ctx.ns), "namespace validation");
}

// Lease ids are looser than identifiers, with the gateway's rule (gateway/rocks_stores.cc
// ValidateLeaseId): containerd's client makes them as `<nanoseconds>-<4 base64url chars>`,
// which may end in '-' or '_' or hold two separators in a row (about one `ctr images pull` in
// twelve failed here before). 1..76 characters of [A-Za-z0-9._-]; '/' stays refused since the
// id is a key component.
absl::Status CheckLease(const std::string& lease) {
  bool ok = !lease.empty() && lease.size() <= identifiers::kMaxLength;
  for (char c : lease) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return InvalidArgumentError(fmt::format(
        "lease validation: lease id {:?} must be 1 to 76 characters of [A-Za-z0-9._-]", lease));
  }
  return absl::OkStatus();
}

absl::Status CheckRef(const std::string& ref) {
  if (ref.empty()) return InvalidArgumentError("ref must not be empty");
  if (ref.size() > kMaxRefLength) {
    return InvalidArgumentError(
        fmt::format("ref of {} bytes is longer than {} bytes", ref.size(), kMaxRefLength));
  }
  return absl::OkStatus();
}

std::string NotFoundMessage(const digest::Digest& d) {
  return fmt::format("content digest {}: not found", d.ToString());
}

content::Info InfoFromRecord(const digest::Digest& d, const BlobRecord& record) {
  content::Info info;
  info.digest = d;
  info.size = record.size();
  info.created_at = internal::FromUnixNanos(record.created_at_unix_nanos());
  info.updated_at = internal::FromUnixNanos(record.updated_at_unix_nanos());
  info.labels.insert(record.labels().begin(), record.labels().end());
  return info;
}

absl::StatusOr<BlobRecord> ParseBlobRecord(const std::string& key, const std::string& value) {
  BlobRecord record;
  if (!record.ParseFromString(value)) {
    return DataLossError(fmt::format("decode \"{}\": corrupt blob record", key));
  }
  return record;
}

// Reads the rest of a key after `prefix` (the caller scanned that prefix).
std::string_view Suffix(std::string_view key, std::string_view prefix) {
  return key.substr(std::min(prefix.size(), key.size()));
}

// Hashes [0, size) of the file at `fd`: the one time ingest data is read back, when an
// ingest is reopened after a restart.
absl::StatusOr<digest::Sha256> HashFile(int fd, int64_t size, const std::string& path) {
  digest::Sha256 hasher;
  std::string buf(1 << 20, '\0');
  int64_t offset = 0;
  while (offset < size) {
    size_t want = static_cast<size_t>(std::min<int64_t>(buf.size(), size - offset));
    ssize_t n = ::pread(fd, buf.data(), want, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus("read", path, errno);
    }
    if (n == 0) return DataLossError(fmt::format("read \"{}\": file shrank while hashing", path));
    hasher.Update(buf.data(), static_cast<size_t>(n));
    offset += n;
  }
  return hasher;
}

// A filter adaptor over a blob's Info (containerd's adaptContentInfo).
std::optional<std::string> InfoField(const content::Info& info,
                                     const std::vector<std::string>& path) {
  if (path[0] == "digest") return info.digest.ToString();
  if (path[0] == "size") return std::to_string(info.size);
  if (path[0] == "labels") {
    if (path.size() < 2) return std::nullopt;
    std::string key = path[1];
    for (size_t i = 2; i < path.size(); ++i) key += "." + path[i];
    auto it = info.labels.find(key);
    if (it == info.labels.end()) return std::nullopt;
    return it->second;
  }
  return std::nullopt;
}

std::optional<std::string> StatusField(const IngestStatus& status,
                                       const std::vector<std::string>& path) {
  if (path.size() != 1) return std::nullopt;
  if (path[0] == "ref") return status.ref;
  if (path[0] == "expected") {
    if (status.expected.empty()) return std::nullopt;
    return status.expected.ToString();
  }
  return std::nullopt;
}

// What an ingest directory says besides ref and namespace: declared total and digest, start
// and update times (the data file's mtime counts as an update).
struct IngestFiles {
  Time started_at;
  Time updated_at;
  int64_t total = 0;
  digest::Digest expected;
};

IngestFiles ReadIngestFiles(const std::string& path, const struct stat& data_st) {
  IngestFiles out;
  Time mtime = internal::FromUnixNanos(static_cast<int64_t>(data_st.st_mtim.tv_sec) * 1000000000 +
                                       data_st.st_mtim.tv_nsec);
  auto read_time = [&](const char* file) -> std::optional<Time> {
    absl::StatusOr<std::string> text = internal::ReadFile(path + "/" + file);
    if (!text.ok()) return std::nullopt;
    return internal::ParseTime(*text);
  };
  out.started_at = read_time(schema::kStartedAtFile).value_or(mtime);
  out.updated_at = std::max(read_time(schema::kUpdatedAtFile).value_or(mtime), mtime);
  if (absl::StatusOr<std::string> total = internal::ReadFile(path + "/" + schema::kTotalFile);
      total.ok()) {
    out.total = std::max<int64_t>(0, std::strtoll(total->c_str(), nullptr, 10));
  }
  if (absl::StatusOr<std::string> expected = internal::ReadFile(path + "/" + schema::kExpectedFile);
      expected.ok()) {
    if (absl::StatusOr<digest::Digest> d = digest::Digest::Parse(*expected); d.ok()) {
      out.expected = *d;
    }
  }
  return out;
}

// Lists the entries of a directory but "." and "..".
absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return ErrnoToStatus("opendir", path, errno);
  std::vector<std::string> names;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(dir);
  return names;
}

}  // namespace

// In-memory state of one ingest, from its directory and record. Every ingest on disk has
// one, created at start-up or by OpenWriter, removed by Commit and Abort.
struct LocalStore::Ingest {
  // Fixed at creation.
  std::string id;
  std::string ns;
  std::string ref;
  std::string dir;
  Time started_at;

  // Guarded by LocalStore::mu_.
  bool locked = false;  // A Writer (or an Abort in progress) holds the ingest.
  Time locked_since;

  // Guarded by `mu`. A Writer changes them only while it holds `locked`.
  std::mutex mu;
  bool removed = false;  // Committed or aborted: the record and directory are gone.
  int64_t size = 0;      // Bytes in the data file.
  int64_t total = 0;
  digest::Digest expected;
  bool shared = false;  // Stands for the blob `expected`, already on disk (size 0 then).
  Time updated_at;
  std::vector<std::string> leases;
  // The hash of data[0, size) when known; kept across Writer sessions, absent after a
  // restart until the ingest is reopened.
  std::optional<digest::Sha256> hasher;

  std::string DataPath() const { return dir + "/" + schema::kDataFile; }

  // Reported offset: the bytes written, or the whole blob for a shared ingest.
  int64_t OffsetLocked() const { return shared ? total : size; }

  IngestStatus StatusLocked() const {
    IngestStatus st;
    st.ref = ref;
    st.offset = OffsetLocked();
    st.total = total;
    st.expected = expected;
    st.started_at = started_at;
    st.updated_at = updated_at;
    return st;
  }

  IngestRecord RecordLocked() const {
    IngestRecord record;
    record.set_namespace_(ns);
    record.set_ref(ref);
    record.set_shared(shared);
    for (const std::string& lease : leases) record.add_leases(lease);
    return record;
  }
};

// ---------------------------------------------------------------------------------------
// FileReader

class LocalStore::FileReader final : public ReaderAt {
 public:
  FileReader(int fd, int64_t size, std::string path, LocalStoreCounters* counters)
      : fd_(fd), size_(size), path_(std::move(path)), counters_(counters) {}
  ~FileReader() override { ::close(fd_); }

  int64_t Size() const override { return size_; }

  absl::StatusOr<std::size_t> ReadAt(char* buf, std::size_t n, int64_t offset) override {
    if (offset < 0) {
      return InvalidArgumentError(fmt::format("read \"{}\": negative offset {}", path_, offset));
    }
    if (offset >= size_) return 0;
    n = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(n), size_ - offset));
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, buf + done, n - done, offset + static_cast<int64_t>(done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoToStatus("read", path_, errno);
      }
      if (r == 0) {
        return DataLossError(
            fmt::format("read \"{}\": blob shorter than its {} bytes", path_, size_));
      }
      done += static_cast<size_t>(r);
    }
    counters_->bytes_read.fetch_add(done, std::memory_order_relaxed);
    return done;
  }

 private:
  int fd_;
  int64_t size_;
  std::string path_;
  LocalStoreCounters* counters_;
};

// ---------------------------------------------------------------------------------------
// LocalWriter

class LocalStore::LocalWriter final : public content::Writer {
 public:
  LocalWriter(LocalStore* store, std::shared_ptr<Ingest> ingest, std::string lease, int fd,
              int64_t size, digest::Sha256 hasher)
      : store_(store),
        ingest_(std::move(ingest)),
        lease_(std::move(lease)),
        fd_(fd),
        pipeline_(std::make_unique<internal::IngestPipeline>(
            fd, ingest_->DataPath(), size, std::move(hasher), store->options_.pipeline_depth,
            store->options_.inline_write_bytes)) {}

  ~LocalWriter() override {
    if (pipeline_ != nullptr) {
      pipeline_->Drain().IgnoreError();  // A failed write only moves the offset back.
      const int64_t written = pipeline_->written();
      digest::Sha256 hasher = pipeline_->Release();
      std::lock_guard<std::mutex> lock(ingest_->mu);
      if (!ingest_->removed && !broken_) {
        if (!ingest_->shared) ingest_->size = written;
        ingest_->hasher = std::move(hasher);
      }
    }
    if (fd_ >= 0) ::close(fd_);
    store_->Unlock(*ingest_);
  }

  absl::StatusOr<IngestStatus> Status() override {
    RETURN_IF_ERROR(CheckUsable());
    RETURN_IF_ERROR(Sync(pipeline_->TakeError()));
    std::lock_guard<std::mutex> lock(ingest_->mu);
    return ingest_->StatusLocked();
  }

  absl::StatusOr<digest::Digest> Digest() override {
    RETURN_IF_ERROR(CheckUsable());
    {
      std::lock_guard<std::mutex> lock(ingest_->mu);
      if (ingest_->shared) return ingest_->expected;
    }
    RETURN_IF_ERROR(Sync(pipeline_->Drain()));
    return pipeline_->hasher().Sum();
  }

  absl::Status Write(std::string data) override {
    RETURN_IF_ERROR(CheckUsable());
    if (data.empty()) return absl::OkStatus();
    bool shared;
    {
      std::lock_guard<std::mutex> lock(ingest_->mu);
      shared = ingest_->shared;
    }
    // containerd's createAndCopy: appending to a shared ingest first copies the blob in.
    if (shared) RETURN_IF_ERROR(Unshare());
    const uint64_t size = data.size();
    RETURN_IF_ERROR(Sync(pipeline_->Add(std::move(data))));
    {
      std::lock_guard<std::mutex> lock(ingest_->mu);
      ingest_->size = pipeline_->accepted();
      ingest_->updated_at = Now();
    }
    store_->counters_.bytes_ingested.fetch_add(size, std::memory_order_relaxed);
    return absl::OkStatus();
  }

  absl::Status Truncate(int64_t size) override {
    RETURN_IF_ERROR(CheckUsable());
    if (size != 0) {
      return InvalidArgumentError(
          fmt::format("truncate {}: only truncating to 0 is supported", Quote(ingest_->ref)));
    }
    // A pending write error does not matter: everything goes.
    pipeline_->Drain().IgnoreError();
    if (::ftruncate(fd_, 0) != 0) return ErrnoToStatus("truncate", ingest_->DataPath(), errno);
    pipeline_->Reset(0, digest::Sha256());
    bool was_shared;
    Time now = Now();
    {
      std::lock_guard<std::mutex> lock(ingest_->mu);
      was_shared = ingest_->shared;
      ingest_->shared = false;
      ingest_->size = 0;
      ingest_->updated_at = now;
    }
    if (was_shared) RETURN_IF_ERROR(store_->PutIngestRecord(*ingest_));
    return internal::ReplaceFile(ingest_->dir + "/" + schema::kUpdatedAtFile,
                                 internal::FormatTime(now));
  }

  absl::Status Commit(int64_t size, const digest::Digest& expected, const Labels& labels) override {
    RETURN_IF_ERROR(CheckUsable());
    RETURN_IF_ERROR(Annotate(labels::Validate(labels), "commit labels"));
    if (size < 0) {
      return InvalidArgumentError(
          fmt::format("commit {}: negative size {}", Quote(ingest_->ref), size));
    }
    bool shared;
    {
      std::lock_guard<std::mutex> lock(ingest_->mu);
      shared = ingest_->shared;
    }
    if (!shared) RETURN_IF_ERROR(Sync(pipeline_->Drain()));
    int64_t written;
    digest::Digest actual;
    {
      std::lock_guard<std::mutex> lock(ingest_->mu);
      written = ingest_->OffsetLocked();
      actual = ingest_->shared ? ingest_->expected : pipeline_->hasher().Sum();
    }
    if (size > 0 && size != written) {
      store_->counters_.digest_mismatches.fetch_add(1, std::memory_order_relaxed);
      return FailedPreconditionError(fmt::format(
          "commit {}: unexpected commit size {}, expected {}", Quote(ingest_->ref), written, size));
    }
    if (!expected.empty() && expected != actual) {
      store_->counters_.digest_mismatches.fetch_add(1, std::memory_order_relaxed);
      return FailedPreconditionError(
          fmt::format("commit {}: unexpected commit digest {}, expected {}", Quote(ingest_->ref),
                      actual.ToString(), expected.ToString()));
    }
    absl::Status status;
    if (shared) {
      status = store_->AdoptSharedBlob(*ingest_, lease_, labels);
    } else {
      if (::fdatasync(fd_) != 0) return ErrnoToStatus("fsync", ingest_->DataPath(), errno);
      // The data file is about to become the blob: no more writes through this descriptor.
      ::close(fd_);
      fd_ = -1;
      status = store_->CommitIngest(*ingest_, lease_, actual, written, labels);
    }
    bool gone;
    {
      std::lock_guard<std::mutex> lock(ingest_->mu);
      gone = ingest_->removed;
    }
    if (gone) {
      committed_ = true;
    } else if (fd_ < 0) {
      broken_ = true;  // Failed after giving up the data file; reopen the ingest to go on.
    }
    return status;
  }

 private:
  absl::Status CheckUsable() const {
    if (committed_) {
      return FailedPreconditionError(
          fmt::format("writer {}: already committed", Quote(ingest_->ref)));
    }
    if (broken_) {
      return FailedPreconditionError(fmt::format(
          "writer {}: unusable after a failed commit; open the ingest again", Quote(ingest_->ref)));
    }
    return absl::OkStatus();
  }

  // After a failed background write the ingest's offset falls back to what is in the file.
  absl::Status Sync(absl::Status pipeline_status) {
    if (pipeline_status.ok()) return pipeline_status;
    std::lock_guard<std::mutex> lock(ingest_->mu);
    if (!ingest_->shared) ingest_->size = pipeline_->accepted();
    return pipeline_status;
  }

  // Copies the shared blob into the data file so that bytes can be appended to it.
  absl::Status Unshare() {
    digest::Digest d;
    {
      std::lock_guard<std::mutex> lock(ingest_->mu);
      d = ingest_->expected;
    }
    const std::string blob = store_->BlobPath(d);
    int in = ::open(blob.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return ErrnoToStatus("open", blob, errno);
    pipeline_->Drain().IgnoreError();
    if (::ftruncate(fd_, 0) != 0) {
      int err = errno;
      ::close(in);
      return ErrnoToStatus("truncate", ingest_->DataPath(), err);
    }
    pipeline_->Reset(0, digest::Sha256());
    absl::Status status;
    for (;;) {
      std::string buf(1 << 20, '\0');
      ssize_t n = ::read(in, buf.data(), buf.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        status = ErrnoToStatus("read", blob, errno);
        break;
      }
      if (n == 0) break;
      buf.resize(static_cast<size_t>(n));
      status = pipeline_->Add(std::move(buf));
      if (!status.ok()) break;
    }
    ::close(in);
    if (status.ok()) status = pipeline_->Drain();
    if (!status.ok()) {
      pipeline_->Drain().IgnoreError();
      if (::ftruncate(fd_, 0) != 0) broken_ = true;
      pipeline_->Reset(0, digest::Sha256());
      return status;
    }
    {
      std::lock_guard<std::mutex> lock(ingest_->mu);
      ingest_->shared = false;
      ingest_->size = pipeline_->written();
      ingest_->updated_at = Now();
    }
    return store_->PutIngestRecord(*ingest_);
  }

  LocalStore* store_;
  std::shared_ptr<Ingest> ingest_;
  std::string lease_;
  int fd_;
  std::unique_ptr<internal::IngestPipeline> pipeline_;
  bool committed_ = false;
  bool broken_ = false;
};

// ---------------------------------------------------------------------------------------
// Open and start-up reconciliation

LocalStore::LocalStore(LocalStoreOptions options) : options_(std::move(options)) {}

LocalStore::~LocalStore() {
  {
    std::lock_guard<std::mutex> lock(expiry_mu_);
    stopping_ = true;
  }
  expiry_cv_.notify_all();
  if (expirer_.joinable()) expirer_.join();
  WaitForBlobCheck();
}

absl::StatusOr<std::unique_ptr<LocalStore>> LocalStore::Open(LocalStoreOptions options) {
  if (options.root.empty() || options.root[0] != '/') {
    return InvalidArgumentError(
        fmt::format("content store root {}: must be an absolute path", Quote(options.root)));
  }
  while (options.root.size() > 1 && options.root.back() == '/') options.root.pop_back();
  if (options.read_only && options.secondary_dir.empty()) {
    return InvalidArgumentError(fmt::format(
        "content store root {}: a read-only store needs a secondary_dir", Quote(options.root)));
  }
  if (options.metadata_dir.empty()) options.metadata_dir = options.root + "/" + schema::kMetaDir;
  std::unique_ptr<LocalStore> s(new LocalStore(std::move(options)));
  RETURN_IF_ERROR(s->Init());
  return s;
}

absl::Status LocalStore::Init() {
  if (options_.read_only) return InitReadOnly();
  const std::string& root = options_.root;
  // Create the root and its parents. Nothing in the store is for other users (blobs of private
  // images): the root is 0700, also when it already existed with a looser mode
  // (CVE-2021-41103, CVE-2024-25621: state dirs must not be group/world-traversable).
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = root.find('/', pos + 1);
    RETURN_IF_ERROR(internal::MakeDir(root.substr(0, pos), 0711));
  }
  if (::chmod(root.c_str(), 0700) != 0) return ErrnoToStatus("chmod", root, errno);
  RETURN_IF_ERROR(internal::MakeDir(root + "/blobs", 0700));
  RETURN_IF_ERROR(internal::MakeDir(root + "/" + schema::kBlobsDir, 0700));
  RETURN_IF_ERROR(internal::MakeDir(root + "/" + schema::kIngestDir, 0700));

  store::Options db_options;
  db_options.schema_version = schema::kSchemaVersion;
  ASSIGN_OR_RETURN(db_, store::Store::Open(options_.metadata_dir, db_options));

  RETURN_IF_ERROR(ReconcileIngests());
  if (options_.verify_blobs) blob_checker_ = std::thread(&LocalStore::CheckBlobs, this);
  if (options_.expiry_interval.count() > 0) expirer_ = std::thread(&LocalStore::ExpireLoop, this);
  return absl::OkStatus();
}

absl::Status LocalStore::InitReadOnly() {
  for (const std::string& dir : {options_.root, options_.root + "/" + schema::kBlobsDir,
                                 options_.root + "/" + schema::kIngestDir}) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return ErrnoToStatus("open read-only store", dir, errno);
    if (!S_ISDIR(st.st_mode)) {
      return FailedPreconditionError(
          fmt::format("open read-only store \"{}\": not a directory", dir));
    }
  }
  const std::string& secondary = options_.secondary_dir;
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = secondary.find('/', pos + 1);
    RETURN_IF_ERROR(internal::MakeDir(secondary.substr(0, pos), 0700));
  }
  store::Options db_options;
  db_options.schema_version = schema::kSchemaVersion;
  ASSIGN_OR_RETURN(db_, store::Store::OpenSecondary(options_.metadata_dir, secondary, db_options));
  if (options_.catch_up_interval.count() > 0) {
    expirer_ = std::thread(&LocalStore::CatchUpLoop, this);
  }
  log::Info("opened read-only root={:?} primary={:?}", options_.root, options_.primary);
  return absl::OkStatus();
}

absl::Status LocalStore::CatchUp() {
  if (!options_.read_only) {
    return FailedPreconditionError(
        fmt::format("catch up {}: not a read-only store", Quote(options_.root)));
  }
  return db_->CatchUp();
}

void LocalStore::CatchUpLoop() {
  bool failing = false;
  std::unique_lock<std::mutex> lock(expiry_mu_);
  while (!expiry_cv_.wait_for(lock, options_.catch_up_interval, [&] { return stopping_; })) {
    lock.unlock();
    absl::Status s = db_->CatchUp();
    if (!s.ok() && !failing) {
      log::Warn("cannot catch up with the primary error={:?}", s.ToString());
    } else if (s.ok() && failing) {
      log::Info("catching up with the primary again");
    }
    failing = !s.ok();
    lock.lock();
  }
}

absl::Status LocalStore::CheckWritable(std::string_view op) const {
  if (!options_.read_only) return absl::OkStatus();
  return FailedPreconditionError(
      fmt::format("{}: content store {} is a read replica; writes go to the primary{}", op,
                  Quote(options_.root),
                  options_.primary.empty() ? std::string() : " " + Quote(options_.primary)));
}

absl::StatusOr<std::vector<std::pair<std::string, IngestStatus>>> LocalStore::ReadIngestDirs(
    const std::string& ns, const std::string& id) {
  const std::string ingest_root = options_.root + "/" + schema::kIngestDir;
  std::vector<std::string> names;
  if (!id.empty()) {
    names.push_back(id);
  } else {
    ASSIGN_OR_RETURN(names, ListDir(ingest_root));
  }
  std::vector<std::pair<std::string, IngestStatus>> out;
  bool caught_up = false;
  for (const std::string& name : names) {
    const std::string path = ingest_root + "/" + name;
    // The primary may commit or abort the ingest meanwhile: what cannot be read is gone.
    absl::StatusOr<std::string> ingest_ns = internal::ReadFile(path + "/" + schema::kNamespaceFile);
    if (!ingest_ns.ok() || (!ns.empty() && *ingest_ns != ns)) continue;
    absl::StatusOr<std::string> ref = internal::ReadFile(path + "/" + schema::kRefFile);
    if (!ref.ok() || ref->empty() || schema::IngestId(*ingest_ns, *ref) != name) continue;
    struct stat data_st;
    if (::stat((path + "/" + schema::kDataFile).c_str(), &data_st) != 0) continue;
    IngestFiles files = ReadIngestFiles(path, data_st);
    IngestStatus st;
    st.ref = *ref;
    st.offset = data_st.st_size;
    st.total = files.total;
    st.expected = files.expected;
    st.started_at = files.started_at;
    st.updated_at = files.updated_at;
    if (st.offset == 0 && st.total > 0 && !st.expected.empty()) {
      // Possibly a shared ingest (complete from the start): only its record says so.
      if (!caught_up) {
        caught_up = true;
        db_->CatchUp().IgnoreError();
      }
      absl::StatusOr<std::string> value = db_->Get(schema::IngestKey(name));
      IngestRecord record;
      if (value.ok() && record.ParseFromString(*value) && record.shared()) st.offset = st.total;
    }
    out.emplace_back(*ingest_ns, std::move(st));
  }
  return out;
}

absl::Status LocalStore::ReconcileIngests() {
  const std::string ingest_root = options_.root + "/" + schema::kIngestDir;
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDir(ingest_root));

  for (const std::string& name : names) {
    const std::string path = ingest_root + "/" + name;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) {
      log::Warn("removing stray file in ingest directory path={:?}", path);
      ::unlink(path.c_str());
      continue;
    }
    absl::StatusOr<std::string> ref = internal::ReadFile(path + "/" + schema::kRefFile);
    absl::StatusOr<std::string> ns = internal::ReadFile(path + "/" + schema::kNamespaceFile);
    if (!ref.ok() || !ns.ok() || ref->empty() || schema::IngestId(*ns, *ref) != name ||
        !identifiers::Validate(*ns).ok()) {
      // Creation was cut short (or the directory is not ours): it never held accepted bytes.
      log::Warn("removing incomplete ingest directory path={:?}", path);
      if (absl::Status s = internal::RemoveFlatDir(path); !s.ok()) {
        log::Warn("cannot remove ingest directory error={:?}", s.ToString());
      }
      continue;
    }
    // Files half-replaced when the process died.
    if (DIR* d = ::opendir(path.c_str())) {
      while (struct dirent* entry = ::readdir(d)) {
        std::string file = entry->d_name;
        if (file.size() > 4 && file.compare(file.size() - 4, 4, schema::kTempSuffix) == 0) {
          ::unlinkat(dirfd(d), file.c_str(), 0);
        }
      }
      ::closedir(d);
    }
    auto ingest = std::make_shared<Ingest>();
    ingest->id = name;
    ingest->ns = *ns;
    ingest->ref = *ref;
    ingest->dir = path;
    struct stat data_st;
    const std::string data = ingest->DataPath();
    if (::stat(data.c_str(), &data_st) != 0) {
      // The data was renamed into the blob store (a commit cut short after the rename) or
      // never created: the ingest goes on from empty.
      if (absl::Status s = internal::WriteFile(data, ""); !s.ok()) return s;
      ::stat(data.c_str(), &data_st);
    }
    ingest->size = data_st.st_size;
    IngestFiles files = ReadIngestFiles(path, data_st);
    ingest->started_at = files.started_at;
    ingest->updated_at = files.updated_at;
    ingest->total = files.total;
    ingest->expected = files.expected;
    ingests_[name] = std::move(ingest);
  }

  // Records against directories.
  std::set<std::string> with_record;
  store::Batch batch;
  const std::string prefix = schema::AllIngestsPrefix();
  RETURN_IF_ERROR(db_->Scan(prefix, [&](std::string_view key, std::string_view value) {
    std::string id(Suffix(key, prefix));
    IngestRecord record;
    record.ParseFromString(std::string(value));
    auto it = ingests_.find(id);
    if (it == ingests_.end()) {
      log::Warn("dropping ingest record without directory ref={:?} namespace={:?}", record.ref(),
                record.namespace_());
      batch.Delete(key);
      if (identifiers::Validate(record.namespace_()).ok()) {
        for (const std::string& lease : record.leases()) {
          if (CheckLease(lease).ok()) {
            batch.Delete(schema::LeaseIngestKey(record.namespace_(), lease, id));
          }
        }
      }
      return true;
    }
    with_record.insert(id);
    Ingest& ingest = *it->second;
    ingest.leases.assign(record.leases().begin(), record.leases().end());
    if (record.shared()) {
      struct stat st;
      if (!ingest.expected.empty() && ingest.size == 0 &&
          ::stat(BlobPath(ingest.expected).c_str(), &st) == 0 && st.st_size == ingest.total) {
        ingest.shared = true;
      } else {
        batch.Put(key, [&] {
          IngestRecord r = record;
          r.set_shared(false);
          return r.SerializeAsString();
        }());
      }
    }
    return true;
  }));
  for (const auto& [id, ingest] : ingests_) {
    if (with_record.count(id) != 0) continue;
    log::Info("adopting ingest directory without record ref={:?} namespace={:?}", ingest->ref,
              ingest->ns);
    batch.Put(schema::IngestKey(id), ingest->RecordLocked().SerializeAsString());
  }
  if (batch.Count() > 0) RETURN_IF_ERROR(db_->Write(batch));
  if (!ingests_.empty()) log::Info("ingests found at start count={}", ingests_.size());
  return absl::OkStatus();
}

void LocalStore::CheckBlobs() {
  const std::string prefix = schema::AllHoldersPrefix();
  std::string last;
  int64_t checked = 0;
  absl::Status status = db_->Scan(prefix, [&](std::string_view key, std::string_view) {
    // key: <prefix><digest>/<ns>
    std::string_view rest = Suffix(key, prefix);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return true;
    std::string digest_text(rest.substr(0, slash));
    if (digest_text == last) return true;
    last = digest_text;
    ++checked;
    absl::StatusOr<digest::Digest> d = digest::Digest::Parse(digest_text);
    if (!d.ok()) return true;
    struct stat st;
    if (::stat(BlobPath(*d).c_str(), &st) == 0) return true;
    // Recheck under the digest lock against the live database, then drop the records.
    std::lock_guard<std::mutex> lock(DigestLock(*d));
    if (::stat(BlobPath(*d).c_str(), &st) == 0) return true;
    store::Batch batch;
    const std::string holders = schema::HoldersPrefix(*d);
    std::vector<std::string> namespaces;
    absl::Status s = db_->Scan(holders, [&](std::string_view k, std::string_view) {
      namespaces.emplace_back(Suffix(k, holders));
      return true;
    });
    if (!s.ok()) return true;
    for (const std::string& ns : namespaces) {
      log::Error("blob file missing; dropping its record digest={} namespace={:?} path={:?}",
                 d->ToString(), ns, BlobPath(*d));
      batch.Delete(schema::HolderKey(*d, ns));
      batch.Delete(schema::BlobKey(ns, *d));
      counters_.missing_blobs.fetch_add(1, std::memory_order_relaxed);
    }
    if (absl::Status w = db_->Write(batch); !w.ok()) {
      log::Error("cannot drop records of missing blob error={:?}", w.ToString());
    }
    return true;
  });
  if (!status.ok()) log::Error("blob check failed error={:?}", status.ToString());
  log::Debug("blob check done blobs={}", checked);
}

void LocalStore::ExpireLoop() {
  std::unique_lock<std::mutex> lock(expiry_mu_);
  while (!expiry_cv_.wait_for(lock, options_.expiry_interval, [&] { return stopping_; })) {
    lock.unlock();
    ExpireIngests(Now());
    lock.lock();
  }
}

int LocalStore::ExpireIngests(Time now) {
  if (options_.read_only) return 0;
  std::vector<std::shared_ptr<Ingest>> expired;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, ingest] : ingests_) {
      if (ingest->locked) continue;
      std::lock_guard<std::mutex> ingest_lock(ingest->mu);
      if (ingest->leases.empty() && ingest->updated_at + options_.ingest_expiry < now) {
        expired.push_back(ingest);
      }
    }
  }
  int n = 0;
  for (const auto& ingest : expired) {
    CallContext ctx = CallContext::Background(ingest->ns);
    absl::Status s = Abort(ctx, ingest->ref);
    if (s.ok()) {
      ++n;
      log::Info("expired ingest aborted ref={:?} namespace={:?}", ingest->ref, ingest->ns);
    } else if (!IsNotFound(s) && !IsUnavailable(s)) {
      log::Warn("cannot expire ingest ref={:?} error={:?}", ingest->ref, s.ToString());
    }
  }
  return n;
}

void LocalStore::WaitForBlobCheck() {
  if (blob_checker_.joinable()) blob_checker_.join();
}

// ---------------------------------------------------------------------------------------
// Paths and locks

std::string LocalStore::BlobPath(const digest::Digest& d) const {
  return options_.root + "/" + schema::kBlobsDir + "/" + std::string(d.hex());
}

std::string LocalStore::IngestPath(const std::string& id) const {
  return options_.root + "/" + schema::kIngestDir + "/" + id;
}

std::mutex& LocalStore::DigestLock(const digest::Digest& d) {
  return digest_locks_[std::hash<std::string>()(d.ToString()) % kDigestLockStripes];
}

void LocalStore::Unlock(Ingest& ingest) {
  std::lock_guard<std::mutex> lock(mu_);
  ingest.locked = false;
}

// ---------------------------------------------------------------------------------------
// Manager

absl::StatusOr<content::Info> LocalStore::Info(const CallContext& ctx, const digest::Digest& d) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  const std::string key = schema::BlobKey(ctx.ns, d);
  absl::StatusOr<std::string> value = db_->Get(key);
  if (IsNotFound(value.status()) && options_.read_only) {
    // Perhaps committed on the primary since the last catch-up.
    RETURN_IF_ERROR(db_->CatchUp());
    value = db_->Get(key);
  }
  if (IsNotFound(value.status())) return NotFoundError(NotFoundMessage(d));
  if (!value.ok()) return value.status();
  ASSIGN_OR_RETURN(BlobRecord record, ParseBlobRecord(key, *value));
  return InfoFromRecord(d, record);
}

absl::StatusOr<content::Info> LocalStore::Update(const CallContext& ctx, const content::Info& info,
                                                 const std::vector<std::string>& fieldpaths) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  RETURN_IF_ERROR(CheckWritable("update"));
  if (info.digest.empty()) return InvalidArgumentError("update: digest must be set");
  std::lock_guard<std::mutex> lock(DigestLock(info.digest));
  const std::string key = schema::BlobKey(ctx.ns, info.digest);
  absl::StatusOr<std::string> value = db_->Get(key);
  if (IsNotFound(value.status())) return NotFoundError(NotFoundMessage(info.digest));
  if (!value.ok()) return value.status();
  ASSIGN_OR_RETURN(BlobRecord record, ParseBlobRecord(key, *value));

  Labels labels(record.labels().begin(), record.labels().end());
  if (fieldpaths.empty()) {
    labels = info.labels;
  } else {
    for (const std::string& path : fieldpaths) {
      if (path == "labels") {
        labels = info.labels;
      } else if (path.rfind("labels.", 0) == 0 && path.size() > 7) {
        const std::string label = path.substr(7);
        auto it = info.labels.find(label);
        if (it == info.labels.end() || it->second.empty()) {
          labels.erase(label);
        } else {
          labels[label] = it->second;
        }
      } else {
        return InvalidArgumentError(fmt::format("cannot update {} field on content info {}",
                                                Quote(path), info.digest.ToString()));
      }
    }
  }
  RETURN_IF_ERROR(Annotate(labels::Validate(labels), "update labels"));
  record.mutable_labels()->clear();
  for (const auto& [k, v] : labels) (*record.mutable_labels())[k] = v;
  record.set_updated_at_unix_nanos(internal::ToUnixNanos(Now()));
  RETURN_IF_ERROR(db_->Put(key, record.SerializeAsString()));
  return InfoFromRecord(info.digest, record);
}

absl::Status LocalStore::Walk(const CallContext& ctx, const std::vector<std::string>& filters,
                              const std::function<absl::Status(const content::Info&)>& fn) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  ASSIGN_OR_RETURN(filters::Filter filter, filters::ParseAll(filters));
  if (options_.read_only) RETURN_IF_ERROR(db_->CatchUp());
  const std::string prefix = schema::BlobPrefix(ctx.ns);
  absl::Status result;
  RETURN_IF_ERROR(db_->Scan(prefix, [&](std::string_view key, std::string_view value) {
    if (ctx.IsCancelled()) {
      result = CancelledError("walk: cancelled");
      return false;
    }
    absl::StatusOr<digest::Digest> d = digest::Digest::Parse(Suffix(key, prefix));
    if (!d.ok()) return true;
    absl::StatusOr<BlobRecord> record = ParseBlobRecord(std::string(key), std::string(value));
    if (!record.ok()) {
      result = record.status();
      return false;
    }
    content::Info info = InfoFromRecord(*d, *record);
    filters::FuncAdaptor adaptor(
        [&](const std::vector<std::string>& path) { return InfoField(info, path); });
    if (!filter.Match(adaptor)) return true;
    result = fn(info);
    return result.ok();
  }));
  return result;
}

bool LocalStore::SharedIngestHolds(const digest::Digest& d) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, ingest] : ingests_) {
    std::lock_guard<std::mutex> ingest_lock(ingest->mu);
    if (ingest->shared && ingest->expected == d) return true;
  }
  return false;
}

absl::Status LocalStore::Delete(const CallContext& ctx, const digest::Digest& d) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  RETURN_IF_ERROR(CheckWritable("delete"));
  std::lock_guard<std::mutex> lock(DigestLock(d));
  const std::string key = schema::BlobKey(ctx.ns, d);
  absl::StatusOr<std::string> value = db_->Get(key);
  if (IsNotFound(value.status())) return NotFoundError(NotFoundMessage(d));
  if (!value.ok()) return value.status();
  store::Batch batch;
  batch.Delete(key);
  batch.Delete(schema::HolderKey(d, ctx.ns));
  RETURN_IF_ERROR(db_->Write(batch));

  bool held = false;
  RETURN_IF_ERROR(db_->Scan(schema::HoldersPrefix(d), [&](std::string_view, std::string_view) {
    held = true;
    return false;
  }));
  if (!held && !SharedIngestHolds(d)) {
    const std::string path = BlobPath(d);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      // The namespace no longer holds the blob either way; the file is garbage now.
      log::Warn("cannot remove blob file path={:?} error={:?}", path, std::strerror(errno));
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Provider

absl::StatusOr<std::unique_ptr<ReaderAt>> LocalStore::OpenReader(const CallContext& ctx,
                                                                 const digest::Digest& d) {
  ASSIGN_OR_RETURN(content::Info info, Info(ctx, d));
  const std::string path = BlobPath(d);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT && options_.read_only) {
      // Deleted on the primary since the last catch-up: catch up and look again.
      RETURN_IF_ERROR(db_->CatchUp());
      const std::string key = schema::BlobKey(ctx.ns, d);
      absl::StatusOr<std::string> value = db_->Get(key);
      if (IsNotFound(value.status())) return NotFoundError(NotFoundMessage(d));
      if (!value.ok()) return value.status();
    }
    if (err == ENOENT) {
      log::Error("blob record without file digest={} path={:?}", d.ToString(), path);
      return NotFoundError(fmt::format("{} (blob file missing)", NotFoundMessage(d)));
    }
    return ErrnoToStatus("open", path, err);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size != info.size) {
    ::close(fd);
    return DataLossError(fmt::format("open \"{}\": size {} does not match the recorded {}", path,
                                     static_cast<int64_t>(st.st_size), info.size));
  }
  return std::make_unique<FileReader>(fd, info.size, path, &counters_);
}

// ---------------------------------------------------------------------------------------
// IngestManager

absl::StatusOr<IngestStatus> LocalStore::Status(const CallContext& ctx, const std::string& ref) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  RETURN_IF_ERROR(CheckRef(ref));
  if (options_.read_only) {
    ASSIGN_OR_RETURN(auto found, ReadIngestDirs(ctx.ns, schema::IngestId(ctx.ns, ref)));
    if (found.empty()) return NotFoundError(fmt::format("ingest ref {}: not found", Quote(ref)));
    return std::move(found.front().second);
  }
  std::shared_ptr<Ingest> ingest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ingests_.find(schema::IngestId(ctx.ns, ref));
    if (it != ingests_.end()) ingest = it->second;
  }
  if (ingest == nullptr) return NotFoundError(fmt::format("ingest ref {}: not found", Quote(ref)));
  std::lock_guard<std::mutex> lock(ingest->mu);
  if (ingest->removed) return NotFoundError(fmt::format("ingest ref {}: not found", Quote(ref)));
  return ingest->StatusLocked();
}

absl::StatusOr<std::vector<IngestStatus>> LocalStore::ListStatuses(
    const CallContext& ctx, const std::vector<std::string>& filters) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  ASSIGN_OR_RETURN(filters::Filter filter, filters::ParseAll(filters));
  std::vector<IngestStatus> statuses;
  if (options_.read_only) {
    ASSIGN_OR_RETURN(auto found, ReadIngestDirs(ctx.ns, ""));
    for (auto& [ns, st] : found) statuses.push_back(std::move(st));
  } else {
    std::vector<std::shared_ptr<Ingest>> ingests;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, ingest] : ingests_) {
        if (ingest->ns == ctx.ns) ingests.push_back(ingest);
      }
    }
    for (const auto& ingest : ingests) {
      std::lock_guard<std::mutex> lock(ingest->mu);
      if (!ingest->removed) statuses.push_back(ingest->StatusLocked());
    }
  }
  std::vector<IngestStatus> out;
  for (IngestStatus& st : statuses) {
    filters::FuncAdaptor adaptor(
        [&](const std::vector<std::string>& path) { return StatusField(st, path); });
    if (filter.Match(adaptor)) out.push_back(std::move(st));
  }
  std::sort(out.begin(), out.end(),
            [](const IngestStatus& a, const IngestStatus& b) { return a.ref < b.ref; });
  return out;
}

absl::Status LocalStore::Abort(const CallContext& ctx, const std::string& ref) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  RETURN_IF_ERROR(CheckRef(ref));
  RETURN_IF_ERROR(CheckWritable("abort"));
  const std::string id = schema::IngestId(ctx.ns, ref);
  std::shared_ptr<Ingest> ingest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ingests_.find(id);
    if (it == ingests_.end()) {
      return NotFoundError(fmt::format("ingest ref {}: not found", Quote(ref)));
    }
    if (it->second->locked) return UnavailableError(fmt::format("ref {} locked", Quote(ref)));
    ingest = it->second;
    ingest->locked = true;
    ingest->locked_since = Now();
  }
  digest::Digest shared;
  {
    std::lock_guard<std::mutex> lock(ingest->mu);
    if (ingest->shared) shared = ingest->expected;
  }
  absl::Status status = RemoveIngest(ingest);
  Unlock(*ingest);
  if (status.ok() && !shared.empty()) ReleaseUnheldBlob(shared);
  return status;
}

void LocalStore::ReleaseUnheldBlob(const digest::Digest& d) {
  std::lock_guard<std::mutex> lock(DigestLock(d));
  bool held = false;
  absl::Status s = db_->Scan(schema::HoldersPrefix(d), [&](std::string_view, std::string_view) {
    held = true;
    return false;
  });
  if (!s.ok() || held || SharedIngestHolds(d)) return;
  const std::string path = BlobPath(d);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    log::Warn("cannot remove blob file path={:?} error={:?}", path, std::strerror(errno));
  }
}

absl::Status LocalStore::RemoveIngest(const std::shared_ptr<Ingest>& ingest) {
  {
    std::lock_guard<std::mutex> lock(ingest->mu);
    store::Batch batch;
    batch.Delete(schema::IngestKey(ingest->id));
    for (const std::string& lease : ingest->leases) {
      batch.Delete(schema::LeaseIngestKey(ingest->ns, lease, ingest->id));
    }
    RETURN_IF_ERROR(db_->Write(batch));
    ingest->removed = true;
  }
  // The directory goes while the ingest is still registered (and held): a writer opening the
  // same ref meanwhile gets "locked" and retries, instead of making files that this removal
  // would then delete from under it.
  if (absl::Status s = internal::RemoveFlatDir(ingest->dir); !s.ok()) {
    log::Warn("cannot remove ingest directory error={:?}", s.ToString());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ingests_.erase(ingest->id);
  }
  return absl::OkStatus();
}

absl::Status LocalStore::PutIngestRecord(const Ingest& ingest) {
  IngestRecord record;
  {
    std::lock_guard<std::mutex> lock(const_cast<Ingest&>(ingest).mu);
    if (ingest.removed) return absl::OkStatus();
    record = ingest.RecordLocked();
  }
  return db_->Put(schema::IngestKey(ingest.id), record.SerializeAsString());
}

// ---------------------------------------------------------------------------------------
// Ingester

absl::StatusOr<std::unique_ptr<content::Writer>> LocalStore::OpenWriter(
    const CallContext& ctx, const WriterOptions& options) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  RETURN_IF_ERROR(CheckRef(options.ref));
  RETURN_IF_ERROR(CheckWritable("write"));
  if (!ctx.lease.empty()) RETURN_IF_ERROR(CheckLease(ctx.lease));
  if (options.total < 0) {
    return InvalidArgumentError(
        fmt::format("writer {}: negative total {}", Quote(options.ref), options.total));
  }
  if (!options.expected.empty()) {
    absl::StatusOr<std::string> existing = db_->Get(schema::BlobKey(ctx.ns, options.expected));
    if (existing.ok()) {
      if (!ctx.lease.empty()) {
        RETURN_IF_ERROR(db_->Put(schema::LeaseContentKey(ctx.ns, ctx.lease, options.expected), ""));
      }
      return AlreadyExistsError(
          fmt::format("content {}: already exists", options.expected.ToString()));
    }
    if (!IsNotFound(existing.status())) return existing.status();
  }

  const std::string id = schema::IngestId(ctx.ns, options.ref);
  // Deciding to share an on-disk blob must not race with its deletion.
  std::unique_lock<std::mutex> digest_lock;
  if (!options.expected.empty()) {
    digest_lock = std::unique_lock<std::mutex>(DigestLock(options.expected));
  }
  std::shared_ptr<Ingest> ingest;
  bool created = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ingests_.find(id);
    if (it != ingests_.end()) {
      if (it->second->locked) {
        auto held =
            std::chrono::duration_cast<std::chrono::milliseconds>(Now() - it->second->locked_since);
        return UnavailableError(fmt::format("ref {} locked for {} ms (since {})",
                                            Quote(options.ref), held.count(),
                                            internal::FormatTime(it->second->locked_since)));
      }
      ingest = it->second;
    } else {
      ingest = std::make_shared<Ingest>();
      ingest->id = id;
      ingest->ns = ctx.ns;
      ingest->ref = options.ref;
      ingest->dir = IngestPath(id);
      ingest->started_at = Now();
      ingest->updated_at = ingest->started_at;
      ingest->total = options.total;
      ingest->expected = options.expected;
      ingests_[id] = ingest;
      created = true;
    }
    ingest->locked = true;
    ingest->locked_since = Now();
  }
  // From here on, failures must release the ingest, and forget it when this call made it
  // (it never held accepted bytes).
  auto fail = [&](absl::Status status) -> absl::Status {
    if (created) {
      if (absl::Status s = RemoveIngest(ingest); !s.ok()) {
        log::Warn("cannot remove ingest after failed open error={:?}", s.ToString());
      }
    }
    Unlock(*ingest);
    return status;
  };

  const std::string data_path = ingest->DataPath();
  if (created) {
    // A blob already on disk (for another namespace) makes the ingest complete at once.
    IngestRecord record;
    {
      std::lock_guard<std::mutex> lock(ingest->mu);
      struct stat st;
      if (!options.expected.empty() && ::stat(BlobPath(options.expected).c_str(), &st) == 0 &&
          (options.total == 0 || options.total == st.st_size)) {
        ingest->shared = true;
        ingest->total = st.st_size;
      }
      if (!ctx.lease.empty()) ingest->leases.push_back(ctx.lease);
      record = ingest->RecordLocked();
    }
    const std::string started = internal::FormatTime(ingest->started_at);
    absl::Status s = internal::MakeDir(ingest->dir, 0700);
    if (s.ok()) s = internal::WriteFile(data_path, "");
    if (s.ok()) s = internal::WriteFile(ingest->dir + "/" + schema::kRefFile, options.ref);
    if (s.ok()) s = internal::WriteFile(ingest->dir + "/" + schema::kNamespaceFile, ctx.ns);
    if (s.ok()) s = internal::WriteFile(ingest->dir + "/" + schema::kStartedAtFile, started);
    if (s.ok()) s = internal::WriteFile(ingest->dir + "/" + schema::kUpdatedAtFile, started);
    if (s.ok() && ingest->total > 0) {
      s = internal::WriteFile(ingest->dir + "/" + schema::kTotalFile,
                              std::to_string(ingest->total));
    }
    if (s.ok() && !options.expected.empty()) {
      s = internal::WriteFile(ingest->dir + "/" + schema::kExpectedFile,
                              options.expected.ToString());
    }
    if (s.ok()) {
      store::Batch batch;
      batch.Put(schema::IngestKey(id), record.SerializeAsString());
      if (!ctx.lease.empty()) {
        batch.Put(schema::LeaseIngestKey(ctx.ns, ctx.lease, id), options.ref);
      }
      s = db_->Write(batch);
    }
    if (!s.ok()) return fail(s);
  } else {
    // Resuming: fill in what was unknown, attach the lease.
    {
      std::lock_guard<std::mutex> lock(ingest->mu);
      if (ingest->total == 0 && options.total > 0) {
        ingest->total = options.total;
        if (absl::Status s = internal::WriteFile(ingest->dir + "/" + schema::kTotalFile,
                                                 std::to_string(options.total));
            !s.ok()) {
          return fail(s);
        }
      }
      if (ingest->expected.empty() && !options.expected.empty()) {
        ingest->expected = options.expected;
        if (absl::Status s = internal::WriteFile(ingest->dir + "/" + schema::kExpectedFile,
                                                 options.expected.ToString());
            !s.ok()) {
          return fail(s);
        }
      }
    }
    if (!ctx.lease.empty()) {
      if (absl::Status s = AttachIngestLease(*ingest, ctx.lease); !s.ok()) return fail(s);
    }
  }
  if (digest_lock.owns_lock()) digest_lock.unlock();

  int fd = ::open(data_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fail(ErrnoToStatus("open", data_path, errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(ErrnoToStatus("stat", data_path, err));
  }
  digest::Sha256 hasher;
  bool shared;
  int64_t total;
  {
    std::lock_guard<std::mutex> lock(ingest->mu);
    shared = ingest->shared;
    total = ingest->total;
    ingest->size = st.st_size;
    if (ingest->hasher.has_value() && ingest->hasher->size() == static_cast<uint64_t>(st.st_size)) {
      hasher = std::move(*ingest->hasher);
      ingest->hasher.reset();
    }
  }
  if (hasher.size() != static_cast<uint64_t>(st.st_size)) {
    // After a restart: rebuild the hash state by reading the existing data once.
    int rfd = ::open(data_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd < 0) {
      int err = errno;
      ::close(fd);
      return fail(ErrnoToStatus("open", data_path, err));
    }
    absl::StatusOr<digest::Sha256> rebuilt = HashFile(rfd, st.st_size, data_path);
    ::close(rfd);
    if (!rebuilt.ok()) {
      ::close(fd);
      return fail(rebuilt.status());
    }
    hasher = std::move(*rebuilt);
    counters_.bytes_rehashed.fetch_add(static_cast<uint64_t>(st.st_size),
                                       std::memory_order_relaxed);
  }
  if (created && options_.preallocate && total > 0 && !shared) {
    if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, total) != 0) {
      int err = errno;
      if (err != EOPNOTSUPP && err != ENOSYS && err != EINVAL) {
        ::close(fd);
        // The ingest stays (empty, abortable): the caller learns about the full disk now.
        Unlock(*ingest);
        return ErrnoToStatus("allocate", data_path, err);
      }
    }
  }
  return std::make_unique<LocalWriter>(this, ingest, ctx.lease, fd, st.st_size, std::move(hasher));
}

absl::Status LocalStore::AttachIngestLease(Ingest& ingest, const std::string& lease) {
  std::lock_guard<std::mutex> lock(ingest.mu);
  store::Batch batch;
  if (!ingest.removed &&
      std::find(ingest.leases.begin(), ingest.leases.end(), lease) == ingest.leases.end()) {
    ingest.leases.push_back(lease);
    batch.Put(schema::IngestKey(ingest.id), ingest.RecordLocked().SerializeAsString());
  }
  batch.Put(schema::LeaseIngestKey(ingest.ns, lease, ingest.id), ingest.ref);
  absl::Status s = db_->Write(batch);
  if (!s.ok() && !ingest.removed) {
    ingest.leases.erase(std::remove(ingest.leases.begin(), ingest.leases.end(), lease),
                        ingest.leases.end());
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// Commit

absl::Status LocalStore::RecordCommit(Ingest& ingest, const std::string& lease,
                                      const digest::Digest& d, int64_t size, const Labels& labels,
                                      bool* already_exists) {
  const std::string key = schema::BlobKey(ingest.ns, d);
  absl::StatusOr<std::string> existing = db_->Get(key);
  if (!existing.ok() && !IsNotFound(existing.status())) return existing.status();
  *already_exists = existing.ok();
  std::lock_guard<std::mutex> lock(ingest.mu);
  store::Batch batch;
  if (!*already_exists) {
    BlobRecord record;
    record.set_size(size);
    const int64_t now = internal::ToUnixNanos(Now());
    record.set_created_at_unix_nanos(now);
    record.set_updated_at_unix_nanos(now);
    for (const auto& [k, v] : labels) (*record.mutable_labels())[k] = v;
    batch.Put(key, record.SerializeAsString());
    batch.Put(schema::HolderKey(d, ingest.ns), std::to_string(size));
  }
  batch.Delete(schema::IngestKey(ingest.id));
  for (const std::string& l : ingest.leases) {
    batch.Delete(schema::LeaseIngestKey(ingest.ns, l, ingest.id));
  }
  if (!lease.empty()) batch.Put(schema::LeaseContentKey(ingest.ns, lease, d), "");
  RETURN_IF_ERROR(db_->Write(batch));
  ingest.removed = true;
  return absl::OkStatus();
}

absl::Status LocalStore::CommitIngest(Ingest& ingest, const std::string& lease,
                                      const digest::Digest& actual, int64_t size,
                                      const Labels& labels) {
  const std::string data = ingest.DataPath();
  const std::string blob = BlobPath(actual);
  bool already_exists = false;
  {
    std::lock_guard<std::mutex> lock(DigestLock(actual));
    // From the rename on, the ingest's bytes are the blob's: any failure restarts it empty.
    auto moved_away = [&](absl::Status status) {
      std::lock_guard<std::mutex> ingest_lock(ingest.mu);
      ingest.size = 0;
      ingest.hasher.reset();
      return status;
    };
    struct stat st;
    if (::stat(blob.c_str(), &st) == 0 && st.st_size == size) {
      // Another namespace (or an earlier, interrupted commit) has the bytes already.
      ::unlink(data.c_str());
    } else {
      if (::chmod(data.c_str(), 0444) != 0) return ErrnoToStatus("chmod", data, errno);
      if (::rename(data.c_str(), blob.c_str()) != 0) {
        int err = errno;
        ::chmod(data.c_str(), 0644);
        return ErrnoToStatus("rename", data, err);
      }
      if (absl::Status s = internal::FsyncDir(options_.root + "/" + schema::kBlobsDir); !s.ok()) {
        return moved_away(s);
      }
    }
    if (absl::Status s = RecordCommit(ingest, lease, actual, size, labels, &already_exists);
        !s.ok()) {
      return moved_away(s);
    }
  }
  // As in RemoveIngest: the directory goes before the ref is free again.
  if (absl::Status s = internal::RemoveFlatDir(ingest.dir); !s.ok()) {
    log::Warn("cannot remove committed ingest directory error={:?}", s.ToString());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ingests_.erase(ingest.id);
  }
  counters_.commits.fetch_add(1, std::memory_order_relaxed);
  if (already_exists) {
    return AlreadyExistsError(fmt::format("content {}: already exists", actual.ToString()));
  }
  return absl::OkStatus();
}

absl::Status LocalStore::AdoptSharedBlob(Ingest& ingest, const std::string& lease,
                                         const Labels& labels) {
  digest::Digest d;
  int64_t size;
  {
    std::lock_guard<std::mutex> lock(ingest.mu);
    d = ingest.expected;
    size = ingest.total;
  }
  bool already_exists = false;
  {
    std::lock_guard<std::mutex> lock(DigestLock(d));
    struct stat st;
    if (::stat(BlobPath(d).c_str(), &st) != 0 || st.st_size != size) {
      return DataLossError(fmt::format("commit {}: shared blob {} is gone from disk",
                                       Quote(ingest.ref), d.ToString()));
    }
    RETURN_IF_ERROR(RecordCommit(ingest, lease, d, size, labels, &already_exists));
  }
  // As in RemoveIngest: the directory goes before the ref is free again.
  if (absl::Status s = internal::RemoveFlatDir(ingest.dir); !s.ok()) {
    log::Warn("cannot remove committed ingest directory error={:?}", s.ToString());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ingests_.erase(ingest.id);
  }
  counters_.commits.fetch_add(1, std::memory_order_relaxed);
  if (already_exists) {
    return AlreadyExistsError(fmt::format("content {}: already exists", d.ToString()));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------
// Admin

absl::StatusOr<std::vector<LeaseResource>> LocalStore::ListLeaseResources(
    const CallContext& ctx, const std::string& lease) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  RETURN_IF_ERROR(CheckLease(lease));
  if (options_.read_only) RETURN_IF_ERROR(db_->CatchUp());
  const std::string prefix = schema::LeasePrefix(ctx.ns, lease);
  std::vector<LeaseResource> out;
  RETURN_IF_ERROR(db_->Scan(prefix, [&](std::string_view key, std::string_view value) {
    std::string_view rest = Suffix(key, prefix);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return true;
    std::string_view type = rest.substr(0, slash);
    if (type == kContentResource) {
      out.push_back({std::string(rest.substr(slash + 1)), kContentResource});
    } else if (type == kIngestResource) {
      out.push_back({std::string(value), kIngestResource});
    }
    return true;
  }));
  std::sort(out.begin(), out.end(), [](const LeaseResource& a, const LeaseResource& b) {
    return std::tie(a.type, a.id) < std::tie(b.type, b.id);
  });
  return out;
}

absl::Status LocalStore::AddLeaseResource(const CallContext& ctx, const std::string& lease,
                                          const LeaseResource& resource) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  RETURN_IF_ERROR(CheckLease(lease));
  RETURN_IF_ERROR(CheckWritable("add lease resource"));
  if (resource.type == kContentResource) {
    ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(resource.id));
    return db_->Put(schema::LeaseContentKey(ctx.ns, lease, d), "");
  }
  if (resource.type == kIngestResource) {
    RETURN_IF_ERROR(CheckRef(resource.id));
    const std::string id = schema::IngestId(ctx.ns, resource.id);
    std::shared_ptr<Ingest> ingest;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = ingests_.find(id);
      if (it != ingests_.end()) ingest = it->second;
    }
    if (ingest != nullptr) return AttachIngestLease(*ingest, lease);
    return db_->Put(schema::LeaseIngestKey(ctx.ns, lease, id), resource.id);
  }
  return UnimplementedError(fmt::format(
      "lease resource type {} is not supported by the content service", Quote(resource.type)));
}

absl::Status LocalStore::DeleteLeaseResource(const CallContext& ctx, const std::string& lease,
                                             const LeaseResource& resource) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  RETURN_IF_ERROR(CheckLease(lease));
  RETURN_IF_ERROR(CheckWritable("delete lease resource"));
  if (resource.type == kContentResource) {
    ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(resource.id));
    return db_->Delete(schema::LeaseContentKey(ctx.ns, lease, d));
  }
  if (resource.type == kIngestResource) {
    RETURN_IF_ERROR(CheckRef(resource.id));
    const std::string id = schema::IngestId(ctx.ns, resource.id);
    std::shared_ptr<Ingest> ingest;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = ingests_.find(id);
      if (it != ingests_.end()) ingest = it->second;
    }
    store::Batch batch;
    batch.Delete(schema::LeaseIngestKey(ctx.ns, lease, id));
    if (ingest == nullptr) return db_->Write(batch);
    std::lock_guard<std::mutex> lock(ingest->mu);
    auto it = std::find(ingest->leases.begin(), ingest->leases.end(), lease);
    if (it != ingest->leases.end() && !ingest->removed) {
      ingest->leases.erase(it);
      batch.Put(schema::IngestKey(id), ingest->RecordLocked().SerializeAsString());
    }
    return db_->Write(batch);
  }
  return UnimplementedError(fmt::format(
      "lease resource type {} is not supported by the content service", Quote(resource.type)));
}

absl::Status LocalStore::DeleteLease(const CallContext& ctx, const std::string& lease) {
  RETURN_IF_ERROR(CheckNamespace(ctx));
  RETURN_IF_ERROR(CheckLease(lease));
  RETURN_IF_ERROR(CheckWritable("delete lease"));
  ASSIGN_OR_RETURN(std::vector<LeaseResource> resources, ListLeaseResources(ctx, lease));
  for (const LeaseResource& resource : resources) {
    RETURN_IF_ERROR(DeleteLeaseResource(ctx, lease, resource));
  }
  // Anything left that is not a resource of ours (written by a newer version).
  store::Batch batch;
  RETURN_IF_ERROR(
      db_->Scan(schema::LeasePrefix(ctx.ns, lease), [&](std::string_view key, std::string_view) {
        batch.Delete(key);
        return true;
      }));
  return db_->Write(batch);
}

absl::StatusOr<content::NamespaceUsage> LocalStore::NamespaceUsage(const CallContext& ctx,
                                                                   const std::string& ns) {
  RETURN_IF_ERROR(Annotate(identifiers::Validate(ns), "namespace validation"));
  content::NamespaceUsage usage;
  if (options_.read_only) RETURN_IF_ERROR(db_->CatchUp());
  const std::string blobs = schema::BlobPrefix(ns);
  RETURN_IF_ERROR(db_->Scan(blobs, [&](std::string_view key, std::string_view value) {
    BlobRecord record;
    if (record.ParseFromString(std::string(value))) usage.blob_bytes += record.size();
    ++usage.blobs;
    return true;
  }));
  const std::string leases = schema::LeasesPrefix(ns);
  std::string last;
  RETURN_IF_ERROR(db_->Scan(leases, [&](std::string_view key, std::string_view) {
    std::string_view rest = Suffix(key, leases);
    std::string lease(rest.substr(0, rest.find('/')));
    if (lease != last) {
      ++usage.leases;
      last = lease;
    }
    return true;
  }));
  if (options_.read_only) {
    ASSIGN_OR_RETURN(auto found, ReadIngestDirs(ns, ""));
    usage.ingests = static_cast<int64_t>(found.size());
    return usage;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, ingest] : ingests_) {
    if (ingest->ns == ns) ++usage.ingests;
  }
  return usage;
}

absl::StatusOr<std::map<std::string, content::NamespaceUsage>> LocalStore::UsageByNamespace()
    const {
  std::map<std::string, content::NamespaceUsage> out;
  const std::string prefix = schema::AllHoldersPrefix();
  RETURN_IF_ERROR(db_->Scan(prefix, [&](std::string_view key, std::string_view value) {
    std::string_view rest = Suffix(key, prefix);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return true;
    content::NamespaceUsage& usage = out[std::string(rest.substr(slash + 1))];
    ++usage.blobs;
    usage.blob_bytes += std::strtoll(std::string(value).c_str(), nullptr, 10);
    return true;
  }));
  return out;
}

int64_t LocalStore::IngestCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(ingests_.size());
}

int64_t LocalStore::ActiveWriterCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  for (const auto& [id, ingest] : ingests_) n += ingest->locked ? 1 : 0;
  return n;
}

}  // namespace berth::content
