// ImageConfig: the `[image]` section of berth's config file.
//
//   [image]
//   address = "unix:///run/berth/image.sock"     # shared keys: lib/server/config.h
//   root = "/var/lib/berth/image"                # RocksDB (image records) in root/meta
//   state = "/run/berth/image"
//   metrics_address = ""                         # Prometheus: gRPC calls by method and code
//   log_level = "info"
//   nats_url = "nats://127.0.0.1:4222"           # "" publishes no events
//
// Thread-safety: plain values; the parser is used by one thread.
#ifndef BERTH_SERVICES_IMAGE_CONFIG_H_
#define BERTH_SERVICES_IMAGE_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "lib/server/config.h"

namespace berth::image {

struct ImageConfig {
  // address, tls, metrics_address, log_level, root, state, ready_file, shutdown_timeout.
  server::ServerConfig server = server::DefaultServerConfig("image");
  // NATS server(s) events are published to; empty: no events.
  std::string nats_url = "nats://127.0.0.1:4222";
};

// Parses and validates the section (unknown keys are LoadSection's business). nats_url must
// be empty or start with nats:// or tls://.
absl::StatusOr<ImageConfig> ParseImageConfig(server::ConfigSection& section);

}  // namespace berth::image

#endif  // BERTH_SERVICES_IMAGE_CONFIG_H_
