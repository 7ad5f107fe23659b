#include "services/snapshot/server/admin_service.h"

#include "lib/server/call_context.h"
#include "lib/status/status.h"
#include "services/snapshot/server/convert.h"

namespace berth::snapshot {

grpc::Status AdminService::ListLeaseResources(grpc::ServerContext* ctx,
                                              const v1::ListLeaseResourcesRequest* req,
                                              v1::ListLeaseResourcesResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<LeaseResource> resources,
                     admin_->ListLeaseResources(call, req->lease()));
    for (const LeaseResource& r : resources) ToProto(r, resp->add_resources());
    return absl::OkStatus();
  });
}

grpc::Status AdminService::AddLeaseResource(grpc::ServerContext* ctx,
                                            const v1::LeaseResourceRequest* req,
                                            google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return admin_->AddLeaseResource(call, req->lease(), FromProto(req->resource()));
  });
}

grpc::Status AdminService::DeleteLeaseResource(grpc::ServerContext* ctx,
                                               const v1::LeaseResourceRequest* req,
                                               google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return admin_->DeleteLeaseResource(call, req->lease(), FromProto(req->resource()));
  });
}

grpc::Status AdminService::DeleteLease(grpc::ServerContext* ctx, const v1::DeleteLeaseRequest* req,
                                       google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return admin_->DeleteLease(call, req->lease());
  });
}

grpc::Status AdminService::NamespaceUsage(grpc::ServerContext* ctx,
                                          const v1::NamespaceUsageRequest* req,
                                          v1::NamespaceUsageResponse* resp) {
  return server::GrpcHandler(ctx, false, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(snapshot::NamespaceUsage usage,
                     admin_->NamespaceUsage(call, req->namespace_()));
    resp->set_snapshots(usage.snapshots);
    resp->set_committed_bytes(usage.committed_bytes);
    resp->set_leases(usage.leases);
    return absl::OkStatus();
  });
}

}  // namespace berth::snapshot
