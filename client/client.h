// berth::Client: the C++ client of berth (and of any containerd 1.6 daemon), in the shape of
// containerd's Go client. Programs include "client/berth.h", which brings the whole API
// (Client, Image, Container, Task, events, OCI spec options).
//
//   berth::Client client("/run/berth/berth.sock");         // or "unix://...", "tcp://h:p"
//   berth::Client ns = client.WithNamespace("example");     // a view: same connection
//   ASSIGN_OR_RETURN(berth::Image img, ns.GetImage("docker.io/library/busybox:latest"));
//   ASSIGN_OR_RETURN(berth::Container c, ns.NewContainer("demo",
//       berth::WithImage(img), berth::WithNewSnapshot("demo-snap", img),
//       berth::WithNewSpec(berth::WithImageConfig(img), oci::WithProcessArgs({"echo", "hi"}))));
//   ASSIGN_OR_RETURN(berth::Task t, c.NewTask(berth::WithStdio()));
//   auto exited = t.Wait();                                  // before Start: never misses it
//   RETURN_IF_ERROR(t.Start());
//   absl::StatusOr<berth::ExitStatus> status = exited.get();
//   RETURN_IF_ERROR(t.Delete().status());
//
// A Client is a cheap handle: copies share one gRPC channel, and views made with
// WithNamespace / UsingLease / WithTimeout differ only in the namespace, lease and deadline
// every call carries (metadata `containerd-namespace`, `containerd-lease`). The default
// namespace is ClientOptions::default_namespace ("default", as ctr's).
//
// Calls make the same RPCs as containerd's client and ctr (reference/containerd-api.md §4).
// Errors are absl::Status with the server's gRPC code kept (NotFound, AlreadyExists,
// FailedPrecondition, Unavailable when the server cannot be reached, ...); messages name the
// operation and the object. An unparsable address makes every call return InvalidArgument.
//
// Thread-safety: a Client and the objects it returns (Image, Container, Task, services) are
// safe to use from several threads; an EventStream is read by one thread at a time.
#ifndef BERTH_CLIENT_CLIENT_H_
#define BERTH_CLIENT_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "proto/berth/gc/v1/gc.pb.h"
#include "proto/containerd/services/containers/v1/containers.pb.h"
#include "proto/containerd/services/images/v1/images.pb.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace berth {

namespace content {
class Store;
}  // namespace content
namespace snapshot {
class Snapshotter;
namespace diff {
class Applier;
class Comparer;
}  // namespace diff
}  // namespace snapshot

class Client;
class Container;
class ContainerService;
class EventReplay;
class EventStream;
class ImageService;
class LeaseService;
class NamespaceService;
class Image;
class ScopedLease;

// Records as the services store them (the containerd protos).
using ContainerRecord = containerd::services::containers::v1::Container;
using ImageRecord = containerd::services::images::v1::Image;
// What a garbage collection did (berth.gc.v1.Report).
using GcReport = berth::gc::v1::Report;
using Labels = std::map<std::string, std::string>;
using Time = std::chrono::system_clock::time_point;

// Timestamps on the wire (google.protobuf.Timestamp) and back.
Time FromProtoTime(const google::protobuf::Timestamp& ts);
void ToProtoTime(Time t, google::protobuf::Timestamp* ts);

struct ClientOptions {
  // Namespace of calls made through views that did not pick one.
  std::string default_namespace = "default";
  // Deadline of every unary call; zero means none. Streams (events, Wait) never get one.
  std::chrono::milliseconds timeout{0};
  // How long Connect() waits for the server to accept connections.
  std::chrono::milliseconds connect_timeout{10000};
  // Snapshotter used when the namespace has no `containerd.io/defaults/snapshotter` label.
  std::string snapshotter = "overlayfs";
  // Runtime recorded in new containers (runc through berth-shim).
  std::string runtime = "io.containerd.runc.v2";
  // Where FIFOs for task stdio are made.
  std::string fifo_dir = "/run/berth/fifo";
  // Largest gRPC message each way (containerd's default).
  int max_message_bytes = 16 << 20;
};

