// A ResourceOwner for a backend whose only internal API is berth.gc.v1.Collectable (berth-image,
// berth-runtime): it holds no lease resources (so the lease calls do nothing and list nothing)
// and answers "what does this namespace still hold" from its object listing — which is how
// Namespaces.Delete learns that a namespace still has images or containers.
//
// Thread-safety: safe from any thread.
#ifndef BERTH_GATEWAY_COLLECTABLE_OWNER_H_
#define BERTH_GATEWAY_COLLECTABLE_OWNER_H_

#include <grpcpp/channel.h>

#include <chrono>
#include <memory>
#include <string>

#include "gateway/resource_owner.h"

namespace berth::gateway {

// `name` names the backend in messages; calls go over `channel` with at most `timeout` each.
std::unique_ptr<ResourceOwner> NewCollectableOwner(std::string name,
                                                   std::shared_ptr<grpc::Channel> channel,
                                                   std::chrono::milliseconds timeout);

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_COLLECTABLE_OWNER_H_
