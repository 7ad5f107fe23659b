// The names a pull gives things, exactly as containerd 1.6's client does, so that an image
// pulled by berth-image and one pulled by `ctr images pull` leave the same records:
//
//   - ingest refs:        "<role>-<digest>" (remotes.MakeRefKey): "layer-sha256:ab..";
//   - GC labels of a manifest or index on its children (images.ChildGCLabels +
//     images.SetChildrenMappedLabels): containerd.io/gc.ref.content.m.<i> (manifests and
//     indexes), .config (a config, the first one unnumbered), .l.<i> (layers), .<i> (others);
//   - containerd.io/distribution.source.<registry host without port> = the sorted,
//     comma-separated repositories the blob was pulled from (docker.AppendDistributionSourceLabel);
//   - chain IDs of the unpacked snapshots (identity.ChainIDs) and the unpack snapshot keys
//     "extract-<nanos>-<4 chars> <chain ID>" (snapshots.UnpackKeyFormat).
//
// Thread-safety: pure functions (UnpackKey reads the clock and a random source).
#ifndef BERTH_SERVICES_IMAGE_PULL_LABELS_H_
#define BERTH_SERVICES_IMAGE_PULL_LABELS_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/digest/digest.h"
#include "services/image/remotes/descriptor.h"

namespace berth::image::pull {

inline constexpr char kGcRefContentPrefix[] = "containerd.io/gc.ref.content.";
inline constexpr char kGcRefSnapshotPrefix[] = "containerd.io/gc.ref.snapshot.";
inline constexpr char kGcExpireLabel[] = "containerd.io/gc.expire";
inline constexpr char kUncompressedLabel[] = "containerd.io/uncompressed";
inline constexpr char kSnapshotRefLabel[] = "containerd.io/snapshot.ref";
inline constexpr char kDistributionSourcePrefix[] = "containerd.io/distribution.source.";
inline constexpr char kDefaultSnapshotterLabel[] = "containerd.io/defaults/snapshotter";

// What a blob is to the image: "index", "manifest", "config", "layer", or "unknown" — by its
// media type, as remotes.MakeRefKey names ingests.
std::string RoleOf(std::string_view media_type);

// The ingest ref containerd's client uses for `desc`: "<role>-<digest>".
std::string IngestRef(const remotes::Descriptor& desc);

// The labels a manifest or index puts on itself for its `children` (in document order):
// key -> child digest.
std::map<std::string, std::string> ChildGcLabels(const std::vector<remotes::Descriptor>& children);

// The distribution source of a reference: registry host without port (IPv6 without brackets)
// and the repository path. "127.0.0.1:5000/test/busybox:1.0" -> {"127.0.0.1", "test/busybox"};
// "docker.io/library/busybox:latest" -> {"docker.io", "library/busybox"}. InvalidArgument
// for a reference that does not parse.
struct DistributionSource {
  std::string host;
  std::string repository;
  // "containerd.io/distribution.source.<host>".
  std::string LabelKey() const;
};
absl::StatusOr<DistributionSource> DistributionSourceOf(std::string_view ref);

// `existing` (a label value, possibly empty) with `repository` added: the union, sorted,
// without duplicates or empty parts, joined with ','.
std::string AppendDistributionSource(std::string_view existing, std::string_view repository);

// Chain IDs of `diff_ids`, base first: ChainID(0) = DiffID(0), ChainID(n) =
// sha256(ChainID(n-1) + " " + DiffID(n)).
std::vector<digest::Digest> ChainIds(const std::vector<digest::Digest>& diff_ids);

// A fresh key for the active snapshot a layer is applied in: "extract-<nanos>-<4 chars>
// <chain ID>".
std::string UnpackKey(const digest::Digest& chain_id);

// What the pull needs of an image config: its rootfs diff IDs (and the platform it declares).
struct ImageConfig {
  std::vector<digest::Digest> diff_ids;
  std::string os;
  std::string architecture;
  std::string variant;
};
// Parses an OCI / Docker image config. InvalidArgument naming the field for anything that is
// not JSON, a `rootfs` that is not an object, `rootfs.type` other than "layers", or a diff ID
// that is not a sha256 digest.
absl::StatusOr<ImageConfig> ParseImageConfig(std::string_view bytes);

}  // namespace berth::image::pull

#endif  // BERTH_SERVICES_IMAGE_PULL_LABELS_H_
