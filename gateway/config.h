// GatewayConfig: the `[gateway]` section of berth's config file, parsed and validated.
//
//   [gateway]
//   address = "unix:///run/berth/berth.sock"     # + every key lib/server's ServerConfig reads
//   nats_url = "nats://127.0.0.1:4222"
//   [gateway.backends.content]
//   services = ["containerd.services.content.v1.Content"]
//   addresses = ["unix:///run/berth/content.sock"]   # first = primary; all serve reads
//   read_methods = ["Info", "List", "Read", "Status", "ListStatuses"]
//   plugins = ["io.containerd.content.v1/content", "io.containerd.grpc.v1/content"]
//   internal_api = "content"                     # namespace usage + lease resources
//   lease_resources = ["content", "ingests"]
//
// deploy/config.toml documents every key with its default. A backend table is the set of
// containerd services one berth process serves; the gateway forwards their calls unchanged.
//
// Thread-safety: plain values.
#ifndef BERTH_GATEWAY_CONFIG_H_
#define BERTH_GATEWAY_CONFIG_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/gc/config.h"
#include "lib/server/config.h"

namespace berth::gateway {

// Default public socket: what `ctr -a` is pointed at.
inline constexpr char kDefaultAddress[] = "unix:///run/berth/berth.sock";

// TLS for the gateway's connections to a backend on another host, `[gateway.backends.X.tls]`.
struct ClientTlsConfig {
  // PEM file with the CAs that sign the backend's certificate. Required. Absolute path.
  std::string ca;
  // PEM certificate chain and key presented to the backend (mutual TLS); both or neither.
  std::string cert;
  std::string key;
  // Name expected in the backend's certificate; empty: the host of the address.
  std::string server_name;
};

// One berth process behind the gateway.
struct BackendConfig {
  // The table's key: `[gateway.backends.<name>]`, e.g. "content". Names metrics and logs.
  std::string name;
  // Full names of the gRPC services it serves ("containerd.services.content.v1.Content").
  // Required, non-empty; a service may belong to one backend only. berth-gateway registers
  // each method of these services by name, so they must be containerd services berth has
  // the .proto of (known_services.h); it refuses to start otherwise.
  std::vector<std::string> services;
  // Its instances, in config address syntax (`unix:///...`, `tcp://host:port`). Required.
  // The first is the primary and takes every call that is not a read; reads are spread
  // round robin over all of them (read replicas).
  std::vector<std::string> addresses;
  // Methods that only read: `Info` (any of the backend's services) or
  // `containerd.services.content.v1.Content/Info`. Reads go round robin and do not create
  // the call's namespace. Default: none (everything goes to the primary).
  std::vector<std::string> read_methods;
  // Introspection plugins it provides, "<type>/<id>" ("io.containerd.content.v1/content");
  // reported with init_err set while the backend is unreachable.
  std::vector<std::string> plugins;
  // Internal API the backend speaks for namespace usage and lease resources: "content"
  // (proto/berth/content/v1/admin.proto), "snapshot" (proto/berth/snapshot/v1/admin.proto),
  // or "" for none. Backends with an internal API are asked before a
  // namespace is deleted.
  std::string internal_api;
  // Lease resource types it owns (Leases.AddResource/DeleteResource/ListResources):
  // "content", "ingests", or a prefix "snapshots/*". Requires internal_api.
  std::vector<std::string> lease_resources;
  // TLS for tcp addresses; absent: plaintext.
  std::optional<ClientTlsConfig> tls;
  // The backend serves berth.gc.v1.Collectable (proto/berth/gc/v1/gc.proto): its objects
  // take part in garbage collection. Default: true for content, snapshot, image and
  // runtime, false for other names.
  bool collectable = false;
};

struct GatewayConfig {
  // Listener, root (RocksDB for namespaces and leases, the server uuid), state, metrics, log
  // level, ready-file, shutdown timeout. `address` defaults to kDefaultAddress.
  server::ServerConfig server;
  // NATS server for events. Empty: no event bus (Events.Publish/Subscribe -> Unavailable).
  std::string nats_url = "nats://127.0.0.1:4222";
  // JetStream stream that keeps the event history (subjects `berth.events.>`).
  std::string events_stream = "berth-events";
  // Limits of the stream (the gateway creates it and keeps its limits up to date on every
  // connect to NATS): age, bytes and count; the oldest events go first.
  std::chrono::nanoseconds events_max_age = std::chrono::hours(24 * 7);
  int64_t events_max_bytes = int64_t{1} << 30;
  int64_t events_max_msgs = 1000000;
  // How often each backend address is health-checked (availability metric, Introspection,
  // logs of up/down transitions).
  std::chrono::nanoseconds health_interval = std::chrono::seconds(2);
  // Upper bound of gRPC's reconnect backoff towards a backend that went away: a restarted
  // backend is used again at most this long after it is back.
  std::chrono::nanoseconds reconnect_backoff_max = std::chrono::seconds(1);
  // Forward unary methods as unary calls (one gRPC batch per side). false: forward them as
  // bidi streams like every other call (slower; kept for comparison and as a fallback).
  bool unary_fast_path = true;
  // Deadline of the calls the gateway itself makes to backends (namespace usage, lease
  // resources, health checks).
  std::chrono::nanoseconds backend_timeout = std::chrono::seconds(10);
  std::vector<BackendConfig> backends;
  // Garbage collection, `[gateway.gc]` (gateway/gc/config.h).
  gc::GcConfig gc;
};

// Parses `[gateway]` from a section (the section's unknown keys are left to the caller's
// CheckUnknownKeys, which LoadSection runs). Errors name file, section and key:
//   config "/etc/berth/config.toml": [gateway.backends.content] addresses: required
[[nodiscard]] absl::StatusOr<GatewayConfig> ParseGatewayConfig(server::ConfigSection& section);

// LoadSection(path, "gateway", ParseGatewayConfig).
[[nodiscard]] absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::string& path);

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_CONFIG_H_
