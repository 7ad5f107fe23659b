// Parsing and validation of the documents a registry serves from /v2/<name>/manifests/: OCI
// image indexes and manifests, Docker manifest lists and schema 2 manifests; choosing the
// manifests of an index for a platform; checking fetched bytes against their descriptor.
//
// Everything a registry sends is untrusted. The rules, from containerd and its advisories:
//   - a document is at most kMaxManifestSize bytes (CVE-2023-25153 bug class: read no
//     unbounded JSON);
//   - Docker schema 1 is refused with Unimplemented and a message saying so;
//   - a document carrying both `manifests` and `layers` (or `config`) is refused: its meaning
//     would depend on the Content-Type it was served with (GHSA-5j5w-g665-5m35);
//   - a body whose own `mediaType` contradicts the declared kind (an index served as a
//     manifest or the other way round) is refused;
//   - every descriptor has a media type, a sha256 digest (lib/digest) and a size that is a
//     non-negative integer; known fields of the wrong JSON type are refused by name.
// Parse errors are InvalidArgument (schema 1: Unimplemented) with the field named, e.g.
//   `invalid image manifest: layers[2].size: must be a non-negative integer, got -1`.
//
// Thread-safety: pure functions over values.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_MANIFEST_H_
#define BERTH_SERVICES_IMAGE_REMOTES_MANIFEST_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/platforms/platforms.h"
#include "services/image/remotes/descriptor.h"

namespace berth::remotes {

// Largest manifest or index berth reads: 4 MiB. (containerd's MaxManifestSize is
// 4*1048*1048 bytes, slightly more; no real manifest comes near either.)
inline constexpr std::int64_t kMaxManifestSize = 4 << 20;

// An OCI image index or Docker manifest list.
struct Index {
  int schema_version = 2;
  // The body's `mediaType` (may be empty in OCI documents).
  std::string media_type;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
  std::optional<Descriptor> subject;
  std::string artifact_type;
};

// An OCI image manifest or Docker schema 2 manifest.
struct Manifest {
  int schema_version = 2;
  // The body's `mediaType` (may be empty in OCI documents).
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
  std::optional<Descriptor> subject;
  std::string artifact_type;
};

// A document from /manifests/, whichever kind it turned out to be.
struct Document {
  enum class Kind { kIndex, kManifest };
  Kind kind = Kind::kManifest;
  // The effective media type: the declared one when it names a manifest or index type, else
  // the body's `mediaType`, else the OCI type of the detected kind.
  std::string media_type;
  Index index;        // Filled when kind == kIndex.
  Manifest manifest;  // Filled when kind == kManifest.
};

// Parses an index. `media_type` is the type the document was declared with (the descriptor
// pointing at it or the Content-Type it was served with); empty when unknown. Errors:
// InvalidArgument (too large, not JSON, not an index, bad fields; the message names the
// field), Unimplemented (schema 1).
absl::StatusOr<Index> ParseIndex(std::string_view bytes, std::string_view media_type = {});

// Parses an image manifest, same contract as ParseIndex. `config` is required.
absl::StatusOr<Manifest> ParseManifest(std::string_view bytes, std::string_view media_type = {});

// Parses a manifest or an index: by `media_type` when it names one of them, else by the body's
// own `mediaType`, else by its fields (`manifests` -> index, `config`/`layers` -> manifest).
// Same errors as ParseIndex; also InvalidArgument when the kind cannot be told or the declared
// media type names something that is not a manifest or an index (a layer, a config).
absl::StatusOr<Document> ParseDocument(std::string_view bytes, std::string_view media_type = {});

// Checks a descriptor built by hand or received over an API: non-empty media type, non-empty
// digest, non-negative size. InvalidArgument `<what>: <reason>`.
absl::Status ValidateDescriptor(const Descriptor& desc, std::string_view what = "descriptor");

// Checks bytes against their descriptor: exact size, then digest. DataLoss naming the
// expected digest, what was got and `source` (a URL or a path):
//   `digest mismatch for sha256:<want> from "<source>": got sha256:<got>`
//   `size mismatch for sha256:<want> from "<source>": got 12 bytes, expected 34`.
absl::Status VerifyContent(const Descriptor& desc, std::string_view bytes, std::string_view source);

// How a pull chooses platforms: the host's (default), the given specifiers, or all.
// One specifier -> platforms::Only (it also takes the variants the platform can run, e.g.
// arm/v7 takes v6); several -> platforms::Ordered (exactly those, preferred in order).
// InvalidArgument for a bad specifier (lib/platforms' message).
absl::StatusOr<platforms::Matcher> MatcherFor(const std::vector<std::string>& specifiers,
                                              bool all = false);

// The entries of `index` to pull for `matcher`, best first: entries that are manifests or
// indexes (other media types are skipped) whose platform the matcher accepts, ordered by
// matcher.Less (stable: ties keep index order). Entries without a platform come after them
// when `include_unplatformed` is set — the caller must then read their config to learn the
// platform, as containerd does. `limit` > 0 keeps only the first `limit` entries.
std::vector<Descriptor> SelectManifests(const Index& index, const platforms::Matcher& matcher,
                                        std::size_t limit = 0, bool include_unplatformed = false);

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_MANIFEST_H_
