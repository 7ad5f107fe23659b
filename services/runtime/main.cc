// berth-runtime: containers and tasks as their own process. Only builds and wires objects:
//
//   berth-runtime [--config /etc/berth/config.toml] [--root DIR] [--state DIR]
//                 [--address ADDR] [--ready-file FILE]
//
// Reads `[runtime]` (services/runtime/config.h); the flags override its keys. Without
// --config, a missing default config file means all defaults.
#include <errno.h>
#include <sys/stat.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "CLI/CLI.hpp"
#include "lib/events/nats_publisher.h"
#include "lib/log/log.h"
#include "lib/metrics/metrics.h"
#include "lib/server/config.h"
#include "lib/server/server.h"
#include "lib/status/status.h"
#include "lib/store/store.h"
#include "services/runtime/config.h"
#include "services/runtime/container_metrics.h"
#include "services/runtime/outbox.h"
#include "services/runtime/rocks_container_store.h"
#include "services/runtime/schema.h"
#include "services/runtime/server/admin_service.h"
#include "services/runtime/server/collectable_service.h"
#include "services/runtime/server/containers_service.h"
#include "services/runtime/server/tasks_service.h"
#include "services/runtime/task_manager.h"

namespace berth::runtime {
namespace {

struct Flags {
  std::string config = server::kDefaultConfigPath;
  bool config_given = false;
  std::string root;
  std::string state;
  std::string address;
  std::string ready_file;
};

absl::StatusOr<RuntimeConfig> LoadConfig(const Flags& flags) {
  std::function<absl::StatusOr<RuntimeConfig>(server::ConfigSection&)> parse = ParseRuntimeConfig;
  absl::StatusOr<RuntimeConfig> config = server::LoadSection(flags.config, "runtime", parse);
  if (IsNotFound(config.status()) && !flags.config_given) {
    ASSIGN_OR_RETURN(server::ConfigFile empty, server::ConfigFile::Parse("", flags.config));
    ASSIGN_OR_RETURN(server::ConfigSection section, empty.Section("runtime"));
    config = parse(section);
  }
  if (!config.ok()) return config.status();
  if (!flags.root.empty()) config->server.root = flags.root;
  if (!flags.state.empty()) config->server.state = flags.state;
  if (!flags.address.empty()) {
    RETURN_IF_ERROR(server::ParseListenAddress(flags.address).status());
    config->server.address = flags.address;
  }
  if (!flags.ready_file.empty()) config->server.ready_file = flags.ready_file;
  return config;
}

absl::Status Run(const Flags& flags) {
  ASSIGN_OR_RETURN(RuntimeConfig config, LoadConfig(flags));
  RETURN_IF_ERROR(log::Init("runtime", config.server.log_level));

  if (mkdir(config.server.root.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus("mkdir", config.server.root, errno);
  }
  // Also when it already existed with a looser mode (CVE-2024-25621).
  if (chmod(config.server.root.c_str(), 0700) != 0) {
    return ErrnoToStatus("chmod", config.server.root, errno);
  }
  store::Options store_options;
  store_options.schema_version = schema::kSchemaVersion;
  ASSIGN_OR_RETURN(std::unique_ptr<store::Store> db,
                   store::Store::Open(config.server.root + "/" + schema::kMetaDir, store_options));

  std::unique_ptr<events::NatsPublisher> publisher;
  std::function<bool()> drained;
  if (!config.nats_url.empty()) {
    events::NatsPublisherOptions nats;
    nats.url = config.nats_url;
    nats.client_name = "berth-runtime";
    ASSIGN_OR_RETURN(publisher, events::NatsPublisher::Create(nats));
    events::NatsPublisher* p = publisher.get();
    drained = [p] { return p->connected() && p->buffered() == 0; };
  }
  Outbox outbox(db.get(), publisher.get(), drained);
  RETURN_IF_ERROR(outbox.Start());

  RocksContainerStore containers(db.get(), publisher.get());
  TaskManagerOptions task_options;
  task_options.state = config.server.state;
  task_options.shim_binary = config.shim_binary;
  task_options.default_runtime = config.default_runtime;
  TaskManager tasks(task_options, &containers, db.get(), &outbox, publisher.get());
  RETURN_IF_ERROR(tasks.Recover());
  log::Info("cgroups mode={:?}", cgroups::ModeName(tasks.cgroup_mode()));

  server::ServerOptions server_options;
  std::unique_ptr<metrics::Metrics> metrics;
  std::unique_ptr<MetricsEndpoint> endpoint;
  if (!config.server.metrics_address.empty()) {
    metrics::Options metrics_options;
    metrics_options.address = "";  // Served by MetricsEndpoint, with the container metrics.
    ASSIGN_OR_RETURN(metrics, metrics::Metrics::Create(metrics_options));
    std::vector<RuntimeGauge> gauges;
    gauges.push_back({"berth_runtime_tasks", "Tasks known to berth-runtime", false,
                      [&tasks] { return static_cast<double>(tasks.Snapshot().size()); }});
    gauges.push_back({"berth_runtime_outbox_pending", "Task exits not yet confirmed sent", false,
                      [&outbox] { return static_cast<double>(outbox.pending()); }});
    if (publisher != nullptr) {
      events::NatsPublisher* p = publisher.get();
      gauges.push_back({"berth_events_published_total", "Events handed to NATS", true,
                        [p] { return static_cast<double>(p->published()); }});
      gauges.push_back({"berth_events_dropped_total", "Events lost", true,
                        [p] { return static_cast<double>(p->dropped()); }});
    }
    auto collector = std::make_shared<ContainerCollector>([&tasks] { return tasks.Snapshot(); },
                                                          tasks.cgroup_mode(), std::move(gauges));
    ASSIGN_OR_RETURN(endpoint, MetricsEndpoint::Start(config.server.metrics_address,
                                                      &metrics->registry(), collector));
    log::Info("metrics serving address={:?} port={}", config.server.metrics_address,
              endpoint->port());
    server_options.interceptors.push_back(metrics->NewServerInterceptorFactory());
  }

  ContainersService containers_service(
      &containers,
      [&tasks](const std::string& ns, const std::string& id) { return tasks.HasTask(ns, id); });
  TasksService tasks_service(&tasks);
  AdminService admin_service(&containers, &tasks);
  server_options.services.push_back(&containers_service);
  server_options.services.push_back(&tasks_service);
  server_options.services.push_back(&admin_service);
  // Garbage collection (the gateway's): containers are its roots.
  CollectableService collectable_service(&containers);
  server_options.services.push_back(&collectable_service);
  ASSIGN_OR_RETURN(std::unique_ptr<server::Server> server,
                   server::Server::Start(config.server, std::move(server_options)));
  log::Info("serving address={:?} root={:?} state={:?}", server->address(), config.server.root,
            config.server.state);
  RETURN_IF_ERROR(server->Run());
  server.reset();
  endpoint.reset();
  if (publisher != nullptr) publisher->Close();
  return absl::OkStatus();
}

}  // namespace
}  // namespace berth::runtime

int main(int argc, char** argv) {
  using namespace berth;
  // Before anything starts a thread.
  if (absl::Status s = server::BlockShutdownSignals(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  runtime::Flags flags;
  CLI::App app("berth-runtime: containers and tasks of berth (containerd's Containers and Tasks)");
  app.add_option("--config", flags.config, "config file (TOML, section [runtime])");
  app.add_option("--root", flags.root, "override [runtime] root");
  app.add_option("--state", flags.state, "override [runtime] state");
  app.add_option("--address", flags.address, "override [runtime] address");
  app.add_option("--ready-file", flags.ready_file, "override [runtime] ready_file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  flags.config_given = app.count("--config") > 0;
  if (absl::Status s = runtime::Run(flags); !s.ok()) {
    log::Error("berth-runtime failed error={:?}", s.ToString());
    return 1;
  }
  return 0;
}
