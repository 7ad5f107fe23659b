// ResourceOwners over the internal admin APIs of berth's services: berth.content.v1.
// ContentAdmin (proto/berth/content/v1/admin.proto) and berth.snapshot.v1.SnapshotAdmin
// (proto/berth/snapshot/v1/admin.proto), which have the same shape. Each call goes to the
// backend's primary over the gateway's channel, with the CallContext's namespace, lease and
// deadline (bounded by `timeout`) written into the call; errors come back as absl::Status
// with the backend named when it cannot be reached.
//
// Thread-safety: safe from any thread.
#ifndef BERTH_GATEWAY_ADMIN_OWNERS_H_
#define BERTH_GATEWAY_ADMIN_OWNERS_H_

#include <grpcpp/channel.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/resource_owner.h"

namespace berth::gateway {

// `api` is a BackendConfig::internal_api value ("content", "snapshot"); `name` names the
// backend in messages. InvalidArgument for an unknown api.
absl::StatusOr<std::unique_ptr<ResourceOwner>> NewAdminOwner(const std::string& api,
                                                             std::string name,
                                                             std::shared_ptr<grpc::Channel> channel,
                                                             std::chrono::milliseconds timeout);

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_ADMIN_OWNERS_H_
