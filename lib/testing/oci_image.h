// OCI images built in memory, for tests that pull, unpack, push or import them: tar layers
// (libarchive), gzip (zlib), config / manifest / index JSON (nlohmann_json) and digests
// (lib/digest), each blob with the digest, size and media type a registry and containerd's
// client expect. Everything is deterministic: the same inputs give the same bytes, digests and
// chain IDs on every run (fixed timestamps, owners and gzip headers).
//
//   ASSIGN_OR_RETURN(OciImage image, BusyboxImage());          // busybox-static, one layer
//   registry->Push("test/busybox", "1.0", image);               // lib/testing/registry.h
//   ... image.manifest.digest, image.ChainIds().back() ...
//
// The ready-made images use Debian's statically linked /bin/busybox (package busybox-static),
// so they run under any OCI runtime with no other file:
//   BusyboxImage()         one layer: bin/busybox, bin/{sh,echo,true,sleep,cat,ls} -> busybox,
//                          etc/passwd, etc/group.
//   WhiteoutImage()        the busybox layer plus files, then a layer that deletes with
//                          whiteouts (`.wh.` files, a whole directory) and replaces a
//                          directory's contents with an opaque marker (`.wh..wh..opq`), then a
//                          layer that overwrites a file (uncompressed tar in OCI form); the
//                          resulting tree is described by WhiteoutImageExpectation.
//   MultiPlatformIndex()   an index of two manifests, linux/amd64 and linux/arm64; both use the
//                          same busybox layer (only platform selection is being tested), their
//                          configs differ in architecture, so every digest differs. Its configs
//                          also differ from BusyboxImage()'s (an extra environment variable), so
//                          no manifest of the index is BusyboxImage()'s.
// Each comes in OCI media types (default) or Docker schema 2 ones.
//
// Thread-safety: plain values and pure functions.
#ifndef BERTH_LIB_TESTING_OCI_IMAGE_H_
#define BERTH_LIB_TESTING_OCI_IMAGE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::testing {

