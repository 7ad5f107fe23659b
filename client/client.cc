#include "client/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <time.h>

#include <random>
#include <utility>

#include "client/berth.h"
#include "client/connection.h"
#include "fmt/format.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/field_mask.pb.h"
#include "lib/server/health_client.h"
#include "lib/status/status.h"
#include "proto/containerd/runtime/v2/runc/options/oci.pb.h"

namespace berth {
namespace {

namespace nspb = containerd::services::namespaces::v1;
namespace lspb = containerd::services::leases::v1;
namespace impb = containerd::services::images::v1;
namespace ctpb = containerd::services::containers::v1;

// "unix:/abs" or "host:port" for gRPC, from the forms the client accepts.
absl::StatusOr<std::string> GrpcTarget(const std::string& address) {
  auto unix_path = [&](const std::string& path) -> absl::StatusOr<std::string> {
    if (path.empty() || path[0] != '/') {
      return InvalidArgumentError(
          fmt::format("address {:?}: a unix socket needs an absolute path", address));
    }
    return "unix:" + path;
  };
  if (address.empty()) return InvalidArgumentError("address: empty");
  if (address[0] == '/') return unix_path(address);
  if (address.compare(0, 7, "unix://") == 0) return unix_path(address.substr(7));
  if (address.compare(0, 5, "unix:") == 0) return unix_path(address.substr(5));
  if (address.compare(0, 6, "tcp://") == 0) {
    std::string hostport = address.substr(6);
    size_t colon = hostport.rfind(':');
    if (hostport.empty() || colon == std::string::npos || colon == 0 ||
        colon + 1 == hostport.size()) {
      return InvalidArgumentError(fmt::format("address {:?}: want tcp://host:port", address));
    }
    for (size_t i = colon + 1; i < hostport.size(); ++i) {
      if (hostport[i] < '0' || hostport[i] > '9') {
        return InvalidArgumentError(fmt::format("address {:?}: bad port", address));
      }
    }
    return hostport;
  }
  return InvalidArgumentError(
      fmt::format("address {:?}: want a socket path, unix:///path or tcp://host:port", address));
}

std::string RandomSuffix(size_t n) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  std::string out;
  for (size_t i = 0; i < n; ++i) out += kChars[gen() % (sizeof(kChars) - 1)];
  return out;
}

std::string Rfc3339(Time t) {
  time_t secs = std::chrono::system_clock::to_time_t(t);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Lease LeaseFromProto(const lspb::Lease& l) {
  Lease out;
  out.id = l.id();
  out.created_at = FromProtoTime(l.created_at());
  out.labels.insert(l.labels().begin(), l.labels().end());
  return out;
}

}  // namespace

Time FromProtoTime(const google::protobuf::Timestamp& ts) {
  return Time(std::chrono::duration_cast<Time::duration>(std::chrono::seconds(ts.seconds()) +
                                                         std::chrono::nanoseconds(ts.nanos())));
}

void ToProtoTime(Time t, google::protobuf::Timestamp* ts) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = ns / 1000000000;
  int64_t nanos = ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    --secs;
  }
  ts->set_seconds(secs);
  ts->set_nanos(static_cast<int32_t>(nanos));
}

// --- Client ---------------------------------------------------------------------------------

