#include "services/snapshot/metadata.h"

#include <algorithm>
#include <cctype>
#include <tuple>
#include <utility>

#include "fmt/format.h"
#include "lib/identifiers/identifiers.h"
#include "lib/labels/labels.h"
#include "lib/status/status.h"
#include "lib/store/keys.h"
#include "lib/store/store.h"
#include "proto/berth/snapshot/v1/records.pb.h"
#include "services/snapshot/schema.h"

namespace berth::snapshot {
namespace {

using Clock = std::chrono::system_clock;

std::int64_t ToNanos(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Clock::time_point FromNanos(std::int64_t n) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(n)));
}

// Lease ids as the content service and the gateway take them: containerd's client makes
// them `<nanoseconds>-<4 base64url chars>`, which may end in '-' or '_' or hold two
// separators in a row (then identifiers::Validate refuses them, and a `ctr images pull`
// whose lease got such an id could never have its lease listed or deleted here, which also
// kept the garbage collector from sweeping any snapshot). 1..76 characters of
// [A-Za-z0-9._-].
absl::Status ValidateLease(std::string_view lease) {
  bool ok = !lease.empty() && lease.size() <= identifiers::kMaxLength;
  for (char c : lease) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        fmt::format("lease validation: lease id {:?} must be 1 to 76 characters of [A-Za-z0-9._-]",
                    std::string(lease)));
  }
  return absl::OkStatus();
}

absl::Status ValidateKey(std::string_view what, std::string_view key) {
  if (key.empty()) return InvalidArgumentError(std::string(what) + " must not be empty");
  if (key.find('\0') != std::string_view::npos) {
    return InvalidArgumentError(std::string(what) + " must not contain NUL");
  }
  return absl::OkStatus();
}

void AddLeaseTo(SnapshotRecord* record, std::string_view lease) {
  if (lease.empty()) return;
  if (std::find(record->leases.begin(), record->leases.end(), lease) == record->leases.end()) {
    record->leases.emplace_back(lease);
  }
}

}  // namespace

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kView:
      return "view";
    case Kind::kActive:
      return "active";
    case Kind::kCommitted:
      return "committed";
    default:
      return "unknown";
  }
}

Info SnapshotRecord::ToInfo(std::string name) const {
  Info info;
  info.kind = kind;
  info.name = std::move(name);
  info.parent = parent;
  info.labels = labels;
  info.created = created;
  info.updated = updated;
  return info;
}

std::string EncodeRecord(const SnapshotRecord& record) {
  berth::snapshot::v1::SnapshotRecord r;
  r.set_id(record.id);
  r.set_kind(static_cast<containerd::services::snapshots::v1::Kind>(record.kind));
  r.set_parent(record.parent);
  for (const auto& [k, v] : record.labels) (*r.mutable_labels())[k] = v;
  r.set_created_at_unix_nanos(ToNanos(record.created));
  r.set_updated_at_unix_nanos(ToNanos(record.updated));
  if (record.kind == Kind::kCommitted) {
    r.set_size(record.usage.size);
    r.set_inodes(record.usage.inodes);
  }
  for (const std::string& l : record.leases) r.add_leases(l);
  std::string out;
  r.SerializeToString(&out);
  return out;
}

absl::StatusOr<SnapshotRecord> DecodeRecord(std::string_view data) {
  berth::snapshot::v1::SnapshotRecord r;
  if (!r.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return DataLossError("snapshot record: cannot parse");
  }
  SnapshotRecord out;
  out.id = r.id();
  switch (r.kind()) {
    case containerd::services::snapshots::v1::VIEW:
      out.kind = Kind::kView;
      break;
    case containerd::services::snapshots::v1::ACTIVE:
      out.kind = Kind::kActive;
      break;
    case containerd::services::snapshots::v1::COMMITTED:
      out.kind = Kind::kCommitted;
      break;
    default:
      return DataLossError(fmt::format("snapshot record: unknown kind {}", r.kind()));
  }
  out.parent = r.parent();
  out.labels = Labels(r.labels().begin(), r.labels().end());
  out.created = FromNanos(r.created_at_unix_nanos());
  out.updated = FromNanos(r.updated_at_unix_nanos());
  out.usage.size = r.size();
  out.usage.inodes = r.inodes();
  out.leases.assign(r.leases().begin(), r.leases().end());
  return out;
}

absl::StatusOr<std::unique_ptr<MetaStore>> MetaStore::Open(const std::string& path) {
  store::Options options;
  options.schema_version = schema::kSchemaVersion;
  ASSIGN_OR_RETURN(std::unique_ptr<store::Store> db, store::Store::Open(path, options));
  return std::make_unique<MetaStore>(std::move(db));
}

