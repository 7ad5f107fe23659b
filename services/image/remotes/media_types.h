// Media types of the documents and blobs a registry serves (OCI image spec v1 and Docker
// image manifest v2), and the small predicates the registry client and the pull pipeline
// branch on.
//
// Docker schema 1 manifests (`application/vnd.docker.distribution.manifest.v1+json` and its
// signed `+prettyjws` form) are named here only so they can be recognised and refused with a
// clear error: berth does not convert them (containerd 1.6 converts, 2.x refuses too).
//
// Thread-safety: constants and pure functions.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_MEDIA_TYPES_H_
#define BERTH_SERVICES_IMAGE_REMOTES_MEDIA_TYPES_H_

#include <string_view>

namespace berth::remotes {

// OCI image spec v1.
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciLayerNonDistributable =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view kOciLayerNonDistributableGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kOciLayerNonDistributableZstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
inline constexpr std::string_view kOciEmptyJson = "application/vnd.oci.empty.v1+json";

// Docker image manifest v2, schema 2.
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kDockerLayerZstd =
    "application/vnd.docker.image.rootfs.diff.tar.zstd";
inline constexpr std::string_view kDockerForeignLayerGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

// Docker image manifest v2, schema 1: recognised only to be refused.
inline constexpr std::string_view kDockerSchema1Manifest =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1SignedManifest =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

// The Accept header of manifest requests (HEAD/GET /v2/<name>/manifests/<ref>), as containerd
// sends it: every type berth reads, then `*/*` so a registry that only has another type
// still answers (and berth can refuse it by name instead of a bare 404).
inline constexpr std::string_view kManifestAcceptHeader =
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json, */*";

// The media type without parameters, whitespace and case: "Application/JSON; charset=utf-8"
// -> "application/json".
std::string_view MediaTypeBase(std::string_view media_type);

// An index: OCI image index or Docker manifest list.
bool IsIndexType(std::string_view media_type);

// An image manifest: OCI image manifest or Docker schema 2 manifest.
bool IsManifestType(std::string_view media_type);

// IsIndexType || IsManifestType: documents served from /v2/<name>/manifests/.
bool IsManifestOrIndexType(std::string_view media_type);

// A Docker schema 1 manifest (plain or signed).
bool IsSchema1Type(std::string_view media_type);

// A layer: OCI layer (any compression, distributable or not) or Docker layer (including
// foreign layers).
bool IsLayerType(std::string_view media_type);

// An image config: OCI or Docker.
bool IsConfigType(std::string_view media_type);

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_MEDIA_TYPES_H_
