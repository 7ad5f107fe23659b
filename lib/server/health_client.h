// A client for the standard grpc.health.v1.Health service that every berth server answers
// (lib/server/health_service.h): for the gateway checking the services behind it, the local
// launcher and tests.
//
// Thread-safety: CheckHealth is safe from any thread. A HealthWatch is used by one thread,
// except Cancel(), which may be called from any thread.
#ifndef BERTH_LIB_SERVER_HEALTH_CLIENT_H_
#define BERTH_LIB_SERVER_HEALTH_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/server/health_wire.h"

namespace berth::server {

// Calls Health/Check for `service` ("" = the server as a whole). The RPC's error (Unavailable
// when nothing listens, NotFound for a service the server does not know, DeadlineExceeded
// after `timeout`) is returned as an absl::Status.
[[nodiscard]] absl::StatusOr<HealthStatus> CheckHealth(
    grpc::Channel& channel, const std::string& service = "",
    std::chrono::milliseconds timeout = std::chrono::seconds(5));

// A Health/Watch stream: the server sends the current status at once and every change after.
class HealthWatch {
 public:
  explicit HealthWatch(const std::shared_ptr<grpc::Channel>& channel,
                       const std::string& service = "");
  ~HealthWatch();

  // Blocks for the next status. When the stream has ended: the RPC's final status
  // (Cancelled after Cancel(), Unavailable when the server went away, ...; OutOfRange if
  // the server ended it with OK), again on every later call.
  [[nodiscard]] absl::StatusOr<HealthStatus> Next();

  // Ends the stream; a blocked Next() returns.
  void Cancel();

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader_;
  // Set once Finish() was called (it may be called only once); final_ is its result.
  bool finished_ = false;
  absl::Status final_;
};

}  // namespace berth::server

#endif  // BERTH_LIB_SERVER_HEALTH_CLIENT_H_
