// AdminService: berth.runtime.v1.RuntimeAdmin (proto/berth/runtime/v1/admin.proto), berth's
// internal API of berth-runtime for the gateway: what a namespace still holds here.
//
// Thread-safety: handlers may run concurrently; the store and manager are thread-safe.
#ifndef BERTH_SERVICES_RUNTIME_SERVER_ADMIN_SERVICE_H_
#define BERTH_SERVICES_RUNTIME_SERVER_ADMIN_SERVICE_H_

#include "proto/berth/runtime/v1/admin.grpc.pb.h"
#include "services/runtime/container_store.h"
#include "services/runtime/task_manager.h"

namespace berth::runtime {

class AdminService final : public berth::runtime::v1::RuntimeAdmin::Service {
 public:
  // Not owned.
  AdminService(ContainerStore* containers, TaskManager* tasks)
      : containers_(containers), tasks_(tasks) {}

  grpc::Status NamespaceUsage(grpc::ServerContext* ctx,
                              const berth::runtime::v1::NamespaceUsageRequest* req,
                              berth::runtime::v1::NamespaceUsageResponse* resp) override;

 private:
  ContainerStore* containers_;
  TaskManager* tasks_;
};

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_SERVER_ADMIN_SERVICE_H_
