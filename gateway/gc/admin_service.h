// AdminService: berth.gateway.v1.GatewayAdmin (proto/berth/gateway/v1/admin.proto), the
// gateway's own administrative API — `berth gc` calls GarbageCollect, which asks the
// Scheduler for a collection (Scheduler::Request: one that starts after the call) and
// answers with its report.
//
// Thread-safety: gRPC calls it from many threads; the Scheduler is thread-safe.
#ifndef BERTH_GATEWAY_GC_ADMIN_SERVICE_H_
#define BERTH_GATEWAY_GC_ADMIN_SERVICE_H_

#include "gateway/gc/scheduler.h"
#include "proto/berth/gateway/v1/admin.grpc.pb.h"

namespace berth::gateway::gc {

class AdminService final : public berth::gateway::v1::GatewayAdmin::CallbackService {
 public:
  // `scheduler` is not owned and must outlive the service; null: garbage collection is not
  // configured (GarbageCollect -> Unavailable).
  explicit AdminService(Scheduler* scheduler) : scheduler_(scheduler) {}

  grpc::ServerUnaryReactor* GarbageCollect(
      grpc::CallbackServerContext* ctx, const berth::gateway::v1::GarbageCollectRequest* req,
      berth::gateway::v1::GarbageCollectResponse* resp) override;

 private:
  Scheduler* scheduler_;
};

}  // namespace berth::gateway::gc

#endif  // BERTH_GATEWAY_GC_ADMIN_SERVICE_H_
