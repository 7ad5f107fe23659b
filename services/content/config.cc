#include "services/content/config.h"

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::content {

absl::StatusOr<std::string> ReplicaAddress(const std::string& tmpl, int n, bool metrics) {
  static constexpr char kPlaceholder[] = "{n}";
  const std::string prefix = metrics ? "tcp://" : "";
  if (tmpl.find(kPlaceholder) != std::string::npos) {
    const std::string number = std::to_string(n);
    std::string out;
    size_t pos = 0;
    size_t at = tmpl.find(kPlaceholder);
    while (at != std::string::npos) {
      out.append(tmpl, pos, at - pos);
      out += number;
      pos = at + sizeof(kPlaceholder) - 1;
      at = tmpl.find(kPlaceholder, pos);
    }
    out.append(tmpl, pos, std::string::npos);
    RETURN_IF_ERROR(server::ParseListenAddress(prefix + out).status());
    return out;
  }
  ASSIGN_OR_RETURN(server::ListenAddress address, server::ParseListenAddress(prefix + tmpl));
  if (address.kind == server::ListenAddress::Kind::kUnix) {
    return InvalidArgumentError(fmt::format(
        "replica address {:?}: a unix socket path must contain {{n}} (the replica's number)",
        tmpl));
  }
  if (address.port != 0) {
    address.port += n - 1;
    if (address.port > 65535) {
      return InvalidArgumentError(
          fmt::format("replica address {:?}: replica {} would be on port {}, past 65535", tmpl, n,
                      address.port));
    }
  }
  std::string out = address.ToString();
  return metrics ? out.substr(prefix.size()) : out;
}

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

  ASSIGN_OR_RETURN(int64_t replicas, s.GetInt("replicas", c.replicas, 0, kMaxReplicas));
  c.replicas = static_cast<int>(replicas);
  ASSIGN_OR_RETURN(c.replica_address, s.GetString("replica_address", c.replica_address));
  if (absl::StatusOr<std::string> a = ReplicaAddress(c.replica_address, 1, false); !a.ok()) {
    return s.InvalidValue("replica_address", std::string(a.status().message()));
  }
  ASSIGN_OR_RETURN(c.replica_metrics_address,
                   s.GetString("replica_metrics_address", c.replica_metrics_address));
  if (!c.replica_metrics_address.empty()) {
    if (absl::StatusOr<std::string> a = ReplicaAddress(c.replica_metrics_address, 1, true);
        !a.ok()) {
      return s.InvalidValue("replica_metrics_address", std::string(a.status().message()));
    }
  }
  ASSIGN_OR_RETURN(c.catch_up_interval, s.GetDuration("catch_up_interval", c.catch_up_interval));
  return c;
}

absl::StatusOr<ContentConfig> ReplicaConfig(const ContentConfig& primary, int n) {
  if (n < 1 || n > kMaxReplicas) {
    return InvalidArgumentError(
        fmt::format("replica number {} out of range 1..{}", n, kMaxReplicas));
  }
  ContentConfig c = primary;
  ASSIGN_OR_RETURN(c.server.address, ReplicaAddress(primary.replica_address, n, false));
  c.server.metrics_address.clear();
  if (!primary.replica_metrics_address.empty()) {
    ASSIGN_OR_RETURN(c.server.metrics_address,
                     ReplicaAddress(primary.replica_metrics_address, n, true));
  }
  c.server.state = fmt::format("{}/replica-{}", primary.server.state, n);
  c.server.ready_file.clear();
  c.nats_url.clear();
  return c;
}

}  // namespace berth::content
