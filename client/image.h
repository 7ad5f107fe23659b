// berth::Image: an image record plus what can be read about it from the content store —
// containerd's client Image. Part of "client/berth.h".
//
// An image record names a root descriptor (an OCI index / Docker manifest list, or a single
// manifest). For one platform (the host's unless chosen) the image resolves to a manifest,
// whose config gives the runtime defaults (Env, Entrypoint, Cmd, WorkingDir, User) and the
// layers' diffIDs; their chain IDs name the committed snapshots the image unpacks to.
//
// Thread-safety: an Image is an immutable value; its methods may run concurrently.
#ifndef BERTH_CLIENT_IMAGE_H_
#define BERTH_CLIENT_IMAGE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/client.h"
#include "nlohmann/json.hpp"

namespace berth {

// OCI and Docker media types the client understands.
inline constexpr char kMediaTypeOCIIndex[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kMediaTypeOCIManifest[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kMediaTypeOCIConfig[] = "application/vnd.oci.image.config.v1+json";
inline constexpr char kMediaTypeOCILayer[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kMediaTypeOCILayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char kMediaTypeOCILayerZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr char kMediaTypeDockerManifestList[] =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kMediaTypeDockerManifest[] =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char kMediaTypeDockerConfig[] = "application/vnd.docker.container.image.v1+json";
inline constexpr char kMediaTypeDockerLayer[] = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr char kMediaTypeDockerLayerGzip[] =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";

// An OCI content descriptor.
struct Descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<hex>"
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  // From an index entry: "os/arch[/variant]"; empty when the entry has none.
  std::string platform;
};

// The parts of an OCI image config a container is made from.
struct ImageSpec {
  std::vector<std::string> env;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::string working_dir;
  std::string user;
  std::string stop_signal;
  std::map<std::string, std::string> labels;
  // rootfs.diff_ids, bottom layer first.
  std::vector<std::string> diff_ids;
  std::string os;
  std::string architecture;
  // The whole config document.
  nlohmann::json raw;
};

// What `images check` reports.
struct ImageAvailability {
  bool complete = false;             // every blob of the platform's manifest is present
  int64_t present_bytes = 0;         // size of the blobs present
  int64_t total_bytes = 0;           // size of every blob the manifest names
  std::vector<std::string> missing;  // digests not in the content store
  bool unpacked = false;             // the top snapshot exists in the snapshotter
};

class Image {
 public:
  Image(Client client, ImageRecord record, std::string platform = "");

  const std::string& Name() const { return record_.name(); }
  const ImageRecord& Record() const { return record_; }
  Descriptor Target() const;
  Labels GetLabels() const;
  // The platform specifier this image resolves manifests for ("" = the host's).
  const std::string& Platform() const { return platform_; }
  // The same image resolved for another platform.
  Image ForPlatform(std::string platform) const;

  // The manifest for the platform (reads the index when the target is one). NotFound when
  // no manifest matches or a blob is missing.
  absl::StatusOr<Descriptor> Manifest() const;
  // The config descriptor of that manifest.
  absl::StatusOr<Descriptor> Config() const;
  // The parsed config.
  absl::StatusOr<ImageSpec> Spec() const;
  // The layer descriptors of the manifest, bottom first.
  absl::StatusOr<std::vector<Descriptor>> Layers() const;
  // rootfs.diff_ids of the config.
  absl::StatusOr<std::vector<std::string>> RootFS() const;
  // The chain ID of the top layer: the committed snapshot a container's rootfs is prepared
  // from. InvalidArgument for an image without layers.
  absl::StatusOr<std::string> TopChainID() const;
  // Sum of the sizes of index, manifest, config and layers (compressed).
  absl::StatusOr<int64_t> Size() const;
  // Which blobs are present; `snapshotter` empty: the namespace default.
  absl::StatusOr<ImageAvailability> Check(const std::string& snapshotter = "") const;

  // True when the top chain snapshot exists in `snapshotter` (empty: the namespace default).
  absl::StatusOr<bool> IsUnpacked(const std::string& snapshotter = "") const;
  // Applies every layer not yet unpacked as containerd does: for layer i, Stat(chain_i);
  // when absent Prepare("extract-<nanos> <chain_i>", chain_{i-1}), Diff.Apply, check the
  // applied digest against diffID_i, Commit(chain_i); then labels the config blob
  // `containerd.io/gc.ref.snapshot.<snapshotter>=<top chain>` and each layer blob
  // `containerd.io/uncompressed=<diffID>`. Runs under a lease of its own.
  absl::Status Unpack(const std::string& snapshotter = "") const;

  // The client the image was loaded through.
  const Client& client() const { return client_; }

 private:
  Client client_;
  ImageRecord record_;
  std::string platform_;
};

// chainID(diffIDs): chain_0 = diffID_0, chain_i = sha256(chain_{i-1} + " " + diffID_i).
std::vector<std::string> ChainIDs(const std::vector<std::string>& diff_ids);

template <typename... Opts>
absl::StatusOr<Image> Client::Pull(const std::string& ref, PullOpt first, Opts&&... rest) const {
  return Pull(ref, std::vector<PullOpt>{std::move(first), PullOpt(std::forward<Opts>(rest))...});
}

// Reads a whole blob (at most `max_bytes`; ResourceExhausted beyond) through the client's
// content store.
absl::StatusOr<std::string> ReadBlob(const Client& client, const std::string& digest,
                                     int64_t max_bytes = 64 << 20);

// Writes `data` as a blob (Content.Write: AlreadyExists counts as success) with `labels`.
absl::Status WriteBlob(const Client& client, const std::string& ref, const std::string& data,
                       const std::string& expected_digest = "", const Labels& labels = {});

}  // namespace berth

#endif  // BERTH_CLIENT_IMAGE_H_
