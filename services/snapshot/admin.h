// snapshot::Admin: the snapshot service's internal bookkeeping for the gateway — which
// snapshots a lease holds, and what a namespace holds — behind berth's own
// berth.snapshot.v1.SnapshotAdmin API (proto/berth/snapshot/v1/admin.proto). The same shape
// as content::Admin.
//
// Lease records are created implicitly by Prepare/View/Commit calls whose context carries a
// lease (Snapshotter) and explicitly by AddLeaseResource. Resource types are containerd's:
// "snapshots/<snapshotter>" with the snapshot key as id.
//
// Every method but NamespaceUsage is scoped by ctx.ns (empty -> FailedPrecondition
// "namespace is required"). Lease ids must be valid identifiers (InvalidArgument otherwise).
//
// Thread-safety: implementations are safe to call from any number of threads.
#ifndef BERTH_SERVICES_SNAPSHOT_ADMIN_H_
#define BERTH_SERVICES_SNAPSHOT_ADMIN_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "services/snapshot/metadata.h"

namespace berth::snapshot {

inline constexpr char kResourcePrefix[] = "snapshots/";

// One resource held by a lease (containerd.services.leases.v1.Resource).
struct LeaseResource {
  std::string id;    // Snapshot key.
  std::string type;  // "snapshots/<snapshotter>".

  friend bool operator==(const LeaseResource& a, const LeaseResource& b) {
    return a.id == b.id && a.type == b.type;
  }
};

class Admin {
 public:
  virtual ~Admin() = default;

  // The resources `lease` holds in the namespace, sorted by (type, id); empty for a lease
  // that holds nothing or does not exist.
  [[nodiscard]] virtual absl::StatusOr<std::vector<LeaseResource>> ListLeaseResources(
      const CallContext& ctx, const std::string& lease) = 0;

  // Attaches `resource` to `lease` (idempotent; the snapshot need not exist).
  // InvalidArgument for an empty key or snapshotter name; Unimplemented for a type that is
  // not snapshots/<snapshotter>.
  [[nodiscard]] virtual absl::Status AddLeaseResource(const CallContext& ctx,
                                                      const std::string& lease,
                                                      const LeaseResource& resource) = 0;

  // Detaches `resource` from `lease`; OK when it was not attached. Errors as Add.
  [[nodiscard]] virtual absl::Status DeleteLeaseResource(const CallContext& ctx,
                                                         const std::string& lease,
                                                         const LeaseResource& resource) = 0;

  // Drops every record of `lease` in the namespace; OK when there were none.
  [[nodiscard]] virtual absl::Status DeleteLease(const CallContext& ctx,
                                                 const std::string& lease) = 0;

  // What namespace `ns` holds (ctx.ns is not used). InvalidArgument for an invalid name.
  [[nodiscard]] virtual absl::StatusOr<snapshot::NamespaceUsage> NamespaceUsage(
      const CallContext& ctx, const std::string& ns) = 0;
};

// Admin over a MetaStore (not owned; must outlive it).
class MetaStoreAdmin final : public Admin {
 public:
  explicit MetaStoreAdmin(MetaStore* meta) : meta_(meta) {}

  absl::StatusOr<std::vector<LeaseResource>> ListLeaseResources(const CallContext& ctx,
                                                                const std::string& lease) override;
  absl::Status AddLeaseResource(const CallContext& ctx, const std::string& lease,
                                const LeaseResource& resource) override;
  absl::Status DeleteLeaseResource(const CallContext& ctx, const std::string& lease,
                                   const LeaseResource& resource) override;
  absl::Status DeleteLease(const CallContext& ctx, const std::string& lease) override;
  absl::StatusOr<snapshot::NamespaceUsage> NamespaceUsage(const CallContext& ctx,
                                                          const std::string& ns) override;

 private:
  MetaStore* meta_;
};

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_ADMIN_H_
