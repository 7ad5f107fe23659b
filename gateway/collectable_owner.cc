#include "gateway/collectable_owner.h"

#include <fmt/format.h>
#include <grpcpp/client_context.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "lib/server/call_context.h"
#include "lib/status/grpc_status.h"
#include "proto/berth/gc/v1/gc.grpc.pb.h"

namespace berth::gateway {
namespace {

namespace pb = ::berth::gc::v1;

class CollectableOwner final : public ResourceOwner {
 public:
  CollectableOwner(std::string name, std::shared_ptr<grpc::Channel> channel,
                   std::chrono::milliseconds timeout)
      : name_(std::move(name)), stub_(pb::Collectable::NewStub(channel)), timeout_(timeout) {}

  const std::string& name() const override { return name_; }

  // The object types of the first batch the backend lists for `ns` ("images", "containers"):
  // enough to say the namespace is not empty, without reading everything it holds.
  absl::StatusOr<std::vector<std::string>> NamespaceUsage(const CallContext& call,
                                                          const std::string& ns) override {
    grpc::ClientContext ctx;
    CallContext bounded = call;
    bounded.deadline = std::min(call.deadline, std::chrono::system_clock::now() + timeout_);
    server::ToClient(bounded, &ctx);
    pb::ListObjectsRequest req;
    req.add_namespaces(ns);
    std::unique_ptr<grpc::ClientReader<pb::ListObjectsResponse>> reader =
        stub_->ListObjects(&ctx, req);
    std::vector<std::string> types;
    pb::ListObjectsResponse batch;
    while (types.empty() && reader->Read(&batch)) {
      for (const pb::Object& o : batch.objects()) {
        if (std::find(types.begin(), types.end(), o.ref().type()) == types.end()) {
          types.push_back(o.ref().type());
        }
      }
    }
    if (!types.empty()) {
      ctx.TryCancel();  // the rest does not matter
      reader->Finish().IgnoreError();
      return types;
    }
    grpc::Status status = reader->Finish();
    if (status.ok()) return types;
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          fmt::format("namespace usage at backend {:?}: {}", name_,
                                      status.error_message()));
    }
    return FromGrpcStatus(status);
  }

  // No lease resources live here.
  absl::StatusOr<std::vector<LeaseResource>> ListLeaseResources(const CallContext&,
                                                                const std::string&) override {
    return std::vector<LeaseResource>{};
  }
  absl::Status AddLeaseResource(const CallContext&, const std::string& lease,
                                const LeaseResource& resource) override {
    return absl::UnimplementedError(fmt::format(
        "lease {:?}: backend {:?} holds no lease resources (type {:?})", lease, name_,
        resource.type));
  }
  absl::Status DeleteLeaseResource(const CallContext& call, const std::string& lease,
                                   const LeaseResource& resource) override {
    return AddLeaseResource(call, lease, resource);
  }
  absl::Status DeleteLease(const CallContext&, const std::string&) override {
    return absl::OkStatus();
  }

 private:
  std::string name_;
  std::unique_ptr<pb::Collectable::Stub> stub_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<ResourceOwner> NewCollectableOwner(std::string name,
                                                   std::shared_ptr<grpc::Channel> channel,
                                                   std::chrono::milliseconds timeout) {
  return std::make_unique<CollectableOwner>(std::move(name), std::move(channel), timeout);
}

}  // namespace berth::gateway