Client::Client(const std::string& address, ClientOptions options) {
  auto conn = std::make_shared<Connection>();
  conn->options = std::move(options);
  conn->address = address;
  absl::StatusOr<std::string> target = GrpcTarget(address);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(conn->options.max_message_bytes);
  args.SetMaxSendMessageSize(conn->options.max_message_bytes);
  // Reconnect within a second of a restarted gateway, not after gRPC's default backoff
  // (which grows to two minutes): a long-lived client would be refused all that time.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (target.ok()) {
    conn->channel = grpc::CreateCustomChannel(*target, grpc::InsecureChannelCredentials(), args);
  } else {
    conn->address_status = target.status();
    // A channel that never connects, so stubs exist; calls are refused before using it.
    conn->channel = grpc::CreateCustomChannel("unix:/nonexistent/berth-bad-address",
                                              grpc::InsecureChannelCredentials(), args);
  }
  const auto& ch = conn->channel;
  conn->containers = ctpb::Containers::NewStub(ch);
  conn->content = containerd::services::content::v1::Content::NewStub(ch);
  conn->events = containerd::services::events::v1::Events::NewStub(ch);
  conn->images = impb::Images::NewStub(ch);
  conn->introspection = containerd::services::introspection::v1::Introspection::NewStub(ch);
  conn->leases = lspb::Leases::NewStub(ch);
  conn->namespaces = nspb::Namespaces::NewStub(ch);
  conn->snapshots = containerd::services::snapshots::v1::Snapshots::NewStub(ch);
  conn->tasks = containerd::services::tasks::v1::Tasks::NewStub(ch);
  conn->transfer = containerd::services::transfer::v1::Transfer::NewStub(ch);
  conn->version = containerd::services::version::v1::Version::NewStub(ch);
  conn->pull = berth::image::v1::Pull::NewStub(ch);
  conn->admin = berth::gateway::v1::GatewayAdmin::NewStub(ch);
  conn->content_store = std::make_unique<proxy::ContentProxy>(ch);
  conn->diff = std::make_unique<proxy::DiffProxy>(ch);
  ns_ = conn->options.default_namespace;
  timeout_ = conn->options.timeout;
  conn_ = std::move(conn);
}

Client::Client(std::shared_ptr<Connection> conn, std::string ns)
    : conn_(std::move(conn)), ns_(std::move(ns)) {}

Client::~Client() = default;

absl::StatusOr<Client> Client::Connect(const std::string& address, ClientOptions options) {
  Client client(address, std::move(options));
  RETURN_IF_ERROR(client.AddressStatus());
  auto deadline = std::chrono::system_clock::now() + client.Options().connect_timeout;
  if (!client.conn_->channel->WaitForConnected(deadline)) {
    return UnavailableError(fmt::format("connect {:?}: no server answered within {} ms", address,
                                        client.Options().connect_timeout.count()));
  }
  return client;
}

Client Client::WithNamespace(std::string ns) const {
  Client c = *this;
  c.ns_ = std::move(ns);
  return c;
}

Client Client::UsingLease(std::string lease_id) const {
  Client c = *this;
  c.lease_ = std::move(lease_id);
  return c;
}

Client Client::WithTimeout(std::chrono::milliseconds timeout) const {
  Client c = *this;
  c.timeout_ = timeout;
  return c;
}

CallContext Client::Context() const {
  CallContext ctx;
  ctx.ns = ns_;
  ctx.lease = lease_;
  if (timeout_.count() > 0) ctx.deadline = std::chrono::system_clock::now() + timeout_;
  return ctx;
}

const ClientOptions& Client::Options() const { return conn_->options; }

absl::Status Client::AddressStatus() const { return conn_->address_status; }

std::unique_ptr<grpc::ClientContext> Client::NewCallContext(bool stream) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!ns_.empty()) ctx->AddMetadata(kNamespaceMetadataKey, ns_);
  if (!lease_.empty()) ctx->AddMetadata(kLeaseMetadataKey, lease_);
  if (!stream && timeout_.count() > 0) {
    ctx->set_deadline(std::chrono::system_clock::now() + timeout_);
  }
  return ctx;
}

absl::StatusOr<VersionInfo> Client::Version() const {
  RETURN_IF_ERROR(AddressStatus());
  auto ctx = NewCallContext();
  google::protobuf::Empty req;
  containerd::services::version::v1::VersionResponse resp;
  RETURN_IF_ERROR(RpcStatus(conn_->version->Version(ctx.get(), req, &resp), "version"));
  return VersionInfo{resp.version(), resp.revision()};
}

absl::StatusOr<std::string> Client::ServerUUID() const {
  RETURN_IF_ERROR(AddressStatus());
  auto ctx = NewCallContext();
  google::protobuf::Empty req;
  containerd::services::introspection::v1::ServerResponse resp;
  RETURN_IF_ERROR(RpcStatus(conn_->introspection->Server(ctx.get(), req, &resp), "server info"));
  return resp.uuid();
}

