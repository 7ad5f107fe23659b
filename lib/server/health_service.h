// HealthService: grpc.health.v1.Health (Check and Watch) as every berth server serves it,
// implemented here rather than with gRPC's default service for two reasons: gRPC's default
// one is added only after ServerBuilder has checked that the server has some method to
// poll, so a server with no other service fails to start; and its Watch streams stay open
// through a graceful shutdown, holding it up for the whole grace period. Here, Shutdown()
// sends NOT_SERVING to every watcher and ends their streams (UNAVAILABLE "server is shutting
// down"), so watchers (the gateway, load balancers) see the change and do not delay exit.
//
// Statuses are per service name; "" is the server as a whole and starts NOT_SERVING until
// Server marks it SERVING once it is listening. Check of an unknown name -> NOT_FOUND; Watch
// of one sends SERVICE_UNKNOWN and then any later status, as the gRPC health spec says.
// Callback API: no thread is tied up by an open Watch.
//
// Thread-safety: all methods are thread-safe. Must outlive the grpc::Server it is registered
// with, and the server must be shut down before it is destroyed.
#ifndef BERTH_LIB_SERVER_HEALTH_SERVICE_H_
#define BERTH_LIB_SERVER_HEALTH_SERVICE_H_

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "lib/server/health_wire.h"

namespace berth::server {

class HealthService final : public grpc::Service, public grpc::HealthCheckServiceInterface {
 public:
  HealthService();
  ~HealthService() override;

  // Sets the status of `service_name` (adding it); ignored after Shutdown().
  void SetServingStatus(const std::string& service_name, bool serving) override;
  // Sets the status of every known service name; ignored after Shutdown().
  void SetServingStatus(bool serving) override;
  // Every service NOT_SERVING for good; open Watch streams get that and are ended.
  void Shutdown() override;

  // The current status of `service_name` (kServiceUnknown for a name never set).
  HealthStatus Status(const std::string& service_name) const;

 private:
  class Watcher;

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response);
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Watch(grpc::CallbackServerContext* ctx,
                                                    const grpc::ByteBuffer* request);
  // Sends `name`'s current status to its watchers (and ends their streams if `finish`).
  void NotifyWatchers(const std::string& name, bool finish);
  void Unregister(Watcher* watcher);

  mutable std::mutex mu_;
  std::map<std::string, bool> serving_;  // guarded by mu_
  std::set<Watcher*> watchers_;          // guarded by mu_
  bool shutdown_ = false;                // guarded by mu_
};

}  // namespace berth::server

#endif  // BERTH_LIB_SERVER_HEALTH_SERVICE_H_
