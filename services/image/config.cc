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
  auto address = [&](const char* key, std::string* value, bool may_be_empty) -> absl::Status {
    ASSIGN_OR_RETURN(*value, s.GetString(key, *value));
    if (may_be_empty && value->empty()) return absl::OkStatus();
    if (absl::StatusOr<server::ListenAddress> a = server::ParseListenAddress(*value); !a.ok()) {
      return s.InvalidValue(key, std::string(a.status().message()));
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(address("content_address", &c.content_address, false));
  RETURN_IF_ERROR(address("snapshot_address", &c.snapshot_address, false));
  RETURN_IF_ERROR(address("gateway_address", &c.gateway_address, true));
  ASSIGN_OR_RETURN(c.hosts_dir, s.GetString("hosts_dir", c.hosts_dir));
  ASSIGN_OR_RETURN(c.docker_config, s.GetString("docker_config", c.docker_config));
  if (!c.docker_config.empty() && c.docker_config.front() != '/') {
    return s.InvalidValue("docker_config",
                          fmt::format("{:?}: must be an absolute path", c.docker_config));
  }
  ASSIGN_OR_RETURN(c.default_snapshotter,
                   s.GetString("default_snapshotter", c.default_snapshotter));
  if (c.default_snapshotter.empty()) {
    return s.InvalidValue("default_snapshotter", "must not be empty");
  }
  ASSIGN_OR_RETURN(c.max_concurrent_downloads,
                   s.GetInt("max_concurrent_downloads", c.max_concurrent_downloads, 1, 1024));
  ASSIGN_OR_RETURN(
      c.max_concurrent_downloads_total,
      s.GetInt("max_concurrent_downloads_total", c.max_concurrent_downloads_total, 1, 1024));
  return c;
}

}  // namespace berth::image
