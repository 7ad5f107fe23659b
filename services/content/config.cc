#include "services/content/config.h"

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::content {

absl::StatusOr<ContentConfig> ParseContentConfig(server::ConfigSection& s) {
  ContentConfig c;
  ASSIGN_OR_RETURN(c.server, server::ParseServerConfig(s));
  ASSIGN_OR_RETURN(c.nats_url, s.GetString("nats_url", c.nats_url));
  if (!c.nats_url.empty() && c.nats_url.rfind("nats://", 0) != 0 &&
      c.nats_url.rfind("tls://", 0) != 0) {
    return s.InvalidValue(
        "nats_url", fmt::format("{:?}: expected nats://host:port or tls://host:port", c.nats_url));
  }
  ASSIGN_OR_RETURN(c.preallocate, s.GetBool("preallocate", c.preallocate));
  return c;
}

}  // namespace berth::content