// Media types, OCI image-spec v1 and Docker distribution schema 2.
inline constexpr char kOciIndexType[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kOciManifestType[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kOciConfigType[] = "application/vnd.oci.image.config.v1+json";
inline constexpr char kOciLayerType[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kOciLayerGzipType[] = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char kDockerListType[] =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kDockerManifestType[] =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char kDockerConfigType[] = "application/vnd.docker.container.image.v1+json";
inline constexpr char kDockerLayerGzipType[] = "application/vnd.docker.image.rootfs.diff.tar.gzip";

// Which family of media types an image uses.
enum class MediaTypes { kOci, kDocker };

// One content-addressed blob: its bytes and the descriptor that names them.
struct Blob {
  std::string media_type;
  std::string digest;  // "sha256:<hex>" of data
  int64_t size = 0;    // data.size()
  std::string data;
};

// One entry of a layer tar. Paths are relative ("bin/busybox", no leading '/' or "./");
// whiteouts are ordinary empty files named ".wh.<name>" and ".wh..wh..opq".
struct TarEntry {
  enum class Type { kFile, kDirectory, kSymlink };
  std::string path;
  Type type = Type::kFile;
  std::string content;  // kFile: the bytes; kSymlink: the target; kDirectory: unused
  int mode = 0644;      // permission bits (0755 for directories and executables)

  static TarEntry File(std::string path, std::string content, int mode = 0644);
  static TarEntry Directory(std::string path, int mode = 0755);
  static TarEntry Symlink(std::string path, std::string target);
  // An empty file ".wh.<base name>" in the directory of `path`: deletes `path` from the layers
  // below.
  static TarEntry Whiteout(std::string_view path);
  // "<dir>/.wh..wh..opq": hides everything the layers below have in `dir`.
  static TarEntry Opaque(std::string_view dir);
};

enum class Compression { kGzip, kNone };

// A layer blob with what unpacking it must produce.
struct Layer {
  Blob blob;            // the tar, gzip-compressed unless Compression::kNone
  std::string diff_id;  // "sha256:<hex>" of the uncompressed tar (what Diff.Apply returns)
  int64_t tar_size = 0;
};

// A single-platform image: layers, config, manifest.
struct OciImage {
  MediaTypes media_types = MediaTypes::kOci;
  std::string os = "linux";
  std::string architecture = "amd64";
  std::string variant;
  std::vector<Layer> layers;  // base first
  Blob config;
  Blob manifest;

  // The layers' diff IDs, base first.
  std::vector<std::string> DiffIds() const;
  // containerd's chain IDs (the committed snapshot names after unpack), base first:
  // ChainID(0) = DiffID(0), ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n)).
  std::vector<std::string> ChainIds() const;
  // Every blob the manifest refers to (layers, then config): what a registry must have before
  // it accepts the manifest.
  std::vector<const Blob*> ManifestBlobs() const;
};

// An index (OCI) or manifest list (Docker) over single-platform images.
struct OciIndex {
  MediaTypes media_types = MediaTypes::kOci;
  std::vector<OciImage> images;
  Blob index;

  // The image for `os`/`architecture`, or null.
  const OciImage* Find(std::string_view os, std::string_view architecture) const;
};

// What an image's config says besides its rootfs.
struct ImageOptions {
  MediaTypes media_types = MediaTypes::kOci;
  std::string os = "linux";
  std::string architecture = "amd64";
  std::string variant;
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  std::vector<std::string> cmd = {"/bin/sh"};
  // Annotations of the manifest (OCI only).
  std::vector<std::pair<std::string, std::string>> annotations;
};

// A blob from bytes.
Blob MakeBlob(std::string media_type, std::string data);

// A tar archive (pax format, owner root:root, mtime 2024-01-01T00:00:00Z) of `entries`, in
// order. InvalidArgument for an empty or absolute path; Internal when libarchive fails.
absl::StatusOr<std::string> BuildTar(const std::vector<TarEntry>& entries);

// gzip (zlib, level 6, no name, mtime 0) of `data`. Internal when zlib fails.
absl::StatusOr<std::string> Gzip(std::string_view data);
// The bytes a gzip stream decompresses to; InvalidArgument for a broken stream. For tests
// that check what they built.
absl::StatusOr<std::string> Gunzip(std::string_view data);

// A layer of `entries` with the media type of `media_types` and `compression` (Docker has no
// uncompressed layer type in common use: kNone is InvalidArgument with MediaTypes::kDocker).
absl::StatusOr<Layer> MakeLayer(const std::vector<TarEntry>& entries, MediaTypes media_types,
                                Compression compression = Compression::kGzip);

// An image of `layers` (at least one) with a config built from `options`; the layers'
// media types must belong to options.media_types (InvalidArgument otherwise).
absl::StatusOr<OciImage> MakeImage(std::vector<Layer> layers, const ImageOptions& options = {});

// An index of `images` (at least one, all of `media_types`), each entry with its platform.
absl::StatusOr<OciIndex> MakeIndex(std::vector<OciImage> images,
                                   MediaTypes media_types = MediaTypes::kOci);

// Path of the busybox binary the ready-made images use.
inline constexpr char kBusyboxPath[] = "/bin/busybox";

// The busybox layer's entries: bin/busybox (from kBusyboxPath), applet symlinks sh, echo,
// true, sleep, cat, ls, and etc/passwd, etc/group for root. NotFound when busybox is missing.
absl::StatusOr<std::vector<TarEntry>> BusyboxEntries();

absl::StatusOr<OciImage> BusyboxImage(const ImageOptions& options = {});
absl::StatusOr<OciImage> WhiteoutImage(const ImageOptions& options = {});
absl::StatusOr<OciIndex> MultiPlatformIndex(MediaTypes media_types = MediaTypes::kOci);

// The tree WhiteoutImage unpacks to, for `ls`/`cat` checks in a container:
struct WhiteoutExpectation {
  // `ls /etc` (sorted, one per line): etc/gone was whited out, etc/added is new.
  static constexpr char kEtcListing[] = "added\ngroup\nkeep\npasswd\n";
  // `ls /opaque`: the opaque marker hid old1 and old2 of the base layer.
  static constexpr char kOpaqueListing[] = "new\n";
  // `cat /etc/keep`: overwritten by the last layer.
  static constexpr char kKeepContent[] = "changed\n";
  // Whited out as a whole directory: `ls /olddir` fails.
  static constexpr char kRemovedDir[] = "/olddir";
};

}  // namespace berth::testing

#endif  // BERTH_LIB_TESTING_OCI_IMAGE_H_
