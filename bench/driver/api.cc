#include "bench/driver/api.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <utility>

#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/status/grpc_status.h"
#include "lib/status/status.h"
#include "nlohmann/json.hpp"
#include "proto/containerd/runtime/v2/runc/options/oci.pb.h"

namespace berth::bench {
namespace {

namespace containers_v1 = ::containerd::services::containers::v1;
namespace content_v1 = ::containerd::services::content::v1;
namespace diff_v1 = ::containerd::services::diff::v1;
namespace images_v1 = ::containerd::services::images::v1;
namespace leases_v1 = ::containerd::services::leases::v1;
namespace snapshots_v1 = ::containerd::services::snapshots::v1;
namespace tasks_v1 = ::containerd::services::tasks::v1;

constexpr char kSpecTypeUrl[] = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
constexpr char kRuntime[] = "io.containerd.runc.v2";

// `call "object": message`, keeping the gRPC code.
absl::Status Err(const grpc::Status& s, const std::string& call, const std::string& object) {
  if (s.ok()) return absl::OkStatus();
  absl::Status st = FromGrpcStatus(s);
  std::string msg = object.empty() ? call : fmt::format("{} \"{}\"", call, object);
  return Annotate(st, msg);
}

std::string Target(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) return address;
  if (!address.empty() && address[0] == '/') return "unix://" + address;
  return address;
}

}  // namespace

Api::Api(const std::string& address, std::string ns, std::chrono::milliseconds timeout)
    : ns_(std::move(ns)), timeout_(timeout) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel(Target(address), grpc::InsecureChannelCredentials(), args);
  version_ = containerd::services::version::v1::Version::NewStub(channel_);
  content_ = content_v1::Content::NewStub(channel_);
  images_ = images_v1::Images::NewStub(channel_);
  leases_ = leases_v1::Leases::NewStub(channel_);
  snapshots_ = snapshots_v1::Snapshots::NewStub(channel_);
  diff_ = diff_v1::Diff::NewStub(channel_);
  containers_ = containers_v1::Containers::NewStub(channel_);
  tasks_ = tasks_v1::Tasks::NewStub(channel_);
  pull_ = ::berth::image::v1::Pull::NewStub(channel_);
}

std::unique_ptr<grpc::ClientContext> Api::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("containerd-namespace", ns_);
  if (!lease_.empty()) ctx->AddMetadata("containerd-lease", lease_);
  ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
  // Wait for a channel that is still connecting instead of failing the first call at once.
  ctx->set_wait_for_ready(true);
  return ctx;
}

absl::StatusOr<std::string> Api::LeaseCreate() {
  auto ctx = Context();
  leases_v1::CreateRequest req;
  // A random-enough id, as containerd's client makes one (time + random suffix).
  static std::atomic<uint64_t> counter{0};
  req.set_id(fmt::format("bench-{}-{}-{}", ::getpid(),
                         std::chrono::steady_clock::now().time_since_epoch().count(), counter++));
  leases_v1::CreateResponse resp;
  RETURN_IF_ERROR(Err(leases_->Create(ctx.get(), req, &resp), "Leases.Create", req.id()));
  return resp.lease().id();
}

absl::Status Api::LeaseDelete(const std::string& id) {
  auto ctx = Context();
  leases_v1::DeleteRequest req;
  req.set_id(id);
  google::protobuf::Empty resp;
  return Err(leases_->Delete(ctx.get(), req, &resp), "Leases.Delete", id);
}

absl::StatusOr<std::string> Api::Version() {
  auto ctx = Context();
  google::protobuf::Empty req;
  containerd::services::version::v1::VersionResponse resp;
  RETURN_IF_ERROR(Err(version_->Version(ctx.get(), req, &resp), "Version.Version", ""));
  return resp.version();
}

absl::StatusOr<content_v1::Info> Api::ContentInfo(const std::string& digest) {
  auto ctx = Context();
  content_v1::InfoRequest req;
  req.set_digest(digest);
  content_v1::InfoResponse resp;
  RETURN_IF_ERROR(Err(content_->Info(ctx.get(), req, &resp), "Content.Info", digest));
  return resp.info();
}

absl::StatusOr<int64_t> Api::ContentList() {
  auto ctx = Context();
  content_v1::ListContentRequest req;
  auto reader = content_->List(ctx.get(), req);
  content_v1::ListContentResponse resp;
  int64_t n = 0;
  while (reader->Read(&resp)) n += resp.info_size();
  RETURN_IF_ERROR(Err(reader->Finish(), "Content.List", ""));
  return n;
}