MetaStore::MetaStore(std::unique_ptr<store::Store> db) : db_(std::move(db)) {}
MetaStore::~MetaStore() = default;

absl::StatusOr<std::uint64_t> MetaStore::LoadNextIdLocked(std::string_view snapshotter) {
  auto it = next_id_.find(snapshotter);
  if (it != next_id_.end()) return it->second;
  ASSIGN_OR_RETURN(std::string key, schema::NextIdKey(snapshotter));
  std::uint64_t next = 1;
  absl::StatusOr<std::string> value = db_->Get(key);
  if (value.ok()) {
    try {
      next = std::max<std::uint64_t>(1, std::stoull(*value));
    } catch (const std::exception&) {
      return DataLossError(fmt::format("next id {}: not a number", Quote(key)));
    }
  } else if (!IsNotFound(value.status())) {
    return value.status();
  }
  next_id_.emplace(std::string(snapshotter), next);
  return next;
}

absl::StatusOr<std::uint64_t> MetaStore::ReserveId(std::string_view snapshotter) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::uint64_t next, LoadNextIdLocked(snapshotter));
  next_id_[std::string(snapshotter)] = next + 1;
  return next;
}

absl::StatusOr<SnapshotRecord> MetaStore::GetLocked(std::string_view ns,
                                                    std::string_view snapshotter,
                                                    std::string_view key) {
  RETURN_IF_ERROR(ValidateKey("snapshot key", key));
  ASSIGN_OR_RETURN(std::string db_key, schema::SnapshotKey(ns, snapshotter, key));
  absl::StatusOr<std::string> value = db_->Get(db_key);
  if (IsNotFound(value.status())) {
    return NotFoundError(fmt::format("snapshot {} does not exist", Quote(key)));
  }
  if (!value.ok()) return value.status();
  return DecodeRecord(*value);
}

absl::StatusOr<SnapshotRecord> MetaStore::Get(std::string_view ns, std::string_view snapshotter,
                                              std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  return GetLocked(ns, snapshotter, key);
}

absl::StatusOr<std::vector<std::uint64_t>> MetaStore::ParentChainLocked(
    std::string_view ns, std::string_view snapshotter, std::string_view parent) {
  std::vector<std::uint64_t> chain;
  if (parent.empty()) return chain;
  absl::StatusOr<SnapshotRecord> record = GetLocked(ns, snapshotter, parent);
  if (IsNotFound(record.status())) {
    return NotFoundError(fmt::format("parent snapshot {} does not exist", Quote(parent)));
  }
  if (!record.ok()) return record.status();
  if (record->kind != Kind::kCommitted) {
    return InvalidArgumentError(
        fmt::format("parent snapshot {} is not a committed snapshot", Quote(parent)));
  }
  chain.push_back(record->id);
  std::string next = record->parent;
  // A chain can not be longer than the number of snapshots; the bound guards against a
  // corrupt database with a cycle.
  for (int depth = 0; !next.empty(); ++depth) {
    if (depth > 100000) return DataLossError("snapshot parent chain has a cycle");
    ASSIGN_OR_RETURN(SnapshotRecord p, GetLocked(ns, snapshotter, next));
    chain.push_back(p.id);
    next = p.parent;
  }
  return chain;
}

absl::StatusOr<std::vector<std::uint64_t>> MetaStore::ParentChain(std::string_view ns,
                                                                  std::string_view snapshotter,
                                                                  std::string_view parent) {
  std::lock_guard<std::mutex> lock(mu_);
  return ParentChainLocked(ns, snapshotter, parent);
}

