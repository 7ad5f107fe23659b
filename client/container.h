// berth::Container and the options that create one — containerd's client Container and
// NewContainerOpts. Part of "client/berth.h".
//
//   client.NewContainer("redis",
//       WithImage(image),
//       WithNewSnapshot("redis-rootfs", image),
//       WithNewSpec(WithImageConfig(image), oci::WithHostNamespace(oci::kNetworkNamespace)),
//       WithContainerLabels({{"app", "redis"}}));
//
// Options run in order against the record being built, so WithNewSpec must come after the
// options it depends on (WithNewSnapshot for user lookup in the image's /etc/passwd).
//
// Thread-safety: a Container is a handle (client + id); its methods may run concurrently.
#ifndef BERTH_CLIENT_CONTAINER_H_
#define BERTH_CLIENT_CONTAINER_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cio/io.h"
#include "client/client.h"
#include "client/oci/spec.h"
#include "google/protobuf/any.pb.h"

namespace berth {

class Task;
struct TaskConfig;

// Changes how a task is created (containerd's NewTaskOpts plus the IO creator).
using NewTaskOpt = std::function<absl::Status(const Client& client, TaskConfig* config)>;

// What Container::Delete is asked for.
struct DeleteConfig {
  bool snapshot_cleanup = false;
};
using DeleteOpt = std::function<absl::Status(DeleteConfig* config)>;

// Removes the container's rootfs snapshot with the record (containerd's WithSnapshotCleanup;
// a missing snapshot is fine).
absl::Status WithSnapshotCleanup(DeleteConfig* config);

class Container {
 public:
  Container(Client client, std::string id) : client_(std::move(client)), id_(std::move(id)) {}

  const std::string& ID() const { return id_; }
  const Client& client() const { return client_; }

  // The record, fresh from the server.
  absl::StatusOr<ContainerRecord> Info() const;
  // The OCI spec of the record.
  absl::StatusOr<oci::Spec> Spec() const;
  // The image the container was made from. NotFound when it has none.
  absl::StatusOr<Image> GetImage() const;
  absl::StatusOr<Labels> GetLabels() const;
  // Sets labels (an empty value removes a key); returns the resulting labels.
  absl::StatusOr<Labels> SetLabels(const Labels& labels) const;
  // Replaces the spec.
  absl::Status UpdateSpec(const oci::Spec& spec) const;

  // Creates the task (the container's init process, created but not started): the rootfs
  // mounts of the container's snapshot, stdio from the options (none by default).
  // AlreadyExists when it has a task.
  absl::StatusOr<Task> NewTask(std::vector<NewTaskOpt> opts) const;
  // NewTask(WithStdio, WithTerminal); defined in client/task.h.
  template <typename... Opts>
  absl::StatusOr<Task> NewTask(Opts&&... opts) const;
  // The existing task, with its stdio attached through `attach` (null: not attached; the
  // FIFOs the task was created with are left alone). NotFound when there is none.
  absl::StatusOr<Task> GetTask(
      std::function<absl::StatusOr<std::unique_ptr<cio::IO>>(const cio::Config& existing)> attach =
          nullptr) const;

  // Deletes the record (and with WithSnapshotCleanup the snapshot). FailedPrecondition while
  // a task that is not stopped exists.
  absl::Status Delete(std::vector<DeleteOpt> opts = {}) const;
  template <typename... Opts>
  absl::Status Delete(DeleteOpt first, Opts&&... rest) const {
    return Delete(std::vector<DeleteOpt>{std::move(first), DeleteOpt(std::forward<Opts>(rest))...});
  }

 private:
  Client client_;
  std::string id_;
};

template <typename... Opts>
absl::StatusOr<Container> Client::NewContainer(const std::string& id, Opts&&... opts) const {
  return NewContainer(id,
                      std::vector<NewContainerOpt>{NewContainerOpt(std::forward<Opts>(opts))...});
}

// --- NewContainer options -----------------------------------------------------------------

// Records the image name.
NewContainerOpt WithImage(const Image& image);
NewContainerOpt WithImageName(std::string name);
// The snapshotter of the container's rootfs (empty: the namespace default).
NewContainerOpt WithSnapshotter(std::string name);
// Uses the existing snapshot `key` as the rootfs (NotFound when it does not exist).
NewContainerOpt WithSnapshot(std::string key);
// Prepares the writable snapshot `key` on the image's top layer (unpacking the image first
// when needed) and uses it as the rootfs. NewContainer removes it again when the container
// is not created (a later option or the create failed).
NewContainerOpt WithNewSnapshot(std::string key, const Image& image, Labels labels = {});
// As WithNewSnapshot with a read-only view.
NewContainerOpt WithNewSnapshotView(std::string key, const Image& image, Labels labels = {});
// Generates the default spec and applies `opts` to it (in order) — containerd's
// WithNewSpec. User lookups read the rootfs snapshot (mounted read-only for the call) or an
// absolute root.path.
NewContainerOpt WithNewSpec(std::vector<oci::SpecOpt> opts);
template <typename... Opts>
NewContainerOpt WithNewSpec(oci::SpecOpt first, Opts&&... rest) {
  return WithNewSpec(
      std::vector<oci::SpecOpt>{std::move(first), oci::SpecOpt(std::forward<Opts>(rest))...});
}
// Sets the spec as given.
NewContainerOpt WithSpec(oci::Spec spec);
// Runtime name and options (default: ClientOptions::runtime with empty runc options).
NewContainerOpt WithRuntime(std::string name, google::protobuf::Any options = {});
// Adds labels.
NewContainerOpt WithContainerLabels(Labels labels);
// Adds an extension.
NewContainerOpt WithContainerExtension(std::string name, google::protobuf::Any value);

// --- spec options that need the server -----------------------------------------------------

// The image's config: Env (merged under the spec's), Entrypoint + Cmd as args, WorkingDir
// (default "/"), User, and the supplementary groups of the user (CVE-2023-25173).
oci::SpecOpt WithImageConfig(const Image& image);
// As WithImageConfig with `args` replacing the image's Cmd.
oci::SpecOpt WithImageConfigArgs(const Image& image, std::vector<std::string> args);

}  // namespace berth

#endif  // BERTH_CLIENT_CONTAINER_H_