absl::StatusOr<std::vector<std::string>> Api::ContentDigests(const std::string& filter) {
  auto ctx = Context();
  content_v1::ListContentRequest req;
  if (!filter.empty()) req.add_filters(filter);
  auto reader = content_->List(ctx.get(), req);
  content_v1::ListContentResponse resp;
  std::vector<std::string> out;
  while (reader->Read(&resp)) {
    for (const auto& info : resp.info()) out.push_back(info.digest());
  }
  RETURN_IF_ERROR(Err(reader->Finish(), "Content.List", filter));
  return out;
}

absl::StatusOr<std::string> Api::WriteBlob(const std::string& ref, const std::string& data,
                                           const std::map<std::string, std::string>& labels) {
  const std::string expected = digest::FromBytes(data).ToString();
  auto ctx = Context();
  auto stream = content_->Write(ctx.get());
  content_v1::WriteContentResponse resp;
  content_v1::WriteContentRequest req;
  // As containerd's remote writer: STAT first (resumes nothing here), then the data, then
  // COMMIT with the size, digest and labels.
  req.set_action(content_v1::STAT);
  req.set_ref(ref);
  bool ok = stream->Write(req) && stream->Read(&resp);
  if (ok) {
    req.Clear();
    req.set_action(content_v1::WRITE);
    req.set_ref(ref);
    req.set_total(static_cast<int64_t>(data.size()));
    req.set_expected(expected);
    req.set_offset(0);
    req.set_data(data);
    ok = stream->Write(req) && stream->Read(&resp);
  }
  if (ok) {
    req.Clear();
    req.set_action(content_v1::COMMIT);
    req.set_ref(ref);
    // The offset the ingest is at: offset 0 on a non-empty ingest would truncate it.
    req.set_offset(static_cast<int64_t>(data.size()));
    req.set_total(static_cast<int64_t>(data.size()));
    req.set_expected(expected);
    for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
    ok = stream->Write(req) && stream->Read(&resp);
  }
  stream->WritesDone();
  // containerd sends the last response once more when the stream ends: read until the end,
  // as Finish must only be called once nothing is left to read.
  while (stream->Read(&resp)) {
  }
  grpc::Status st = stream->Finish();
  RETURN_IF_ERROR(Err(st, "Content.Write", ref));
  if (!ok) return absl::InternalError(fmt::format("Content.Write \"{}\": stream ended early", ref));
  return expected;
}

absl::Status Api::ContentDelete(const std::string& digest) {
  auto ctx = Context();
  content_v1::DeleteContentRequest req;
  req.set_digest(digest);
  google::protobuf::Empty resp;
  return Err(content_->Delete(ctx.get(), req, &resp), "Content.Delete", digest);
}

absl::Status Api::ImageCreate(const std::string& name, const std::string& media_type,
                              const std::string& digest, int64_t size) {
  auto ctx = Context();
  images_v1::CreateImageRequest req;
  images_v1::Image* image = req.mutable_image();
  image->set_name(name);
  image->mutable_target()->set_media_type(media_type);
  image->mutable_target()->set_digest(digest);
  image->mutable_target()->set_size(size);
  images_v1::CreateImageResponse resp;
  return Err(images_->Create(ctx.get(), req, &resp), "Images.Create", name);
}

absl::Status Api::ImageGet(const std::string& name) {
  auto ctx = Context();
  images_v1::GetImageRequest req;
  req.set_name(name);
  images_v1::GetImageResponse resp;
  return Err(images_->Get(ctx.get(), req, &resp), "Images.Get", name);
}

absl::StatusOr<std::vector<std::string>> Api::ImageNames() {
  auto ctx = Context();
  images_v1::ListImagesRequest req;
  images_v1::ListImagesResponse resp;
  RETURN_IF_ERROR(Err(images_->List(ctx.get(), req, &resp), "Images.List", ""));
  std::vector<std::string> out;
  for (const auto& image : resp.images()) out.push_back(image.name());
  return out;
}

absl::Status Api::ImageDelete(const std::string& name) {
  auto ctx = Context();
  images_v1::DeleteImageRequest req;
  req.set_name(name);
  google::protobuf::Empty resp;
  return Err(images_->Delete(ctx.get(), req, &resp), "Images.Delete", name);
}

absl::StatusOr<Mounts> Api::Prepare(const std::string& snapshotter, const std::string& key,
                                    const std::string& parent) {
  auto ctx = Context();
  snapshots_v1::PrepareSnapshotRequest req;
  req.set_snapshotter(snapshotter);
  req.set_key(key);
  req.set_parent(parent);
  snapshots_v1::PrepareSnapshotResponse resp;
  RETURN_IF_ERROR(Err(snapshots_->Prepare(ctx.get(), req, &resp), "Snapshots.Prepare", key));
  return Mounts(resp.mounts().begin(), resp.mounts().end());
}