absl::StatusOr<bool> Client::IsServing() const {
  RETURN_IF_ERROR(AddressStatus());
  ASSIGN_OR_RETURN(server::HealthStatus st, server::CheckHealth(*conn_->channel));
  return st == server::HealthStatus::kServing;
}

absl::StatusOr<GcReport> Client::GarbageCollect(bool dry_run) const {
  RETURN_IF_ERROR(AddressStatus());
  auto ctx = NewCallContext();
  berth::gateway::v1::GarbageCollectRequest req;
  req.set_dry_run(dry_run);
  berth::gateway::v1::GarbageCollectResponse resp;
  RETURN_IF_ERROR(RpcStatus(conn_->admin->GarbageCollect(ctx.get(), req, &resp), "gc"));
  return std::move(*resp.mutable_report());
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Client::Plugins() const {
  RETURN_IF_ERROR(AddressStatus());
  auto ctx = NewCallContext();
  containerd::services::introspection::v1::PluginsRequest req;
  containerd::services::introspection::v1::PluginsResponse resp;
  RETURN_IF_ERROR(RpcStatus(conn_->introspection->Plugins(ctx.get(), req, &resp), "plugins"));
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : resp.plugins()) {
    out.emplace_back(p.type() + "/" + p.id(), p.has_init_err() ? p.init_err().message() : "");
  }
  return out;
}

NamespaceService Client::Namespaces() const { return NamespaceService(*this); }
LeaseService Client::Leases() const { return LeaseService(*this); }
ImageService Client::Images() const { return ImageService(*this); }
ContainerService Client::Containers() const { return ContainerService(*this); }

content::Store& Client::ContentStore() const { return *conn_->content_store; }

std::shared_ptr<snapshot::Snapshotter> Client::SnapshotService(const std::string& name) const {
  std::string sn = name;
  if (sn.empty()) {
    absl::StatusOr<std::string> def = DefaultSnapshotter();
    sn = def.ok() ? *def : conn_->options.snapshotter;
  }
  std::lock_guard<std::mutex> lock(conn_->mu);
  std::shared_ptr<snapshot::Snapshotter>& s = conn_->snapshotters[sn];
  if (!s) s = std::make_shared<proxy::SnapshotProxy>(conn_->channel, sn);
  return s;
}

snapshot::diff::Applier& Client::DiffService() const { return *conn_->diff; }
snapshot::diff::Comparer& Client::DiffComparer() const { return *conn_->diff; }

absl::StatusOr<std::string> Client::DefaultSnapshotter() const {
  ASSIGN_OR_RETURN(berth::Labels labels, Namespaces().GetLabels(ns_));
  auto it = labels.find("containerd.io/defaults/snapshotter");
  if (it != labels.end() && !it->second.empty()) return it->second;
  return conn_->options.snapshotter;
}

absl::StatusOr<ScopedLease> Client::WithLease(LeaseOptions options) const {
  if (options.expire.count() == 0) options.expire = std::chrono::hours(24);
  ASSIGN_OR_RETURN(Lease lease, Leases().Create(options));
  return ScopedLease(UsingLease(lease.id));
}

// --- ScopedLease ----------------------------------------------------------------------------

ScopedLease::ScopedLease(ScopedLease&& other) noexcept
    : client_(other.client_), active_(other.active_) {
  other.active_ = false;
}

ScopedLease& ScopedLease::operator=(ScopedLease&& other) noexcept {
  if (this != &other) {
    (void)Release();
    client_ = other.client_;
    active_ = other.active_;
    other.active_ = false;
  }
  return *this;
}

ScopedLease::~ScopedLease() { (void)Release(); }

absl::Status ScopedLease::Release(bool sync) {
  if (!active_) return absl::OkStatus();
  active_ = false;
  return client_.Leases().Delete(client_.LeaseID(), sync);
}

// --- NamespaceService -----------------------------------------------------------------------

