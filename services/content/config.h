// ContentConfig: the `[content]` section of berth's config file.
//
//   [content]
//   address = "unix:///run/berth/content.sock"   # shared keys: lib/server/config.h
//   root = "/var/lib/berth/content"
//   metrics_address = "127.0.0.1:9102"
//   log_level = "info"
//   nats_url = "nats://127.0.0.1:4222"           # "" publishes no events
//   preallocate = true                           # reserve declared sizes (LocalStoreOptions)
//   # read replicas (`berth-content --replica N`, systemd `berth-content@N`)
//   replicas = 0                                 # how many deploy/berth-up starts
//   replica_address = "unix:///run/berth/content-replica-{n}.sock"
//   replica_metrics_address = ""                 # e.g. "127.0.0.1:10321"; "" none
//   catch_up_interval = "100ms"                  # how often a replica follows the primary
//
// A read replica is the same binary with `--replica N` (N >= 1): it opens the primary's
// root read-only (RocksDB secondary instance), serves the reads, and refuses writes with
// FailedPrecondition naming the primary. ReplicaConfig() derives its settings from this
// section (ReplicaAddress: `{n}` becomes N, or a TCP port P becomes P + N - 1).
//
// Thread-safety: plain values; the parser is used by one thread.
#ifndef BERTH_SERVICES_CONTENT_CONFIG_H_
#define BERTH_SERVICES_CONTENT_CONFIG_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "lib/server/config.h"

namespace berth::content {

// Most read replicas one primary may have (`replicas`, `--replica N`).
inline constexpr int kMaxReplicas = 64;

struct ContentConfig {
  // address, tls, metrics_address, log_level, root, state, ready_file, shutdown_timeout.
  server::ServerConfig server = server::DefaultServerConfig("content");
  // NATS server(s) events are published to; empty: no events.
  std::string nats_url = "nats://127.0.0.1:4222";
  // LocalStoreOptions::preallocate.
  bool preallocate = true;
  // Number of read replicas deploy/berth-up starts next to the primary (and lists after it
  // in the gateway's content backend). The content process itself does not use it: under
  // systemd each replica is a `berth-content@N` instance, listed in
  // [gateway.backends.content] addresses by hand. 0..kMaxReplicas.
  int replicas = 0;
  // Listen address of replica N, per ReplicaAddress(): a unix path with "{n}", or a TCP
  // address whose port is replica 1's ("tcp://10.0.0.5:10401": replica 2 on 10402).
  std::string replica_address = "unix:///run/berth/content-replica-{n}.sock";
  // Metrics "host:port" of replica N, per ReplicaAddress() ("127.0.0.1:10321": replica 1 on
  // 10321, replica 2 on 10322); empty: replicas serve no metrics.
  std::string replica_metrics_address;
  // How often a replica catches up with the primary's metadata in the background. A read
  // that misses (a blob or ingest the replica does not know yet) catches up at once and
  // retries, and List catches up first, so what the primary committed before a read started
  // is found; this interval bounds how long a replica may still show a blob the primary
  // deleted or labels it changed. 0: only on misses and before List.
  std::chrono::nanoseconds catch_up_interval = std::chrono::milliseconds(100);
};

// Parses and validates the section (unknown keys are LoadSection's business). nats_url must
// be empty or start with nats:// or tls://; replica_address and replica_metrics_address
// must give valid addresses through ReplicaAddress().
absl::StatusOr<ContentConfig> ParseContentConfig(server::ConfigSection& section);

// The configuration of read replica `n` (1..kMaxReplicas) of the primary `primary`:
//  - server.address, server.metrics_address: ReplicaAddress() of the replica templates;
//  - server.state: "<primary state>/replica-<n>" (the secondary database's own files);
//  - server.ready_file: "" (main's --ready-file sets one);
//  - server.root, tls, log level, timeouts: the primary's (root is opened read-only);
//  - nats_url: "" (a replica changes nothing, so it publishes nothing).
// InvalidArgument for n out of range or a template that gives no valid address for n.
absl::StatusOr<ContentConfig> ReplicaConfig(const ContentConfig& primary, int n);

// The address of replica `n` from a replica template: every "{n}" replaced by n; without
// "{n}", a TCP port P (not 0) becomes P + n - 1 and port 0 stays 0. `metrics`: the template
// is "host:port" (metrics_address syntax) rather than a listen address. InvalidArgument for
// a unix path without "{n}" (replicas would share it), a port past 65535, or a result that
// does not parse.
absl::StatusOr<std::string> ReplicaAddress(const std::string& tmpl, int n, bool metrics);

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_CONFIG_H_