// One task (init process) as Tasks.List reports it.
struct TaskSummary {
  std::string container_id;
  uint32_t pid = 0;
  // "CREATED", "RUNNING", "STOPPED", "PAUSED", "PAUSING", "UNKNOWN" (ctr's spelling).
  std::string status;
  uint32_t exit_status = 0;
};

struct VersionInfo {
  std::string version;
  std::string revision;
};

// Changes a container record before it is created (containerd's NewContainerOpts).
using NewContainerOpt = std::function<absl::Status(const Client& client, ContainerRecord* c)>;

// One step of a server-side pull (berth.image.v1.PullProgress).
struct PullProgress {
  enum class Kind {
    kUnspecified,
    kResolving,    // the reference is being resolved (ref)
    kDownloading,  // offset of total bytes of blob `digest` stored so far
    kVerifying,    // all bytes in, size and digest being checked
    kDone,         // the blob is stored (the last message of a pull: the image is recorded)
    kExists,       // the blob, or the layer's snapshot, was already there
    kUnpacking,    // layer `digest` is being applied; it becomes snapshot `snapshot`
    kUnpacked,     // the layer is committed as snapshot `snapshot`
  };
  Kind kind = Kind::kUnspecified;
  std::string ref;
  std::string digest;
  std::string media_type;
  // "index", "manifest", "config" or "layer".
  std::string role;
  int64_t offset = 0;
  int64_t total = 0;
  std::string snapshot;
  // Set on the last message: the name of the image recorded.
  std::string image;
};

// "resolving", "downloading", ... for printing.
const char* PullProgressKindName(PullProgress::Kind kind);

// What Pull is asked for (options are plain callables over this struct).
struct PullConfig {
  // Platform specifier ("linux/amd64"); empty: the host's.
  std::string platform;
  // Every platform of an index.
  bool all_platforms = false;
  // Unpack into the snapshotter after fetching.
  bool unpack = false;
  // Snapshotter to unpack into; empty: the namespace default.
  std::string snapshotter;
  // Labels of the image record.
  berth::Labels labels;
  // Registry over plain HTTP instead of HTTPS (ctr --plain-http).
  bool plain_http = false;
  // hosts.toml directories on the server (ctr --hosts-dir).
  std::vector<std::string> hosts_dirs;
  // Registry credentials for the reference's host; empty: the server's configuration.
  std::string username;
  std::string password;
  // Called for every progress step (on the calling thread), when the server reports them.
  std::function<void(const PullProgress&)> progress;
};
using PullOpt = std::function<absl::Status(PullConfig* config)>;

// Unpacks the image after the pull (containerd's WithPullUnpack).
absl::Status WithPullUnpack(PullConfig* config);
// Pulls the given platform ("linux/arm64").
PullOpt WithPlatform(std::string platform);
// Pulls every platform of an index.
absl::Status WithAllPlatforms(PullConfig* config);
// Unpacks into this snapshotter.
PullOpt WithPullSnapshotter(std::string snapshotter);
// Labels on the image record.
PullOpt WithPullLabels(berth::Labels labels);
// Talks to the registry over plain HTTP.
absl::Status WithPlainHTTP(PullConfig* config);
// Reads registry host configuration (hosts.toml) from this directory on the server.
PullOpt WithHostsDir(std::string dir);
// Credentials for the registry.
PullOpt WithCredentials(std::string username, std::string password);
// Reports progress.
PullOpt WithPullProgress(std::function<void(const PullProgress&)> progress);

// One step of an image import or export (Client::Import, Client::Export): a blob moving
// between an archive and the content store.
struct ArchiveProgress {
  enum class Kind {
    kUnspecified,
    kCopying,  // `offset` of `total` bytes of the blob copied so far (first with offset 0)
    kDone,     // the blob is copied (`offset` == `total`); `digest` is set
    kExists,   // import: the content store had the blob already; nothing was copied
  };
  Kind kind = Kind::kUnspecified;
  // The blob's path in the archive ("blobs/sha256/<hex>", or a `docker save` file such as
  // "<id>/layer.tar"); steps of one blob share it.
  std::string path;
  // "sha256:..."; empty while an import has not yet hashed a blob its path does not name.
  std::string digest;
  // Export: "index", "manifest", "config" or "layer". Import: empty (an archive's blobs come
  // before the index that would say).
  std::string role;
  int64_t offset = 0;
  int64_t total = 0;
};

