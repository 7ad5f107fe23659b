#include "services/runtime/server/containers_service.h"

#include <vector>

#include "fmt/format.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::runtime {

namespace cv1 = containerd::services::containers::v1;

grpc::Status ContainersService::Get(grpc::ServerContext* ctx, const cv1::GetContainerRequest* req,
                                    cv1::GetContainerResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*resp->mutable_container(), store_->Get(call, req->id()));
    return absl::OkStatus();
  });
}

grpc::Status ContainersService::List(grpc::ServerContext* ctx,
                                     const cv1::ListContainersRequest* req,
                                     cv1::ListContainersResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    std::vector<std::string> filters(req->filters().begin(), req->filters().end());
    ASSIGN_OR_RETURN(std::vector<Container> list, store_->List(call, filters));
    for (Container& c : list) *resp->add_containers() = std::move(c);
    return absl::OkStatus();
  });
}

grpc::Status ContainersService::ListStream(grpc::ServerContext* ctx,
                                           const cv1::ListContainersRequest* req,
                                           grpc::ServerWriter<cv1::ListContainerMessage>* writer) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    std::vector<std::string> filters(req->filters().begin(), req->filters().end());
    ASSIGN_OR_RETURN(std::vector<Container> list, store_->List(call, filters));
    for (Container& c : list) {
      cv1::ListContainerMessage msg;
      *msg.mutable_container() = std::move(c);
      if (!writer->Write(msg)) return CancelledError("list containers: the client went away");
    }
    return absl::OkStatus();
  });
}

grpc::Status ContainersService::Create(grpc::ServerContext* ctx,
                                       const cv1::CreateContainerRequest* req,
                                       cv1::CreateContainerResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*resp->mutable_container(), store_->Create(call, req->container()));
    return absl::OkStatus();
  });
}

grpc::Status ContainersService::Update(grpc::ServerContext* ctx,
                                       const cv1::UpdateContainerRequest* req,
                                       cv1::UpdateContainerResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    std::vector<std::string> paths(req->update_mask().paths().begin(),
                                   req->update_mask().paths().end());
    ASSIGN_OR_RETURN(*resp->mutable_container(), store_->Update(call, req->container(), paths));
    return absl::OkStatus();
  });
}

grpc::Status ContainersService::Delete(grpc::ServerContext* ctx,
                                       const cv1::DeleteContainerRequest* req,
                                       google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    if (has_task_ && has_task_(call.ns, req->id())) {
      return FailedPreconditionError(
          fmt::format("delete container {:?}: it has a task; delete the task first", req->id()));
    }
    return store_->Delete(call, req->id());
  });
}

}  // namespace berth::runtime
