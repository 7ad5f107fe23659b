// The gRPC edge of berth::CallContext (lib/context/call_context.h): servers fill one from
// the incoming call's metadata and deadline, proxies write one into the calls they make, and
// GrpcHandler turns a handler body's absl::Status (or a stray exception) into the
// grpc::Status the handler returns.
//
//   grpc::Status Info(grpc::ServerContext* ctx, const InfoRequest* req,
//                     InfoResponse* resp) override {
//     return server::GrpcHandler(ctx, /*namespace_required=*/true,
//                                [&](const CallContext& call) -> absl::Status {
//       ASSIGN_OR_RETURN(content::Info info, store_->Info(call, req->digest()));
//       ...
//       return absl::OkStatus();
//     });
//   }
//
// Thread-safety: pure functions. A CallContext from FromServer() refers to the
// grpc::ServerContextBase for its `cancelled` check: use it only while the call is running.
#ifndef BERTH_LIB_SERVER_CALL_CONTEXT_H_
#define BERTH_LIB_SERVER_CALL_CONTEXT_H_

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <exception>
#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "lib/status/grpc_status.h"

namespace berth::server {

// Reads the call's namespace (metadata `containerd-namespace`, the first value when repeated,
// as containerd), lease (`containerd-lease`), deadline (time_point::max() when none) and
// cancellation (ctx->IsCancelled()). The namespace, when present, must pass
// berth::identifiers::Validate -> InvalidArgument "namespace validation: ...". A missing or
// empty namespace when `namespace_required` -> FailedPrecondition "namespace is required",
// which is what containerd 1.6 returns (namespaces.NamespaceRequired wraps
// errdefs.ErrFailedPrecondition); without `namespace_required` it leaves `ns` empty.
// Works for sync (grpc::ServerContext) and callback (grpc::CallbackServerContext) handlers.
[[nodiscard]] absl::StatusOr<CallContext> FromServer(grpc::ServerContextBase* ctx,
                                                     bool namespace_required);

// A cheap check of whether `ctx`'s call was cancelled, for CallContext::cancelled. gRPC's
// IsCancelled on a sync server call plucks the call's completion queue (locks, syscalls,
// futex wake-ups); loops that ask once per item, such as a List of 10,000 blobs, spent most
// of their time there. This asks gRPC at most once per millisecond and remembers a "yes".
// Valid while the call runs; safe from any thread.
std::function<bool()> CancellationCheck(grpc::ServerContextBase* ctx);

// Writes `call`'s namespace and lease (when non-empty) into `ctx`'s metadata and its
// deadline (when set) into `ctx`, for a proxy forwarding the call. `ctx` must be fresh
// (gRPC forbids adding metadata after a call started).
void ToClient(const CallContext& call, grpc::ClientContext* ctx);

namespace internal {
// Logs a C++ exception that escaped a handler and returns the Internal status for it.
// `what` is null for an exception not derived from std::exception.
grpc::Status StrayException(const char* what);
}  // namespace internal

// Runs a handler body returning absl::Status and converts the result with ToGrpcStatus; an
// exception escaping the body becomes Internal and is logged (STYLE.md: no exception crosses
// a module boundary, a handler turns a stray one into Internal).
template <typename Body>
grpc::Status GrpcHandler(Body&& body) {
  try {
    return ToGrpcStatus(std::forward<Body>(body)());
  } catch (const std::exception& e) {
    return internal::StrayException(e.what());
  } catch (...) {
    return internal::StrayException(nullptr);
  }
}

// As above, first filling a CallContext with FromServer(ctx, namespace_required); a
// context error is returned without running the body. Body: absl::Status(const CallContext&).
template <typename Body>
grpc::Status GrpcHandler(grpc::ServerContextBase* ctx, bool namespace_required, Body&& body) {
  return GrpcHandler([&]() -> absl::Status {
    absl::StatusOr<CallContext> call = FromServer(ctx, namespace_required);
    if (!call.ok()) return call.status();
    return std::forward<Body>(body)(*call);
  });
}

}  // namespace berth::server

#endif  // BERTH_LIB_SERVER_CALL_CONTEXT_H_
