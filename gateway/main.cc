// berth-gateway: the public containerd socket. Only builds and wires objects:
//
//   berth-gateway [--config /etc/berth/config.toml] [--root DIR] [--address ADDR]
//                 [--ready-file FILE]
//
// Reads `[gateway]` (gateway/config.h); the flags override its keys. Without --config, a
// missing default config file means all defaults.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "gateway/admin_owners.h"
#include "gateway/collectable_owner.h"
#include "gateway/config.h"
#include "gateway/event_hub.h"
#include "gateway/gc/admin_service.h"
#include "gateway/gc/backend.h"
#include "gateway/gc/collector.h"
#include "gateway/gc/metrics.h"
#include "gateway/gc/pin_store.h"
#include "gateway/gc/proxy_hook.h"
#include "gateway/gc/scheduler.h"
#include "gateway/owners.h"
#include "gateway/rocks_stores.h"
#include "gateway/router.h"
#include "gateway/schema.h"
#include "gateway/server/events_service.h"
#include "gateway/server/gateway_admin_service.h"
#include "gateway/server/introspection_service.h"
#include "gateway/server/leases_service.h"
#include "gateway/server/namespaces_service.h"
#include "gateway/server/proxy_service.h"
#include "gateway/server/version_service.h"
#include "gateway/version.h"
#include "lib/events/nats_publisher.h"
#include "lib/log/log.h"
#include "lib/metrics/metrics.h"
#include "lib/server/server.h"
#include "lib/status/status.h"
#include "lib/store/store.h"

namespace berth::gateway {
namespace {

struct Flags {
  std::string config = server::kDefaultConfigPath;
  bool config_given = false;
  std::string root;
  std::string address;
  std::string ready_file;
};

absl::StatusOr<GatewayConfig> LoadConfig(const Flags& flags) {
  absl::StatusOr<GatewayConfig> config = LoadGatewayConfig(flags.config);
  if (IsNotFound(config.status()) && !flags.config_given) {
    ASSIGN_OR_RETURN(server::ConfigFile empty, server::ConfigFile::Parse("", flags.config));
    ASSIGN_OR_RETURN(server::ConfigSection section, empty.Section("gateway"));
    config = ParseGatewayConfig(section);
  }
  if (!config.ok()) return config.status();
  if (!flags.root.empty()) config->server.root = flags.root;
  if (!flags.address.empty()) {
    RETURN_IF_ERROR(server::ParseListenAddress(flags.address).status());
    config->server.address = flags.address;
  }
  if (!flags.ready_file.empty()) config->server.ready_file = flags.ready_file;
  return config;
}

absl::Status MakeDirs(const std::string& dir) {
  if (dir.empty() || dir == "/") return absl::OkStatus();
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) return absl::OkStatus();
  const size_t slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0) RETURN_IF_ERROR(MakeDirs(dir.substr(0, slash)));
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoToStatus("mkdir", dir, errno);
  return absl::OkStatus();
}

// Services the gateway serves itself; a backend may not claim them.
const std::set<std::string> kLocalServices = {
    "containerd.services.namespaces.v1.Namespaces",
    "containerd.services.leases.v1.Leases",
    "containerd.services.events.v1.Events",
    "containerd.services.version.v1.Version",
    "containerd.services.introspection.v1.Introspection",
    "grpc.health.v1.Health",
    "berth.gateway.v1.GatewayAdmin",
};

// Takes SIGTERM/SIGINT (blocked in every thread by BlockShutdownSignals): the first ends the
// event streams (they never end on their own and would hold the graceful shutdown for its
// whole timeout) and shuts the server down gracefully; a second one exits at once.
void HandleSignals(server::Server* srv, EventHub* hub) {
  std::thread([srv, hub] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    bool first = true;
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (!first) {
        log::Error("second {}; exiting now", strsignal(sig));
        std::_Exit(1);
      }
      first = false;
      log::Info("received {}; shutting down", strsignal(sig));
      if (hub != nullptr) hub->Shutdown();
      std::thread([srv] { srv->Shutdown(); }).detach();
    }
  }).detach();
}

