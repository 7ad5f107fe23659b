#include "services/runtime/server/admin_service.h"

#include "lib/identifiers/identifiers.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::runtime {

grpc::Status AdminService::NamespaceUsage(grpc::ServerContext*,
                                          const berth::runtime::v1::NamespaceUsageRequest* req,
                                          berth::runtime::v1::NamespaceUsageResponse* resp) {
  return server::GrpcHandler([&]() -> absl::Status {
    RETURN_IF_ERROR(Annotate(identifiers::Validate(req->namespace_()), "namespace usage"));
    ASSIGN_OR_RETURN(int64_t containers, containers_->Count(req->namespace_()));
    resp->set_containers(containers);
    resp->set_tasks(tasks_->CountTasks(req->namespace_()));
    return absl::OkStatus();
  });
}

}  // namespace berth::runtime
