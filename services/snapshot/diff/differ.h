// Applier and Comparer: containerd's diff.Applier and diff.Comparer — the two halves of the
// Diff service (containerd.services.diff.v1.Diff).
//
//   Applier::Apply    a layer blob from the content store onto the filesystem a set of
//                     mounts describes (what `ctr images pull` calls between Prepare and
//                     Commit for every layer);
//   Comparer::Compare the changes between two mount sets, written as a new layer blob into
//                     the content store (`ctr snapshots diff`, commit workflows).
//
// Implementations: FileSystemApplier and WalkingDiff (this directory) over a content::Store,
// and DiffProxy (client/proxy/snapshot_proxy.h) over gRPC.
//
// Thread-safety: implementations are safe to call from many threads at once.
#ifndef BERTH_SERVICES_SNAPSHOT_DIFF_DIFFER_H_
#define BERTH_SERVICES_SNAPSHOT_DIFF_DIFFER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "services/snapshot/mount.h"

namespace berth::snapshot::diff {

inline constexpr char kMediaTypeLayer[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kMediaTypeLayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char kMediaTypeLayerZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";
// Label on a layer blob naming its uncompressed digest (diffID).
inline constexpr char kUncompressedLabel[] = "containerd.io/uncompressed";

// An OCI descriptor (containerd.types.Descriptor).
struct Descriptor {
  std::string media_type;
  // "sha256:<hex>".
  std::string digest;
  std::int64_t size = 0;
  std::map<std::string, std::string> annotations;
};

class Applier {
 public:
  virtual ~Applier() = default;

  // Reads the layer `desc` from the content store of ctx's namespace, decompresses it (by
  // its magic: gzip, zstd or plain tar; the media type must be a layer type), verifies its
  // digest and size, and unpacks it onto the filesystem `mounts` describe. Returns
  // {media_type kMediaTypeLayer, digest = sha256 of the whole uncompressed stream (the
  // diffID), size = uncompressed bytes}. Errors: InvalidArgument (bad digest, hostile or
  // malformed archive, no mounts), Unimplemented (unsupported media type), NotFound (blob
  // not in the content store), FailedPrecondition (digest or size mismatch; read-only
  // mounts), DataLoss (corrupt compression), Cancelled.
  [[nodiscard]] virtual absl::StatusOr<Descriptor> Apply(const CallContext& ctx,
                                                         const Descriptor& desc,
                                                         const std::vector<Mount>& mounts) = 0;
};

struct CompareOptions {
  // Media type of the layer to write: kMediaTypeLayerGzip (default when empty),
  // kMediaTypeLayerZstd or kMediaTypeLayer.
  std::string media_type;
  // Ingest ref for the content store; a unique one is made up when empty.
  std::string ref;
  // Labels of the committed blob (kUncompressedLabel is always added).
  std::map<std::string, std::string> labels;
};

class Comparer {
 public:
  virtual ~Comparer() = default;

  // Writes the changes from the filesystem of `lower` (may be empty: an empty tree) to that
  // of `upper` as a layer of `options.media_type` into the content store, and returns its
  // descriptor. Applying that layer onto lower reproduces upper. Errors: InvalidArgument
  // (no upper mounts), Unimplemented (media type), the content store's errors, Cancelled.
  [[nodiscard]] virtual absl::StatusOr<Descriptor> Compare(const CallContext& ctx,
                                                           const std::vector<Mount>& lower,
                                                           const std::vector<Mount>& upper,
                                                           const CompareOptions& options) = 0;
};

}  // namespace berth::snapshot::diff

#endif  // BERTH_SERVICES_SNAPSHOT_DIFF_DIFFER_H_
