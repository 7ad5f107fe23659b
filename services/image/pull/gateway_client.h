// What a pull asks of the gateway, which owns leases and namespaces:
//
//   LeaseManager        create the pull's lease and delete it at the end (containerd's
//                       leases.Manager, the part a pull uses);
//   NamespaceLabels     the namespace's labels, for `containerd.io/defaults/snapshotter`.
//
// GatewayClient implements both over containerd.services.leases.v1.Leases and
// containerd.services.namespaces.v1.Namespaces on a gRPC channel to the gateway (what
// `ctr images pull` calls too). Every call carries the CallContext's namespace.
//
// Thread-safety: safe from any thread (gRPC stubs are).
#ifndef BERTH_SERVICES_IMAGE_PULL_GATEWAY_CLIENT_H_
#define BERTH_SERVICES_IMAGE_PULL_GATEWAY_CLIENT_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace berth::image::pull {

class LeaseManager {
 public:
  virtual ~LeaseManager() = default;

  // Creates a lease with a fresh id and `labels` in ctx's namespace and returns its id.
  // FailedPrecondition without a namespace, InvalidArgument for bad labels, Unavailable when
  // the gateway cannot be reached.
  virtual absl::StatusOr<std::string> Create(const CallContext& ctx,
                                             const std::map<std::string, std::string>& labels) = 0;

  // Deletes lease `id` of ctx's namespace (what it held becomes collectable). NotFound when
  // there is no such lease.
  virtual absl::Status Delete(const CallContext& ctx, const std::string& id) = 0;
};

class NamespaceLabels {
 public:
  virtual ~NamespaceLabels() = default;

  // The labels of ctx's namespace (empty for a namespace without labels, or one not created
  // yet, as containerd's Namespaces.Get answers).
  virtual absl::StatusOr<std::map<std::string, std::string>> Labels(const CallContext& ctx) = 0;
};

class GatewayClient final : public LeaseManager, public NamespaceLabels {
 public:
  explicit GatewayClient(std::shared_ptr<grpc::Channel> channel);
  ~GatewayClient() override;

  absl::StatusOr<std::string> Create(const CallContext& ctx,
                                     const std::map<std::string, std::string>& labels) override;
  absl::Status Delete(const CallContext& ctx, const std::string& id) override;
  absl::StatusOr<std::map<std::string, std::string>> Labels(const CallContext& ctx) override;

 private:
  struct Stubs;
  std::unique_ptr<Stubs> stubs_;
};

}  // namespace berth::image::pull

#endif  // BERTH_SERVICES_IMAGE_PULL_GATEWAY_CLIENT_H_
