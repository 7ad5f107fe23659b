#include "client/proxy/snapshot_proxy.h"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "lib/server/call_context.h"
#include "lib/status/grpc_status.h"
#include "lib/status/status.h"
#include "proto/berth/snapshot/v1/admin.grpc.pb.h"
#include "proto/containerd/services/diff/v1/diff.grpc.pb.h"
#include "proto/containerd/services/snapshots/v1/snapshots.grpc.pb.h"
#include "services/snapshot/server/convert.h"

namespace berth::proxy {

namespace api = containerd::services::snapshots::v1;
namespace diffapi = containerd::services::diff::v1;
namespace adminapi = berth::snapshot::v1;
using snapshot::FromProto;
using snapshot::ToProto;

struct SnapshotProxy::Stub {
  std::unique_ptr<api::Snapshots::Stub> stub;
};

SnapshotProxy::SnapshotProxy(std::shared_ptr<grpc::Channel> channel, std::string snapshotter)
    : stub_(std::make_unique<Stub>(Stub{api::Snapshots::NewStub(channel)})),
      snapshotter_(std::move(snapshotter)) {}

SnapshotProxy::~SnapshotProxy() = default;

absl::StatusOr<snapshot::Info> SnapshotProxy::Stat(const CallContext& call, std::string_view key) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  api::StatSnapshotRequest req;
  req.set_snapshotter(snapshotter_);
  req.set_key(std::string(key));
  api::StatSnapshotResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Stat(&ctx, req, &resp)));
  return FromProto(resp.info());
}

absl::StatusOr<snapshot::Info> SnapshotProxy::Update(const CallContext& call,
                                                     const snapshot::Info& info,
                                                     const std::vector<std::string>& fieldpaths) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  api::UpdateSnapshotRequest req;
  req.set_snapshotter(snapshotter_);
  ToProto(info, req.mutable_info());
  for (const std::string& p : fieldpaths) req.mutable_update_mask()->add_paths(p);
  api::UpdateSnapshotResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Update(&ctx, req, &resp)));
  return FromProto(resp.info());
}

absl::StatusOr<snapshot::Usage> SnapshotProxy::Usage(const CallContext& call,
                                                     std::string_view key) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  api::UsageRequest req;
  req.set_snapshotter(snapshotter_);
  req.set_key(std::string(key));
  api::UsageResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Usage(&ctx, req, &resp)));
  return snapshot::Usage{resp.size(), resp.inodes()};
}

absl::StatusOr<std::vector<snapshot::Mount>> SnapshotProxy::Mounts(const CallContext& call,
                                                                   std::string_view key) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  api::MountsRequest req;
  req.set_snapshotter(snapshotter_);
  req.set_key(std::string(key));
  api::MountsResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Mounts(&ctx, req, &resp)));
  return FromProto(resp.mounts());
}

absl::StatusOr<std::vector<snapshot::Mount>> SnapshotProxy::Prepare(
    const CallContext& call, std::string_view key, std::string_view parent,
    const snapshot::Labels& labels) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  api::PrepareSnapshotRequest req;
  req.set_snapshotter(snapshotter_);
  req.set_key(std::string(key));
  req.set_parent(std::string(parent));
  req.mutable_labels()->insert(labels.begin(), labels.end());
  api::PrepareSnapshotResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Prepare(&ctx, req, &resp)));
  return FromProto(resp.mounts());
}

absl::StatusOr<std::vector<snapshot::Mount>> SnapshotProxy::View(const CallContext& call,
                                                                 std::string_view key,
                                                                 std::string_view parent,
                                                                 const snapshot::Labels& labels) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  api::ViewSnapshotRequest req;
  req.set_snapshotter(snapshotter_);
  req.set_key(std::string(key));
  req.set_parent(std::string(parent));
  req.mutable_labels()->insert(labels.begin(), labels.end());
  api::ViewSnapshotResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->View(&ctx, req, &resp)));
  return FromProto(resp.mounts());
}

absl::Status SnapshotProxy::Commit(const CallContext& call, std::string_view name,
                                   std::string_view key, const snapshot::Labels& labels) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  api::CommitSnapshotRequest req;
  req.set_snapshotter(snapshotter_);
  req.set_name(std::string(name));
  req.set_key(std::string(key));
  req.mutable_labels()->insert(labels.begin(), labels.end());
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->Commit(&ctx, req, &resp));
}

absl::Status SnapshotProxy::Remove(const CallContext& call, std::string_view key) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  api::RemoveSnapshotRequest req;
  req.set_snapshotter(snapshotter_);
  req.set_key(std::string(key));
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->Remove(&ctx, req, &resp));
}

