// CallContext: what every berth interface method receives first, as containerd's Go code
// receives a context.Context — the namespace and lease of the call, its deadline, and a way
// to ask whether the caller has gone away.
//
// Servers fill it once per call from gRPC metadata (`containerd-namespace`,
// `containerd-lease`); proxies write it back into the metadata of the calls they forward.
// A plain value type: copy it freely; `cancelled` must be safe to call from any thread.
#ifndef BERTH_LIB_CONTEXT_CALL_CONTEXT_H_
#define BERTH_LIB_CONTEXT_CALL_CONTEXT_H_

#include <chrono>
#include <functional>
#include <string>

namespace berth {

// gRPC metadata keys containerd uses for the namespace and the lease of a call.
inline constexpr char kNamespaceMetadataKey[] = "containerd-namespace";
inline constexpr char kLeaseMetadataKey[] = "containerd-lease";

struct CallContext {
  // Namespace of the call; empty when the caller sent none (services that need one reply
  // FailedPrecondition "namespace is required", as containerd 1.6 does).
  std::string ns;
  // Lease id from `containerd-lease`; empty when the call carries no lease.
  std::string lease;
  // Absolute deadline of the call; time_point::max() when the caller set none.
  std::chrono::system_clock::time_point deadline = std::chrono::system_clock::time_point::max();
  // Returns true once the caller cancelled or went away. Unset means "never cancelled".
  std::function<bool()> cancelled;

  bool IsCancelled() const { return cancelled && cancelled(); }

  // A context for work berth starts itself (startup reconciliation, GC, tests).
  static CallContext Background(std::string ns = "") {
    CallContext ctx;
    ctx.ns = std::move(ns);
    return ctx;
  }
};

}  // namespace berth

#endif  // BERTH_LIB_CONTEXT_CALL_CONTEXT_H_
