// ContentConfig: the `[content]` section of berth's config file.
//
//   [content]
//   address = "unix:///run/berth/content.sock"   # shared keys: lib/server/config.h
//   root = "/var/lib/berth/content"
//   metrics_address = "127.0.0.1:9102"
//   log_level = "info"
//   nats_url = "nats://127.0.0.1:4222"           # "" publishes no events
//   preallocate = true                           # reserve declared sizes (LocalStoreOptions)
//
// Thread-safety: plain values; the parser is used by one thread.
#ifndef BERTH_SERVICES_CONTENT_CONFIG_H_
#define BERTH_SERVICES_CONTENT_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "lib/server/config.h"

namespace berth::content {

struct ContentConfig {
  // address, tls, metrics_address, log_level, root, state, ready_file, shutdown_timeout.
  server::ServerConfig server = server::DefaultServerConfig("content");
  // NATS server(s) events are published to; empty: no events.
  std::string nats_url = "nats://127.0.0.1:4222";
  // LocalStoreOptions::preallocate.
  bool preallocate = true;
};

// Parses and validates the section (unknown keys are LoadSection's business). nats_url must
// be empty or start with nats:// or tls://.
absl::StatusOr<ContentConfig> ParseContentConfig(server::ConfigSection& section);

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_CONFIG_H_
