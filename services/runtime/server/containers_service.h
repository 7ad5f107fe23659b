// ContainersService: containerd.services.containers.v1.Containers over a ContainerStore — the
// gRPC edge of berth-runtime's container records (reference/containerd-api.md §3.8).
//
//  - Get / List (filters) / ListStream (one message per container) / Create / Update (field
//    masks) / Delete, as containerd. Timestamps are always filled.
//  - Delete refuses a container that still has a task (FAILED_PRECONDITION): its shim,
//    mounts and bundle would otherwise be orphaned. ctr deletes the task first anyway.
//
// Thread-safety: gRPC's sync server calls the handlers from many threads; the store and the
// task query are thread-safe.
#ifndef BERTH_SERVICES_RUNTIME_SERVER_CONTAINERS_SERVICE_H_
#define BERTH_SERVICES_RUNTIME_SERVER_CONTAINERS_SERVICE_H_

#include <functional>
#include <string>

#include "proto/containerd/services/containers/v1/containers.grpc.pb.h"
#include "services/runtime/container_store.h"

namespace berth::runtime {

class ContainersService final : public containerd::services::containers::v1::Containers::Service {
 public:
  // `has_task(ns, id)` says whether a container has a task. `store` is not owned.
  ContainersService(ContainerStore* store,
                    std::function<bool(const std::string&, const std::string&)> has_task)
      : store_(store), has_task_(std::move(has_task)) {}

  grpc::Status Get(grpc::ServerContext* ctx,
                   const containerd::services::containers::v1::GetContainerRequest* req,
                   containerd::services::containers::v1::GetContainerResponse* resp) override;
  grpc::Status List(grpc::ServerContext* ctx,
                    const containerd::services::containers::v1::ListContainersRequest* req,
                    containerd::services::containers::v1::ListContainersResponse* resp) override;
  grpc::Status ListStream(
      grpc::ServerContext* ctx,
      const containerd::services::containers::v1::ListContainersRequest* req,
      grpc::ServerWriter<containerd::services::containers::v1::ListContainerMessage>* writer)
      override;
  grpc::Status Create(grpc::ServerContext* ctx,
                      const containerd::services::containers::v1::CreateContainerRequest* req,
                      containerd::services::containers::v1::CreateContainerResponse* resp) override;
  grpc::Status Update(grpc::ServerContext* ctx,
                      const containerd::services::containers::v1::UpdateContainerRequest* req,
                      containerd::services::containers::v1::UpdateContainerResponse* resp) override;
  grpc::Status Delete(grpc::ServerContext* ctx,
                      const containerd::services::containers::v1::DeleteContainerRequest* req,
                      google::protobuf::Empty* resp) override;

 private:
  ContainerStore* store_;
  std::function<bool(const std::string&, const std::string&)> has_task_;
};

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_SERVER_CONTAINERS_SERVICE_H_