absl::Status Run(const Flags& flags) {
  ASSIGN_OR_RETURN(GatewayConfig config, LoadConfig(flags));
  RETURN_IF_ERROR(log::Init("gateway", config.server.log_level));
  log::Info("starting version={:?} revision={:?}", BerthVersion(), BerthRevision());
  for (const BackendConfig& b : config.backends) {
    for (const std::string& s : b.services) {
      if (kLocalServices.count(s) != 0) {
        return absl::InvalidArgumentError(fmt::format(
            "config {:?}: [gateway.backends.{}] services: {:?} is served by the gateway itself",
            flags.config, b.name, s));
      }
    }
  }

  // Metadata: namespaces, leases, the instance UUID.
  RETURN_IF_ERROR(MakeDirs(config.server.root));
  // Also when it already existed with a looser mode (CVE-2024-25621).
  if (chmod(config.server.root.c_str(), 0700) != 0) {
    return ErrnoToStatus("chmod", config.server.root, errno);
  }
  store::Options store_options;
  store_options.schema_version = schema::kVersion;
  ASSIGN_OR_RETURN(std::unique_ptr<store::Store> db,
                   store::Store::Open(config.server.root + "/meta", store_options));
  ASSIGN_OR_RETURN(std::unique_ptr<RocksNamespaceStore> namespaces,
                   RocksNamespaceStore::Open(db.get()));
  RocksLeaseStore leases(db.get());
  ASSIGN_OR_RETURN(std::string uuid, LoadOrCreateServerUuid(db.get()));

  // Backends, and the owners of namespaced objects and lease resources among them.
  ASSIGN_OR_RETURN(std::unique_ptr<Router> router, Router::Create(config));
  const auto backend_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.backend_timeout);
  Owners owners;
  for (const auto& backend : router->backends()) {
    if (backend->config().internal_api.empty()) {
      // Images and containers: asked through their object listing before a namespace goes.
      if (backend->config().collectable) {
        owners.Add(NewCollectableOwner(backend->name(), backend->primary(), backend_timeout), {});
      }
      continue;
    }
    ASSIGN_OR_RETURN(std::unique_ptr<ResourceOwner> owner,
                     NewAdminOwner(backend->config().internal_api, backend->name(),
                                   backend->primary(), backend_timeout));
    owners.Add(std::move(owner), backend->config().lease_resources);
  }

  // Events: publisher (keeps the JetStream stream's limits) and the shared subscription.
  std::unique_ptr<events::NatsPublisher> publisher;
  std::unique_ptr<EventHub> hub;
  if (!config.nats_url.empty()) {
    events::NatsPublisherOptions nats;
    nats.url = config.nats_url;
    nats.client_name = "berth-gateway";
    events::StreamOptions stream;
    stream.name = config.events_stream;
    stream.max_age = std::chrono::duration_cast<std::chrono::seconds>(config.events_max_age);
    stream.max_bytes = config.events_max_bytes;
    stream.max_msgs = config.events_max_msgs;
    nats.stream = stream;
    ASSIGN_OR_RETURN(publisher, events::NatsPublisher::Create(nats));
    ASSIGN_OR_RETURN(hub, EventHub::Create(config.nats_url));
    // Subscribed before serving, so `ctr events` sees everything from the first call on.
    if (absl::Status s = hub->Sync(std::chrono::seconds(5)); !s.ok()) {
      log::Warn("event subscription not confirmed yet error={:?}", s.ToString());
    }
  } else {
    log::Warn("no nats_url: events are not published or delivered");
  }

  server::ServerOptions server_options;
  std::unique_ptr<metrics::Metrics> metrics;
  if (!config.server.metrics_address.empty()) {
    metrics::Options metrics_options;
    metrics_options.address = config.server.metrics_address;
    ASSIGN_OR_RETURN(metrics, metrics::Metrics::Create(metrics_options));
    using Type = metrics::CallbackMetric::Type;
    for (const auto& backend : router->backends()) {
      for (size_t i = 0; i < backend->size(); ++i) {
        Backend* b = backend.get();
        RETURN_IF_ERROR(metrics->AddCallbackMetric(
            {"berth_gateway_backend_up",
             "1 when the backend address answered its last health check",
             Type::kGauge,
             {{"backend", b->name()}, {"address", b->config().addresses[i]}},
             [b, i] { return b->Health(i).ok() ? 1.0 : 0.0; }}));
      }
    }
    if (publisher != nullptr) {
      events::NatsPublisher* p = publisher.get();
      RETURN_IF_ERROR(metrics->AddCallbackMetric(
          {"berth_events_published_total", "Events handed to NATS", Type::kCounter, {}, [p] {
             return static_cast<double>(p->published());
           }}));
      RETURN_IF_ERROR(metrics->AddCallbackMetric(
          {"berth_events_dropped_total", "Events lost", Type::kCounter, {}, [p] {
             return static_cast<double>(p->dropped());
           }}));
    }
    if (hub != nullptr) {
      EventHub* h = hub.get();
      RETURN_IF_ERROR(
          metrics->AddCallbackMetric({"berth_gateway_event_subscribers",
                                      "Open Events.Subscribe streams",
                                      Type::kGauge,
                                      {},
                                      [h] { return static_cast<double>(h->sinks()); }}));
    }
    server_options.interceptors.push_back(metrics->NewServerInterceptorFactory());
  }

  // Garbage collection (gateway/gc/): the backends that take part, the collector, and when
  // it runs.
  // The roots are images and containers: without a collectable backend serving each, the
  // gateway cannot tell garbage from what they hold, and no backend takes part (collections
  // then only drop expired leases).
  std::vector<std::unique_ptr<gc::CollectableBackend>> gc_backends;
  gc::CollectorDeps gc_deps;
  std::set<std::string> gc_services;
  for (const auto& backend : router->backends()) {
    if (!backend->config().collectable) continue;
    gc_services.insert(backend->config().services.begin(), backend->config().services.end());
  }
  const bool gc_sees_roots = gc_services.count("containerd.services.images.v1.Images") != 0 &&
                             gc_services.count("containerd.services.containers.v1.Containers") != 0;
  if (!gc_sees_roots) {
    log::Warn(
        "garbage collection sweeps nothing: no collectable backend serves both Images and "
        "Containers");
  }
  for (const auto& backend : router->backends()) {
    if (!gc_sees_roots || !backend->config().collectable) continue;
    gc_backends.push_back(
        gc::NewGrpcBackend(backend->name(), backend->primary(), config.gc.timeout));
    gc_deps.backends.push_back(gc_backends.back().get());
  }
  gc::PinStore gc_pins(db.get());
  gc_deps.namespaces = namespaces.get();
  gc_deps.leases = &leases;
  gc_deps.owners = &owners;
  gc_deps.pins = &gc_pins;
  gc_deps.publisher = publisher.get();
  gc::CollectorOptions gc_options;
  gc_options.ingest_expiry = config.gc.ingest_expiry;
  gc_options.owner_timeout = backend_timeout;
  if (std::optional<Router::Route> images =
          router->Find("/containerd.services.images.v1.Images/Get");
      images.has_value()) {
    gc_options.resolve_image =
        gc::NewImagesGetResolver(images->backend->primary(), backend_timeout);
  }
  gc::Collector collector(std::move(gc_deps), std::move(gc_options));
  std::unique_ptr<gc::GcMetrics> gc_metrics;
  if (metrics != nullptr) gc_metrics = std::make_unique<gc::GcMetrics>(metrics->registry());
  gc::SchedulerOptions scheduler_options;
  scheduler_options.automatic = config.gc.automatic;
  scheduler_options.deletion_threshold = config.gc.deletion_threshold;
  scheduler_options.mutation_threshold = config.gc.mutation_threshold;
  scheduler_options.interval = config.gc.interval;
  scheduler_options.max_time_share = static_cast<double>(config.gc.max_time_percent) / 100.0;
  scheduler_options.trigger_delay = config.gc.trigger_delay;
  scheduler_options.startup_delay = config.gc.startup_delay;
  gc::Scheduler scheduler(
      [&collector, m = gc_metrics.get()](const gc::CollectRequest& request) {
        absl::StatusOr<berth::gc::v1::Report> report = collector.Collect(request);
        if (m != nullptr) m->Record(report);
        return report;
      },
      scheduler_options);
  gc::AdminService gc_admin_service(&scheduler);
  // GatewayAdmin as served: GarbageCollect by the GC, ReplayEvents from the events stream.
  GatewayAdminService admin_service(
      &gc_admin_service,
      config.nats_url.empty() ? EventSource()
                              : JetStreamEventSource(config.nats_url, config.events_stream),
      hub.get());

  NamespacesService namespaces_service(namespaces.get(), &leases, &owners, publisher.get());
  LeasesService leases_service(&leases, namespaces.get(), &owners,
                               gc::NewLeaseDeletedHook(&scheduler));
  EventsService events_service(publisher.get(), hub.get());
  VersionService version_service;
  events::NatsPublisher* p = publisher.get();
  IntrospectionService introspection_service(router.get(), uuid, [p]() -> absl::Status {
    if (p == nullptr) return absl::UnavailableError("no event bus configured (nats_url)");
    return absl::OkStatus();
  });

  // Everything else goes to the backends. Implicit namespace creation: a forwarded write
  // records its namespace first.
  RocksNamespaceStore* ns_store = namespaces.get();
  ProxyOptions proxy_options;
  proxy_options.on_write = [ns_store](const std::string& ns) -> absl::Status {
    if (ns.empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(bool created, ns_store->Touch(ns));
    if (created) log::Info("namespace created on first write namespace={:?}", ns);
    return absl::OkStatus();
  };
  proxy_options.on_forward = gc::NewForwardHook(&scheduler, &collector);
  ProxyService proxy(router.get(), std::move(proxy_options));
  // lib/server takes grpc::Service only, so the proxy registers each method of the routed
  // services by name (ProxyService::RegisteredService) rather than as a generic service.
  ASSIGN_OR_RETURN(std::unique_ptr<grpc::Service> forwarded,
                   proxy.RegisteredService(kLocalServices, config.unary_fast_path));

  server_options.services = {&namespaces_service, &leases_service,        &events_service,
                             &version_service,    &introspection_service, &admin_service,
                             forwarded.get()};

  ASSIGN_OR_RETURN(std::unique_ptr<server::Server> srv,
                   server::Server::Start(config.server, std::move(server_options)));
  // grpc.health.v1 per service: the gateway's own are up; a routed one follows its backend's
  // primary (checked every health_interval).
  grpc::HealthCheckServiceInterface* health = srv->health();
  for (const std::string& name : kLocalServices) health->SetServingStatus(name, true);
  router->StartHealthChecks(
      std::chrono::duration_cast<std::chrono::milliseconds>(config.health_interval),
      std::min(backend_timeout,
               std::chrono::duration_cast<std::chrono::milliseconds>(config.health_interval)),
      [health](const Backend& backend, size_t index, const absl::Status& status) {
        if (index != 0) return;
        for (const std::string& name : backend.config().services) {
          health->SetServingStatus(name, status.ok());
        }
      });
  scheduler.Start();
  log::Info("gateway ready address={:?} backends={} gc_backends={} uuid={:?}", srv->address(),
            router->backends().size(), gc_backends.size(), uuid);
  HandleSignals(srv.get(), hub.get());
  srv->Wait();
  router->StopHealthChecks();  // its observer uses the server's health service
  srv.reset();
  scheduler.Stop();  // after the server: a sync delete in flight waits for its collection
  if (hub != nullptr) hub->Shutdown();
  if (publisher != nullptr) publisher->Close();
  return absl::OkStatus();
}

}  // namespace
}  // namespace berth::gateway

