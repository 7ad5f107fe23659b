#include "lib/server/dial.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <climits>

#include "lib/server/config.h"
#include "lib/server/server.h"
#include "lib/status/status.h"

namespace berth::server {

void SetReconnectBackoff(grpc::ChannelArguments* args,
                         std::chrono::milliseconds max_reconnect_backoff) {
  const int max_backoff =
      static_cast<int>(std::clamp<long long>(max_reconnect_backoff.count(), 1, INT_MAX));
  const int initial = std::min(100, max_backoff);
  args->SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, initial);
  args->SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, initial);
  args->SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> DialService(
    const std::string& address, std::chrono::milliseconds max_reconnect_backoff) {
  ASSIGN_OR_RETURN(ListenAddress parsed, ParseListenAddress(address));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageSize);
  args.SetMaxSendMessageSize(kMaxMessageSize);
  SetReconnectBackoff(&args, max_reconnect_backoff);
  return grpc::CreateCustomChannel(parsed.GrpcTarget(), grpc::InsecureChannelCredentials(), args);
}

}  // namespace berth::server
