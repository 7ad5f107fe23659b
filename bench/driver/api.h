// Api: the containerd v1 gRPC calls the benchmark driver makes, over the generated stubs in
// proto/, against any server that speaks containerd's API (containerd 1.6's socket, berth's
// gateway, or one berth service's own socket). Every call carries the namespace in metadata
// `containerd-namespace`, as containerd's client does, and a deadline.
//
// Errors: the server's gRPC code as absl::Status (NotFound, AlreadyExists, Unavailable, ...),
// the message prefixed with the call and the object, e.g. `Tasks.Start "c-1": ...`.
//
// Thread-safety: an Api is safe to use from several threads (one gRPC channel, stateless
// stubs); the driver shares one Api between its workers like a real client would.
#ifndef BERTH_BENCH_DRIVER_API_H_
#define BERTH_BENCH_DRIVER_API_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/berth/image/v1/pull.grpc.pb.h"
#include "proto/containerd/services/containers/v1/containers.grpc.pb.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"
#include "proto/containerd/services/diff/v1/diff.grpc.pb.h"
#include "proto/containerd/services/images/v1/images.grpc.pb.h"
#include "proto/containerd/services/leases/v1/leases.grpc.pb.h"
#include "proto/containerd/services/snapshots/v1/snapshots.grpc.pb.h"
#include "proto/containerd/services/tasks/v1/tasks.grpc.pb.h"
#include "proto/containerd/services/version/v1/version.grpc.pb.h"
#include "proto/containerd/types/mount.pb.h"

namespace berth::bench {

using Mounts = std::vector<containerd::types::Mount>;

// What a container of the driver runs: an OCI spec like `ctr run`'s default one.
struct ContainerSpec {
  std::vector<std::string> args = {"/bin/true"};
  // The OCI runtime binary (containerd.runc.v1.Options.binary_name in the container's
  // runtime options, as `ctr run --runc-binary`); "" leaves the daemon's default (runc).
  std::string runtime_binary;
  // cgroupsPath is "/<namespace>/<id>", as containerd's client sets it.
};

class Api {
 public:
  // `address`: "unix:///path.sock", "/path.sock" or "host:port". `timeout` bounds each call.
  Api(const std::string& address, std::string ns,
      std::chrono::milliseconds timeout = std::chrono::seconds(60));

  const std::string& ns() const { return ns_; }

  // Leases: Create returns the new lease's id; while `UseLease(id)` is in effect every call
  // carries it (metadata `containerd-lease`), which keeps what the calls create from garbage
  // collection, as containerd's client does around unpacking. UseLease is not thread-safe:
  // set it before calls are made from several threads ("" stops using one).
  absl::StatusOr<std::string> LeaseCreate();
  absl::Status LeaseDelete(const std::string& id);
  void UseLease(std::string id) { lease_ = std::move(id); }

  // Version.Version: the server's version string.
  absl::StatusOr<std::string> Version();

  // Content.
  absl::StatusOr<containerd::services::content::v1::Info> ContentInfo(const std::string& digest);
  // Content.List: how many blobs the namespace holds (the whole stream is read).
  absl::StatusOr<int64_t> ContentList();
  // Content.Write as containerd's client does it (STAT, WRITE, COMMIT on one stream); returns
  // the digest. AlreadyExists when the namespace has the blob.
  absl::StatusOr<std::string> WriteBlob(const std::string& ref, const std::string& data,
                                        const std::map<std::string, std::string>& labels);
  absl::Status ContentDelete(const std::string& digest);
  // Content.List with `filter` (containerd syntax): the digests.
  absl::StatusOr<std::vector<std::string>> ContentDigests(const std::string& filter);

  // Images.
  absl::Status ImageCreate(const std::string& name, const std::string& media_type,
                           const std::string& digest, int64_t size);
  absl::Status ImageGet(const std::string& name);
  absl::StatusOr<std::vector<std::string>> ImageNames();
  absl::Status ImageDelete(const std::string& name);

  // Snapshots (`snapshotter` e.g. "overlayfs").
  absl::StatusOr<Mounts> Prepare(const std::string& snapshotter, const std::string& key,
                                 const std::string& parent);
  absl::Status Commit(const std::string& snapshotter, const std::string& name,
                      const std::string& key);
  absl::Status SnapshotRemove(const std::string& snapshotter, const std::string& key);
  absl::StatusOr<std::vector<std::string>> SnapshotKeys(const std::string& snapshotter);

  // Diff.Apply of the layer `digest` onto `mounts`; returns the applied (uncompressed) digest.
  absl::StatusOr<std::string> Apply(const std::string& media_type, const std::string& digest,
                                    int64_t size, const Mounts& mounts);

  // berth's server-side pull (berth.image.v1.Pull, not in containerd's API): pulls `ref` and,
  // with `unpack`, unpacks it into the default snapshotter; returns how many progress
  // messages came. Internal when the stream ends without the image record; UNIMPLEMENTED from
  // a server without the service (containerd).
  absl::StatusOr<int> ServerPull(const std::string& ref, bool plain_http, bool unpack);

  // Containers. The record has runtime io.containerd.runc.v2 and the spec as an Any
  // "types.containerd.io/opencontainers/runtime-spec/1/Spec" holding JSON.
  absl::Status ContainerCreate(const std::string& id, const std::string& snapshotter,
                               const std::string& snapshot_key, const ContainerSpec& spec);
  absl::Status ContainerGet(const std::string& id);
  // Containers.List (unary): how many records.
  absl::StatusOr<int64_t> ContainerList();
  absl::StatusOr<std::vector<std::string>> ContainerIds();
  absl::Status ContainerDelete(const std::string& id);

  // Tasks, without stdio (no FIFOs: empty stdin/stdout/stderr).
  absl::Status TaskCreate(const std::string& id, const Mounts& rootfs);
  absl::Status TaskStart(const std::string& id);
  // Blocks until the task exits; its exit status.
  absl::StatusOr<uint32_t> TaskWait(const std::string& id);
  absl::Status TaskKill(const std::string& id, uint32_t signal);
  absl::Status TaskDelete(const std::string& id);

  // The OCI spec JSON the driver's containers get.
  std::string SpecJson(const std::string& id, const ContainerSpec& spec) const;

 private:
  std::unique_ptr<grpc::ClientContext> Context() const;

  std::string ns_;
  std::string lease_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<containerd::services::version::v1::Version::Stub> version_;
  std::unique_ptr<containerd::services::content::v1::Content::Stub> content_;
  std::unique_ptr<containerd::services::images::v1::Images::Stub> images_;
  std::unique_ptr<containerd::services::leases::v1::Leases::Stub> leases_;
  std::unique_ptr<containerd::services::snapshots::v1::Snapshots::Stub> snapshots_;
  std::unique_ptr<containerd::services::diff::v1::Diff::Stub> diff_;
  std::unique_ptr<containerd::services::containers::v1::Containers::Stub> containers_;
  std::unique_ptr<containerd::services::tasks::v1::Tasks::Stub> tasks_;
  std::unique_ptr<berth::image::v1::Pull::Stub> pull_;
};

}  // namespace berth::bench

#endif  // BERTH_BENCH_DRIVER_API_H_