absl::StatusOr<std::vector<std::string>> NamespaceService::List() const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  nspb::ListNamespacesRequest req;
  nspb::ListNamespacesResponse resp;
  RETURN_IF_ERROR(
      RpcStatus(client_.connection()->namespaces->List(ctx.get(), req, &resp), "list namespaces"));
  std::vector<std::string> out;
  for (const auto& n : resp.namespaces()) out.push_back(n.name());
  return out;
}

absl::StatusOr<Labels> NamespaceService::GetLabels(const std::string& name) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  nspb::GetNamespaceRequest req;
  req.set_name(name);
  nspb::GetNamespaceResponse resp;
  RETURN_IF_ERROR(RpcStatus(client_.connection()->namespaces->Get(ctx.get(), req, &resp),
                            fmt::format("get namespace {:?}", name)));
  return Labels(resp.namespace_().labels().begin(), resp.namespace_().labels().end());
}

absl::Status NamespaceService::Create(const std::string& name, const berth::Labels& labels) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  nspb::CreateNamespaceRequest req;
  req.mutable_namespace_()->set_name(name);
  req.mutable_namespace_()->mutable_labels()->insert(labels.begin(), labels.end());
  nspb::CreateNamespaceResponse resp;
  return RpcStatus(client_.connection()->namespaces->Create(ctx.get(), req, &resp),
                   fmt::format("create namespace {:?}", name));
}

absl::Status NamespaceService::SetLabel(const std::string& name, const std::string& key,
                                        const std::string& value) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  nspb::UpdateNamespaceRequest req;
  req.mutable_namespace_()->set_name(name);
  if (!value.empty()) (*req.mutable_namespace_()->mutable_labels())[key] = value;
  req.mutable_update_mask()->add_paths("labels." + key);
  nspb::UpdateNamespaceResponse resp;
  return RpcStatus(client_.connection()->namespaces->Update(ctx.get(), req, &resp),
                   fmt::format("label namespace {:?}", name));
}

absl::Status NamespaceService::Delete(const std::string& name) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  nspb::DeleteNamespaceRequest req;
  req.set_name(name);
  google::protobuf::Empty resp;
  return RpcStatus(client_.connection()->namespaces->Delete(ctx.get(), req, &resp),
                   fmt::format("delete namespace {:?}", name));
}

// --- LeaseService ---------------------------------------------------------------------------

absl::StatusOr<Lease> LeaseService::Create(const LeaseOptions& options) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  lspb::CreateRequest req;
  std::string id = options.id;
  if (id.empty()) {
    auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    id = fmt::format("{}-{}", nanos, RandomSuffix(6));
  }
  req.set_id(id);
  req.mutable_labels()->insert(options.labels.begin(), options.labels.end());
  if (options.expire.count() > 0) {
    (*req.mutable_labels())["containerd.io/gc.expire"] =
        Rfc3339(std::chrono::system_clock::now() + options.expire);
  }
  lspb::CreateResponse resp;
  RETURN_IF_ERROR(RpcStatus(client_.connection()->leases->Create(ctx.get(), req, &resp),
                            fmt::format("create lease {:?}", id)));
  return LeaseFromProto(resp.lease());
}

absl::StatusOr<std::vector<Lease>> LeaseService::List(
    const std::vector<std::string>& filters) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  lspb::ListRequest req;
  for (const std::string& f : filters) req.add_filters(f);
  lspb::ListResponse resp;
  RETURN_IF_ERROR(
      RpcStatus(client_.connection()->leases->List(ctx.get(), req, &resp), "list leases"));
  std::vector<Lease> out;
  for (const auto& l : resp.leases()) out.push_back(LeaseFromProto(l));
  return out;
}

absl::Status LeaseService::Delete(const std::string& id, bool sync) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  lspb::DeleteRequest req;
  req.set_id(id);
  req.set_sync(sync);
  google::protobuf::Empty resp;
  return RpcStatus(client_.connection()->leases->Delete(ctx.get(), req, &resp),
                   fmt::format("delete lease {:?}", id));
}

