// SnapshotConfig: the `[snapshot]` section of berth's config file.
//
//   [snapshot]
//   address = "unix:///run/berth/snapshot.sock"   # shared keys: lib/server/config.h
//   root = "/var/lib/berth/snapshot"              # meta/, overlayfs/, native/, tmp/
//   metrics_address = "127.0.0.1:9103"
//   log_level = "info"
//   content_address = "unix:///run/berth/content.sock"  # where Diff reads and writes layers
//   nats_url = "nats://127.0.0.1:4222"            # "" publishes no events
//   snapshotters = ["overlayfs", "native"]        # which to serve
//   sync_fs = false                               # syncfs after each applied layer
//   prefetch = true                               # read+decompress on a thread ahead of untar
//
// Thread-safety: plain values; the parser is used by one thread.
#ifndef BERTH_SERVICES_SNAPSHOT_CONFIG_H_
#define BERTH_SERVICES_SNAPSHOT_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/server/config.h"

namespace berth::snapshot {

struct SnapshotConfig {
  // address, tls, metrics_address, log_level, root, state, ready_file, shutdown_timeout.
  server::ServerConfig server = server::DefaultServerConfig("snapshot");
  // The content service Diff.Apply reads layers from and Diff.Diff writes layers to
  // (unix:///path or tcp://host:port).
  std::string content_address = "unix:///run/berth/content.sock";
  // NATS server(s) events are published to; empty: no events.
  std::string nats_url = "nats://127.0.0.1:4222";
  // Snapshotters to serve, by name: "overlayfs", "native". At least one.
  std::vector<std::string> snapshotters = {"overlayfs", "native"};
  // FileSystemApplierOptions::sync_fs.
  bool sync_fs = false;
  // FileSystemApplierOptions::prefetch.
  bool prefetch = true;
};

// Parses and validates the section (unknown keys are LoadSection's business):
// content_address parses as a listen address, nats_url is empty or nats:// / tls://,
// snapshotters is non-empty, known and without repeats.
absl::StatusOr<SnapshotConfig> ParseSnapshotConfig(server::ConfigSection& section);

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_CONFIG_H_
