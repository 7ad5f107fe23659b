// ContainerStore: containerd's container metadata (containers.Store) — the records behind
// containerd.services.containers.v1.Containers, per namespace. A container is only a record
// (id, labels, image, runtime name and options, OCI spec, snapshotter and snapshot key,
// extensions, timestamps); running it is the TaskManager's business.
//
// Values are containerd's own `Container` message. Every method takes the call's namespace
// from `call.ns` (callers guarantee a valid one).
//
// Thread-safety: implementations are safe to call from any thread.
#ifndef BERTH_SERVICES_RUNTIME_CONTAINER_STORE_H_
#define BERTH_SERVICES_RUNTIME_CONTAINER_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "proto/containerd/services/containers/v1/containers.pb.h"

namespace berth::runtime {

using Container = containerd::services::containers::v1::Container;

class ContainerStore {
 public:
  virtual ~ContainerStore() = default;

  // The container `id`. NotFound `container "id": not found`; InvalidArgument for an id that
  // is not an identifier.
  virtual absl::StatusOr<Container> Get(const CallContext& call, const std::string& id) = 0;

  // Containers of the namespace matching any of `filters` (containerd's filter syntax over
  // id, image, runtime.name, snapshotter, labels.<key>), sorted by id. InvalidArgument for an
  // unparsable filter.
  virtual absl::StatusOr<std::vector<Container>> List(const CallContext& call,
                                                      const std::vector<std::string>& filters) = 0;

  // Stores a new container and returns it with created_at = updated_at = now (timestamps the
  // caller sent are ignored). InvalidArgument for a bad id or label, no runtime name, no
  // spec, a snapshot key without snapshotter, or an extension without a type; AlreadyExists
  // when the id is taken. Publishes /containers/create.
  virtual absl::StatusOr<Container> Create(const CallContext& call, Container container) = 0;

  // Applies `update` to the stored container along `fieldpaths` (containerd's rules):
  // "labels", "labels.<k>" (an empty value deletes k), "spec", "extensions",
  // "extensions.<k>", "image", "snapshotkey"; no paths replaces all of those, and then a
  // different runtime name or snapshotter is InvalidArgument (they are immutable); any other
  // path is InvalidArgument. Returns the stored result with updated_at = now. NotFound when
  // the container does not exist. Publishes /containers/update.
  virtual absl::StatusOr<Container> Update(const CallContext& call, Container update,
                                           const std::vector<std::string>& fieldpaths) = 0;

  // Removes the record (metadata only: snapshot and task are not touched). NotFound when
  // absent. Publishes /containers/delete.
  virtual absl::Status Delete(const CallContext& call, const std::string& id) = 0;

  // Number of containers in namespace `ns` (for the gateway's namespace deletion check).
  virtual absl::StatusOr<int64_t> Count(const std::string& ns) = 0;
};

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_CONTAINER_STORE_H_
