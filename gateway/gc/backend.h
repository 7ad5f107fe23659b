// CollectableBackend: one service whose objects take part in garbage collection, as the
// collector sees it — berth.gc.v1.Collectable (proto/berth/gc/v1/gc.proto) behind a C++
// interface, so the collector can be tested over in-memory fakes.
//
// NewGrpcBackend speaks the API to a backend's primary over the gateway's channel; every call
// gets the deadline `timeout`, and a backend that cannot be reached (or does not answer in
// time) gives Unavailable / DeadlineExceeded naming it.
//
// Thread-safety: implementations are safe to call from any thread.
#ifndef BERTH_GATEWAY_GC_BACKEND_H_
#define BERTH_GATEWAY_GC_BACKEND_H_

#include <grpcpp/channel.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/berth/gc/v1/gc.pb.h"

namespace berth::gateway::gc {

class CollectableBackend {
 public:
  virtual ~CollectableBackend() = default;

  // The backend's name ("content"), as in [gateway.backends.<name>] and the ResourceOwner of
  // the same backend.
  virtual const std::string& name() const = 0;

  // Calls `fn` for every object the backend holds in `namespaces` (Collectable.ListObjects).
  // An error means the listing is incomplete: the caller must not trust what fn saw.
  virtual absl::Status List(const std::vector<std::string>& namespaces,
                            const std::function<void(berth::gc::v1::Object&&)>& fn) = 0;

  // Collectable.Sweep: one result per requested object. Unimplemented for a backend that
  // deletes nothing.
  virtual absl::StatusOr<berth::gc::v1::SweepResponse> Sweep(
      const berth::gc::v1::SweepRequest& request) = 0;
};

std::unique_ptr<CollectableBackend> NewGrpcBackend(std::string name,
                                                   std::shared_ptr<grpc::Channel> channel,
                                                   std::chrono::nanoseconds timeout);

}  // namespace berth::gateway::gc

#endif  // BERTH_GATEWAY_GC_BACKEND_H_
