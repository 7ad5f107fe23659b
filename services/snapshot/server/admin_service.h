// AdminService: berth.snapshot.v1.SnapshotAdmin (proto/berth/snapshot/v1/admin.proto) over a
// snapshot::Admin — lease records and namespace usage for the gateway.
//
// Thread-safety: safe for gRPC's concurrent handler threads; the Admin must be thread-safe.
#ifndef BERTH_SERVICES_SNAPSHOT_SERVER_ADMIN_SERVICE_H_
#define BERTH_SERVICES_SNAPSHOT_SERVER_ADMIN_SERVICE_H_

#include "proto/berth/snapshot/v1/admin.grpc.pb.h"
#include "services/snapshot/admin.h"

namespace berth::snapshot {

class AdminService final : public berth::snapshot::v1::SnapshotAdmin::Service {
 public:
  // `admin` is not owned and must outlive the service.
  explicit AdminService(Admin* admin) : admin_(admin) {}

  grpc::Status ListLeaseResources(grpc::ServerContext* ctx,
                                  const v1::ListLeaseResourcesRequest* req,
                                  v1::ListLeaseResourcesResponse* resp) override;
  grpc::Status AddLeaseResource(grpc::ServerContext* ctx, const v1::LeaseResourceRequest* req,
                                google::protobuf::Empty* resp) override;
  grpc::Status DeleteLeaseResource(grpc::ServerContext* ctx, const v1::LeaseResourceRequest* req,
                                   google::protobuf::Empty* resp) override;
  grpc::Status DeleteLease(grpc::ServerContext* ctx, const v1::DeleteLeaseRequest* req,
                           google::protobuf::Empty* resp) override;
  grpc::Status NamespaceUsage(grpc::ServerContext* ctx, const v1::NamespaceUsageRequest* req,
                              v1::NamespaceUsageResponse* resp) override;

 private:
  Admin* admin_;
};

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_SERVER_ADMIN_SERVICE_H_
