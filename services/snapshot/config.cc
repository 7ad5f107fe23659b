#include "services/snapshot/config.h"

#include <set>

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::snapshot {

absl::StatusOr<SnapshotConfig> ParseSnapshotConfig(server::ConfigSection& s) {
  SnapshotConfig c;
  ASSIGN_OR_RETURN(c.server, server::ParseServerConfig(s));
  ASSIGN_OR_RETURN(c.content_address, s.GetString("content_address", c.content_address));
  if (absl::StatusOr<server::ListenAddress> a = server::ParseListenAddress(c.content_address);
      !a.ok()) {
    return s.InvalidValue("content_address", std::string(a.status().message()));
  }
  ASSIGN_OR_RETURN(c.nats_url, s.GetString("nats_url", c.nats_url));
  if (!c.nats_url.empty() && c.nats_url.rfind("nats://", 0) != 0 &&
      c.nats_url.rfind("tls://", 0) != 0) {
    return s.InvalidValue(
        "nats_url", fmt::format("{:?}: expected nats://host:port or tls://host:port", c.nats_url));
  }
  ASSIGN_OR_RETURN(c.snapshotters, s.GetStringArray("snapshotters", c.snapshotters));
  if (c.snapshotters.empty()) return s.InvalidValue("snapshotters", "at least one is needed");
  std::set<std::string> seen;
  for (const std::string& name : c.snapshotters) {
    if (name != "overlayfs" && name != "native") {
      return s.InvalidValue("snapshotters",
                            fmt::format("unknown snapshotter {:?} (overlayfs, native)", name));
    }
    if (!seen.insert(name).second) {
      return s.InvalidValue("snapshotters", fmt::format("{:?} listed twice", name));
    }
  }
  ASSIGN_OR_RETURN(c.sync_fs, s.GetBool("sync_fs", c.sync_fs));
  ASSIGN_OR_RETURN(c.prefetch, s.GetBool("prefetch", c.prefetch));
  return c;
}

}  // namespace berth::snapshot
