// berth-snapshot: the snapshotters and the Diff service as their own process. Only builds
// and wires objects:
//
//   berth-snapshot [--config /etc/berth/config.toml] [--root DIR] [--address ADDR]
//                  [--content-address ADDR] [--ready-file FILE]
//
// Reads `[snapshot]` (services/snapshot/config.h); the flags override its keys. Without
// --config, a missing default config file means all defaults.
//
// At start each snapshotter reconciles its directories with the metadata (Cleanup: orphans
// of interrupted calls go) and temporary mounts left by a crash of this process are undone.
// Nothing a client mounted is ever unmounted: snapshot mounts belong to whoever mounted them.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/proxy/content_proxy.h"
#include "lib/events/nats_publisher.h"
#include "lib/log/log.h"
#include "lib/metrics/metrics.h"
#include "lib/server/config.h"
#include "lib/server/dial.h"
#include "lib/server/server.h"
#include "lib/status/status.h"
#include "services/snapshot/admin.h"
#include "services/snapshot/config.h"
#include "services/snapshot/diff/fs_applier.h"
#include "services/snapshot/diff/walking_diff.h"
#include "services/snapshot/fs.h"
#include "services/snapshot/metadata.h"
#include "services/snapshot/mount.h"
#include "services/snapshot/native_snapshotter.h"
#include "services/snapshot/overlay_snapshotter.h"
#include "services/snapshot/server/admin_service.h"
#include "services/snapshot/server/collectable_service.h"
#include "services/snapshot/server/diff_service.h"
#include "services/snapshot/server/snapshots_service.h"
#include "services/snapshot/sweep_guard.h"

namespace berth::snapshot {
namespace {

struct Flags {
  std::string config = server::kDefaultConfigPath;
  bool config_given = false;
  std::string root;
  std::string address;
  std::string content_address;
  std::string ready_file;
};

absl::StatusOr<SnapshotConfig> LoadConfig(const Flags& flags) {
  std::function<absl::StatusOr<SnapshotConfig>(server::ConfigSection&)> parse = ParseSnapshotConfig;
  absl::StatusOr<SnapshotConfig> config = server::LoadSection(flags.config, "snapshot", parse);
  if (IsNotFound(config.status()) && !flags.config_given) {
    ASSIGN_OR_RETURN(server::ConfigFile empty, server::ConfigFile::Parse("", flags.config));
    ASSIGN_OR_RETURN(server::ConfigSection section, empty.Section("snapshot"));
    config = parse(section);
  }
  if (!config.ok()) return config.status();
  if (!flags.root.empty()) config->server.root = flags.root;
  if (!flags.address.empty()) {
    RETURN_IF_ERROR(server::ParseListenAddress(flags.address).status());
    config->server.address = flags.address;
  }
  if (!flags.content_address.empty()) {
    RETURN_IF_ERROR(server::ParseListenAddress(flags.content_address).status());
    config->content_address = flags.content_address;
  }
  if (!flags.ready_file.empty()) config->server.ready_file = flags.ready_file;
  return config;
}

// Undoes temporary mounts a crashed run left under `dir` (Diff's own, never a client's).
void CleanTemporaryMounts(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("mount-", 0) == 0) names.push_back(n);
  }
  closedir(d);
  for (const std::string& n : names) {
    const std::string path = dir + "/" + n;
    absl::Status s = UnmountAll(path, /*detach=*/true);
    if (!s.ok()) log::Warn("stale temporary mount not undone path={:?}: {}", path, s.ToString());
    if (rmdir(path.c_str()) != 0) {
      log::Warn("stale temporary mount point not removed path={:?}", path);
    } else {
      log::Info("removed stale temporary mount point path={:?}", path);
    }
  }
}

