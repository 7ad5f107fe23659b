// RuntimeConfig: the `[runtime]` section of berth's config file.
//
//   [runtime]
//   address = "unix:///run/berth/runtime.sock"   # shared keys: lib/server/config.h
//   root = "/var/lib/berth/runtime"              # RocksDB (containers, event outbox) in root/meta
//   state = "/run/berth/runtime"                 # bundles, shim sockets, runc state
//   metrics_address = ""                         # Prometheus: gRPC + per-container cgroup metrics
//   log_level = "info"
//   nats_url = "nats://127.0.0.1:4222"           # "" publishes no events
//   default_runtime = "runc"                     # OCI runtime when the options name none
//   shim_binary = ""                             # "" = berth-shim next to berth-runtime, else
//   $PATH
//
// Thread-safety: plain values; the parser is used by one thread.
#ifndef BERTH_SERVICES_RUNTIME_CONFIG_H_
#define BERTH_SERVICES_RUNTIME_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "lib/server/config.h"

namespace berth::runtime {

struct RuntimeConfig {
  // address, tls, metrics_address, log_level, root, state, ready_file, shutdown_timeout.
  server::ServerConfig server = server::DefaultServerConfig("runtime");
  // NATS server(s) events are published to; empty: no events.
  std::string nats_url = "nats://127.0.0.1:4222";
  // The OCI runtime binary used when a container's runtime options (containerd.runc.v1.Options
  // binary_name) name none: a name looked up in $PATH or an absolute path.
  std::string default_runtime = "runc";
  // The berth-shim binary; empty means the berth-shim beside the berth-runtime executable,
  // else "berth-shim" from $PATH.
  std::string shim_binary;
};

// Parses and validates the section (unknown keys are LoadSection's business): nats_url empty
// or nats:// / tls://; default_runtime not empty and without spaces; shim_binary empty or
// absolute.
absl::StatusOr<RuntimeConfig> ParseRuntimeConfig(server::ConfigSection& section);

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_CONFIG_H_