// "copying", "done", "exists" for printing.
const char* ArchiveProgressKindName(ArchiveProgress::Kind kind);

struct ImportOptions {
  // Name given to images of an OCI archive whose index entries carry only a tag
  // (`org.opencontainers.image.ref.name` without a repository): "<base_name>:<tag>".
  std::string base_name;
  // Platform to unpack and check for; empty: the host's.
  std::string platform;
  // Unpack the imported images into `snapshotter` (empty: namespace default).
  bool unpack = false;
  std::string snapshotter;
  // Labels of the image records.
  berth::Labels labels;
  // Called for every step of every blob read from the archive (on the calling thread, a
  // byte-count step per MiB at most).
  std::function<void(const ArchiveProgress&)> progress;
};

// One step of a server-side push (berth.image.v1.PushProgress).
struct PushProgress {
  enum class Kind {
    kUnspecified,
    kPushing,   // blob or manifest `digest` is being pushed
    kUploaded,  // its bytes were sent
    kExists,    // the repository had it already
    kMounted,   // mounted from repository `mounted_from` of the same registry
    kDone,      // the last message: the root `digest` is pushed as `ref`
  };
  Kind kind = Kind::kUnspecified;
  std::string ref;
  std::string digest;
  std::string media_type;
  // "index", "manifest", "config" or "layer".
  std::string role;
  int64_t size = 0;
  std::string mounted_from;
};

// "pushing", "uploaded", ... for printing.
const char* PushProgressKindName(PushProgress::Kind kind);

// What Push is asked for.
struct PushConfig {
  // Where to push; empty: the image's own name.
  std::string target;
  // Platforms whose manifests are pushed from an index; empty: all of the index's.
  std::vector<std::string> platforms;
  // Registry over plain HTTP; hosts.toml directories on the server; credentials.
  bool plain_http = false;
  std::vector<std::string> hosts_dirs;
  std::string username;
  std::string password;
  // > 0: upload blobs in chunks of this many bytes; 0: monolithic.
  int64_t chunk_size = 0;
  // Called for every progress step (on the calling thread).
  std::function<void(const PushProgress&)> progress;
};
using PushOpt = std::function<absl::Status(PushConfig* config)>;

// Pushes to this reference instead of the image's name.
PushOpt WithPushTarget(std::string target);
// Pushes only this platform's manifests of an index.
PushOpt WithPushPlatform(std::string platform);
// Talks to the registry over plain HTTP.
absl::Status WithPushPlainHTTP(PushConfig* config);
// hosts.toml directory on the server.
PushOpt WithPushHostsDir(std::string dir);
// Registry credentials.
PushOpt WithPushCredentials(std::string username, std::string password);
// Chunked uploads of `bytes` per PATCH.
PushOpt WithPushChunkSize(int64_t bytes);
// Reports progress.
PushOpt WithPushProgress(std::function<void(const PushProgress&)> progress);

struct ExportOptions {
  // Platforms whose manifests are exported from an index ("linux/arm64"); empty: every
  // manifest of the index that is in the content store (those of platforms a pull did not
  // fetch are left out). The index itself is exported unchanged, as ctr does.
  std::vector<std::string> platforms;
  // Called for every step of every blob written to the archive (on the calling thread, a
  // byte-count step per MiB at most); documents (indexes, manifests) get one kDone step.
  std::function<void(const ArchiveProgress&)> progress;
  // Leave out manifest.json, the `docker load` index (ctr's --skip-manifest-json). Written by
  // default, as ctr does: per image one manifest (an index's best for `platforms`, else for
  // this host) with its config and layers as blob paths and the familiar names as RepoTags.
  bool skip_docker_manifest = false;
};

struct Lease {
  std::string id;
  Time created_at;
  berth::Labels labels;
};

struct LeaseResource {
  std::string id;    // digest, ingest ref or snapshot key
  std::string type;  // "content", "ingests", "snapshots/<snapshotter>"
};

struct LeaseOptions {
  // Lease id; empty makes one up ("<unix nanos>-<random>").
  std::string id;
  berth::Labels labels;
  // Sets `containerd.io/gc.expire` to now + expire; zero: no expiry (containerd's client
  // uses 24h for pulls).
  std::chrono::seconds expire{0};
};