absl::Status Run(const Flags& flags) {
  ASSIGN_OR_RETURN(SnapshotConfig config, LoadConfig(flags));
  RETURN_IF_ERROR(log::Init("snapshot", config.server.log_level));
  const std::string& root = config.server.root;
  if (mkdir(root.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus("mkdir", root, errno);
  }
  if (chmod(root.c_str(), 0700) != 0) return ErrnoToStatus("chmod", root, errno);

  ASSIGN_OR_RETURN(std::unique_ptr<MetaStore> meta, MetaStore::Open(root + "/meta"));
  std::vector<std::unique_ptr<DirectorySnapshotter>> owned;
  std::map<std::string, Snapshotter*> snapshotters;
  for (const std::string& name : config.snapshotters) {
    std::unique_ptr<DirectorySnapshotter> sn;
    if (name == OverlaySnapshotter::kName) {
      absl::StatusOr<std::unique_ptr<OverlaySnapshotter>> o =
          OverlaySnapshotter::Create(root + "/" + name, meta.get());
      if (!o.ok()) {
        // As containerd: a snapshotter that cannot work here is not loaded; requests for it
        // get "snapshotter not loaded".
        log::Error("snapshotter not loaded name={}: {}", name, o.status().ToString());
        continue;
      }
      sn = std::move(*o);
    } else {
      ASSIGN_OR_RETURN(sn, NativeSnapshotter::Create(root + "/" + name, meta.get()));
    }
    RETURN_IF_ERROR(sn->Cleanup(CallContext::Background()));
    snapshotters[name] = sn.get();
    owned.push_back(std::move(sn));
  }
  if (snapshotters.empty()) return FailedPreconditionError("no snapshotter could be loaded");
  const std::string tmp = root + "/tmp";
  if (mkdir(tmp.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoToStatus("mkdir", tmp, errno);
  CleanTemporaryMounts(tmp);

  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   server::DialService(config.content_address));
  proxy::ContentProxy content(channel);

  diff::FileSystemApplierOptions apply_options;
  apply_options.temp_dir = tmp;
  apply_options.sync_fs = config.sync_fs;
  apply_options.prefetch = config.prefetch;
  diff::FileSystemApplier applier(&content, apply_options);
  diff::WalkingDiffOptions diff_options;
  diff_options.temp_dir = tmp;
  diff::WalkingDiff differ(&content, diff_options);
  MetaStoreAdmin admin(meta.get());

  std::unique_ptr<events::NatsPublisher> publisher;
  if (!config.nats_url.empty()) {
    events::NatsPublisherOptions nats;
    nats.url = config.nats_url;
    nats.client_name = "berth-snapshot";
    ASSIGN_OR_RETURN(publisher, events::NatsPublisher::Create(nats));
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

  // Garbage collection (the gateway's): removals go to the snapshotters themselves, without
  // events, guarded against pulls using what is being removed (sweep_guard.h).
  SweepGuard sweep_guard;
  std::vector<std::unique_ptr<GuardedSnapshotter>> guarded;
  std::map<std::string, Snapshotter*> served;
  for (const auto& [name, sn] : snapshotters) {
    guarded.push_back(std::make_unique<GuardedSnapshotter>(name, sn, &sweep_guard));
    served[name] = guarded.back().get();
  }
  GuardedAdmin guarded_admin(&admin, &sweep_guard);
  CollectableService collectable_service(snapshotters, &sweep_guard);
  SnapshotsService snapshots_service(served, publisher.get());
  DiffService diff_service(&applier, &differ);
  AdminService admin_service(&guarded_admin);
  server_options.services.push_back(&snapshots_service);
  server_options.services.push_back(&diff_service);
  server_options.services.push_back(&admin_service);
  server_options.services.push_back(&collectable_service);
  ASSIGN_OR_RETURN(std::unique_ptr<server::Server> server,
                   server::Server::Start(config.server, std::move(server_options)));
  log::Info("serving address={:?} root={:?} content={:?}", server->address(), root,
            config.content_address);
  RETURN_IF_ERROR(server->Run());
  server.reset();
  if (publisher != nullptr) publisher->Close();
  return absl::OkStatus();
}

}  // namespace
}  // namespace berth::snapshot

int main(int argc, char** argv) {
  using namespace berth;
  // Before anything starts a thread.
  if (absl::Status s = server::BlockShutdownSignals(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  snapshot::Flags flags;
  CLI::App app("berth-snapshot: overlayfs and native snapshotters and the Diff service of berth");
  app.add_option("--config", flags.config, "config file (TOML, section [snapshot])");
  app.add_option("--root", flags.root, "override [snapshot] root");
  app.add_option("--address", flags.address, "override [snapshot] address");
  app.add_option("--content-address", flags.content_address, "override [snapshot] content_address");
  app.add_option("--ready-file", flags.ready_file, "override [snapshot] ready_file");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  flags.config_given = app.count("--config") > 0;
  if (absl::Status s = snapshot::Run(flags); !s.ok()) {
    log::Error("berth-snapshot failed error={:?}", s.ToString());
    return 1;
  }
  return 0;
}
