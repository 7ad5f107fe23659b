// berth-image: image records as their own process, and the server-side pull and push
// (berth.image.v1.Pull, containerd's Transfer) through the content and snapshot services. Only
// builds and wires objects:
//
//   berth-image [--config /etc/berth/config.toml] [--root DIR] [--address ADDR]
//               [--ready-file FILE]
//
// Reads `[image]` (services/image/config.h); the flags override its keys. Without --config, a
// missing default config file means all defaults.
#include <errno.h>
#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <sys/stat.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/proxy/content_proxy.h"
#include "client/proxy/snapshot_proxy.h"
#include "lib/events/nats_publisher.h"
#include "lib/log/log.h"
#include "lib/metrics/metrics.h"
#include "lib/server/config.h"
#include "lib/server/dial.h"
#include "lib/server/server.h"
#include "lib/status/status.h"
#include "lib/store/store.h"
#include "services/image/config.h"
#include "services/image/publishing_store.h"
#include "services/image/pull/gateway_client.h"
#include "services/image/pull/puller.h"
#include "services/image/push/pusher.h"
#include "services/image/remotes/credentials.h"
#include "services/image/remotes/hosts.h"
#include "services/image/rocks_image_store.h"
#include "services/image/schema.h"
#include "services/image/server/collectable_service.h"
#include "services/image/server/images_service.h"
#include "services/image/server/pull_service.h"
#include "services/image/server/transfer_service.h"