absl::Status Api::Commit(const std::string& snapshotter, const std::string& name,
                         const std::string& key) {
  auto ctx = Context();
  snapshots_v1::CommitSnapshotRequest req;
  req.set_snapshotter(snapshotter);
  req.set_name(name);
  req.set_key(key);
  google::protobuf::Empty resp;
  return Err(snapshots_->Commit(ctx.get(), req, &resp), "Snapshots.Commit", key);
}

absl::Status Api::SnapshotRemove(const std::string& snapshotter, const std::string& key) {
  auto ctx = Context();
  snapshots_v1::RemoveSnapshotRequest req;
  req.set_snapshotter(snapshotter);
  req.set_key(key);
  google::protobuf::Empty resp;
  return Err(snapshots_->Remove(ctx.get(), req, &resp), "Snapshots.Remove", key);
}

absl::StatusOr<std::vector<std::string>> Api::SnapshotKeys(const std::string& snapshotter) {
  auto ctx = Context();
  snapshots_v1::ListSnapshotsRequest req;
  req.set_snapshotter(snapshotter);
  auto reader = snapshots_->List(ctx.get(), req);
  snapshots_v1::ListSnapshotsResponse resp;
  std::vector<std::string> out;
  while (reader->Read(&resp)) {
    for (const auto& info : resp.info()) out.push_back(info.name());
  }
  RETURN_IF_ERROR(Err(reader->Finish(), "Snapshots.List", snapshotter));
  return out;
}

absl::StatusOr<std::string> Api::Apply(const std::string& media_type, const std::string& digest,
                                       int64_t size, const Mounts& mounts) {
  auto ctx = Context();
  diff_v1::ApplyRequest req;
  req.mutable_diff()->set_media_type(media_type);
  req.mutable_diff()->set_digest(digest);
  req.mutable_diff()->set_size(size);
  for (const auto& m : mounts) *req.add_mounts() = m;
  diff_v1::ApplyResponse resp;
  RETURN_IF_ERROR(Err(diff_->Apply(ctx.get(), req, &resp), "Diff.Apply", digest));
  return resp.applied().digest();
}

absl::StatusOr<int> Api::ServerPull(const std::string& ref, bool plain_http, bool unpack) {
  auto ctx = Context();
  ::berth::image::v1::PullRequest req;
  req.set_ref(ref);
  req.set_plain_http(plain_http);
  req.set_unpack(unpack);
  auto reader = pull_->Pull(ctx.get(), req);
  ::berth::image::v1::PullProgress progress;
  int messages = 0;
  bool image = false;
  while (reader->Read(&progress)) {
    ++messages;
    image = image || progress.has_image();
  }
  RETURN_IF_ERROR(Err(reader->Finish(), "Pull.Pull", ref));
  if (!image) {
    return absl::InternalError(
        fmt::format("Pull.Pull \"{}\": the stream ended without the image record", ref));
  }
  return messages;
}