absl::StatusOr<SnapshotChain> MetaStore::Create(std::string_view ns, std::string_view snapshotter,
                                                std::string_view key, Kind kind,
                                                std::string_view parent, std::uint64_t id,
                                                const Labels& labels, std::string_view lease) {
  RETURN_IF_ERROR(ValidateKey("snapshot key", key));
  RETURN_IF_ERROR(labels::Validate(labels));
  if (kind != Kind::kActive && kind != Kind::kView) {
    return InvalidArgumentError("a new snapshot must be active or a view");
  }
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<SnapshotRecord> existing = GetLocked(ns, snapshotter, key);
  if (existing.ok()) {
    return AlreadyExistsError(fmt::format("snapshot {} already exists", Quote(key)));
  }
  if (!IsNotFound(existing.status())) return existing.status();
  ASSIGN_OR_RETURN(std::vector<std::uint64_t> chain, ParentChainLocked(ns, snapshotter, parent));

  SnapshotRecord record;
  record.id = id;
  record.kind = kind;
  record.parent = std::string(parent);
  record.labels = labels;
  record.created = record.updated = Clock::now();
  AddLeaseTo(&record, lease);

  store::Batch batch;
  ASSIGN_OR_RETURN(std::string db_key, schema::SnapshotKey(ns, snapshotter, key));
  batch.Put(db_key, EncodeRecord(record));
  if (!parent.empty()) {
    ASSIGN_OR_RETURN(std::string child, schema::ChildKey(ns, snapshotter, parent, key));
    batch.Put(child, "");
  }
  if (!lease.empty()) {
    ASSIGN_OR_RETURN(std::string lease_key, schema::LeaseKey(ns, lease, snapshotter, key));
    batch.Put(lease_key, "");
  }
  ASSIGN_OR_RETURN(std::uint64_t next, LoadNextIdLocked(snapshotter));
  next = std::max(next, id + 1);
  next_id_[std::string(snapshotter)] = next;
  ASSIGN_OR_RETURN(std::string next_key, schema::NextIdKey(snapshotter));
  batch.Put(next_key, std::to_string(next));
  RETURN_IF_ERROR(db_->Write(batch));
  return SnapshotChain{id, kind, std::move(chain)};
}

absl::StatusOr<SnapshotChain> MetaStore::ActiveChain(std::string_view ns,
                                                     std::string_view snapshotter,
                                                     std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SnapshotRecord record, GetLocked(ns, snapshotter, key));
  if (record.kind != Kind::kActive && record.kind != Kind::kView) {
    return FailedPreconditionError(
        fmt::format("snapshot {} is committed: it has no mounts", Quote(key)));
  }
  SnapshotChain chain;
  chain.id = record.id;
  chain.kind = record.kind;
  ASSIGN_OR_RETURN(chain.parent_ids, ParentChainLocked(ns, snapshotter, record.parent));
  return chain;
}

absl::StatusOr<std::uint64_t> MetaStore::Commit(std::string_view ns, std::string_view snapshotter,
                                                std::string_view name, std::string_view key,
                                                const snapshot::Usage& usage, const Labels& labels,
                                                std::string_view lease) {
  RETURN_IF_ERROR(ValidateKey("committed snapshot name", name));
  RETURN_IF_ERROR(labels::Validate(labels));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SnapshotRecord record, GetLocked(ns, snapshotter, key));
  if (record.kind != Kind::kActive) {
    return FailedPreconditionError(fmt::format("snapshot {} is not active", Quote(key)));
  }
  // Committing under the active key itself is refused as well, as containerd does.
  absl::StatusOr<SnapshotRecord> taken = GetLocked(ns, snapshotter, name);
  if (taken.ok()) {
    return AlreadyExistsError(fmt::format("snapshot {} already exists", Quote(name)));
  }
  if (!IsNotFound(taken.status())) return taken.status();
  // An active snapshot has no children (only committed ones can be parents), so no child
  // entries point at `key`.
  store::Batch batch;
  ASSIGN_OR_RETURN(std::string old_key, schema::SnapshotKey(ns, snapshotter, key));
  batch.Delete(old_key);
  for (const std::string& l : record.leases) {
    ASSIGN_OR_RETURN(std::string lk, schema::LeaseKey(ns, l, snapshotter, key));
    batch.Delete(lk);
  }
  if (!record.parent.empty()) {
    ASSIGN_OR_RETURN(std::string ck, schema::ChildKey(ns, snapshotter, record.parent, key));
    batch.Delete(ck);
    ASSIGN_OR_RETURN(std::string nk, schema::ChildKey(ns, snapshotter, record.parent, name));
    batch.Put(nk, "");
  }
  record.kind = Kind::kCommitted;
  record.usage = usage;
  for (const auto& [k, v] : labels) record.labels[k] = v;
  record.created = record.updated = Clock::now();
  record.leases.clear();
  AddLeaseTo(&record, lease);
  if (!lease.empty()) {
    ASSIGN_OR_RETURN(std::string lk, schema::LeaseKey(ns, lease, snapshotter, name));
    batch.Put(lk, "");
  }
  ASSIGN_OR_RETURN(std::string new_key, schema::SnapshotKey(ns, snapshotter, name));
  batch.Put(new_key, EncodeRecord(record));
  RETURN_IF_ERROR(db_->Write(batch));
  return record.id;
}

absl::StatusOr<bool> MetaStore::HasChildrenLocked(std::string_view ns, std::string_view snapshotter,
                                                  std::string_view key) {
  ASSIGN_OR_RETURN(std::string prefix, schema::ChildPrefix(ns, snapshotter, key));
  std::unique_ptr<store::Iterator> it = db_->NewIterator(prefix);
  bool any = it->Valid();
  RETURN_IF_ERROR(it->status());
  return any;
}