absl::Status SnapshotProxy::Walk(const CallContext& call, const std::vector<std::string>& filters,
                                 const std::function<absl::Status(const snapshot::Info&)>& fn) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  api::ListSnapshotsRequest req;
  req.set_snapshotter(snapshotter_);
  for (const std::string& f : filters) req.add_filters(f);
  std::unique_ptr<grpc::ClientReader<api::ListSnapshotsResponse>> reader =
      stub_->stub->List(&ctx, req);
  api::ListSnapshotsResponse batch;
  while (reader->Read(&batch)) {
    for (const api::Info& info : batch.info()) {
      absl::Status s = fn(FromProto(info));
      if (!s.ok()) {
        ctx.TryCancel();
        (void)reader->Finish();
        return s;
      }
    }
  }
  return FromGrpcStatus(reader->Finish());
}

absl::Status SnapshotProxy::Cleanup(const CallContext& call) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  api::CleanupRequest req;
  req.set_snapshotter(snapshotter_);
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->Cleanup(&ctx, req, &resp));
}

struct DiffProxy::Stub {
  std::unique_ptr<diffapi::Diff::Stub> stub;
};

DiffProxy::DiffProxy(std::shared_ptr<grpc::Channel> channel)
    : stub_(std::make_unique<Stub>(Stub{diffapi::Diff::NewStub(channel)})) {}

DiffProxy::~DiffProxy() = default;

absl::StatusOr<snapshot::diff::Descriptor> DiffProxy::Apply(
    const CallContext& call, const snapshot::diff::Descriptor& desc,
    const std::vector<snapshot::Mount>& mounts) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  diffapi::ApplyRequest req;
  ToProto(desc, req.mutable_diff());
  ToProto(mounts, req.mutable_mounts());
  diffapi::ApplyResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Apply(&ctx, req, &resp)));
  return FromProto(resp.applied());
}

absl::StatusOr<snapshot::diff::Descriptor> DiffProxy::Compare(
    const CallContext& call, const std::vector<snapshot::Mount>& lower,
    const std::vector<snapshot::Mount>& upper, const snapshot::diff::CompareOptions& options) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  diffapi::DiffRequest req;
  ToProto(lower, req.mutable_left());
  ToProto(upper, req.mutable_right());
  req.set_media_type(options.media_type);
  req.set_ref(options.ref);
  req.mutable_labels()->insert(options.labels.begin(), options.labels.end());
  diffapi::DiffResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Diff(&ctx, req, &resp)));
  return FromProto(resp.diff());
}

struct SnapshotAdminProxy::Stub {
  std::unique_ptr<adminapi::SnapshotAdmin::Stub> stub;
};

SnapshotAdminProxy::SnapshotAdminProxy(std::shared_ptr<grpc::Channel> channel)
    : stub_(std::make_unique<Stub>(Stub{adminapi::SnapshotAdmin::NewStub(channel)})) {}

SnapshotAdminProxy::~SnapshotAdminProxy() = default;

absl::StatusOr<std::vector<snapshot::LeaseResource>> SnapshotAdminProxy::ListLeaseResources(
    const CallContext& call, const std::string& lease) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  adminapi::ListLeaseResourcesRequest req;
  req.set_lease(lease);
  adminapi::ListLeaseResourcesResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->ListLeaseResources(&ctx, req, &resp)));
  std::vector<snapshot::LeaseResource> out;
  for (const auto& r : resp.resources()) out.push_back(FromProto(r));
  return out;
}

absl::Status SnapshotAdminProxy::AddLeaseResource(const CallContext& call, const std::string& lease,
                                                  const snapshot::LeaseResource& resource) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  adminapi::LeaseResourceRequest req;
  req.set_lease(lease);
  ToProto(resource, req.mutable_resource());
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->AddLeaseResource(&ctx, req, &resp));
}

absl::Status SnapshotAdminProxy::DeleteLeaseResource(const CallContext& call,
                                                     const std::string& lease,
                                                     const snapshot::LeaseResource& resource) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  adminapi::LeaseResourceRequest req;
  req.set_lease(lease);
  ToProto(resource, req.mutable_resource());
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->DeleteLeaseResource(&ctx, req, &resp));
}

absl::Status SnapshotAdminProxy::DeleteLease(const CallContext& call, const std::string& lease) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  adminapi::DeleteLeaseRequest req;
  req.set_lease(lease);
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->DeleteLease(&ctx, req, &resp));
}

absl::StatusOr<snapshot::NamespaceUsage> SnapshotAdminProxy::NamespaceUsage(const CallContext& call,
                                                                            const std::string& ns) {
  grpc::ClientContext ctx;
  server::ToClient(call, &ctx);
  adminapi::NamespaceUsageRequest req;
  req.set_namespace_(ns);
  adminapi::NamespaceUsageResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->NamespaceUsage(&ctx, req, &resp)));
  snapshot::NamespaceUsage out;
  out.snapshots = resp.snapshots();
  out.committed_bytes = resp.committed_bytes();
  out.leases = resp.leases();
  return out;
}

}  // namespace berth::proxy