absl::Status LeaseService::AddResource(const std::string& id, const LeaseResource& r) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  lspb::AddResourceRequest req;
  req.set_id(id);
  req.mutable_resource()->set_id(r.id);
  req.mutable_resource()->set_type(r.type);
  google::protobuf::Empty resp;
  return RpcStatus(client_.connection()->leases->AddResource(ctx.get(), req, &resp),
                   fmt::format("add {} {:?} to lease {:?}", r.type, r.id, id));
}

absl::Status LeaseService::DeleteResource(const std::string& id, const LeaseResource& r) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  lspb::DeleteResourceRequest req;
  req.set_id(id);
  req.mutable_resource()->set_id(r.id);
  req.mutable_resource()->set_type(r.type);
  google::protobuf::Empty resp;
  return RpcStatus(client_.connection()->leases->DeleteResource(ctx.get(), req, &resp),
                   fmt::format("remove {} {:?} from lease {:?}", r.type, r.id, id));
}

absl::StatusOr<std::vector<LeaseResource>> LeaseService::ListResources(
    const std::string& id) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  lspb::ListResourcesRequest req;
  req.set_id(id);
  lspb::ListResourcesResponse resp;
  RETURN_IF_ERROR(RpcStatus(client_.connection()->leases->ListResources(ctx.get(), req, &resp),
                            fmt::format("list resources of lease {:?}", id)));
  std::vector<LeaseResource> out;
  for (const auto& r : resp.resources()) out.push_back({r.id(), r.type()});
  return out;
}

// --- ImageService ---------------------------------------------------------------------------

absl::StatusOr<ImageRecord> ImageService::Get(const std::string& name) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  impb::GetImageRequest req;
  req.set_name(name);
  impb::GetImageResponse resp;
  RETURN_IF_ERROR(RpcStatus(client_.connection()->images->Get(ctx.get(), req, &resp),
                            fmt::format("get image {:?}", name)));
  return resp.image();
}

absl::StatusOr<std::vector<ImageRecord>> ImageService::List(
    const std::vector<std::string>& filters) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  impb::ListImagesRequest req;
  for (const std::string& f : filters) req.add_filters(f);
  impb::ListImagesResponse resp;
  RETURN_IF_ERROR(
      RpcStatus(client_.connection()->images->List(ctx.get(), req, &resp), "list images"));
  return std::vector<ImageRecord>(resp.images().begin(), resp.images().end());
}

absl::StatusOr<ImageRecord> ImageService::Create(const ImageRecord& image) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  impb::CreateImageRequest req;
  *req.mutable_image() = image;
  impb::CreateImageResponse resp;
  RETURN_IF_ERROR(RpcStatus(client_.connection()->images->Create(ctx.get(), req, &resp),
                            fmt::format("create image {:?}", image.name())));
  return resp.image();
}

absl::StatusOr<ImageRecord> ImageService::Update(const ImageRecord& image,
                                                 const std::vector<std::string>& fieldpaths) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  impb::UpdateImageRequest req;
  *req.mutable_image() = image;
  for (const std::string& p : fieldpaths) req.mutable_update_mask()->add_paths(p);
  impb::UpdateImageResponse resp;
  RETURN_IF_ERROR(RpcStatus(client_.connection()->images->Update(ctx.get(), req, &resp),
                            fmt::format("update image {:?}", image.name())));
  return resp.image();
}

absl::Status ImageService::Delete(const std::string& name, bool sync) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  impb::DeleteImageRequest req;
  req.set_name(name);
  req.set_sync(sync);
  google::protobuf::Empty resp;
  return RpcStatus(client_.connection()->images->Delete(ctx.get(), req, &resp),
                   fmt::format("delete image {:?}", name));
}

// --- ContainerService -----------------------------------------------------------------------

absl::StatusOr<ContainerRecord> ContainerService::Get(const std::string& id) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  ctpb::GetContainerRequest req;
  req.set_id(id);
  ctpb::GetContainerResponse resp;
  RETURN_IF_ERROR(RpcStatus(client_.connection()->containers->Get(ctx.get(), req, &resp),
                            fmt::format("get container {:?}", id)));
  return resp.container();
}

