#include "gateway/rocks_stores.h"

#include <fmt/format.h>
#include <google/protobuf/timestamp.pb.h>

#include <cctype>
#include <random>
#include <utility>

#include "gateway/schema.h"
#include "lib/identifiers/identifiers.h"
#include "lib/labels/labels.h"
#include "lib/status/status.h"
#include "proto/containerd/services/leases/v1/leases.pb.h"
#include "proto/containerd/services/namespaces/v1/namespace.pb.h"

namespace berth::gateway {
namespace {

namespace nspb = containerd::services::namespaces::v1;
namespace leasepb = containerd::services::leases::v1;

absl::Status ValidateName(const std::string& what, const std::string& name) {
  absl::Status s = identifiers::Validate(name);
  if (!s.ok()) return Annotate(s, what + " validation");
  return absl::OkStatus();
}

// Lease ids are looser than identifiers: containerd's client makes them as
// `<nanoseconds>-<4 base64url chars>`, which may end in '-' or '_' or hold two separators in a
// row (ctr run failed about one time in ten before this). Accepted: 1..76 characters from
// [A-Za-z0-9._-]; the id is a RocksDB key component, so '/' and anything else stay refused.
absl::Status ValidateLeaseId(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 76;
  for (char c : id) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(fmt::format(
        "lease validation: lease id {:?} must be 1 to 76 characters of [A-Za-z0-9._-]", id));
  }
  return absl::OkStatus();
}

absl::Status Corrupt(const std::string& key) {
  return absl::DataLossError(fmt::format("record {:?}: does not parse", key));
}

Namespace FromProto(const nspb::Namespace& p) {
  Namespace ns;
  ns.name = p.name();
  ns.labels.insert(p.labels().begin(), p.labels().end());
  return ns;
}

Lease FromProto(const leasepb::Lease& p) {
  Lease l;
  l.id = p.id();
  l.created_at = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(p.created_at().seconds()) +
          std::chrono::nanoseconds(p.created_at().nanos())));
  l.labels.insert(p.labels().begin(), p.labels().end());
  return l;
}

leasepb::Lease ToProto(const Lease& l) {
  leasepb::Lease p;
  p.set_id(l.id);
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(l.created_at.time_since_epoch()).count();
  p.mutable_created_at()->set_seconds(nanos / 1000000000);
  p.mutable_created_at()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  p.mutable_labels()->insert(l.labels.begin(), l.labels.end());
  return p;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksNamespaceStore>> RocksNamespaceStore::Open(store::Store* db) {
  std::unique_ptr<RocksNamespaceStore> s(new RocksNamespaceStore(db));
  const std::string prefix = schema::NamespacesPrefix();
  RETURN_IF_ERROR(db->Scan(prefix, [&](std::string_view key, std::string_view) {
    s->names_.emplace(key.substr(prefix.size()));
    return true;
  }));
  return s;
}

absl::StatusOr<Namespace> RocksNamespaceStore::Get(const std::string& name) {
  RETURN_IF_ERROR(ValidateName("namespace", name));
  const std::string key = schema::NamespaceKey(name);
  absl::StatusOr<std::string> value = db_->Get(key);
  if (IsNotFound(value.status())) {
    return absl::NotFoundError(fmt::format("namespace {:?}: not found", name));
  }
  if (!value.ok()) return value.status();
  nspb::Namespace p;
  if (!p.ParseFromString(*value)) return Corrupt(key);
  Namespace ns = FromProto(p);
  ns.name = name;
  return ns;
}

absl::StatusOr<std::vector<Namespace>> RocksNamespaceStore::List() {
  std::vector<Namespace> out;
  const std::string prefix = schema::NamespacesPrefix();
  absl::Status parse = absl::OkStatus();
  RETURN_IF_ERROR(db_->Scan(prefix, [&](std::string_view key, std::string_view value) {
    nspb::Namespace p;
    if (!p.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      parse = Corrupt(std::string(key));
      return false;
    }
    Namespace ns = FromProto(p);
    ns.name = std::string(key.substr(prefix.size()));
    out.push_back(std::move(ns));
    return true;
  }));
  RETURN_IF_ERROR(parse);
  return out;
}

absl::Status RocksNamespaceStore::Put(const Namespace& ns) {
  nspb::Namespace p;
  p.set_name(ns.name);
  p.mutable_labels()->insert(ns.labels.begin(), ns.labels.end());
  return db_->Put(schema::NamespaceKey(ns.name), p.SerializeAsString());
}

absl::Status RocksNamespaceStore::Create(const Namespace& ns) {
  RETURN_IF_ERROR(ValidateName("namespace", ns.name));
  RETURN_IF_ERROR(labels::Validate(ns.labels));
  std::lock_guard<std::mutex> lock(mu_);
  if (names_.count(ns.name) != 0) {
    return absl::AlreadyExistsError(fmt::format("namespace {:?}: already exists", ns.name));
  }
  RETURN_IF_ERROR(Put(ns));
  names_.insert(ns.name);
  return absl::OkStatus();
}

absl::StatusOr<bool> RocksNamespaceStore::Touch(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (names_.count(name) != 0) return false;
  }
  RETURN_IF_ERROR(ValidateName("namespace", name));
  std::lock_guard<std::mutex> lock(mu_);
  if (names_.count(name) != 0) return false;
  RETURN_IF_ERROR(Put(Namespace{name, {}}));
  names_.insert(name);
  return true;
}

