#include <fmt/format.h>
#include <grpcpp/client_context.h>

#include <utility>

#include "gateway/gc/backend.h"
#include "lib/status/status.h"
#include "proto/berth/gc/v1/gc.grpc.pb.h"

namespace berth::gateway::gc {
namespace {

namespace pb = ::berth::gc::v1;

class GrpcBackend final : public CollectableBackend {
 public:
  GrpcBackend(std::string name, std::shared_ptr<grpc::Channel> channel,
              std::chrono::nanoseconds timeout)
      : name_(std::move(name)), stub_(pb::Collectable::NewStub(channel)), timeout_(timeout) {}

  const std::string& name() const override { return name_; }

  absl::Status List(const std::vector<std::string>& namespaces,
                    const std::function<void(pb::Object&&)>& fn) override {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    pb::ListObjectsRequest req;
    for (const std::string& ns : namespaces) req.add_namespaces(ns);
    std::unique_ptr<grpc::ClientReader<pb::ListObjectsResponse>> reader =
        stub_->ListObjects(&ctx, req);
    pb::ListObjectsResponse resp;
    while (reader->Read(&resp)) {
      for (pb::Object& o : *resp.mutable_objects()) fn(std::move(o));
      resp.Clear();
    }
    return Check("list objects", reader->Finish());
  }

  absl::StatusOr<pb::SweepResponse> Sweep(const pb::SweepRequest& request) override {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    pb::SweepResponse resp;
    RETURN_IF_ERROR(Check("sweep", stub_->Sweep(&ctx, request, &resp)));
    return resp;
  }

 private:
  void Prepare(grpc::ClientContext* ctx) const {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(timeout_));
  }

  // The backend's own errors pass as they are; one that cannot be reached is named.
  absl::Status Check(const char* op, const grpc::Status& status) const {
    if (status.ok()) return absl::OkStatus();
    return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                        fmt::format("{} at backend {:?}: {}", op, name_, status.error_message()));
  }

  std::string name_;
  std::unique_ptr<pb::Collectable::Stub> stub_;
  std::chrono::nanoseconds timeout_;
};

}  // namespace

std::unique_ptr<CollectableBackend> NewGrpcBackend(std::string name,
                                                   std::shared_ptr<grpc::Channel> channel,
                                                   std::chrono::nanoseconds timeout) {
  return std::make_unique<GrpcBackend>(std::move(name), std::move(channel), timeout);
}

}  // namespace berth::gateway::gc
