// ResourceOwner: a service behind the gateway that holds namespaced objects and lease
// resources (content: blobs and ingests; snapshot: snapshots). The gateway asks every owner
// before deleting a namespace, and routes Leases.AddResource / DeleteResource /
// ListResources and the clean-up of a deleted lease to the owners.
//
// Implementations talk to a service's internal admin API (admin_owners.h); which backend
// speaks which API is config (`internal_api`), so snapshot, image and runtime join by adding
// a backend table once their service has such an API.
//
// Thread-safety: implementations are safe to call from any thread.
#ifndef BERTH_GATEWAY_RESOURCE_OWNER_H_
#define BERTH_GATEWAY_RESOURCE_OWNER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"

namespace berth::gateway {

// containerd's leases.Resource: type "content" (id = digest), "ingests" (id = ref),
// "snapshots/<snapshotter>" (id = key).
struct LeaseResource {
  std::string id;
  std::string type;
  bool operator==(const LeaseResource& o) const { return id == o.id && type == o.type; }
};

class ResourceOwner {
 public:
  virtual ~ResourceOwner() = default;

  // The owner's name for messages ("content").
  virtual const std::string& name() const = 0;

  // What namespace `ns` still holds here, as plural nouns ("blobs", "ingests", "leases",
  // "snapshots"); empty when it holds nothing. Unavailable (naming the backend) when the
  // owner cannot be asked.
  virtual absl::StatusOr<std::vector<std::string>> NamespaceUsage(const CallContext& call,
                                                                  const std::string& ns) = 0;

  // The resources lease `lease` holds here in call.ns (empty for an unknown lease).
  virtual absl::StatusOr<std::vector<LeaseResource>> ListLeaseResources(
      const CallContext& call, const std::string& lease) = 0;

  // Attaches / detaches a resource (idempotent). InvalidArgument for a malformed id,
  // Unimplemented for a type this owner does not hold.
  virtual absl::Status AddLeaseResource(const CallContext& call, const std::string& lease,
                                        const LeaseResource& resource) = 0;
  virtual absl::Status DeleteLeaseResource(const CallContext& call, const std::string& lease,
                                           const LeaseResource& resource) = 0;

  // Drops the owner's records of a deleted lease in call.ns.
  virtual absl::Status DeleteLease(const CallContext& call, const std::string& lease) = 0;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_RESOURCE_OWNER_H_
