#include "services/runtime/config.h"

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::runtime {

absl::StatusOr<RuntimeConfig> ParseRuntimeConfig(server::ConfigSection& s) {
  RuntimeConfig c;
  ASSIGN_OR_RETURN(c.server, server::ParseServerConfig(s));
  ASSIGN_OR_RETURN(c.nats_url, s.GetString("nats_url", c.nats_url));
  if (!c.nats_url.empty() && c.nats_url.rfind("nats://", 0) != 0 &&
      c.nats_url.rfind("tls://", 0) != 0) {
    return s.InvalidValue(
        "nats_url", fmt::format("{:?}: expected nats://host:port or tls://host:port", c.nats_url));
  }
  ASSIGN_OR_RETURN(c.default_runtime, s.GetString("default_runtime", c.default_runtime));
  if (c.default_runtime.empty() || c.default_runtime.find_first_of(" \t\n") != std::string::npos) {
    return s.InvalidValue(
        "default_runtime",
        fmt::format("{:?}: expected a binary name or absolute path", c.default_runtime));
  }
  ASSIGN_OR_RETURN(c.shim_binary, s.GetString("shim_binary", c.shim_binary));
  if (!c.shim_binary.empty() && c.shim_binary[0] != '/') {
    return s.InvalidValue("shim_binary",
                          fmt::format("{:?}: expected an absolute path", c.shim_binary));
  }
  return c;
}

}  // namespace berth::runtime
