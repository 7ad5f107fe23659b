#include "services/content/server/admin_service.h"

#include <vector>

#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::content {

grpc::Status AdminService::ListLeaseResources(grpc::ServerContext* ctx,
                                              const v1::ListLeaseResourcesRequest* req,
                                              v1::ListLeaseResourcesResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<LeaseResource> resources,
                     admin_->ListLeaseResources(call, req->lease()));
    for (const LeaseResource& r : resources) {
      auto* out = resp->add_resources();
      out->set_id(r.id);
      out->set_type(r.type);
    }
    return absl::OkStatus();
  });
}

grpc::Status AdminService::AddLeaseResource(grpc::ServerContext* ctx,
                                            const v1::LeaseResourceRequest* req,
                                            google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return admin_->AddLeaseResource(call, req->lease(),
                                    {req->resource().id(), req->resource().type()});
  });
}

grpc::Status AdminService::DeleteLeaseResource(grpc::ServerContext* ctx,
                                               const v1::LeaseResourceRequest* req,
                                               google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return admin_->DeleteLeaseResource(call, req->lease(),
                                       {req->resource().id(), req->resource().type()});
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
    ASSIGN_OR_RETURN(content::NamespaceUsage usage,
                     admin_->NamespaceUsage(call, req->namespace_()));
    resp->set_blobs(usage.blobs);
    resp->set_blob_bytes(usage.blob_bytes);
    resp->set_ingests(usage.ingests);
    resp->set_leases(usage.leases);
    return absl::OkStatus();
  });
}

}  // namespace berth::content