absl::StatusOr<SnapshotRecord> MetaStore::Remove(std::string_view ns, std::string_view snapshotter,
                                                 std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SnapshotRecord record, GetLocked(ns, snapshotter, key));
  ASSIGN_OR_RETURN(bool has_children, HasChildrenLocked(ns, snapshotter, key));
  if (has_children) {
    return FailedPreconditionError(
        fmt::format("cannot remove snapshot {}: it has child snapshots", Quote(key)));
  }
  store::Batch batch;
  ASSIGN_OR_RETURN(std::string db_key, schema::SnapshotKey(ns, snapshotter, key));
  batch.Delete(db_key);
  if (!record.parent.empty()) {
    ASSIGN_OR_RETURN(std::string ck, schema::ChildKey(ns, snapshotter, record.parent, key));
    batch.Delete(ck);
  }
  for (const std::string& l : record.leases) {
    ASSIGN_OR_RETURN(std::string lk, schema::LeaseKey(ns, l, snapshotter, key));
    batch.Delete(lk);
  }
  RETURN_IF_ERROR(db_->Write(batch));
  return record;
}

absl::StatusOr<Info> MetaStore::Update(std::string_view ns, std::string_view snapshotter,
                                       const Info& info,
                                       const std::vector<std::string>& fieldpaths) {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(SnapshotRecord record, GetLocked(ns, snapshotter, info.name));
  Labels labels = record.labels;
  if (fieldpaths.empty()) {
    labels = info.labels;
  } else {
    for (const std::string& path : fieldpaths) {
      if (path == "labels") {
        labels = info.labels;
      } else if (path.rfind("labels.", 0) == 0 && path.size() > 7) {
        std::string k = path.substr(7);
        auto it = info.labels.find(k);
        if (it == info.labels.end() || it->second.empty()) {
          labels.erase(k);
        } else {
          labels[k] = it->second;
        }
      } else {
        return InvalidArgumentError(
            fmt::format("cannot update {} field on snapshot {}", Quote(path), Quote(info.name)));
      }
    }
  }
  RETURN_IF_ERROR(labels::Validate(labels));
  record.labels = std::move(labels);
  record.updated = Clock::now();
  ASSIGN_OR_RETURN(std::string db_key, schema::SnapshotKey(ns, snapshotter, info.name));
  RETURN_IF_ERROR(db_->Put(db_key, EncodeRecord(record)));
  return record.ToInfo(info.name);
}

absl::Status MetaStore::Walk(
    std::string_view ns, std::string_view snapshotter,
    const std::function<absl::Status(const std::string& key, const SnapshotRecord&)>& fn) {
  ASSIGN_OR_RETURN(std::string prefix, schema::SnapshotPrefix(ns, snapshotter));
  // Collect first so that fn may call back into the store (no lock is held while it runs).
  std::vector<std::pair<std::string, SnapshotRecord>> records;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = db_->NewIterator(prefix); it->Valid(); it->Next()) {
      std::string_view k = it->key();
      ASSIGN_OR_RETURN(std::string key, schema::UnescapeComponent(k.substr(prefix.size())));
      ASSIGN_OR_RETURN(SnapshotRecord record, DecodeRecord(it->value()));
      records.emplace_back(std::move(key), std::move(record));
    }
  }
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [key, record] : records) RETURN_IF_ERROR(fn(key, record));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::uint64_t>> MetaStore::AllIds(std::string_view snapshotter) {
  std::vector<std::uint64_t> ids;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = db_->NewIterator("v1/");
  for (; it->Valid(); it->Next()) {
    std::vector<std::string_view> parts = store::SplitKey(it->key());
    // v1/<ns>/snapshots/<snapshotter>/key/<key>
    if (parts.size() != 6 || parts[2] != "snapshots" || parts[3] != snapshotter ||
        parts[4] != "key") {
      continue;
    }
    ASSIGN_OR_RETURN(SnapshotRecord record, DecodeRecord(it->value()));
    ids.push_back(record.id);
  }
  RETURN_IF_ERROR(it->status());
  return ids;
}

