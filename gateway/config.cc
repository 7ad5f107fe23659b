#include "gateway/config.h"

#include <fmt/format.h>

#include <map>
#include <set>
#include <utility>

#include "lib/status/status.h"

namespace berth::gateway {
namespace {

const char* const kKnownBackends[] = {"content", "snapshot", "image", "runtime"};

// What a standard deployment runs: used when the config has no `[gateway.backends]` table,
// and for the keys a `[gateway.backends.<known name>]` table leaves out.
BackendConfig KnownBackend(const std::string& name) {
  BackendConfig b;
  b.name = name;
  bool known = false;
  for (const char* n : kKnownBackends) known = known || name == n;
  if (known) b.addresses = {fmt::format("unix:///run/berth/{}.sock", name)};
  b.collectable = known;
  if (name == "content") {
    b.services = {"containerd.services.content.v1.Content"};
    b.read_methods = {"Info", "List", "Read", "Status", "ListStatuses"};
    b.plugins = {"io.containerd.content.v1/content", "io.containerd.grpc.v1/content"};
    b.internal_api = "content";
    b.lease_resources = {"content", "ingests"};
  } else if (name == "snapshot") {
    b.services = {"containerd.services.snapshots.v1.Snapshots", "containerd.services.diff.v1.Diff"};
    b.read_methods = {"Stat", "List", "Mounts", "Usage"};
    b.plugins = {"io.containerd.snapshotter.v1/overlayfs", "io.containerd.snapshotter.v1/native",
                 "io.containerd.differ.v1/walking", "io.containerd.grpc.v1/snapshots",
                 "io.containerd.grpc.v1/diff"};
    b.internal_api = "snapshot";
    b.lease_resources = {"snapshots/*"};
  } else if (name == "image") {
    b.services = {"containerd.services.images.v1.Images",
                  "containerd.services.transfer.v1.Transfer", "berth.image.v1.Pull"};
    b.read_methods = {"Get", "List"};
    b.plugins = {"io.containerd.grpc.v1/images", "io.containerd.grpc.v1/transfer"};
  } else if (name == "runtime") {
    b.services = {"containerd.services.containers.v1.Containers",
                  "containerd.services.tasks.v1.Tasks"};
    b.read_methods = {"Get", "List", "ListStream", "ListPids", "Metrics"};
    b.plugins = {"io.containerd.runtime.v2/task", "io.containerd.grpc.v1/containers",
                 "io.containerd.grpc.v1/tasks"};
  }
  return b;
}

const char* const kInternalApis[] = {"", "content", "snapshot"};

// The containerd services whose objects garbage collection marks or sweeps.
const char* const kGcServices[] = {
    "containerd.services.content.v1.Content", "containerd.services.snapshots.v1.Snapshots",
    "containerd.services.images.v1.Images", "containerd.services.containers.v1.Containers"};

bool IsAbsolute(const std::string& path) { return !path.empty() && path[0] == '/'; }

absl::StatusOr<BackendConfig> ParseBackend(server::ConfigSection& s, const std::string& name) {
  BackendConfig b = KnownBackend(name);
  ASSIGN_OR_RETURN(b.services, s.GetStringArray("services", b.services));
  if (b.services.empty()) return s.InvalidValue("services", "required");
  for (const std::string& service : b.services) {
    if (service.empty() || service.find('/') != std::string::npos ||
        service.find('.') == std::string::npos) {
      return s.InvalidValue(
          "services",
          fmt::format("{:?} is not a full gRPC service name (package.Service)", service));
    }
  }
  ASSIGN_OR_RETURN(b.addresses, s.GetStringArray("addresses", b.addresses));
  if (b.addresses.empty()) return s.InvalidValue("addresses", "required");
  for (const std::string& address : b.addresses) {
    absl::StatusOr<server::ListenAddress> a = server::ParseListenAddress(address);
    if (!a.ok()) return s.InvalidValue("addresses", std::string(a.status().message()));
    if (a->kind == server::ListenAddress::Kind::kTcp && a->port == 0) {
      return s.InvalidValue("addresses", fmt::format("{:?}: a backend needs a port", address));
    }
  }
  ASSIGN_OR_RETURN(b.read_methods, s.GetStringArray("read_methods", b.read_methods));
  for (const std::string& m : b.read_methods) {
    const size_t slash = m.find('/');
    if (m.empty() || (slash != std::string::npos && (slash == 0 || slash + 1 == m.size()))) {
      return s.InvalidValue("read_methods",
                            fmt::format("{:?}: expected Method or package.Service/Method", m));
    }
  }
  ASSIGN_OR_RETURN(b.plugins, s.GetStringArray("plugins", b.plugins));
  for (const std::string& p : b.plugins) {
    const size_t slash = p.rfind('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == p.size()) {
      return s.InvalidValue("plugins", fmt::format("{:?}: expected <type>/<id>", p));
    }
  }
  ASSIGN_OR_RETURN(b.internal_api, s.GetString("internal_api", b.internal_api));
  bool known_api = false;
  for (const char* api : kInternalApis) known_api = known_api || b.internal_api == api;
  if (!known_api) {
    return s.InvalidValue(
        "internal_api",
        fmt::format("{:?}: expected \"content\", \"snapshot\" or \"\"", b.internal_api));
  }
  ASSIGN_OR_RETURN(b.lease_resources, s.GetStringArray("lease_resources", b.lease_resources));
  if (!b.lease_resources.empty() && b.internal_api.empty()) {
    return s.InvalidValue("lease_resources", "needs internal_api");
  }
  for (const std::string& r : b.lease_resources) {
    if (r.empty() ||
        (r.find('*') != std::string::npos &&
         (r.size() < 2 || r.compare(r.size() - 2, 2, "/*") != 0 || r.find('*') != r.size() - 1))) {
      return s.InvalidValue("lease_resources",
                            fmt::format("{:?}: expected a type or a prefix ending in /*", r));
    }
  }

  ASSIGN_OR_RETURN(b.collectable, s.GetBool("collectable", b.collectable));

  ASSIGN_OR_RETURN(server::ConfigSection * tls, s.GetTable("tls"));
  if (tls->present()) {
    ClientTlsConfig t;
    ASSIGN_OR_RETURN(t.ca, tls->GetString("ca"));
    ASSIGN_OR_RETURN(t.cert, tls->GetString("cert"));
    ASSIGN_OR_RETURN(t.key, tls->GetString("key"));
    ASSIGN_OR_RETURN(t.server_name, tls->GetString("server_name"));
    if (t.ca.empty()) return tls->InvalidValue("ca", "required when the tls table is present");
    if (t.cert.empty() != t.key.empty()) {
      return tls->InvalidValue(t.cert.empty() ? "cert" : "key", "cert and key go together");
    }
    for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"ca", &t.ca},
                                     {"cert", &t.cert},
                                     {"key", &t.key}}) {
      if (!value->empty() && !IsAbsolute(*value)) {
        return tls->InvalidValue(key, fmt::format("{:?} is not an absolute path", *value));
      }
    }
    b.tls = std::move(t);
  }
  return b;
}

}  // namespace

