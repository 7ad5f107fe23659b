// content::Admin: the content service's internal bookkeeping for the gateway — which blobs
// and ingests a lease holds, and what a namespace holds — behind berth's own
// berth.content.v1.ContentAdmin API (proto/berth/content/v1/admin.proto).
//
// Lease records are created implicitly by writers whose context carries a lease
// (content::Store) and explicitly by AddLeaseResource. Resource types are containerd's:
// kContentResource (id = digest) and kIngestResource (id = ingest ref).
//
// Every method but NamespaceUsage is scoped by ctx.ns (empty -> FailedPrecondition
// "namespace is required", invalid -> InvalidArgument). Lease ids must be valid identifiers
// (InvalidArgument otherwise).
//
// Thread-safety: implementations are safe to call from any number of threads.
#ifndef BERTH_SERVICES_CONTENT_ADMIN_H_
#define BERTH_SERVICES_CONTENT_ADMIN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"

namespace berth::content {

inline constexpr char kContentResource[] = "content";
inline constexpr char kIngestResource[] = "ingests";

// One resource held by a lease (containerd.services.leases.v1.Resource).
struct LeaseResource {
  std::string id;    // Digest for "content", ref for "ingests".
  std::string type;  // kContentResource or kIngestResource.

  friend bool operator==(const LeaseResource& a, const LeaseResource& b) {
    return a.id == b.id && a.type == b.type;
  }
};

// What a namespace holds in the content service.
struct NamespaceUsage {
  int64_t blobs = 0;       // Committed blobs visible in the namespace.
  int64_t blob_bytes = 0;  // Their total size (shared bytes count in every namespace).
  int64_t ingests = 0;     // Ingests not committed yet.
  int64_t leases = 0;      // Leases holding at least one content resource there.

  bool empty() const { return blobs == 0 && ingests == 0 && leases == 0; }
};

class Admin {
 public:
  virtual ~Admin() = default;

  // The resources `lease` holds in the namespace, sorted by (type, id); empty for a lease
  // that holds nothing or does not exist.
  virtual absl::StatusOr<std::vector<LeaseResource>> ListLeaseResources(
      const CallContext& ctx, const std::string& lease) = 0;

  // Attaches `resource` to `lease` (idempotent; the resource need not exist). InvalidArgument
  // for a malformed digest or an empty ref; Unimplemented for another type.
  virtual absl::Status AddLeaseResource(const CallContext& ctx, const std::string& lease,
                                        const LeaseResource& resource) = 0;

  // Detaches `resource` from `lease`; OK when it was not attached. Errors as Add.
  virtual absl::Status DeleteLeaseResource(const CallContext& ctx, const std::string& lease,
                                           const LeaseResource& resource) = 0;

  // Drops every record of `lease` in the namespace; OK when there were none.
  virtual absl::Status DeleteLease(const CallContext& ctx, const std::string& lease) = 0;

  // What namespace `ns` holds (ctx.ns is not used). InvalidArgument for an invalid name.
  virtual absl::StatusOr<content::NamespaceUsage> NamespaceUsage(const CallContext& ctx,
                                                                 const std::string& ns) = 0;
};

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_ADMIN_H_
