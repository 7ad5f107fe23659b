// DialService: a long-lived channel from one berth process to another berth service.
//
// Why not grpc::CreateChannel: gRPC's default reconnect backoff grows to two minutes, so a
// service restarted after a crash stayed refused ("Connection refused") by its clients for
// up to that long after it was serving again. These channels retry the connection every
// 100 ms to 1 s, like the gateway's backend channels (gateway/router.cc), and carry the
// servers' message limits.
//
// Thread-safety: the returned channel is thread-safe; the function is pure.
#ifndef BERTH_LIB_SERVER_DIAL_H_
#define BERTH_LIB_SERVER_DIAL_H_

#include <grpcpp/channel.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace berth::server {

// Sets `args` to retry a lost connection after 100 ms, backing off to at most
// `max_reconnect_backoff` (under 100 ms: that). For every channel between berth processes.
void SetReconnectBackoff(grpc::ChannelArguments* args,
                         std::chrono::milliseconds max_reconnect_backoff);

// A channel to the service listening at `address` ("unix:///abs/path.sock" or
// "tcp://host:port", as in the config files), without TLS. Connects lazily: the service may
// start later. InvalidArgument for an address that does not parse.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::Channel>> DialService(
    const std::string& address,
    std::chrono::milliseconds max_reconnect_backoff = std::chrono::seconds(1));

}  // namespace berth::server

#endif  // BERTH_LIB_SERVER_DIAL_H_
