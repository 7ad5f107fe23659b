// berth-content: the content store as its own process. Only builds and wires objects:
//
//   berth-content [--config /etc/berth/config.toml] [--root DIR] [--address ADDR]
//                 [--ready-file FILE] [--replica N]
//
// Reads `[content]` (services/content/config.h); the flags override its keys. Without
// --config, a missing default config file means all defaults.
//
// --replica N (1..64) runs read replica N instead of the primary: the same root opened
// read-only (a RocksDB secondary instance following the primary), on the address and metrics
// address of `replica_address` / `replica_metrics_address` with {n} = N (--address still
// overrides). It serves the reads of Content and ContentAdmin and refuses writes with
// FAILED_PRECONDITION naming the primary's address; it publishes no events.
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "CLI/CLI.hpp"
#include "lib/events/nats_publisher.h"
#include "lib/log/log.h"
#include "lib/metrics/metrics.h"
#include "lib/server/config.h"
#include "lib/server/server.h"
#include "lib/status/status.h"
#include "services/content/config.h"
#include "services/content/local_store.h"
#include "services/content/metrics.h"
#include "services/content/publishing_store.h"
#include "services/content/server/admin_service.h"
#include "services/content/server/collectable_service.h"
#include "services/content/server/content_service.h"
#include "services/content/sweep_guard.h"

namespace berth::content {
namespace {

struct Flags {
  std::string config = server::kDefaultConfigPath;
  bool config_given = false;
  std::string root;
  std::string address;
  std::string ready_file;
  int replica = 0;
};

// The config of this process: [content] (with ReplicaConfig applied for --replica), then the
// flags. For a replica, `primary_address` gets the primary's address.
absl::StatusOr<ContentConfig> LoadConfig(const Flags& flags, std::string* primary_address) {
  std::function<absl::StatusOr<ContentConfig>(server::ConfigSection&)> parse = ParseContentConfig;
  absl::StatusOr<ContentConfig> config = server::LoadSection(flags.config, "content", parse);
  if (IsNotFound(config.status()) && !flags.config_given) {
    ASSIGN_OR_RETURN(server::ConfigFile empty, server::ConfigFile::Parse("", flags.config));
    ASSIGN_OR_RETURN(server::ConfigSection section, empty.Section("content"));
    config = parse(section);
  }
  if (!config.ok()) return config.status();
  if (flags.replica != 0) {
    // The primary's address as its own config names it, for the errors of refused writes.
    *primary_address = config->server.address;
    ASSIGN_OR_RETURN(config, ReplicaConfig(*config, flags.replica));
  }
  if (!flags.root.empty()) config->server.root = flags.root;
  if (!flags.address.empty()) {
    ASSIGN_OR_RETURN(server::ListenAddress address, server::ParseListenAddress(flags.address));
    (void)address;
    config->server.address = flags.address;
  }
  if (!flags.ready_file.empty()) config->server.ready_file = flags.ready_file;
  return config;
}

absl::Status Run(const Flags& flags) {
  std::string primary_address;
  ASSIGN_OR_RETURN(ContentConfig config, LoadConfig(flags, &primary_address));
  const bool replica = flags.replica != 0;
  RETURN_IF_ERROR(
      log::Init(replica ? "content-replica-" + std::to_string(flags.replica) : "content",
                config.server.log_level));

  LocalStoreOptions store_options;
  store_options.root = config.server.root;
  store_options.preallocate = config.preallocate;
  if (replica) {
    store_options.read_only = true;
    store_options.secondary_dir = config.server.state + "/meta";
    store_options.catch_up_interval =
        std::chrono::duration_cast<std::chrono::milliseconds>(config.catch_up_interval);
    store_options.primary = primary_address;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<LocalStore> local, LocalStore::Open(store_options));

  std::unique_ptr<events::NatsPublisher> publisher;
  std::unique_ptr<PublishingStore> publishing;
  Store* store = local.get();
  if (!config.nats_url.empty()) {
    events::NatsPublisherOptions nats;
    nats.url = config.nats_url;
    nats.client_name = "berth-content";
    ASSIGN_OR_RETURN(publisher, events::NatsPublisher::Create(nats));
    publishing = std::make_unique<PublishingStore>(local.get(), publisher.get());
    store = publishing.get();
  }

  server::ServerOptions server_options;
  std::unique_ptr<metrics::Metrics> metrics;
  std::unique_ptr<ContentMetrics> content_metrics;
  if (!config.server.metrics_address.empty()) {
    metrics::Options metrics_options;
    metrics_options.address = config.server.metrics_address;
    ASSIGN_OR_RETURN(metrics, metrics::Metrics::Create(metrics_options));
    ASSIGN_OR_RETURN(content_metrics, ContentMetrics::Create(local.get(), metrics.get()));
    if (publisher != nullptr) {
      events::NatsPublisher* p = publisher.get();
      using Type = metrics::CallbackMetric::Type;
      RETURN_IF_ERROR(metrics->AddCallbackMetric(
          {"berth_events_published_total", "Events handed to NATS", Type::kCounter, {}, [p] {
             return static_cast<double>(p->published());
           }}));
      RETURN_IF_ERROR(metrics->AddCallbackMetric(
          {"berth_events_dropped_total", "Events lost", Type::kCounter, {}, [p] {
             return static_cast<double>(p->dropped());
           }}));
    }
    server_options.interceptors.push_back(metrics->NewServerInterceptorFactory());
  }

  // Garbage collection (the gateway's): its deletions go to the store itself, without
  // events, guarded against leases taken meanwhile (sweep_guard.h).
  SweepGuard sweep_guard;
  GuardedStore guarded_store(store, &sweep_guard);
  GuardedAdmin guarded_admin(local.get(), &sweep_guard);
  CollectableService collectable_service(local.get(), &sweep_guard);
  ContentService content_service(&guarded_store);
  AdminService admin_service(&guarded_admin);
  server_options.services.push_back(&content_service);
  server_options.services.push_back(&admin_service);
  if (!replica) server_options.services.push_back(&collectable_service);
  ASSIGN_OR_RETURN(std::unique_ptr<server::Server> server,
                   server::Server::Start(config.server, std::move(server_options)));
  log::Info("serving address={:?} root={:?} read_only={}", server->address(), config.server.root,
            replica);
  RETURN_IF_ERROR(server->Run());
  server.reset();
  if (publisher != nullptr) publisher->Close();
  return absl::OkStatus();
}

}  // namespace
}  // namespace berth::content

int main(int argc, char** argv) {
  using namespace berth;
  // Before anything starts a thread.
  if (absl::Status s = server::BlockShutdownSignals(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  content::Flags flags;
  CLI::App app("berth-content: the content-addressed blob store of berth");
  app.add_option("--config", flags.config, "config file (TOML, section [content])");
  app.add_option("--root", flags.root, "override [content] root");
  app.add_option("--address", flags.address, "override [content] address");
  app.add_option("--ready-file", flags.ready_file, "override [content] ready_file");
  app.add_option("--replica", flags.replica,
                 "run read replica N of the primary (see replica_address in [content])")
      ->check(CLI::Range(1, content::kMaxReplicas));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  flags.config_given = app.count("--config") > 0;
  if (absl::Status s = content::Run(flags); !s.ok()) {
    log::Error("berth-content failed error={:?}", s.ToString());
    return 1;
  }
  return 0;
}
