#include "client/container.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <utility>

#include "client/berth.h"
#include "client/connection.h"
#include "fmt/format.h"
#include "google/protobuf/empty.pb.h"
#include "lib/anytype/anytype.h"
#include "lib/status/status.h"
#include "services/snapshot/mount.h"
#include "services/snapshot/snapshotter.h"

namespace berth {
namespace {

namespace tkpb = containerd::services::tasks::v1;

// Mounts `mounts` read-only on a fresh temporary directory, runs fn on it, and undoes it all
// (containerd's mount.WithTempMount with tryReadonlyMounts).
absl::Status WithTempMount(std::vector<snapshot::Mount> mounts, const oci::RootfsFn& fn) {
  if (mounts.size() == 1 && mounts[0].type == "overlay") mounts[0].options.push_back("ro");
  char tmpl[] = "/tmp/berth-rootfs-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return ErrnoToStatus("mkdtemp", tmpl, errno);
  const std::string dir = tmpl;
  absl::Status s = snapshot::MountAll(mounts, dir);
  if (s.ok()) {
    s = fn(dir);
    absl::Status u = snapshot::UnmountAll(dir, /*detach=*/true);
    if (s.ok()) s = u;
  }
  if (rmdir(dir.c_str()) != 0 && s.ok()) s = ErrnoToStatus("rmdir", dir, errno);
  return s;
}

oci::SpecContext MakeSpecContext(const Client& client, const ContainerRecord& c) {
  oci::SpecContext ctx;
  ctx.client = &client;
  ctx.ns = client.Namespace();
  ctx.id = c.id();
  ctx.snapshotter = c.snapshotter();
  ctx.snapshot_key = c.snapshot_key();
  if (!c.snapshot_key().empty()) {
    Client copy = client;
    std::string sn = c.snapshotter(), key = c.snapshot_key();
    ctx.with_rootfs = [copy, sn, key](const oci::RootfsFn& fn) -> absl::Status {
      ASSIGN_OR_RETURN(std::vector<snapshot::Mount> mounts,
                       copy.SnapshotService(sn)->Mounts(copy.Context(), key));
      return WithTempMount(std::move(mounts), fn);
    };
  }
  return ctx;
}

absl::Status PrepareSnapshot(const Client& client, ContainerRecord* c, const std::string& key,
                             const Image& image, const Labels& labels, bool view) {
  if (c->snapshotter().empty()) {
    ASSIGN_OR_RETURN(std::string sn, client.DefaultSnapshotter());
    c->set_snapshotter(sn);
  }
  ASSIGN_OR_RETURN(std::string parent, image.TopChainID());
  ASSIGN_OR_RETURN(bool unpacked, image.IsUnpacked(c->snapshotter()));
  if (!unpacked) RETURN_IF_ERROR(image.Unpack(c->snapshotter()));
  std::shared_ptr<snapshot::Snapshotter> sn = client.SnapshotService(c->snapshotter());
  absl::Status s = view ? sn->View(client.Context(), key, parent, labels).status()
                        : sn->Prepare(client.Context(), key, parent, labels).status();
  if (!s.ok()) return Annotate(s, fmt::format("container {:?}: snapshot {:?}", c->id(), key));
  c->set_snapshot_key(key);
  // Tells Client::NewContainer to remove the snapshot if the container is not created.
  (*c->mutable_extensions())[kPreparedSnapshotExtension].set_value(key);
  return absl::OkStatus();
}

}  // namespace

absl::Status WithSnapshotCleanup(DeleteConfig* config) {
  config->snapshot_cleanup = true;
  return absl::OkStatus();
}

// --- Container ------------------------------------------------------------------------------

absl::StatusOr<ContainerRecord> Container::Info() const { return client_.Containers().Get(id_); }

absl::StatusOr<oci::Spec> Container::Spec() const {
  ASSIGN_OR_RETURN(ContainerRecord r, Info());
  ASSIGN_OR_RETURN(std::string text, anytype::UnpackJson(r.spec(), anytype::kSpecTypeURL));
  oci::Spec spec = oci::Spec::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) {
    return InvalidArgumentError(fmt::format("container {:?}: spec is not a JSON object", id_));
  }
  return spec;
}

