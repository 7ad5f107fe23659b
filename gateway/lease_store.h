// LeaseStore: the gateway's record of containerd leases, per namespace.
//
// A lease is an id, a creation time and labels (`containerd.io/gc.expire`, ...). The
// resources a lease holds are recorded by the services that own them (content, snapshots);
// the Leases service asks them (resource_owner.h).
//
// Thread-safety: implementations are safe to call from any thread.
#ifndef BERTH_GATEWAY_LEASE_STORE_H_
#define BERTH_GATEWAY_LEASE_STORE_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/namespace_store.h"

namespace berth::gateway {

struct Lease {
  std::string id;
  std::chrono::system_clock::time_point created_at;
  Labels labels;
};

class LeaseStore {
 public:
  virtual ~LeaseStore() = default;

  // Adds `lease` to namespace `ns`. InvalidArgument for a namespace or id that is not an
  // identifier, or a bad label; AlreadyExists `lease "x": already exists`.
  virtual absl::Status Create(const std::string& ns, const Lease& lease) = 0;

  // NotFound `lease "x": not found`.
  virtual absl::StatusOr<Lease> Get(const std::string& ns, const std::string& id) = 0;

  // The leases of `ns`, sorted by id.
  virtual absl::StatusOr<std::vector<Lease>> List(const std::string& ns) = 0;

  // NotFound `lease "x": not found`.
  virtual absl::Status Delete(const std::string& ns, const std::string& id) = 0;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_LEASE_STORE_H_
