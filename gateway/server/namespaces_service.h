// NamespacesService: containerd.services.namespaces.v1.Namespaces, served by the gateway.
//
//  - Get of an unknown name: OK with the name and no labels (containerd-api.md §1.2; clients
//    read `containerd.io/defaults/snapshotter` this way).
//  - List: every namespace (the request's filter is ignored, as containerd does).
//  - Create: AlreadyExists when present; publishes /namespaces/create.
//  - Update: with a mask, `labels` replaces all labels and `labels.<k>` sets one (an empty
//    value deletes it); other paths -> InvalidArgument; without a mask the labels are
//    replaced. Creates the namespace when missing; publishes /namespaces/update.
//  - Delete: NotFound when absent; FailedPrecondition `namespace "x" must be empty, but it
//    still has leases, blobs` when the gateway's leases or any ResourceOwner report objects
//    in it (an owner that cannot be asked -> its error, nothing deleted); publishes
//    /namespaces/delete.
// Events go out under the call's namespace (the header), as containerd's do.
//
// Thread-safety: gRPC calls it from many threads; the stores and owners are thread-safe.
#ifndef BERTH_GATEWAY_SERVER_NAMESPACES_SERVICE_H_
#define BERTH_GATEWAY_SERVER_NAMESPACES_SERVICE_H_

#include "gateway/lease_store.h"
#include "gateway/namespace_store.h"
#include "gateway/owners.h"
#include "lib/events/publisher.h"
#include "proto/containerd/services/namespaces/v1/namespace.grpc.pb.h"

namespace berth::gateway {

class NamespacesService final
    : public containerd::services::namespaces::v1::Namespaces::CallbackService {
 public:
  // None owned; all must outlive the service. `publisher` may be null (no events).
  NamespacesService(NamespaceStore* namespaces, LeaseStore* leases, const Owners* owners,
                    events::Publisher* publisher)
      : namespaces_(namespaces), leases_(leases), owners_(owners), publisher_(publisher) {}

  grpc::ServerUnaryReactor* Get(
      grpc::CallbackServerContext* ctx,
      const containerd::services::namespaces::v1::GetNamespaceRequest* req,
      containerd::services::namespaces::v1::GetNamespaceResponse* resp) override;
  grpc::ServerUnaryReactor* List(
      grpc::CallbackServerContext* ctx,
      const containerd::services::namespaces::v1::ListNamespacesRequest* req,
      containerd::services::namespaces::v1::ListNamespacesResponse* resp) override;
  grpc::ServerUnaryReactor* Create(
      grpc::CallbackServerContext* ctx,
      const containerd::services::namespaces::v1::CreateNamespaceRequest* req,
      containerd::services::namespaces::v1::CreateNamespaceResponse* resp) override;
  grpc::ServerUnaryReactor* Update(
      grpc::CallbackServerContext* ctx,
      const containerd::services::namespaces::v1::UpdateNamespaceRequest* req,
      containerd::services::namespaces::v1::UpdateNamespaceResponse* resp) override;
  grpc::ServerUnaryReactor* Delete(
      grpc::CallbackServerContext* ctx,
      const containerd::services::namespaces::v1::DeleteNamespaceRequest* req,
      google::protobuf::Empty* resp) override;

 private:
  void Publish(const CallContext& call, const std::string& topic,
               const google::protobuf::Message& event, const char* type_url);

  NamespaceStore* namespaces_;
  LeaseStore* leases_;
  const Owners* owners_;
  events::Publisher* publisher_;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_NAMESPACES_SERVICE_H_