absl::StatusOr<std::vector<ContainerRecord>> ContainerService::List(
    const std::vector<std::string>& filters) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  ctpb::ListContainersRequest req;
  for (const std::string& f : filters) req.add_filters(f);
  std::vector<ContainerRecord> out;
  {
    auto ctx = client_.NewCallContext(/*stream=*/true);
    auto reader = client_.connection()->containers->ListStream(ctx.get(), req);
    ctpb::ListContainerMessage msg;
    while (reader->Read(&msg)) out.push_back(msg.container());
    grpc::Status st = reader->Finish();
    if (st.ok()) return out;
    if (st.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
      return RpcStatus(st, "list containers");
    }
  }
  auto ctx = client_.NewCallContext();
  ctpb::ListContainersResponse resp;
  RETURN_IF_ERROR(
      RpcStatus(client_.connection()->containers->List(ctx.get(), req, &resp), "list containers"));
  return std::vector<ContainerRecord>(resp.containers().begin(), resp.containers().end());
}

absl::StatusOr<ContainerRecord> ContainerService::Create(const ContainerRecord& container) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  ctpb::CreateContainerRequest req;
  *req.mutable_container() = container;
  ctpb::CreateContainerResponse resp;
  RETURN_IF_ERROR(RpcStatus(client_.connection()->containers->Create(ctx.get(), req, &resp),
                            fmt::format("create container {:?}", container.id())));
  return resp.container();
}

absl::StatusOr<ContainerRecord> ContainerService::Update(
    const ContainerRecord& container, const std::vector<std::string>& fieldpaths) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  ctpb::UpdateContainerRequest req;
  *req.mutable_container() = container;
  for (const std::string& p : fieldpaths) req.mutable_update_mask()->add_paths(p);
  ctpb::UpdateContainerResponse resp;
  RETURN_IF_ERROR(RpcStatus(client_.connection()->containers->Update(ctx.get(), req, &resp),
                            fmt::format("update container {:?}", container.id())));
  return resp.container();
}

absl::Status ContainerService::Delete(const std::string& id) const {
  RETURN_IF_ERROR(client_.AddressStatus());
  auto ctx = client_.NewCallContext();
  ctpb::DeleteContainerRequest req;
  req.set_id(id);
  google::protobuf::Empty resp;
  return RpcStatus(client_.connection()->containers->Delete(ctx.get(), req, &resp),
                   fmt::format("delete container {:?}", id));
}

// --- images and containers through the client -------------------------------------------------

absl::StatusOr<Image> Client::GetImage(const std::string& name) const {
  ASSIGN_OR_RETURN(ImageRecord record, Images().Get(name));
  return Image(*this, std::move(record));
}

absl::StatusOr<std::vector<Image>> Client::ListImages(
    const std::vector<std::string>& filters) const {
  ASSIGN_OR_RETURN(std::vector<ImageRecord> records, Images().List(filters));
  std::vector<Image> out;
  for (ImageRecord& r : records) out.emplace_back(*this, std::move(r));
  return out;
}

