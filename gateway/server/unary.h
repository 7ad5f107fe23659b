// Unary: the body of every unary callback-API handler of the gateway's own services.
//
//   grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx, const Req* req,
//                                 Resp* resp) override {
//     return Unary(ctx, /*namespace_required=*/false, [&](const CallContext& call) { ... });
//   }
//
// Runs the body at once on the gRPC thread (the gateway's handlers are short: a RocksDB
// access, at most a few calls to backends bounded by backend_timeout), converting its
// absl::Status with lib/server's GrpcHandler (a stray exception -> Internal).
//
// Thread-safety: stateless.
#ifndef BERTH_GATEWAY_SERVER_UNARY_H_
#define BERTH_GATEWAY_SERVER_UNARY_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <utility>

#include "lib/server/call_context.h"

namespace berth::gateway {

template <typename Body>
grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, bool namespace_required,
                                Body&& body) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(server::GrpcHandler(ctx, namespace_required, std::forward<Body>(body)));
  return reactor;
}

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_UNARY_H_