absl::StatusOr<GatewayConfig> ParseGatewayConfig(server::ConfigSection& s) {
  GatewayConfig c;
  const bool has_address = s.Has("address");
  ASSIGN_OR_RETURN(c.server, server::ParseServerConfig(s));
  if (!has_address) c.server.address = kDefaultAddress;

  ASSIGN_OR_RETURN(c.nats_url, s.GetString("nats_url", c.nats_url));
  if (!c.nats_url.empty() && c.nats_url.rfind("nats://", 0) != 0 &&
      c.nats_url.rfind("tls://", 0) != 0) {
    return s.InvalidValue(
        "nats_url", fmt::format("{:?}: expected nats://host:port or tls://host:port", c.nats_url));
  }
  ASSIGN_OR_RETURN(c.events_stream, s.GetString("events_stream", c.events_stream));
  if (c.events_stream.empty() || c.events_stream.find_first_of(" \t.*>") != std::string::npos) {
    return s.InvalidValue("events_stream",
                          "must be a non-empty JetStream name without spaces, '.', '*' or '>'");
  }
  ASSIGN_OR_RETURN(c.events_max_age, s.GetDuration("events_max_age", c.events_max_age));
  if (c.events_max_age < std::chrono::seconds(1)) {
    return s.InvalidValue("events_max_age", "must be at least 1s");
  }
  ASSIGN_OR_RETURN(c.events_max_bytes, s.GetInt("events_max_bytes", c.events_max_bytes, 1 << 20));
  ASSIGN_OR_RETURN(c.events_max_msgs, s.GetInt("events_max_msgs", c.events_max_msgs, 1));
  ASSIGN_OR_RETURN(c.health_interval, s.GetDuration("health_interval", c.health_interval));
  if (c.health_interval < std::chrono::milliseconds(10)) {
    return s.InvalidValue("health_interval", "must be at least 10ms");
  }
  ASSIGN_OR_RETURN(c.reconnect_backoff_max,
                   s.GetDuration("reconnect_backoff_max", c.reconnect_backoff_max));
  if (c.reconnect_backoff_max < std::chrono::milliseconds(100)) {
    return s.InvalidValue("reconnect_backoff_max", "must be at least 100ms");
  }
  ASSIGN_OR_RETURN(c.unary_fast_path, s.GetBool("unary_fast_path", c.unary_fast_path));
  ASSIGN_OR_RETURN(c.backend_timeout, s.GetDuration("backend_timeout", c.backend_timeout));
  if (c.backend_timeout <= std::chrono::nanoseconds(0)) {
    return s.InvalidValue("backend_timeout", "must be greater than 0");
  }
  ASSIGN_OR_RETURN(server::ConfigSection * gc, s.GetTable("gc"));
  ASSIGN_OR_RETURN(c.gc, gc::ParseGcConfig(*gc));

  if (!s.Has("backends")) {
    for (const char* name : kKnownBackends) c.backends.push_back(KnownBackend(name));
    return c;
  }
  ASSIGN_OR_RETURN(server::ConfigSection * backends, s.GetTable("backends"));
  std::map<std::string, std::string> owner;  // service -> backend
  for (const std::string& name : backends->Keys()) {
    ASSIGN_OR_RETURN(server::ConfigSection * table, backends->GetTable(name));
    if (!table->present()) {
      return backends->InvalidValue(name, "expected a table [gateway.backends." + name + "]");
    }
    ASSIGN_OR_RETURN(BackendConfig b, ParseBackend(*table, name));
    for (const std::string& service : b.services) {
      auto [it, inserted] = owner.emplace(service, name);
      if (!inserted) {
        return table->InvalidValue(
            "services", fmt::format("{:?} is already served by backend {:?}", service, it->second));
      }
    }
    c.backends.push_back(std::move(b));
  }
  // Garbage collection sees only the objects of collectable backends: one that holds objects
  // it must see (the roots: images, containers; or what they refer to) but is left out would
  // have its objects' content collected under it.
  bool any_collectable = false;
  for (const BackendConfig& b : c.backends) any_collectable = any_collectable || b.collectable;
  for (const BackendConfig& b : c.backends) {
    if (!any_collectable || b.collectable) continue;
    for (const std::string& service : b.services) {
      for (const char* needed : kGcServices) {
        if (service != needed) continue;
        ASSIGN_OR_RETURN(server::ConfigSection * table, backends->GetTable(b.name));
        return table->InvalidValue(
            "collectable",
            fmt::format("false, but it serves {} and garbage collection must see its objects "
                        "(or no backend may be collectable)",
                        service));
      }
    }
  }
  return c;
}

absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::string& path) {
  return server::LoadSection<GatewayConfig>(path, "gateway", ParseGatewayConfig);
}

}  // namespace berth::gateway