class Client {
 public:
  // Connects lazily: nothing is sent until the first call. `address` is a socket path
  // ("/run/berth/berth.sock"), "unix:///path" or "tcp://host:port".
  explicit Client(const std::string& address, ClientOptions options = {});
  // As the constructor, then waits up to options.connect_timeout for the server to accept
  // a connection. InvalidArgument for a bad address, Unavailable / DeadlineExceeded when
  // nothing answers.
  static absl::StatusOr<Client> Connect(const std::string& address, ClientOptions options = {});

  Client(const Client&) = default;
  Client& operator=(const Client&) = default;
  Client(Client&&) = default;
  Client& operator=(Client&&) = default;
  ~Client();

  // Views sharing the connection: another namespace, a lease every call carries (resources
  // created through the view are attached to it), a per-call timeout.
  Client WithNamespace(std::string ns) const;
  Client UsingLease(std::string lease_id) const;
  Client WithTimeout(std::chrono::milliseconds timeout) const;

  // The namespace and lease of this view.
  const std::string& Namespace() const { return ns_; }
  const std::string& LeaseID() const { return lease_; }
  // The CallContext of a call made now through this view (namespace, lease, deadline).
  CallContext Context() const;
  const ClientOptions& Options() const;
  // The address error, if the address did not parse; OK otherwise.
  absl::Status AddressStatus() const;

  // --- server ---------------------------------------------------------------------------
  absl::StatusOr<VersionInfo> Version() const;
  // The server's instance UUID (Introspection.Server).
  absl::StatusOr<std::string> ServerUUID() const;
  // grpc.health.v1 Check of the gateway.
  absl::StatusOr<bool> IsServing() const;
  // Introspection.Plugins: "<type>/<id>" of each plugin, with its init error when failed.
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Plugins() const;
  // Runs a garbage collection on the gateway now and waits for it (berth.gateway.v1
  // GatewayAdmin/GarbageCollect; needs no namespace). With dry_run, only marks: the report
  // lists what a sweep would remove. Unavailable when the gateway runs without GC.
  absl::StatusOr<GcReport> GarbageCollect(bool dry_run = false) const;

  // --- services -------------------------------------------------------------------------
  NamespaceService Namespaces() const;
  LeaseService Leases() const;
  ImageService Images() const;
  ContainerService Containers() const;
  // The content store over the gateway (client/proxy). Calls take a CallContext: pass
  // Context() to use this view's namespace and lease.
  content::Store& ContentStore() const;
  // A snapshotter over the gateway; empty name: the namespace default.
  std::shared_ptr<snapshot::Snapshotter> SnapshotService(const std::string& name = "") const;
  snapshot::diff::Applier& DiffService() const;
  snapshot::diff::Comparer& DiffComparer() const;
  // The namespace's `containerd.io/defaults/snapshotter` label, or options.snapshotter.
  absl::StatusOr<std::string> DefaultSnapshotter() const;

  // A new lease (24h expiry unless options say otherwise) and a view of this client that
  // carries it; the lease is deleted when the returned object goes out of scope.
  absl::StatusOr<ScopedLease> WithLease(LeaseOptions options = {}) const;

