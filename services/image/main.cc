// berth-image: image records as their own process. Only builds and wires objects:
//
//   berth-image [--config /etc/berth/config.toml] [--root DIR] [--address ADDR]
//               [--ready-file FILE]
//
// Reads `[image]` (services/image/config.h); the flags override its keys. Without --config, a
// missing default config file means all defaults.
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
#include "services/image/config.h"
#include "services/image/publishing_store.h"
#include "services/image/rocks_image_store.h"
#include "services/image/schema.h"
#include "services/image/server/images_service.h"

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

absl::Status Run(const Flags& flags) {
  ASSIGN_OR_RETURN(ImageConfig config, LoadConfig(flags));
  RETURN_IF_ERROR(log::Init("image", config.server.log_level));

  if (mkdir(config.server.root.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus("mkdir", config.server.root, errno);
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
    server_options.interceptors.push_back(metrics->NewServerInterceptorFactory());
  }

  ImagesService images_service(images);
  server_options.services.push_back(&images_service);
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
