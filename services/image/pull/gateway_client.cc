#include "services/image/pull/gateway_client.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <utility>

#include "fmt/format.h"
#include "lib/server/call_context.h"
#include "lib/status/grpc_status.h"
#include "lib/status/status.h"
#include "proto/containerd/services/leases/v1/leases.grpc.pb.h"
#include "proto/containerd/services/namespaces/v1/namespace.grpc.pb.h"

namespace berth::image::pull {

namespace leasespb = containerd::services::leases::v1;
namespace nspb = containerd::services::namespaces::v1;

struct GatewayClient::Stubs {
  explicit Stubs(const std::shared_ptr<grpc::Channel>& channel)
      : leases(leasespb::Leases::NewStub(channel)),
        namespaces(nspb::Namespaces::NewStub(channel)) {}
  std::unique_ptr<leasespb::Leases::Stub> leases;
  std::unique_ptr<nspb::Namespaces::Stub> namespaces;
};

GatewayClient::GatewayClient(std::shared_ptr<grpc::Channel> channel)
    : stubs_(std::make_unique<Stubs>(channel)) {}

GatewayClient::~GatewayClient() = default;

absl::StatusOr<std::string> GatewayClient::Create(
    const CallContext& ctx, const std::map<std::string, std::string>& labels) {
  grpc::ClientContext client;
  server::ToClient(ctx, &client);
  leasespb::CreateRequest req;
  for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
  leasespb::CreateResponse resp;
  absl::Status s = FromGrpcStatus(stubs_->leases->Create(&client, req, &resp));
  if (!s.ok()) return Annotate(s, "create lease");
  return resp.lease().id();
}

absl::Status GatewayClient::Delete(const CallContext& ctx, const std::string& id) {
  grpc::ClientContext client;
  server::ToClient(ctx, &client);
  leasespb::DeleteRequest req;
  req.set_id(id);
  google::protobuf::Empty resp;
  return Annotate(FromGrpcStatus(stubs_->leases->Delete(&client, req, &resp)),
                  fmt::format("delete lease {:?}", id));
}

absl::StatusOr<std::map<std::string, std::string>> GatewayClient::Labels(const CallContext& ctx) {
  grpc::ClientContext client;
  server::ToClient(ctx, &client);
  nspb::GetNamespaceRequest req;
  req.set_name(ctx.ns);
  nspb::GetNamespaceResponse resp;
  absl::Status s = FromGrpcStatus(stubs_->namespaces->Get(&client, req, &resp));
  if (IsNotFound(s)) return std::map<std::string, std::string>{};
  if (!s.ok()) return Annotate(s, fmt::format("get namespace {:?}", ctx.ns));
  return std::map<std::string, std::string>(resp.namespace_().labels().begin(),
                                            resp.namespace_().labels().end());
}

}  // namespace berth::image::pull