std::string Api::SpecJson(const std::string& id, const ContainerSpec& spec) const {
  // `ctr oci spec` (containerd 1.6's default spec), with the process and cgroup filled in.
  using nlohmann::json;
  const json caps = {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
                     "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
                     "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                     "CAP_KILL",    "CAP_AUDIT_WRITE"};
  json s = {
      {"ociVersion", "1.0.2-dev"},
      {"process",
       {{"user", {{"uid", 0}, {"gid", 0}}},
        {"args", spec.args},
        {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}}},
      {"hostname", ""},
      {"mounts",
       {{{"destination", "/proc"},
         {"type", "proc"},
         {"source", "proc"},
         {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/dev"},
         {"type", "tmpfs"},
         {"source", "tmpfs"},
         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"},
         {"type", "devpts"},
         {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
        {{"destination", "/dev/shm"},
         {"type", "tmpfs"},
         {"source", "shm"},
         {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        {{"destination", "/dev/mqueue"},
         {"type", "mqueue"},
         {"source", "mqueue"},
         {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/sys"},
         {"type", "sysfs"},
         {"source", "sysfs"},
         {"options", {"nosuid", "noexec", "nodev", "ro"}}},
        {{"destination", "/run"},
         {"type", "tmpfs"},
         {"source", "tmpfs"},
         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}}}},
      {"linux",
       {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"cgroupsPath", "/" + ns_ + "/" + id},
        {"namespaces",
         {{{"type", "pid"}},
          {{"type", "ipc"}},
          {{"type", "uts"}},
          {{"type", "mount"}},
          {{"type", "network"}}}},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}}};
  return s.dump();
}

absl::Status Api::ContainerCreate(const std::string& id, const std::string& snapshotter,
                                  const std::string& snapshot_key, const ContainerSpec& spec) {
  auto ctx = Context();
  containers_v1::CreateContainerRequest req;
  containers_v1::Container* c = req.mutable_container();
  c->set_id(id);
  c->mutable_runtime()->set_name(kRuntime);
  if (!spec.runtime_binary.empty()) {
    containerd::runc::v1::Options options;
    options.set_binary_name(spec.runtime_binary);
    c->mutable_runtime()->mutable_options()->set_type_url("containerd.runc.v1.Options");
    c->mutable_runtime()->mutable_options()->set_value(options.SerializeAsString());
  }
  c->mutable_spec()->set_type_url(kSpecTypeUrl);
  c->mutable_spec()->set_value(SpecJson(id, spec));
  c->set_snapshotter(snapshotter);
  c->set_snapshot_key(snapshot_key);
  containers_v1::CreateContainerResponse resp;
  return Err(containers_->Create(ctx.get(), req, &resp), "Containers.Create", id);
}

absl::Status Api::ContainerGet(const std::string& id) {
  auto ctx = Context();
  containers_v1::GetContainerRequest req;
  req.set_id(id);
  containers_v1::GetContainerResponse resp;
  return Err(containers_->Get(ctx.get(), req, &resp), "Containers.Get", id);
}

absl::StatusOr<int64_t> Api::ContainerList() {
  auto ctx = Context();
  containers_v1::ListContainersRequest req;
  containers_v1::ListContainersResponse resp;
  RETURN_IF_ERROR(Err(containers_->List(ctx.get(), req, &resp), "Containers.List", ""));
  return resp.containers_size();
}

absl::StatusOr<std::vector<std::string>> Api::ContainerIds() {
  auto ctx = Context();
  containers_v1::ListContainersRequest req;
  containers_v1::ListContainersResponse resp;
  RETURN_IF_ERROR(Err(containers_->List(ctx.get(), req, &resp), "Containers.List", ""));
  std::vector<std::string> out;
  for (const auto& c : resp.containers()) out.push_back(c.id());
  return out;
}

absl::Status Api::ContainerDelete(const std::string& id) {
  auto ctx = Context();
  containers_v1::DeleteContainerRequest req;
  req.set_id(id);
  google::protobuf::Empty resp;
  return Err(containers_->Delete(ctx.get(), req, &resp), "Containers.Delete", id);
}

absl::Status Api::TaskCreate(const std::string& id, const Mounts& rootfs) {
  auto ctx = Context();
  tasks_v1::CreateTaskRequest req;
  req.set_container_id(id);
  for (const auto& m : rootfs) *req.add_rootfs() = m;
  tasks_v1::CreateTaskResponse resp;
  return Err(tasks_->Create(ctx.get(), req, &resp), "Tasks.Create", id);
}

absl::Status Api::TaskStart(const std::string& id) {
  auto ctx = Context();
  tasks_v1::StartRequest req;
  req.set_container_id(id);
  tasks_v1::StartResponse resp;
  return Err(tasks_->Start(ctx.get(), req, &resp), "Tasks.Start", id);
}

absl::StatusOr<uint32_t> Api::TaskWait(const std::string& id) {
  auto ctx = Context();
  tasks_v1::WaitRequest req;
  req.set_container_id(id);
  tasks_v1::WaitResponse resp;
  RETURN_IF_ERROR(Err(tasks_->Wait(ctx.get(), req, &resp), "Tasks.Wait", id));
  return resp.exit_status();
}

absl::Status Api::TaskKill(const std::string& id, uint32_t signal) {
  auto ctx = Context();
  tasks_v1::KillRequest req;
  req.set_container_id(id);
  req.set_signal(signal);
  req.set_all(true);
  google::protobuf::Empty resp;
  return Err(tasks_->Kill(ctx.get(), req, &resp), "Tasks.Kill", id);
}

absl::Status Api::TaskDelete(const std::string& id) {
  auto ctx = Context();
  tasks_v1::DeleteTaskRequest req;
  req.set_container_id(id);
  tasks_v1::DeleteResponse resp;
  return Err(tasks_->Delete(ctx.get(), req, &resp), "Tasks.Delete", id);
}

}  // namespace berth::bench