absl::Status RocksNamespaceStore::SetLabels(const std::string& name, const Labels& labels) {
  RETURN_IF_ERROR(ValidateName("namespace", name));
  RETURN_IF_ERROR(labels::Validate(labels));
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(Put(Namespace{name, labels}));
  names_.insert(name);
  return absl::OkStatus();
}

absl::Status RocksNamespaceStore::Delete(const std::string& name) {
  RETURN_IF_ERROR(ValidateName("namespace", name));
  std::lock_guard<std::mutex> lock(mu_);
  if (names_.count(name) == 0) {
    return absl::NotFoundError(fmt::format("namespace {:?}: not found", name));
  }
  RETURN_IF_ERROR(db_->Delete(schema::NamespaceKey(name)));
  names_.erase(name);
  return absl::OkStatus();
}

absl::Status RocksLeaseStore::Create(const std::string& ns, const Lease& lease) {
  RETURN_IF_ERROR(ValidateName("namespace", ns));
  RETURN_IF_ERROR(ValidateLeaseId(lease.id));
  RETURN_IF_ERROR(labels::Validate(lease.labels));
  const std::string key = schema::LeaseKey(ns, lease.id);
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<std::string> existing = db_->Get(key);
  if (existing.ok()) {
    return absl::AlreadyExistsError(fmt::format("lease {:?}: already exists", lease.id));
  }
  if (!IsNotFound(existing.status())) return existing.status();
  return db_->Put(key, ToProto(lease).SerializeAsString());
}

absl::StatusOr<Lease> RocksLeaseStore::Get(const std::string& ns, const std::string& id) {
  RETURN_IF_ERROR(ValidateName("namespace", ns));
  RETURN_IF_ERROR(ValidateLeaseId(id));
  const std::string key = schema::LeaseKey(ns, id);
  absl::StatusOr<std::string> value = db_->Get(key);
  if (IsNotFound(value.status())) {
    return absl::NotFoundError(fmt::format("lease {:?}: not found", id));
  }
  if (!value.ok()) return value.status();
  leasepb::Lease p;
  if (!p.ParseFromString(*value)) return Corrupt(key);
  return FromProto(p);
}

absl::StatusOr<std::vector<Lease>> RocksLeaseStore::List(const std::string& ns) {
  RETURN_IF_ERROR(ValidateName("namespace", ns));
  std::vector<Lease> out;
  absl::Status parse = absl::OkStatus();
  RETURN_IF_ERROR(
      db_->Scan(schema::LeasesPrefix(ns), [&](std::string_view key, std::string_view value) {
        leasepb::Lease p;
        if (!p.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          parse = Corrupt(std::string(key));
          return false;
        }
        out.push_back(FromProto(p));
        return true;
      }));
  RETURN_IF_ERROR(parse);
  return out;
}

absl::Status RocksLeaseStore::Delete(const std::string& ns, const std::string& id) {
  RETURN_IF_ERROR(ValidateName("namespace", ns));
  RETURN_IF_ERROR(ValidateLeaseId(id));
  const std::string key = schema::LeaseKey(ns, id);
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<std::string> existing = db_->Get(key);
  if (IsNotFound(existing.status())) {
    return absl::NotFoundError(fmt::format("lease {:?}: not found", id));
  }
  if (!existing.ok()) return existing.status();
  return db_->Delete(key);
}

absl::StatusOr<std::string> LoadOrCreateServerUuid(store::Store* db) {
  const std::string key = schema::ServerUuidKey();
  absl::StatusOr<std::string> value = db->Get(key);
  if (value.ok()) return *value;
  if (!IsNotFound(value.status())) return value.status();
  std::random_device rd;
  unsigned char b[16];
  for (unsigned char& c : b) c = static_cast<unsigned char>(rd());
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string uuid;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) uuid += '-';
    uuid += fmt::format("{:02x}", b[i]);
  }
  RETURN_IF_ERROR(db->Put(key, uuid));
  return uuid;
}

}  // namespace berth::gateway