int main(int argc, char** argv) {
  using namespace berth;
  // Before anything starts a thread.
  if (absl::Status s = server::BlockShutdownSignals(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  // The gateway's hot path is moving 1 MiB messages between sockets. glibc would mmap and
  // munmap every such buffer (mmap threshold 128 KiB), so each message costs page faults and
  // page clearing; keep them on the heap instead.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  // Debian's abseil tracks lock ordering in every absl::Mutex (gRPC's included) to detect
  // deadlocks, a debugging aid that costs on every lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  gateway::Flags flags;
  CLI::App app("berth-gateway: the containerd API of berth on one socket");
  app.add_option("--config", flags.config, "config file (TOML, section [gateway])");
  app.add_option("--root", flags.root, "override [gateway] root");
  app.add_option("--address", flags.address, "override [gateway] address");
  app.add_option("--ready-file", flags.ready_file, "override [gateway] ready_file");
  app.set_version_flag("--version", std::string("berth-gateway ") + gateway::BerthVersion() + " " +
                                        gateway::BerthRevision());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  flags.config_given = app.count("--config") > 0;
  if (absl::Status s = gateway::Run(flags); !s.ok()) {
    log::Error("berth-gateway failed error={:?}", s.ToString());
    return 1;
  }
  return 0;
}