  // --- images ---------------------------------------------------------------------------
  absl::StatusOr<Image> GetImage(const std::string& name) const;
  absl::StatusOr<std::vector<Image>> ListImages(const std::vector<std::string>& filters = {}) const;
  // Pulls `ref` on the server and returns the image: berth's berth.image.v1.Pull (with
  // progress), or containerd 1.7's Transfer (registry -> image store) when the server has no
  // berth Pull (no progress, no credentials there). Unimplemented when the server has
  // neither; InvalidArgument for a bad reference; the pull's errors (NotFound, DataLoss,
  // Unauthenticated, Unavailable, ...).
  absl::StatusOr<Image> Pull(const std::string& ref, std::vector<PullOpt> opts = {}) const;
  // Pull(ref, WithPullUnpack, WithPlatform("linux/arm64")); defined in client/image.h.
  template <typename... Opts>
  absl::StatusOr<Image> Pull(const std::string& ref, PullOpt first, Opts&&... rest) const;
  // Imports an image archive (OCI image layout or `docker save` format, optionally
  // compressed) read from `fd` until end-of-file: blobs into the content store, one image
  // record per named manifest (created, or updated when the name exists). Runs under a
  // lease of its own, so nothing is collected half-way.
  absl::StatusOr<std::vector<Image>> Import(int fd, const ImportOptions& options = {}) const;
  // Pushes the image named `ref` (as stored, or normalised) to a registry on the server
  // (berth.image.v1.Pull/Push) and returns the digest of the root pushed. Unimplemented when
  // the server has no server-side push; NotFound naming the image when there is none; the
  // push's errors (InvalidArgument, Unauthenticated, Unavailable, ...).
  absl::StatusOr<std::string> Push(const std::string& ref, std::vector<PushOpt> opts = {}) const;
  // Writes the images `names` as an OCI image-layout tar archive to `fd` (as `ctr images
  // export`): oci-layout, index.json (one entry per image, annotated with
  // io.containerd.image.name and org.opencontainers.image.ref.name), blobs/sha256/<hex> for
  // every blob of their trees (each once). NotFound naming an image or a missing blob;
  // InvalidArgument for an empty list or an oversized document; Internal for write errors.
  absl::Status Export(int fd, const std::vector<std::string>& names,
                      const ExportOptions& options = {}) const;

  // --- containers -----------------------------------------------------------------------
  // Creates a container record from the options, applied in order (containerd's
  // NewContainer). The record gets the default runtime and an empty spec unless options
  // set them.
  absl::StatusOr<Container> NewContainer(const std::string& id,
                                         std::vector<NewContainerOpt> opts) const;
  // NewContainer(id, WithImage(img), ...); defined in client/container.h.
  template <typename... Opts>
  absl::StatusOr<Container> NewContainer(const std::string& id, Opts&&... opts) const;
  absl::StatusOr<Container> LoadContainer(const std::string& id) const;
  absl::StatusOr<std::vector<Container>> ListContainers(
      const std::vector<std::string>& filters = {}) const;
  // Every task of the namespace (Tasks.List).
  absl::StatusOr<std::vector<TaskSummary>> ListTasks() const;

  // --- events ---------------------------------------------------------------------------
  // Subscribes to events of every namespace matching `filters` (containerd syntax:
  // `topic=="/tasks/exit"`, `namespace==x`; strings ORed). Returns once the server has the
  // subscription in place, so every event published after this returns is delivered.
  absl::StatusOr<std::unique_ptr<EventStream>> Subscribe(
      const std::vector<std::string>& filters = {}) const;
  // Replays the events berth's gateway keeps in its JetStream stream (berth.gateway.v1
  // GatewayAdmin/ReplayEvents; `berth events --since`): those of every namespace from stream
  // sequence `since` on (0: the oldest kept), in order, each with its sequence, matching
  // `filters` as Subscribe does. Without `follow` the replay ends (Next: OutOfRange) after the
  // last stored event; with it, new events follow as they are stored until Cancel(). The
  // server's errors come from the first Next(): InvalidArgument (bad filter), Unavailable (no
  // event bus), NotFound (no stream), Unimplemented (not a berth gateway).
  absl::StatusOr<std::unique_ptr<EventReplay>> ReplayEvents(
      uint64_t since, const std::vector<std::string>& filters = {}, bool follow = false) const;

  // --- internals (used by the other client classes) ------------------------------------
  struct Connection;
  const std::shared_ptr<Connection>& connection() const { return conn_; }
  // A ClientContext carrying this view's namespace, lease and (unless `stream`) timeout.
  std::unique_ptr<grpc::ClientContext> NewCallContext(bool stream = false) const;

 private:
  Client(std::shared_ptr<Connection> conn, std::string ns);

  std::shared_ptr<Connection> conn_;
  std::string ns_;
  std::string lease_;
  std::chrono::milliseconds timeout_{0};
};