absl::StatusOr<Image> Container::GetImage() const {
  ASSIGN_OR_RETURN(ContainerRecord r, Info());
  if (r.image().empty()) {
    return NotFoundError(fmt::format("container {:?}: made from no image", id_));
  }
  return client_.GetImage(r.image());
}

absl::StatusOr<Labels> Container::GetLabels() const {
  ASSIGN_OR_RETURN(ContainerRecord r, Info());
  return Labels(r.labels().begin(), r.labels().end());
}

absl::StatusOr<Labels> Container::SetLabels(const Labels& labels) const {
  ContainerRecord r;
  r.set_id(id_);
  std::vector<std::string> paths;
  for (const auto& [k, v] : labels) {
    if (!v.empty()) (*r.mutable_labels())[k] = v;
    paths.push_back("labels." + k);
  }
  ASSIGN_OR_RETURN(ContainerRecord updated, client_.Containers().Update(r, paths));
  return Labels(updated.labels().begin(), updated.labels().end());
}

absl::Status Container::UpdateSpec(const oci::Spec& spec) const {
  ContainerRecord r;
  r.set_id(id_);
  ASSIGN_OR_RETURN(*r.mutable_spec(), anytype::PackJson(anytype::kSpecTypeURL, spec.dump()));
  return client_.Containers().Update(r, {"spec"}).status();
}

absl::StatusOr<Task> Container::NewTask(std::vector<NewTaskOpt> opts) const {
  TaskConfig config;
  for (const NewTaskOpt& o : opts) {
    if (!o) continue;
    RETURN_IF_ERROR(o(client_, &config));
  }
  ASSIGN_OR_RETURN(ContainerRecord record, Info());
  tkpb::CreateTaskRequest req;
  req.set_container_id(id_);
  if (config.rootfs.has_value()) {
    for (const auto& m : *config.rootfs) *req.add_rootfs() = m;
  } else if (!record.snapshot_key().empty()) {
    ASSIGN_OR_RETURN(std::vector<snapshot::Mount> mounts,
                     client_.SnapshotService(record.snapshotter())
                         ->Mounts(client_.Context(), record.snapshot_key()));
    for (const snapshot::Mount& m : mounts) {
      containerd::types::Mount* pm = req.add_rootfs();
      pm->set_type(m.type);
      pm->set_source(m.source);
      pm->set_target(m.target);
      for (const std::string& o : m.options) pm->add_options(o);
    }
  }
  cio::Creator creator = config.io;
  if (!creator && config.streams.has_value()) {
    cio::Streams streams = *config.streams;
    streams.terminal = streams.terminal || config.terminal;
    cio::CreatorOptions co;
    co.fifo_dir = client_.Options().fifo_dir;
    creator = cio::NewCreator(std::move(streams), co);
  }
  if (!creator) creator = cio::NullIO();
  ASSIGN_OR_RETURN(std::unique_ptr<cio::IO> io, creator(id_));
  const cio::Config& paths = io->config();
  req.set_stdin(paths.stdin_path);
  req.set_stdout(paths.stdout_path);
  req.set_stderr(paths.stderr_path);
  req.set_terminal(paths.terminal || config.terminal);
  req.set_runtime_path(config.runtime_path);
  if (!config.options.type_url().empty()) *req.mutable_options() = config.options;
  tkpb::CreateTaskResponse resp;
  auto ctx = client_.NewCallContext();
  grpc::Status st = client_.connection()->tasks->Create(ctx.get(), req, &resp);
  if (!st.ok()) {
    (void)io->Close();
    return RpcStatus(st, fmt::format("create task {:?}", id_));
  }
  return Task::FromCreated(client_, id_, resp.pid(), std::move(io));
}

