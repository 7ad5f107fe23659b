// ImageConfig: the `[image]` section of berth's config file.
//
//   [image]
//   address = "unix:///run/berth/image.sock"     # shared keys: lib/server/config.h
//   root = "/var/lib/berth/image"                # RocksDB (image records) in root/meta
//   state = "/run/berth/image"
//   metrics_address = ""                         # Prometheus: gRPC calls by method and code
//   log_level = "info"
//   nats_url = "nats://127.0.0.1:4222"           # "" publishes no events
//   # Server-side pull (berth.image.v1.Pull, services/image/pull/):
//   content_address = "unix:///run/berth/content.sock"    # where blobs are stored
//   snapshot_address = "unix:///run/berth/snapshot.sock"  # Snapshots and Diff, for unpack
//   gateway_address = "unix:///run/berth/berth.sock"      # Leases, Namespaces ("" = no lease)
//   hosts_dir = "/etc/berth/certs.d:/etc/containerd/certs.d"  # hosts.toml roots, ':'-separated
//   docker_config = ""                           # registry credentials (config.json); "" none
//   default_snapshotter = "overlayfs"            # when neither request nor namespace names one
//   max_concurrent_downloads = 3                 # layers one pull fetches at once
//   max_concurrent_downloads_total = 12          # blobs all pulls together fetch at once
//
// Thread-safety: plain values; the parser is used by one thread.
#ifndef BERTH_SERVICES_IMAGE_CONFIG_H_
#define BERTH_SERVICES_IMAGE_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "lib/server/config.h"

namespace berth::image {

struct ImageConfig {
  // address, tls, metrics_address, log_level, root, state, ready_file, shutdown_timeout.
  server::ServerConfig server = server::DefaultServerConfig("image");
  // NATS server(s) events are published to; empty: no events.
  std::string nats_url = "nats://127.0.0.1:4222";
  // The content service the pull stores blobs in.
  std::string content_address = "unix:///run/berth/content.sock";
  // The snapshot service (Snapshots, Diff) the pull unpacks through.
  std::string snapshot_address = "unix:///run/berth/snapshot.sock";
  // The gateway, for the pull's lease and the namespace's default snapshotter; empty: pulls
  // take no lease (what they store may be collected before the image record exists).
  std::string gateway_address = "unix:///run/berth/berth.sock";
  // hosts.toml roots, searched in order (containerd's config_path); ':'-separated.
  std::string hosts_dir = "/etc/berth/certs.d:/etc/containerd/certs.d";
  // Docker config.json with registry credentials; empty: anonymous unless a request brings
  // credentials. A file that does not exist means no credentials.
  std::string docker_config;
  // Snapshotter for unpack when neither the request nor the namespace label names one.
  std::string default_snapshotter = "overlayfs";
  // Layers one pull fetches at once, and blobs all pulls together fetch at once.
  int64_t max_concurrent_downloads = 3;
  int64_t max_concurrent_downloads_total = 12;
};

// Parses and validates the section (unknown keys are LoadSection's business). nats_url must
// be empty or start with nats:// or tls://; content_address, snapshot_address and (when not
// empty) gateway_address must parse as addresses; docker_config must be empty or absolute;
// default_snapshotter must not be empty; the download limits are 1..1024.
absl::StatusOr<ImageConfig> ParseImageConfig(server::ConfigSection& section);

}  // namespace berth::image

#endif  // BERTH_SERVICES_IMAGE_CONFIG_H_
