#include "lib/server/call_context.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "lib/identifiers/identifiers.h"
#include "lib/log/log.h"
#include "lib/status/status.h"

namespace berth::server {
namespace {

// The first value of metadata `key`, or nullopt. gRPC keeps repeated keys in arrival order
// (a multimap keeps insertion order among equal keys), so this is the first one sent.
std::optional<std::string> FirstValue(const grpc::ServerContextBase& ctx, const char* key) {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find(key);
  if (it == metadata.end()) return std::nullopt;
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

absl::StatusOr<CallContext> FromServer(grpc::ServerContextBase* ctx, bool namespace_required) {
  CallContext call;
  if (std::optional<std::string> ns = FirstValue(*ctx, kNamespaceMetadataKey); ns.has_value()) {
    call.ns = std::move(*ns);
  }
  if (call.ns.empty()) {
    if (namespace_required) return FailedPreconditionError("namespace is required");
  } else {
    RETURN_IF_ERROR(Annotate(identifiers::Validate(call.ns), "namespace validation"));
  }
  if (std::optional<std::string> lease = FirstValue(*ctx, kLeaseMetadataKey); lease.has_value()) {
    call.lease = std::move(*lease);
  }
  // gRPC reports "no deadline" as time_point::max(), which is CallContext's "none" too.
  call.deadline = ctx->deadline();
  call.cancelled = CancellationCheck(ctx);
  return call;
}

std::function<bool()> CancellationCheck(grpc::ServerContextBase* ctx) {
  struct State {
    std::atomic<int64_t> next_ns{0};
    std::atomic<bool> cancelled{false};
  };
  auto state = std::make_shared<State>();
  return [ctx, state] {
    if (state->cancelled.load(std::memory_order_acquire)) return true;
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    if (now < state->next_ns.load(std::memory_order_relaxed)) return false;
    state->next_ns.store(now + 1'000'000, std::memory_order_relaxed);
    if (!ctx->IsCancelled()) return false;
    state->cancelled.store(true, std::memory_order_release);
    return true;
  };
}

void ToClient(const CallContext& call, grpc::ClientContext* ctx) {
  if (!call.ns.empty()) ctx->AddMetadata(kNamespaceMetadataKey, call.ns);
  if (!call.lease.empty()) ctx->AddMetadata(kLeaseMetadataKey, call.lease);
  if (call.deadline != std::chrono::system_clock::time_point::max()) {
    ctx->set_deadline(call.deadline);
  }
}

namespace internal {

grpc::Status StrayException(const char* what) {
  const std::string reason = what == nullptr ? "unknown exception" : what;
  log::Error("gRPC handler threw an exception error={:?}", reason);
  return grpc::Status(grpc::StatusCode::INTERNAL, "internal error: " + reason);
}

}  // namespace internal
}  // namespace berth::server
