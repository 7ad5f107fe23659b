// DiffService: containerd.services.diff.v1.Diff over an Applier and a Comparer
// (FileSystemApplier and WalkingDiff in berth-snapshot). Apply with stream-processor
// payloads (encrypted layers) is UNIMPLEMENTED: berth has no stream processors.
//
// Thread-safety: safe for gRPC's concurrent handler threads.
#ifndef BERTH_SERVICES_SNAPSHOT_SERVER_DIFF_SERVICE_H_
#define BERTH_SERVICES_SNAPSHOT_SERVER_DIFF_SERVICE_H_

#include "proto/containerd/services/diff/v1/diff.grpc.pb.h"
#include "services/snapshot/diff/differ.h"

namespace berth::snapshot {

class DiffService final : public containerd::services::diff::v1::Diff::Service {
 public:
  // Not owned; must outlive the service.
  DiffService(diff::Applier* applier, diff::Comparer* comparer)
      : applier_(applier), comparer_(comparer) {}

  grpc::Status Apply(grpc::ServerContext* ctx,
                     const containerd::services::diff::v1::ApplyRequest* req,
                     containerd::services::diff::v1::ApplyResponse* resp) override;
  grpc::Status Diff(grpc::ServerContext* ctx,
                    const containerd::services::diff::v1::DiffRequest* req,
                    containerd::services::diff::v1::DiffResponse* resp) override;

 private:
  diff::Applier* applier_;
  diff::Comparer* comparer_;
};

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_SERVER_DIFF_SERVICE_H_
