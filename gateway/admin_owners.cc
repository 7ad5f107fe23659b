#include "gateway/admin_owners.h"

#include <fmt/format.h>
#include <grpcpp/client_context.h>

#include <algorithm>
#include <utility>

#include "lib/server/call_context.h"
#include "lib/status/grpc_status.h"
#include "lib/status/status.h"
#include "proto/berth/content/v1/admin.grpc.pb.h"
#include "proto/berth/snapshot/v1/admin.grpc.pb.h"

namespace berth::gateway {
namespace {

// The differences between the admin APIs: their package, and what NamespaceUsage counts.
struct ContentApi {
  using Service = ::berth::content::v1::ContentAdmin;
  using ListRequest = ::berth::content::v1::ListLeaseResourcesRequest;
  using ListResponse = ::berth::content::v1::ListLeaseResourcesResponse;
  using ResourceRequest = ::berth::content::v1::LeaseResourceRequest;
  using DeleteLeaseRequest = ::berth::content::v1::DeleteLeaseRequest;
  using UsageRequest = ::berth::content::v1::NamespaceUsageRequest;
  using UsageResponse = ::berth::content::v1::NamespaceUsageResponse;
  static std::vector<std::string> Usage(const UsageResponse& u) {
    std::vector<std::string> out;
    if (u.blobs() > 0) out.push_back("blobs");
    if (u.ingests() > 0) out.push_back("ingests");
    if (u.leases() > 0) out.push_back("leases");
    return out;
  }
};

struct SnapshotApi {
  using Service = ::berth::snapshot::v1::SnapshotAdmin;
  using ListRequest = ::berth::snapshot::v1::ListLeaseResourcesRequest;
  using ListResponse = ::berth::snapshot::v1::ListLeaseResourcesResponse;
  using ResourceRequest = ::berth::snapshot::v1::LeaseResourceRequest;
  using DeleteLeaseRequest = ::berth::snapshot::v1::DeleteLeaseRequest;
  using UsageRequest = ::berth::snapshot::v1::NamespaceUsageRequest;
  using UsageResponse = ::berth::snapshot::v1::NamespaceUsageResponse;
  static std::vector<std::string> Usage(const UsageResponse& u) {
    std::vector<std::string> out;
    if (u.snapshots() > 0) out.push_back("snapshots");
    if (u.leases() > 0) out.push_back("leases");
    return out;
  }
};

template <typename Api>
class AdminOwner final : public ResourceOwner {
 public:
  AdminOwner(std::string name, std::shared_ptr<grpc::Channel> channel,
             std::chrono::milliseconds timeout)
      : name_(std::move(name)), stub_(Api::Service::NewStub(channel)), timeout_(timeout) {}

  const std::string& name() const override { return name_; }

  absl::StatusOr<std::vector<std::string>> NamespaceUsage(const CallContext& call,
                                                          const std::string& ns) override {
    grpc::ClientContext ctx;
    Prepare(call, &ctx);
    typename Api::UsageRequest req;
    req.set_namespace_(ns);
    typename Api::UsageResponse resp;
    RETURN_IF_ERROR(Check("namespace usage", stub_->NamespaceUsage(&ctx, req, &resp)));
    return Api::Usage(resp);
  }

  absl::StatusOr<std::vector<LeaseResource>> ListLeaseResources(const CallContext& call,
                                                                const std::string& lease) override {
    grpc::ClientContext ctx;
    Prepare(call, &ctx);
    typename Api::ListRequest req;
    req.set_lease(lease);
    typename Api::ListResponse resp;
    RETURN_IF_ERROR(Check("list lease resources", stub_->ListLeaseResources(&ctx, req, &resp)));
    std::vector<LeaseResource> out;
    for (const auto& r : resp.resources()) out.push_back(LeaseResource{r.id(), r.type()});
    return out;
  }

  absl::Status AddLeaseResource(const CallContext& call, const std::string& lease,
                                const LeaseResource& resource) override {
    grpc::ClientContext ctx;
    Prepare(call, &ctx);
    typename Api::ResourceRequest req = MakeResourceRequest(lease, resource);
    google::protobuf::Empty resp;
    return Check("add lease resource", stub_->AddLeaseResource(&ctx, req, &resp));
  }

  absl::Status DeleteLeaseResource(const CallContext& call, const std::string& lease,
                                   const LeaseResource& resource) override {
    grpc::ClientContext ctx;
    Prepare(call, &ctx);
    typename Api::ResourceRequest req = MakeResourceRequest(lease, resource);
    google::protobuf::Empty resp;
    return Check("delete lease resource", stub_->DeleteLeaseResource(&ctx, req, &resp));
  }

  absl::Status DeleteLease(const CallContext& call, const std::string& lease) override {
    grpc::ClientContext ctx;
    Prepare(call, &ctx);
    typename Api::DeleteLeaseRequest req;
    req.set_lease(lease);
    google::protobuf::Empty resp;
    return Check("delete lease", stub_->DeleteLease(&ctx, req, &resp));
  }

 private:
  static typename Api::ResourceRequest MakeResourceRequest(const std::string& lease,
                                                           const LeaseResource& resource) {
    typename Api::ResourceRequest req;
    req.set_lease(lease);
    req.mutable_resource()->set_id(resource.id);
    req.mutable_resource()->set_type(resource.type);
    return req;
  }

  void Prepare(const CallContext& call, grpc::ClientContext* ctx) const {
    CallContext bounded = call;
    const auto limit = std::chrono::system_clock::now() + timeout_;
    bounded.deadline = std::min(call.deadline, limit);
    server::ToClient(bounded, ctx);
  }

  // The backend's own errors pass as they are; a backend that cannot be reached is named.
  absl::Status Check(const char* op, const grpc::Status& status) const {
    if (status.ok()) return absl::OkStatus();
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          fmt::format("{} at backend {:?}: {}", op, name_, status.error_message()));
    }
    return FromGrpcStatus(status);
  }

  std::string name_;
  std::unique_ptr<typename Api::Service::Stub> stub_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ResourceOwner>> NewAdminOwner(const std::string& api,
                                                             std::string name,
                                                             std::shared_ptr<grpc::Channel> channel,
                                                             std::chrono::milliseconds timeout) {
  if (api == "content") {
    return std::make_unique<AdminOwner<ContentApi>>(std::move(name), std::move(channel), timeout);
  }
  if (api == "snapshot") {
    return std::make_unique<AdminOwner<SnapshotApi>>(std::move(name), std::move(channel), timeout);
  }
  return absl::InvalidArgumentError(fmt::format("internal api {:?}: unknown", api));
}

}  // namespace berth::gateway
