// IntrospectionService: containerd.services.introspection.v1.Introspection.
//
//  - Plugins: what berth provides, under containerd's plugin types and ids: the gateway's
//    own (io.containerd.grpc.v1/namespaces, leases, events, version, introspection,
//    healthcheck; io.containerd.event.v1/exchange; io.containerd.lease.v1/manager) and each
//    backend's configured `plugins` (io.containerd.content.v1/content, ...). A plugin whose
//    backend failed its last health check carries init_err {UNAVAILABLE, the reason}; the
//    event exchange carries one while no event bus is configured. Filters (containerd
//    syntax) over `type` and `id`.
//  - Server: the instance UUID (persisted in the gateway's database on first start).
//
// Thread-safety: gRPC calls it from many threads; the Router is thread-safe.
#ifndef BERTH_GATEWAY_SERVER_INTROSPECTION_SERVICE_H_
#define BERTH_GATEWAY_SERVER_INTROSPECTION_SERVICE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "gateway/router.h"
#include "proto/containerd/services/introspection/v1/introspection.grpc.pb.h"

namespace berth::gateway {

class IntrospectionService final
    : public containerd::services::introspection::v1::Introspection::CallbackService {
 public:
  // `router` must outlive the service. `events_status` reports the event bus: OK, or why
  // events do not work (e.g. no NATS configured); may be empty (always OK).
  IntrospectionService(const Router* router, std::string uuid,
                       std::function<absl::Status()> events_status)
      : router_(router), uuid_(std::move(uuid)), events_status_(std::move(events_status)) {}

  grpc::ServerUnaryReactor* Plugins(
      grpc::CallbackServerContext* ctx,
      const containerd::services::introspection::v1::PluginsRequest* req,
      containerd::services::introspection::v1::PluginsResponse* resp) override;
  grpc::ServerUnaryReactor* Server(
      grpc::CallbackServerContext* ctx, const google::protobuf::Empty* req,
      containerd::services::introspection::v1::ServerResponse* resp) override;

 private:
  const Router* router_;
  const std::string uuid_;
  std::function<absl::Status()> events_status_;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_INTROSPECTION_SERVICE_H_