// A lease that is deleted when this object goes out of scope (containerd's
// `ctx, done, err := client.WithLease(ctx)`). client() carries the lease on every call.
class ScopedLease {
 public:
  ScopedLease(ScopedLease&& other) noexcept;
  ScopedLease& operator=(ScopedLease&& other) noexcept;
  ScopedLease(const ScopedLease&) = delete;
  ScopedLease& operator=(const ScopedLease&) = delete;
  // Deletes the lease (errors are dropped; call Release() to see them).
  ~ScopedLease();

  const std::string& ID() const { return client_.LeaseID(); }
  const Client& client() const { return client_; }
  // Deletes the lease now. OK when already released.
  absl::Status Release(bool sync = false);

 private:
  friend class Client;
  explicit ScopedLease(Client client) : client_(std::move(client)), active_(true) {}
  Client client_;
  bool active_ = false;
};

// Namespaces (containerd.services.namespaces.v1). Namespace-scoped calls use the name
// given, not the client's namespace.
class NamespaceService {
 public:
  // Names of every namespace.
  absl::StatusOr<std::vector<std::string>> List() const;
  // Labels of `name` (empty for a namespace that does not exist: namespaces are implicit).
  absl::StatusOr<berth::Labels> GetLabels(const std::string& name) const;
  // AlreadyExists when present.
  absl::Status Create(const std::string& name, const berth::Labels& labels = {}) const;
  // Sets (or with an empty value removes) one label.
  absl::Status SetLabel(const std::string& name, const std::string& key,
                        const std::string& value) const;
  // FailedPrecondition unless empty, NotFound when absent.
  absl::Status Delete(const std::string& name) const;

 private:
  friend class Client;
  explicit NamespaceService(Client client) : client_(std::move(client)) {}
  Client client_;
};

// Leases (containerd.services.leases.v1) in the client's namespace.
class LeaseService {
 public:
  absl::StatusOr<Lease> Create(const LeaseOptions& options = {}) const;
  absl::StatusOr<std::vector<Lease>> List(const std::vector<std::string>& filters = {}) const;
  // `sync`: the server collects garbage before replying.
  absl::Status Delete(const std::string& id, bool sync = false) const;
  absl::Status AddResource(const std::string& id, const LeaseResource& resource) const;
  absl::Status DeleteResource(const std::string& id, const LeaseResource& resource) const;
  absl::StatusOr<std::vector<LeaseResource>> ListResources(const std::string& id) const;

 private:
  friend class Client;
  explicit LeaseService(Client client) : client_(std::move(client)) {}
  Client client_;
};

// Image records (containerd.services.images.v1) in the client's namespace.
class ImageService {
 public:
  absl::StatusOr<ImageRecord> Get(const std::string& name) const;
  absl::StatusOr<std::vector<ImageRecord>> List(const std::vector<std::string>& filters = {}) const;
  // AlreadyExists when the name is taken.
  absl::StatusOr<ImageRecord> Create(const ImageRecord& image) const;
  // Field paths: "labels", "labels.<k>", "target", "annotations"...; none replaces all.
  absl::StatusOr<ImageRecord> Update(const ImageRecord& image,
                                     const std::vector<std::string>& fieldpaths = {}) const;
  absl::Status Delete(const std::string& name, bool sync = false) const;

 private:
  friend class Client;
  explicit ImageService(Client client) : client_(std::move(client)) {}
  Client client_;
};

// Container records (containerd.services.containers.v1) in the client's namespace.
class ContainerService {
 public:
  absl::StatusOr<ContainerRecord> Get(const std::string& id) const;
  // Tries ListStream first and falls back to List (as containerd's client does).
  absl::StatusOr<std::vector<ContainerRecord>> List(
      const std::vector<std::string>& filters = {}) const;
  absl::StatusOr<ContainerRecord> Create(const ContainerRecord& container) const;
  // Field paths: "labels", "labels.<k>", "spec", "extensions", "image", "snapshotkey".
  absl::StatusOr<ContainerRecord> Update(const ContainerRecord& container,
                                         const std::vector<std::string>& fieldpaths = {}) const;
  // The record only: neither the snapshot nor the task.
  absl::Status Delete(const std::string& id) const;

 private:
  friend class Client;
  explicit ContainerService(Client client) : client_(std::move(client)) {}
  Client client_;
};

}  // namespace berth

#endif  // BERTH_CLIENT_CLIENT_H_
