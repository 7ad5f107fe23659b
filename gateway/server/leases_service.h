// LeasesService: containerd.services.leases.v1.Leases, served by the gateway. Every call
// needs a namespace (FailedPrecondition "namespace is required" otherwise, as containerd).
//
//  - Create: the given id, or a new one `<unix nanoseconds>-<4 letters or digits>`;
//    labels validated; created_at = now. AlreadyExists for a taken id. Creates the call's
//    namespace implicitly.
//  - Delete: NotFound for an unknown lease; every ResourceOwner drops its records of the
//    lease first (an owner that cannot be asked -> its error, lease kept). Then `on_deleted`
//    (the garbage collector, gateway/gc/) learns of it: with `sync` the reply waits until
//    a collection ran, as containerd's.
//  - List: containerd filters over `id` and `labels.<key>`.
//  - AddResource / DeleteResource: NotFound for an unknown lease; the resource type picks the
//    owner (`content`, `ingests`, `snapshots/<snapshotter>` by config); a type no owner
//    holds -> Unimplemented `resource type "x": not implemented`.
//  - ListResources: NotFound for an unknown lease; every owner's resources, sorted by type
//    then id.
//
// Thread-safety: gRPC calls it from many threads; the stores and owners are thread-safe.
#ifndef BERTH_GATEWAY_SERVER_LEASES_SERVICE_H_
#define BERTH_GATEWAY_SERVER_LEASES_SERVICE_H_

#include <functional>
#include <string>
#include <utility>

#include "gateway/lease_store.h"
#include "gateway/namespace_store.h"
#include "gateway/owners.h"
#include "proto/containerd/services/leases/v1/leases.grpc.pb.h"

namespace berth::gateway {

// A new lease id shaped like containerd's leases.WithRandomID ones, `<nanos>-<4 chars>`, the
// characters from base64url's alphabet less '-' and '_' so the id is always an identifier.
std::string NewLeaseId();

class LeasesService final : public containerd::services::leases::v1::Leases::CallbackService {
 public:
  // Told about each deleted lease: `sync` as the request said; the reply is sent once
  // `reply` is called (OK, or the error to return instead).
  using OnDeleted = std::function<void(bool sync, std::function<void(absl::Status status)> reply)>;

  // None owned; all must outlive the service. `on_deleted` may be empty.
  LeasesService(LeaseStore* leases, NamespaceStore* namespaces, const Owners* owners,
                OnDeleted on_deleted = nullptr)
      : leases_(leases),
        namespaces_(namespaces),
        owners_(owners),
        on_deleted_(std::move(on_deleted)) {}

  grpc::ServerUnaryReactor* Create(grpc::CallbackServerContext* ctx,
                                   const containerd::services::leases::v1::CreateRequest* req,
                                   containerd::services::leases::v1::CreateResponse* resp) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const containerd::services::leases::v1::DeleteRequest* req,
                                   google::protobuf::Empty* resp) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx,
                                 const containerd::services::leases::v1::ListRequest* req,
                                 containerd::services::leases::v1::ListResponse* resp) override;
  grpc::ServerUnaryReactor* AddResource(
      grpc::CallbackServerContext* ctx,
      const containerd::services::leases::v1::AddResourceRequest* req,
      google::protobuf::Empty* resp) override;
  grpc::ServerUnaryReactor* DeleteResource(
      grpc::CallbackServerContext* ctx,
      const containerd::services::leases::v1::DeleteResourceRequest* req,
      google::protobuf::Empty* resp) override;
  grpc::ServerUnaryReactor* ListResources(
      grpc::CallbackServerContext* ctx,
      const containerd::services::leases::v1::ListResourcesRequest* req,
      containerd::services::leases::v1::ListResourcesResponse* resp) override;

 private:
  absl::StatusOr<ResourceOwner*> OwnerOf(const std::string& type) const;

  LeaseStore* leases_;
  NamespaceStore* namespaces_;
  const Owners* owners_;
  OnDeleted on_deleted_;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_LEASES_SERVICE_H_
