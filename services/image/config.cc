#include "services/image/config.h"

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::image {

absl::StatusOr<ImageConfig> ParseImageConfig(server::ConfigSection& s) {
  ImageConfig c;
  ASSIGN_OR_RETURN(c.server, server::ParseServerConfig(s));
  ASSIGN_OR_RETURN(c.nats_url, s.GetString("nats_url", c.nats_url));
  if (!c.nats_url.empty() && c.nats_url.rfind("nats://", 0) != 0 &&
      c.nats_url.rfind("tls://", 0) != 0) {
    return s.InvalidValue(
        "nats_url", fmt::format("{:?}: expected nats://host:port or tls://host:port", c.nats_url));
  }
  return c;
}

}  // namespace berth::image