absl::StatusOr<Task> Container::GetTask(
    std::function<absl::StatusOr<std::unique_ptr<cio::IO>>(const cio::Config&)> attach) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  tkpb::GetRequest req;
  req.set_container_id(id_);
  tkpb::GetResponse resp;
  auto ctx = client_.NewCallContext();
  RETURN_IF_ERROR(RpcStatus(client_.connection()->tasks->Get(ctx.get(), req, &resp),
                            fmt::format("get task {:?}", id_)));
  std::unique_ptr<cio::IO> io;
  if (attach) {
    cio::Config existing;
    existing.stdin_path = resp.process().stdin();
    existing.stdout_path = resp.process().stdout();
    existing.stderr_path = resp.process().stderr();
    existing.terminal = resp.process().terminal();
    ASSIGN_OR_RETURN(io, attach(existing));
  }
  return Task::FromCreated(client_, id_, resp.process().pid(), std::move(io));
}

absl::Status Container::Delete(std::vector<DeleteOpt> opts) const {
  DeleteConfig config;
  for (const DeleteOpt& o : opts) {
    if (!o) continue;
    RETURN_IF_ERROR(o(&config));
  }
  ASSIGN_OR_RETURN(ContainerRecord record, Info());
  {
    tkpb::GetRequest req;
    req.set_container_id(id_);
    tkpb::GetResponse resp;
    auto ctx = client_.NewCallContext();
    grpc::Status st = client_.connection()->tasks->Get(ctx.get(), req, &resp);
    if (st.ok()) {
      return FailedPreconditionError(
          fmt::format("delete container {:?}: it has a task (delete the task first)", id_));
    }
    if (st.error_code() != grpc::StatusCode::NOT_FOUND) {
      return RpcStatus(st, fmt::format("delete container {:?}: get task", id_));
    }
  }
  if (config.snapshot_cleanup && !record.snapshot_key().empty()) {
    absl::Status s = client_.SnapshotService(record.snapshotter())
                         ->Remove(client_.Context(), record.snapshot_key());
    if (!s.ok() && !IsNotFound(s)) {
      return Annotate(s, fmt::format("delete container {:?}: remove snapshot {:?}", id_,
                                     record.snapshot_key()));
    }
  }
  return client_.Containers().Delete(id_);
}

// --- options --------------------------------------------------------------------------------

NewContainerOpt WithImage(const Image& image) { return WithImageName(image.Name()); }

NewContainerOpt WithImageName(std::string name) {
  return [name = std::move(name)](const Client&, ContainerRecord* c) {
    c->set_image(name);
    return absl::OkStatus();
  };
}

NewContainerOpt WithSnapshotter(std::string name) {
  return [name = std::move(name)](const Client& client, ContainerRecord* c) -> absl::Status {
    if (name.empty()) {
      ASSIGN_OR_RETURN(std::string def, client.DefaultSnapshotter());
      c->set_snapshotter(def);
    } else {
      c->set_snapshotter(name);
    }
    return absl::OkStatus();
  };
}

NewContainerOpt WithSnapshot(std::string key) {
  return [key = std::move(key)](const Client& client, ContainerRecord* c) -> absl::Status {
    if (c->snapshotter().empty()) {
      ASSIGN_OR_RETURN(std::string sn, client.DefaultSnapshotter());
      c->set_snapshotter(sn);
    }
    RETURN_IF_ERROR(client.SnapshotService(c->snapshotter())->Stat(client.Context(), key).status());
    c->set_snapshot_key(key);
    return absl::OkStatus();
  };
}

NewContainerOpt WithNewSnapshot(std::string key, const Image& image, Labels labels) {
  return [key = std::move(key), image, labels = std::move(labels)](const Client& client,
                                                                   ContainerRecord* c) {
    return PrepareSnapshot(client, c, key, image, labels, /*view=*/false);
  };
}

