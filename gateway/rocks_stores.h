// RocksNamespaceStore and RocksLeaseStore: NamespaceStore and LeaseStore over the gateway's
// RocksDB database (key tree in schema.h), plus the persisted instance UUID.
//
//   ASSIGN_OR_RETURN(auto db, store::Store::Open(root + "/meta", {.schema_version = "v1"}));
//   ASSIGN_OR_RETURN(auto namespaces, RocksNamespaceStore::Open(db.get()));
//   RocksLeaseStore leases(db.get());
//
// RocksNamespaceStore keeps the set of existing names in memory (loaded at Open) so that
// Touch, called for every write the gateway forwards, costs a lookup and no disk access
// unless the namespace is new. Every write is synced (store::Durability::kSync).
//
// Thread-safety: both are safe from any thread; the Store must outlive them.
#ifndef BERTH_GATEWAY_ROCKS_STORES_H_
#define BERTH_GATEWAY_ROCKS_STORES_H_

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "gateway/lease_store.h"
#include "gateway/namespace_store.h"
#include "lib/store/store.h"

namespace berth::gateway {

class RocksNamespaceStore final : public NamespaceStore {
 public:
  // Loads the names of the existing namespaces. Errors from the store.
  static absl::StatusOr<std::unique_ptr<RocksNamespaceStore>> Open(store::Store* db);

  absl::StatusOr<Namespace> Get(const std::string& name) override;
  absl::StatusOr<std::vector<Namespace>> List() override;
  absl::Status Create(const Namespace& ns) override;
  absl::StatusOr<bool> Touch(const std::string& name) override;
  absl::Status SetLabels(const std::string& name, const Labels& labels) override;
  absl::Status Delete(const std::string& name) override;

 private:
  explicit RocksNamespaceStore(store::Store* db) : db_(db) {}
  absl::Status Put(const Namespace& ns);

  store::Store* db_;
  // Serialises writers, so a check-then-put (Create, Touch) is atomic.
  std::mutex mu_;
  std::set<std::string, std::less<>> names_;  // guarded by mu_
};

class RocksLeaseStore final : public LeaseStore {
 public:
  explicit RocksLeaseStore(store::Store* db) : db_(db) {}

  absl::Status Create(const std::string& ns, const Lease& lease) override;
  absl::StatusOr<Lease> Get(const std::string& ns, const std::string& id) override;
  absl::StatusOr<std::vector<Lease>> List(const std::string& ns) override;
  absl::Status Delete(const std::string& ns, const std::string& id) override;

 private:
  store::Store* db_;
  std::mutex mu_;  // Serialises check-then-write.
};

// The instance UUID kept in `db` (schema::ServerUuidKey), created (random, RFC 4122
// version 4, lower-case) on first call. Errors from the store.
absl::StatusOr<std::string> LoadOrCreateServerUuid(store::Store* db);

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_ROCKS_STORES_H_
