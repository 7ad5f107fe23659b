#include "lib/server/health_client.h"

#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>

#include "lib/status/grpc_status.h"
#include "lib/status/status.h"

namespace berth::server {
namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";
constexpr char kWatchMethod[] = "/grpc.health.v1.Health/Watch";

}  // namespace

absl::StatusOr<HealthStatus> CheckHealth(grpc::Channel& channel, const std::string& service,
                                         std::chrono::milliseconds timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  grpc::ByteBuffer response;
  // What generated stubs do, with ByteBuffer as the message type.
  grpc::Status status = grpc::internal::BlockingUnaryCall(
      &channel, grpc::internal::RpcMethod(kCheckMethod, grpc::internal::RpcMethod::NORMAL_RPC),
      &ctx, health_wire::EncodeRequest(service), &response);
  if (!status.ok()) return Annotate(FromGrpcStatus(status), "health check");
  return health_wire::DecodeResponse(response);
}

HealthWatch::HealthWatch(const std::shared_ptr<grpc::Channel>& channel, const std::string& service)
    : reader_(grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
          channel.get(),
          grpc::internal::RpcMethod(kWatchMethod, grpc::internal::RpcMethod::SERVER_STREAMING),
          &ctx_, health_wire::EncodeRequest(service))) {}

HealthWatch::~HealthWatch() {
  if (finished_) return;
  ctx_.TryCancel();
  grpc::Status ignored = reader_->Finish();
  (void)ignored;
}

absl::StatusOr<HealthStatus> HealthWatch::Next() {
  if (finished_) return final_;
  grpc::ByteBuffer message;
  if (reader_->Read(&message)) return health_wire::DecodeResponse(message);
  finished_ = true;
  grpc::Status status = reader_->Finish();
  final_ = status.ok() ? absl::OutOfRangeError("health watch: stream ended")
                       : Annotate(FromGrpcStatus(status), "health watch");
  return final_;
}

void HealthWatch::Cancel() { ctx_.TryCancel(); }

}  // namespace berth::server