absl::Status MetaStore::AddLease(std::string_view ns, std::string_view lease,
                                 std::string_view snapshotter, std::string_view key) {
  RETURN_IF_ERROR(ValidateLease(lease));
  RETURN_IF_ERROR(ValidateKey("snapshot key", key));
  std::lock_guard<std::mutex> lock(mu_);
  store::Batch batch;
  ASSIGN_OR_RETURN(std::string lk, schema::LeaseKey(ns, lease, snapshotter, key));
  batch.Put(lk, "");
  absl::StatusOr<SnapshotRecord> record = GetLocked(ns, snapshotter, key);
  if (record.ok()) {
    AddLeaseTo(&*record, lease);
    ASSIGN_OR_RETURN(std::string db_key, schema::SnapshotKey(ns, snapshotter, key));
    batch.Put(db_key, EncodeRecord(*record));
  } else if (!IsNotFound(record.status())) {
    return record.status();
  }
  return db_->Write(batch);
}

absl::Status MetaStore::DeleteLease(std::string_view ns, std::string_view lease,
                                    std::string_view snapshotter, std::string_view key) {
  RETURN_IF_ERROR(ValidateLease(lease));
  RETURN_IF_ERROR(ValidateKey("snapshot key", key));
  std::lock_guard<std::mutex> lock(mu_);
  store::Batch batch;
  ASSIGN_OR_RETURN(std::string lk, schema::LeaseKey(ns, lease, snapshotter, key));
  batch.Delete(lk);
  absl::StatusOr<SnapshotRecord> record = GetLocked(ns, snapshotter, key);
  if (record.ok()) {
    auto& leases = record->leases;
    leases.erase(std::remove(leases.begin(), leases.end(), lease), leases.end());
    ASSIGN_OR_RETURN(std::string db_key, schema::SnapshotKey(ns, snapshotter, key));
    batch.Put(db_key, EncodeRecord(*record));
  } else if (!IsNotFound(record.status())) {
    return record.status();
  }
  return db_->Write(batch);
}

absl::StatusOr<std::vector<LeasedSnapshot>> MetaStore::ListLease(std::string_view ns,
                                                                 std::string_view lease) {
  RETURN_IF_ERROR(ValidateLease(lease));
  ASSIGN_OR_RETURN(std::string prefix, schema::LeasePrefix(ns, lease));
  std::vector<LeasedSnapshot> out;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = db_->NewIterator(prefix);
  for (; it->Valid(); it->Next()) {
    std::vector<std::string_view> parts = store::SplitKey(it->key().substr(prefix.size()));
    if (parts.size() != 2) continue;
    ASSIGN_OR_RETURN(std::string key, schema::UnescapeComponent(parts[1]));
    out.push_back({std::string(parts[0]), std::move(key)});
  }
  RETURN_IF_ERROR(it->status());
  std::sort(out.begin(), out.end(), [](const LeasedSnapshot& a, const LeasedSnapshot& b) {
    return std::tie(a.snapshotter, a.key) < std::tie(b.snapshotter, b.key);
  });
  return out;
}

absl::Status MetaStore::DropLease(std::string_view ns, std::string_view lease) {
  ASSIGN_OR_RETURN(std::vector<LeasedSnapshot> held, ListLease(ns, lease));
  for (const LeasedSnapshot& s : held) {
    RETURN_IF_ERROR(DeleteLease(ns, lease, s.snapshotter, s.key));
  }
  return absl::OkStatus();
}

absl::StatusOr<NamespaceUsage> MetaStore::UsageOf(std::string_view ns) {
  RETURN_IF_ERROR(identifiers::Validate(ns));
  NamespaceUsage usage;
  std::lock_guard<std::mutex> lock(mu_);
  {
    ASSIGN_OR_RETURN(std::string prefix, schema::NamespacePrefix(ns));
    auto it = db_->NewIterator(prefix);
    for (; it->Valid(); it->Next()) {
      // <snapshotter>/key/<key>
      std::vector<std::string_view> parts = store::SplitKey(it->key().substr(prefix.size()));
      if (parts.size() != 3 || parts[1] != "key") continue;
      ASSIGN_OR_RETURN(SnapshotRecord record, DecodeRecord(it->value()));
      usage.snapshots++;
      if (record.kind == Kind::kCommitted) usage.committed_bytes += record.usage.size;
    }
    RETURN_IF_ERROR(it->status());
  }
  {
    ASSIGN_OR_RETURN(std::string prefix, store::KeyPrefix({"v1", ns, "leases"}));
    std::string last;
    auto it = db_->NewIterator(prefix);
    for (; it->Valid(); it->Next()) {
      std::vector<std::string_view> parts = store::SplitKey(it->key().substr(prefix.size()));
      if (parts.empty() || parts[0] == last) continue;
      last = std::string(parts[0]);
      usage.leases++;
    }
    RETURN_IF_ERROR(it->status());
  }
  return usage;
}

}  // namespace berth::snapshot
