#include "services/snapshot/admin.h"

#include <utility>

#include "fmt/format.h"
#include "lib/status/status.h"
#include "services/snapshot/directory_snapshotter.h"

namespace berth::snapshot {
namespace {

// The snapshotter named by a resource type "snapshots/<snapshotter>".
absl::StatusOr<std::string> SnapshotterOf(const LeaseResource& r) {
  std::string_view type = r.type;
  if (type.rfind(kResourcePrefix, 0) != 0) {
    return UnimplementedError(fmt::format("resource type {} not supported", Quote(r.type)));
  }
  std::string name(type.substr(sizeof(kResourcePrefix) - 1));
  if (name.empty() || name.find('/') != std::string::npos) {
    return InvalidArgumentError(fmt::format("invalid snapshot resource type {}", Quote(r.type)));
  }
  if (r.id.empty()) return InvalidArgumentError("snapshot resource id must not be empty");
  return name;
}

}  // namespace

absl::StatusOr<std::vector<LeaseResource>> MetaStoreAdmin::ListLeaseResources(
    const CallContext& ctx, const std::string& lease) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  ASSIGN_OR_RETURN(std::vector<LeasedSnapshot> held, meta_->ListLease(ctx.ns, lease));
  std::vector<LeaseResource> out;
  out.reserve(held.size());
  for (LeasedSnapshot& s : held) {
    out.push_back({std::move(s.key), std::string(kResourcePrefix) + s.snapshotter});
  }
  return out;
}

absl::Status MetaStoreAdmin::AddLeaseResource(const CallContext& ctx, const std::string& lease,
                                              const LeaseResource& resource) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  ASSIGN_OR_RETURN(std::string snapshotter, SnapshotterOf(resource));
  return meta_->AddLease(ctx.ns, lease, snapshotter, resource.id);
}

absl::Status MetaStoreAdmin::DeleteLeaseResource(const CallContext& ctx, const std::string& lease,
                                                 const LeaseResource& resource) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  ASSIGN_OR_RETURN(std::string snapshotter, SnapshotterOf(resource));
  return meta_->DeleteLease(ctx.ns, lease, snapshotter, resource.id);
}

absl::Status MetaStoreAdmin::DeleteLease(const CallContext& ctx, const std::string& lease) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  return meta_->DropLease(ctx.ns, lease);
}

absl::StatusOr<NamespaceUsage> MetaStoreAdmin::NamespaceUsage(const CallContext& ctx,
                                                              const std::string& ns) {
  return meta_->UsageOf(ns);
}

}  // namespace berth::snapshot
