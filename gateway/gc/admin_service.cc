#include "gateway/gc/admin_service.h"

#include "lib/status/grpc_status.h"

namespace berth::gateway::gc {

grpc::ServerUnaryReactor* AdminService::GarbageCollect(
    grpc::CallbackServerContext* ctx, const berth::gateway::v1::GarbageCollectRequest* req,
    berth::gateway::v1::GarbageCollectResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (scheduler_ == nullptr) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "garbage collection is not configured"));
    return reactor;
  }
  CollectRequest request;
  request.dry_run = req->dry_run();
  request.reasons = {"request"};
  scheduler_->Request(std::move(request),
                      [reactor, resp](const absl::StatusOr<berth::gc::v1::Report>& report) {
                        if (!report.ok()) {
                          reactor->Finish(ToGrpcStatus(report.status()));
                          return;
                        }
                        *resp->mutable_report() = *report;
                        reactor->Finish(grpc::Status::OK);
                      });
  return reactor;
}

}  // namespace berth::gateway::gc
