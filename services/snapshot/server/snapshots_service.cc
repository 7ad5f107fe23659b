#include "services/snapshot/server/snapshots_service.h"

#include <utility>
#include <vector>

#include "fmt/format.h"
#include "lib/events/publisher.h"
#include "lib/log/log.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"
#include "proto/containerd/events/snapshot.pb.h"
#include "services/snapshot/server/convert.h"

namespace berth::snapshot {

namespace api = containerd::services::snapshots::v1;

SnapshotsService::SnapshotsService(std::map<std::string, Snapshotter*> snapshotters,
                                   events::Publisher* publisher, SnapshotsServiceOptions options)
    : snapshotters_(std::move(snapshotters)), publisher_(publisher), options_(options) {
  if (options_.list_batch == 0) options_.list_batch = 1;
}

absl::StatusOr<Snapshotter*> SnapshotsService::Find(const std::string& name) const {
  auto it = snapshotters_.find(name);
  if (it == snapshotters_.end()) {
    return InvalidArgumentError(fmt::format("snapshotter not loaded: {}", name));
  }
  return it->second;
}

void SnapshotsService::Publish(const CallContext& call, const char* topic,
                               const google::protobuf::Message& event, const char* type_url) {
  if (publisher_ == nullptr) return;
  absl::Status s = publisher_->Publish(call.ns, topic, event, type_url);
  if (!s.ok()) log::Warn("event dropped topic={} namespace={:?}: {}", topic, call.ns, s.ToString());
}

grpc::Status SnapshotsService::Prepare(grpc::ServerContext* ctx,
                                       const api::PrepareSnapshotRequest* req,
                                       api::PrepareSnapshotResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(Snapshotter * sn, Find(req->snapshotter()));
    Labels labels(req->labels().begin(), req->labels().end());
    ASSIGN_OR_RETURN(std::vector<Mount> mounts,
                     sn->Prepare(call, req->key(), req->parent(), labels));
    ToProto(mounts, resp->mutable_mounts());
    containerd::events::SnapshotPrepare event;
    event.set_key(req->key());
    event.set_parent(req->parent());
    Publish(call, kPrepareTopic, event, "containerd.events.SnapshotPrepare");
    return absl::OkStatus();
  });
}

grpc::Status SnapshotsService::View(grpc::ServerContext* ctx, const api::ViewSnapshotRequest* req,
                                    api::ViewSnapshotResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(Snapshotter * sn, Find(req->snapshotter()));
    Labels labels(req->labels().begin(), req->labels().end());
    ASSIGN_OR_RETURN(std::vector<Mount> mounts, sn->View(call, req->key(), req->parent(), labels));
    ToProto(mounts, resp->mutable_mounts());
    containerd::events::SnapshotPrepare event;
    event.set_key(req->key());
    event.set_parent(req->parent());
    Publish(call, kPrepareTopic, event, "containerd.events.SnapshotPrepare");
    return absl::OkStatus();
  });
}

grpc::Status SnapshotsService::Mounts(grpc::ServerContext* ctx, const api::MountsRequest* req,
                                      api::MountsResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(Snapshotter * sn, Find(req->snapshotter()));
    ASSIGN_OR_RETURN(std::vector<Mount> mounts, sn->Mounts(call, req->key()));
    ToProto(mounts, resp->mutable_mounts());
    return absl::OkStatus();
  });
}

grpc::Status SnapshotsService::Commit(grpc::ServerContext* ctx,
                                      const api::CommitSnapshotRequest* req,
                                      google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(Snapshotter * sn, Find(req->snapshotter()));
    Labels labels(req->labels().begin(), req->labels().end());
    RETURN_IF_ERROR(sn->Commit(call, req->name(), req->key(), labels));
    containerd::events::SnapshotCommit event;
    event.set_key(req->key());
    event.set_name(req->name());
    Publish(call, kCommitTopic, event, "containerd.events.SnapshotCommit");
    return absl::OkStatus();
  });
}

grpc::Status SnapshotsService::Remove(grpc::ServerContext* ctx,
                                      const api::RemoveSnapshotRequest* req,
                                      google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(Snapshotter * sn, Find(req->snapshotter()));
    RETURN_IF_ERROR(sn->Remove(call, req->key()));
    containerd::events::SnapshotRemove event;
    event.set_key(req->key());
    Publish(call, kRemoveTopic, event, "containerd.events.SnapshotRemove");
    return absl::OkStatus();
  });
}

grpc::Status SnapshotsService::Stat(grpc::ServerContext* ctx, const api::StatSnapshotRequest* req,
                                    api::StatSnapshotResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(Snapshotter * sn, Find(req->snapshotter()));
    ASSIGN_OR_RETURN(Info info, sn->Stat(call, req->key()));
    ToProto(info, resp->mutable_info());
    return absl::OkStatus();
  });
}

grpc::Status SnapshotsService::Update(grpc::ServerContext* ctx,
                                      const api::UpdateSnapshotRequest* req,
                                      api::UpdateSnapshotResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(Snapshotter * sn, Find(req->snapshotter()));
    std::vector<std::string> paths(req->update_mask().paths().begin(),
                                   req->update_mask().paths().end());
    ASSIGN_OR_RETURN(Info info, sn->Update(call, FromProto(req->info()), paths));
    ToProto(info, resp->mutable_info());
    return absl::OkStatus();
  });
}

grpc::Status SnapshotsService::List(grpc::ServerContext* ctx, const api::ListSnapshotsRequest* req,
                                    grpc::ServerWriter<api::ListSnapshotsResponse>* writer) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(Snapshotter * sn, Find(req->snapshotter()));
    std::vector<std::string> filters(req->filters().begin(), req->filters().end());
    api::ListSnapshotsResponse batch;
    RETURN_IF_ERROR(sn->Walk(call, filters, [&](const Info& info) -> absl::Status {
      ToProto(info, batch.add_info());
      if (static_cast<std::size_t>(batch.info_size()) >= options_.list_batch) {
        if (!writer->Write(batch)) return CancelledError("list: the client went away");
        batch.Clear();
      }
      return absl::OkStatus();
    }));
    if (batch.info_size() > 0 && !writer->Write(batch)) {
      return CancelledError("list: the client went away");
    }
    return absl::OkStatus();
  });
}

grpc::Status SnapshotsService::Usage(grpc::ServerContext* ctx, const api::UsageRequest* req,
                                     api::UsageResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(Snapshotter * sn, Find(req->snapshotter()));
    ASSIGN_OR_RETURN(snapshot::Usage usage, sn->Usage(call, req->key()));
    resp->set_size(usage.size);
    resp->set_inodes(usage.inodes);
    return absl::OkStatus();
  });
}

grpc::Status SnapshotsService::Cleanup(grpc::ServerContext* ctx, const api::CleanupRequest* req,
                                       google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(Snapshotter * sn, Find(req->snapshotter()));
    return sn->Cleanup(call);
  });
}

}  // namespace berth::snapshot
