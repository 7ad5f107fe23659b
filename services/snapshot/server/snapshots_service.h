// SnapshotsService: containerd.services.snapshots.v1.Snapshots over the snapshotters of
// berth-snapshot, selected per request by the `snapshotter` field ("overlayfs", "native");
// an empty or unknown name -> INVALID_ARGUMENT "snapshotter not loaded: <name>", as
// containerd. List streams batches of `list_batch` infos.
//
// Events, as containerd's snapshots service publishes them after a successful call:
//   /snapshot/prepare  containerd.events.SnapshotPrepare{key, parent}  (Prepare and View)
//   /snapshot/commit   containerd.events.SnapshotCommit{key, name}
//   /snapshot/remove   containerd.events.SnapshotRemove{key}
// A publisher refusing an event never fails the call (the change has happened): it is
// logged and dropped.
//
// Thread-safety: safe for gRPC's concurrent handler threads; the snapshotters and the
// publisher must be thread-safe.
#ifndef BERTH_SERVICES_SNAPSHOT_SERVER_SNAPSHOTS_SERVICE_H_
#define BERTH_SERVICES_SNAPSHOT_SERVER_SNAPSHOTS_SERVICE_H_

#include <cstddef>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "proto/containerd/services/snapshots/v1/snapshots.grpc.pb.h"
#include "services/snapshot/snapshotter.h"

namespace berth::events {
class Publisher;
}  // namespace berth::events

namespace berth::snapshot {

inline constexpr char kPrepareTopic[] = "/snapshot/prepare";
inline constexpr char kCommitTopic[] = "/snapshot/commit";
inline constexpr char kRemoveTopic[] = "/snapshot/remove";

struct SnapshotsServiceOptions {
  // Infos per List response message (containerd sends 100).
  std::size_t list_batch = 100;
};

class SnapshotsService final : public containerd::services::snapshots::v1::Snapshots::Service {
 public:
  // Neither the snapshotters nor the publisher (may be null: no events) are owned; they
  // must outlive the service.
  SnapshotsService(std::map<std::string, Snapshotter*> snapshotters, events::Publisher* publisher,
                   SnapshotsServiceOptions options = {});

  grpc::Status Prepare(grpc::ServerContext* ctx,
                       const containerd::services::snapshots::v1::PrepareSnapshotRequest* req,
                       containerd::services::snapshots::v1::PrepareSnapshotResponse* resp) override;
  grpc::Status View(grpc::ServerContext* ctx,
                    const containerd::services::snapshots::v1::ViewSnapshotRequest* req,
                    containerd::services::snapshots::v1::ViewSnapshotResponse* resp) override;
  grpc::Status Mounts(grpc::ServerContext* ctx,
                      const containerd::services::snapshots::v1::MountsRequest* req,
                      containerd::services::snapshots::v1::MountsResponse* resp) override;
  grpc::Status Commit(grpc::ServerContext* ctx,
                      const containerd::services::snapshots::v1::CommitSnapshotRequest* req,
                      google::protobuf::Empty* resp) override;
  grpc::Status Remove(grpc::ServerContext* ctx,
                      const containerd::services::snapshots::v1::RemoveSnapshotRequest* req,
                      google::protobuf::Empty* resp) override;
  grpc::Status Stat(grpc::ServerContext* ctx,
                    const containerd::services::snapshots::v1::StatSnapshotRequest* req,
                    containerd::services::snapshots::v1::StatSnapshotResponse* resp) override;
  grpc::Status Update(grpc::ServerContext* ctx,
                      const containerd::services::snapshots::v1::UpdateSnapshotRequest* req,
                      containerd::services::snapshots::v1::UpdateSnapshotResponse* resp) override;
  grpc::Status List(grpc::ServerContext* ctx,
                    const containerd::services::snapshots::v1::ListSnapshotsRequest* req,
                    grpc::ServerWriter<containerd::services::snapshots::v1::ListSnapshotsResponse>*
                        writer) override;
  grpc::Status Usage(grpc::ServerContext* ctx,
                     const containerd::services::snapshots::v1::UsageRequest* req,
                     containerd::services::snapshots::v1::UsageResponse* resp) override;
  grpc::Status Cleanup(grpc::ServerContext* ctx,
                       const containerd::services::snapshots::v1::CleanupRequest* req,
                       google::protobuf::Empty* resp) override;

 private:
  absl::StatusOr<Snapshotter*> Find(const std::string& name) const;
  void Publish(const CallContext& call, const char* topic, const google::protobuf::Message& event,
               const char* type_url);

  std::map<std::string, Snapshotter*> snapshotters_;
  events::Publisher* publisher_;
  SnapshotsServiceOptions options_;
};

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_SERVER_SNAPSHOTS_SERVICE_H_