absl::StatusOr<Container> Client::NewContainer(const std::string& id,
                                               std::vector<NewContainerOpt> opts) const {
  RETURN_IF_ERROR(AddressStatus());
  if (LeaseID().empty()) {
    // As containerd's client: the snapshot an option prepares and the container record that
    // names it are made under a lease, so that a garbage collection between the two cannot
    // remove the snapshot. The record then holds it; the lease goes when this returns.
    ASSIGN_OR_RETURN(ScopedLease lease, WithLease());  // expires in 24 h, as containerd's
    ASSIGN_OR_RETURN(Container leased, lease.client().NewContainer(id, std::move(opts)));
    return Container(*this, leased.ID());
  }
  ContainerRecord record;
  record.set_id(id);
  record.mutable_runtime()->set_name(conn_->options.runtime);
  // As ctr: runc options, empty.
  containerd::runc::v1::Options runc;
  record.mutable_runtime()->mutable_options()->set_type_url(runc.GetDescriptor()->full_name());
  absl::Status s;
  for (const NewContainerOpt& o : opts) {
    if (!o) continue;
    s = o(*this, &record);
    if (!s.ok()) break;
  }
  if (s.ok() && !record.has_spec()) {
    s = InvalidArgumentError(
        fmt::format("create container {:?}: no spec (use WithNewSpec or WithSpec)", id));
  }
  // A snapshot an option prepared for this container goes if the container is not made.
  std::string prepared;
  auto it = record.mutable_extensions()->find(kPreparedSnapshotExtension);
  if (it != record.mutable_extensions()->end()) {
    prepared = it->second.value();
    record.mutable_extensions()->erase(it);
  }
  absl::StatusOr<ContainerRecord> created =
      s.ok() ? Containers().Create(record) : absl::StatusOr<ContainerRecord>(s);
  if (!created.ok()) {
    if (!prepared.empty()) (void)SnapshotService(record.snapshotter())->Remove(Context(), prepared);
    return created.status();
  }
  return Container(*this, created->id());
}

absl::StatusOr<Container> Client::LoadContainer(const std::string& id) const {
  ASSIGN_OR_RETURN(ContainerRecord record, Containers().Get(id));
  return Container(*this, record.id());
}

absl::StatusOr<std::vector<Container>> Client::ListContainers(
    const std::vector<std::string>& filters) const {
  ASSIGN_OR_RETURN(std::vector<ContainerRecord> records, Containers().List(filters));
  std::vector<Container> out;
  for (const ContainerRecord& r : records) out.emplace_back(*this, r.id());
  return out;
}

// --- pull options -----------------------------------------------------------------------------

absl::Status WithPullUnpack(PullConfig* config) {
  config->unpack = true;
  return absl::OkStatus();
}

PullOpt WithPlatform(std::string platform) {
  return [platform = std::move(platform)](PullConfig* c) {
    c->platform = platform;
    return absl::OkStatus();
  };
}

absl::Status WithAllPlatforms(PullConfig* config) {
  config->all_platforms = true;
  return absl::OkStatus();
}

absl::Status WithPlainHTTP(PullConfig* config) {
  config->plain_http = true;
  return absl::OkStatus();
}

PullOpt WithHostsDir(std::string dir) {
  return [dir = std::move(dir)](PullConfig* c) {
    c->hosts_dirs.push_back(dir);
    return absl::OkStatus();
  };
}

PullOpt WithCredentials(std::string username, std::string password) {
  return [username = std::move(username), password = std::move(password)](PullConfig* c) {
    c->username = username;
    c->password = password;
    return absl::OkStatus();
  };
}

PullOpt WithPullProgress(std::function<void(const PullProgress&)> progress) {
  return [progress = std::move(progress)](PullConfig* c) {
    c->progress = progress;
    return absl::OkStatus();
  };
}

const char* PullProgressKindName(PullProgress::Kind kind) {
  switch (kind) {
    case PullProgress::Kind::kResolving:
      return "resolving";
    case PullProgress::Kind::kDownloading:
      return "downloading";
    case PullProgress::Kind::kVerifying:
      return "verifying";
    case PullProgress::Kind::kDone:
      return "done";
    case PullProgress::Kind::kExists:
      return "exists";
    case PullProgress::Kind::kUnpacking:
      return "unpacking";
    case PullProgress::Kind::kUnpacked:
      return "unpacked";
    case PullProgress::Kind::kUnspecified:
      break;
  }
  return "unknown";
}

PullOpt WithPullSnapshotter(std::string snapshotter) {
  return [snapshotter = std::move(snapshotter)](PullConfig* c) {
    c->snapshotter = snapshotter;
    return absl::OkStatus();
  };
}

PullOpt WithPullLabels(berth::Labels labels) {
  return [labels = std::move(labels)](PullConfig* c) {
    c->labels.insert(labels.begin(), labels.end());
    return absl::OkStatus();
  };
}

}  // namespace berth