NewContainerOpt WithNewSnapshotView(std::string key, const Image& image, Labels labels) {
  return [key = std::move(key), image, labels = std::move(labels)](const Client& client,
                                                                   ContainerRecord* c) {
    return PrepareSnapshot(client, c, key, image, labels, /*view=*/true);
  };
}

NewContainerOpt WithNewSpec(std::vector<oci::SpecOpt> opts) {
  return [opts = std::move(opts)](const Client& client, ContainerRecord* c) -> absl::Status {
    oci::SpecContext ctx = MakeSpecContext(client, *c);
    ASSIGN_OR_RETURN(oci::Spec spec, oci::GenerateDefaultSpec(ctx));
    RETURN_IF_ERROR(oci::ApplyOpts(ctx, &spec, opts));
    ASSIGN_OR_RETURN(*c->mutable_spec(), anytype::PackJson(anytype::kSpecTypeURL, spec.dump()));
    return absl::OkStatus();
  };
}

NewContainerOpt WithSpec(oci::Spec spec) {
  return [spec = std::move(spec)](const Client&, ContainerRecord* c) -> absl::Status {
    ASSIGN_OR_RETURN(*c->mutable_spec(), anytype::PackJson(anytype::kSpecTypeURL, spec.dump()));
    return absl::OkStatus();
  };
}

NewContainerOpt WithRuntime(std::string name, google::protobuf::Any options) {
  return [name = std::move(name), options = std::move(options)](const Client&, ContainerRecord* c) {
    c->mutable_runtime()->set_name(name);
    if (options.type_url().empty()) {
      c->mutable_runtime()->clear_options();
    } else {
      *c->mutable_runtime()->mutable_options() = options;
    }
    return absl::OkStatus();
  };
}

NewContainerOpt WithContainerLabels(Labels labels) {
  return [labels = std::move(labels)](const Client&, ContainerRecord* c) {
    for (const auto& [k, v] : labels) (*c->mutable_labels())[k] = v;
    return absl::OkStatus();
  };
}

NewContainerOpt WithContainerExtension(std::string name, google::protobuf::Any value) {
  return [name = std::move(name), value = std::move(value)](const Client&, ContainerRecord* c) {
    (*c->mutable_extensions())[name] = value;
    return absl::OkStatus();
  };
}

oci::SpecOpt WithImageConfig(const Image& image) { return WithImageConfigArgs(image, {}); }

oci::SpecOpt WithImageConfigArgs(const Image& image, std::vector<std::string> args) {
  return
      [image, args = std::move(args)](const oci::SpecContext& ctx, oci::Spec* s) -> absl::Status {
        ASSIGN_OR_RETURN(ImageSpec config, image.Spec());
        oci::Spec& process = (*s)["process"];
        if (!process.is_object()) process = oci::Spec::object();
        std::vector<std::string> defaults = config.env;
        if (defaults.empty()) defaults.push_back(oci::kDefaultPathEnv);
        std::vector<std::string> current;
        if (process.contains("env") && process["env"].is_array()) {
          current = process["env"].get<std::vector<std::string>>();
        }
        process["env"] = oci::ReplaceOrAppendEnv(std::move(defaults), current);
        std::vector<std::string> full = config.entrypoint;
        const std::vector<std::string>& cmd = args.empty() ? config.cmd : args;
        full.insert(full.end(), cmd.begin(), cmd.end());
        process["args"] = full;
        process["cwd"] = config.working_dir.empty() ? "/" : config.working_dir;
        if (!config.user.empty()) {
          RETURN_IF_ERROR(oci::WithUser(config.user)(ctx, s));
          const int64_t uid = (*s)["process"]["user"].value("uid", int64_t{0});
          return oci::WithAdditionalGIDs(std::to_string(uid))(ctx, s);
        }
        // Supplementary groups of root too (CVE-2023-25173).
        return oci::WithAdditionalGIDs("root")(ctx, s);
      };
}

}  // namespace berth