namespace berth::image {
namespace {

struct Flags {
  std::string config = server::kDefaultConfigPath;
  bool config_given = false;
  std::string root;
  std::string address;
  std::string ready_file;
};

absl::StatusOr<ImageConfig> LoadConfig(const Flags& flags) {
  std::function<absl::StatusOr<ImageConfig>(server::ConfigSection&)> parse = ParseImageConfig;
  absl::StatusOr<ImageConfig> config = server::LoadSection(flags.config, "image", parse);
  if (IsNotFound(config.status()) && !flags.config_given) {
    ASSIGN_OR_RETURN(server::ConfigFile empty, server::ConfigFile::Parse("", flags.config));
    ASSIGN_OR_RETURN(server::ConfigSection section, empty.Section("image"));
    config = parse(section);
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

// The server-side pull and what it talks to: the content and snapshot services and the
// gateway, each over gRPC (channels connect lazily: the services may start in any order).
struct PullParts {
  std::unique_ptr<proxy::ContentProxy> content;
  std::shared_ptr<grpc::Channel> snapshot_channel;
  std::unique_ptr<proxy::DiffProxy> diff;
  std::mutex snapshotters_mu;
  std::map<std::string, std::unique_ptr<proxy::SnapshotProxy>> snapshotters;
  std::unique_ptr<pull::GatewayClient> gateway;
  std::unique_ptr<pull::Puller> puller;
  std::unique_ptr<push::Pusher> pusher;
};

absl::Status BuildPull(const ImageConfig& config, Store* images, PullParts* parts) {
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> content,
                   server::DialService(config.content_address));
  parts->content = std::make_unique<proxy::ContentProxy>(content);
  ASSIGN_OR_RETURN(parts->snapshot_channel, server::DialService(config.snapshot_address));
  parts->diff = std::make_unique<proxy::DiffProxy>(parts->snapshot_channel);
  if (!config.gateway_address.empty()) {
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> gateway,
                     server::DialService(config.gateway_address));
    parts->gateway = std::make_unique<pull::GatewayClient>(gateway);
  } else {
    log::Warn("no [image] gateway_address: pulls run without a lease");
  }

  pull::PullerOptions options;
  options.max_concurrent_downloads = static_cast<std::size_t>(config.max_concurrent_downloads);
  options.max_concurrent_downloads_total =
      static_cast<std::size_t>(config.max_concurrent_downloads_total);
  options.default_snapshotter = config.default_snapshotter;
  options.registry.hosts.config_paths = remotes::SplitConfigPath(config.hosts_dir);
  if (!config.docker_config.empty()) {
    absl::StatusOr<remotes::DockerConfig> docker =
        remotes::DockerConfig::Load(config.docker_config);
    if (docker.ok()) {
      options.registry.credentials = docker->AsFunc();
      log::Info("registry credentials path={:?} hosts={}", config.docker_config, docker->size());
    } else if (IsNotFound(docker.status())) {
      log::Info("no registry credentials: {:?} does not exist", config.docker_config);
    } else {
      return docker.status();
    }
  }

  pull::PullerDeps deps;
  deps.content = parts->content.get();
  deps.images = images;
  deps.applier = parts->diff.get();
  deps.snapshotters = [parts](const std::string& name) -> absl::StatusOr<snapshot::Snapshotter*> {
    if (name.empty()) return InvalidArgumentError("snapshotter name must not be empty");
    std::lock_guard<std::mutex> lock(parts->snapshotters_mu);
    std::unique_ptr<proxy::SnapshotProxy>& sn = parts->snapshotters[name];
    if (sn == nullptr) sn = std::make_unique<proxy::SnapshotProxy>(parts->snapshot_channel, name);
    return sn.get();
  };
  deps.leases = parts->gateway.get();
  deps.namespaces = parts->gateway.get();
  // The push reads what pulls stored, with the same registry configuration.
  push::PusherOptions push_options;
  push_options.max_concurrent_uploads = options.max_concurrent_downloads;
  push_options.registry = options.registry;
  parts->puller = std::make_unique<pull::Puller>(std::move(deps), std::move(options));
  push::PusherDeps push_deps;
  push_deps.content = parts->content.get();
  push_deps.images = images;
  parts->pusher = std::make_unique<push::Pusher>(std::move(push_deps), std::move(push_options));
  return absl::OkStatus();
}

absl::Status Run(const Flags& flags) {
  ASSIGN_OR_RETURN(ImageConfig config, LoadConfig(flags));
  RETURN_IF_ERROR(log::Init("image", config.server.log_level));

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
  RocksImageStore rocks(db.get());

  std::unique_ptr<events::NatsPublisher> publisher;
  std::unique_ptr<PublishingStore> publishing;
  Store* images = &rocks;
  if (!config.nats_url.empty()) {
    events::NatsPublisherOptions nats;
    nats.url = config.nats_url;
    nats.client_name = "berth-image";
    ASSIGN_OR_RETURN(publisher, events::NatsPublisher::Create(nats));
    publishing = std::make_unique<PublishingStore>(&rocks, publisher.get());
    images = publishing.get();
  }

  PullParts pull_parts;
  RETURN_IF_ERROR(BuildPull(config, images, &pull_parts));

  server::ServerOptions server_options;
  std::unique_ptr<metrics::Metrics> metrics;
  if (!config.server.metrics_address.empty()) {
    metrics::Options metrics_options;
    metrics_options.address = config.server.metrics_address;
    ASSIGN_OR_RETURN(metrics, metrics::Metrics::Create(metrics_options));
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
    pull::Puller* puller = pull_parts.puller.get();
    using Type = metrics::CallbackMetric::Type;
    for (const auto& [name, help, value] :
         std::vector<std::tuple<std::string, std::string, std::function<double()>>>{
             {"berth_pulls_total", "Server-side pulls that succeeded",
              [puller] { return static_cast<double>(puller->stats().pulls); }},
             {"berth_pull_errors_total", "Server-side pulls that failed",
              [puller] { return static_cast<double>(puller->stats().pull_errors); }},
             {"berth_pull_blobs_fetched_total", "Blobs fetched from registries",
              [puller] { return static_cast<double>(puller->stats().blobs_fetched); }},
             {"berth_pull_bytes_fetched_total", "Bytes fetched from registries",
              [puller] { return static_cast<double>(puller->stats().bytes_fetched); }},
             {"berth_pull_layers_unpacked_total", "Layers applied by server-side pulls",
              [puller] { return static_cast<double>(puller->stats().layers_unpacked); }},
         }) {
      RETURN_IF_ERROR(metrics->AddCallbackMetric({name, help, Type::kCounter, {}, value}));
    }
    RETURN_IF_ERROR(metrics->AddCallbackMetric(
        {"berth_pull_downloads_in_flight",
         "Blobs being fetched by all pulls",
         Type::kGauge,
         {},
         [puller] { return static_cast<double>(puller->downloads_in_flight()); }}));
    server_options.interceptors.push_back(metrics->NewServerInterceptorFactory());
  }

  ImagesService images_service(images);
  server_options.services.push_back(&images_service);
  // Garbage collection (the gateway's): images are its roots.
  CollectableService collectable_service(&rocks);
  server_options.services.push_back(&collectable_service);
  // Server-side pull: berth.image.v1.Pull, and containerd's Transfer (registry -> image store).
  PullService pull_service(pull_parts.puller.get(), pull_parts.pusher.get());
  server_options.services.push_back(&pull_service);
  TransferService transfer_service(pull_parts.puller.get());
  server_options.services.push_back(&transfer_service);
  ASSIGN_OR_RETURN(std::unique_ptr<server::Server> server,
                   server::Server::Start(config.server, std::move(server_options)));
  log::Info("serving address={:?} root={:?}", server->address(), config.server.root);
  RETURN_IF_ERROR(server->Run());
  server.reset();
  if (publisher != nullptr) publisher->Close();
  return absl::OkStatus();
}

}  // namespace
}  // namespace berth::image

int main(int argc, char** argv) {
  using namespace berth;
  // Before anything starts a thread.
  if (absl::Status s = server::BlockShutdownSignals(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  image::Flags flags;
  CLI::App app("berth-image: image records of berth (containerd's Images service)");
  app.add_option("--config", flags.config, "config file (TOML, section [image])");
  app.add_option("--root", flags.root, "override [image] root");
  app.add_option("--address", flags.address, "override [image] address");
  app.add_option("--ready-file", flags.ready_file, "override [image] ready_file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  flags.config_given = app.count("--config") > 0;
  if (absl::Status s = image::Run(flags); !s.ok()) {
    log::Error("berth-image failed error={:?}", s.ToString());
    return 1;
  }
  return 0;
}
