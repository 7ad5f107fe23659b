#include "lib/testing/oci_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <zlib.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <utility>

#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/status/status.h"
#include "nlohmann/json.hpp"

namespace berth::testing {
namespace {

using json = nlohmann::ordered_json;

// 2024-01-01T00:00:00Z: every timestamp the images carry.
constexpr int64_t kEpoch = 1704067200;
constexpr char kCreated[] = "2024-01-01T00:00:00Z";

std::string DirName(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return "";
  return std::string(path.substr(0, slash));
}

std::string BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return std::string(path);
  return std::string(path.substr(slash + 1));
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// libarchive's write callback: appends to a std::string.
la_ssize_t AppendCallback(struct archive*, void* client_data, const void* buffer, size_t length) {
  static_cast<std::string*>(client_data)->append(static_cast<const char*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

absl::Status ArchiveError(struct archive* a, const std::string& what) {
  const char* msg = archive_error_string(a);
  return InternalError(fmt::format("tar: {}: {}", what, msg != nullptr ? msg : "unknown error"));
}

json Descriptor(const Blob& blob) {
  return json{{"mediaType", blob.media_type}, {"digest", blob.digest}, {"size", blob.size}};
}

bool LayerTypeMatches(const std::string& media_type, MediaTypes types) {
  if (types == MediaTypes::kDocker) return media_type == kDockerLayerGzipType;
  return media_type == kOciLayerType || media_type == kOciLayerGzipType;
}

}  // namespace

TarEntry TarEntry::File(std::string path, std::string content, int mode) {
  return TarEntry{std::move(path), Type::kFile, std::move(content), mode};
}

TarEntry TarEntry::Directory(std::string path, int mode) {
  return TarEntry{std::move(path), Type::kDirectory, "", mode};
}

TarEntry TarEntry::Symlink(std::string path, std::string target) {
  return TarEntry{std::move(path), Type::kSymlink, std::move(target), 0777};
}

TarEntry TarEntry::Whiteout(std::string_view path) {
  return File(Join(DirName(path), ".wh." + BaseName(path)), "", 0644);
}

TarEntry TarEntry::Opaque(std::string_view dir) {
  return File(Join(std::string(dir), ".wh..wh..opq"), "", 0644);
}

std::vector<std::string> OciImage::DiffIds() const {
  std::vector<std::string> out;
  for (const Layer& l : layers) out.push_back(l.diff_id);
  return out;
}

std::vector<std::string> OciImage::ChainIds() const {
  std::vector<std::string> out;
  for (const Layer& l : layers) {
    if (out.empty()) {
      out.push_back(l.diff_id);
    } else {
      out.push_back(digest::FromBytes(out.back() + " " + l.diff_id).ToString());
    }
  }
  return out;
}

std::vector<const Blob*> OciImage::ManifestBlobs() const {
  std::vector<const Blob*> out;
  for (const Layer& l : layers) out.push_back(&l.blob);
  out.push_back(&config);
  return out;
}

const OciImage* OciIndex::Find(std::string_view os, std::string_view architecture) const {
  for (const OciImage& image : images) {
    if (image.os == os && image.architecture == architecture) return &image;
  }
  return nullptr;
}

Blob MakeBlob(std::string media_type, std::string data) {
  Blob blob;
  blob.media_type = std::move(media_type);
  blob.digest = digest::FromBytes(data).ToString();
  blob.size = static_cast<int64_t>(data.size());
  blob.data = std::move(data);
  return blob;
}

absl::StatusOr<std::string> BuildTar(const std::vector<TarEntry>& entries) {
  std::string out;
  std::unique_ptr<struct archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                                   &archive_write_free);
  if (a == nullptr) return InternalError("tar: archive_write_new failed");
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "set format");
  }
  if (archive_write_open2(a.get(), &out, nullptr, &AppendCallback, nullptr, nullptr) !=
      ARCHIVE_OK) {
    return ArchiveError(a.get(), "open");
  }
  for (const TarEntry& e : entries) {
    if (e.path.empty() || e.path[0] == '/') {
      return InvalidArgumentError(fmt::format("tar: entry path {:?} must be relative", e.path));
    }
    std::unique_ptr<struct archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                               &archive_entry_free);
    archive_entry_set_pathname(entry.get(), e.path.c_str());
    archive_entry_set_uid(entry.get(), 0);
    archive_entry_set_gid(entry.get(), 0);
    archive_entry_set_mtime(entry.get(), kEpoch, 0);
    switch (e.type) {
      case TarEntry::Type::kFile:
        archive_entry_set_filetype(entry.get(), AE_IFREG);
        archive_entry_set_perm(entry.get(), static_cast<mode_t>(e.mode));
        archive_entry_set_size(entry.get(), static_cast<la_int64_t>(e.content.size()));
        break;
      case TarEntry::Type::kDirectory:
        archive_entry_set_filetype(entry.get(), AE_IFDIR);
        archive_entry_set_perm(entry.get(), static_cast<mode_t>(e.mode));
        archive_entry_set_size(entry.get(), 0);
        break;
      case TarEntry::Type::kSymlink:
        archive_entry_set_filetype(entry.get(), AE_IFLNK);
        archive_entry_set_perm(entry.get(), 0777);
        archive_entry_set_symlink(entry.get(), e.content.c_str());
        archive_entry_set_size(entry.get(), 0);
        break;
    }
    if (archive_write_header(a.get(), entry.get()) != ARCHIVE_OK) {
      return ArchiveError(a.get(), "header of " + e.path);
    }
    if (e.type == TarEntry::Type::kFile && !e.content.empty()) {
      la_ssize_t n = archive_write_data(a.get(), e.content.data(), e.content.size());
      if (n != static_cast<la_ssize_t>(e.content.size())) {
        return ArchiveError(a.get(), "data of " + e.path);
      }
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ArchiveError(a.get(), "close");
  return out;
}

absl::StatusOr<std::string> Gzip(std::string_view data) {
  z_stream z{};
  // windowBits 15 + 16: a gzip wrapper with zlib's default header (no name, mtime 0).
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return InternalError("gzip: deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&z, static_cast<uLong>(data.size())) + 64);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  const uLong total = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return InternalError(fmt::format("gzip: deflate returned {}", rc));
  out.resize(total);
  return out;
}

absl::StatusOr<std::string> Gunzip(std::string_view data) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return InternalError("gunzip: inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[64 << 10];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return InvalidArgumentError(fmt::format("gunzip: broken stream (zlib {})", rc));
    }
    out.append(buf, sizeof(buf) - z.avail_out);
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      return InvalidArgumentError("gunzip: truncated stream");
    }
  }
  inflateEnd(&z);
  return out;
}

absl::StatusOr<Layer> MakeLayer(const std::vector<TarEntry>& entries, MediaTypes media_types,
                                Compression compression) {
  ASSIGN_OR_RETURN(std::string tar, BuildTar(entries));
  Layer layer;
  layer.diff_id = digest::FromBytes(tar).ToString();
  layer.tar_size = static_cast<int64_t>(tar.size());
  if (compression == Compression::kNone) {
    if (media_types == MediaTypes::kDocker) {
      return InvalidArgumentError("layer: uncompressed layers are OCI only here");
    }
    layer.blob = MakeBlob(kOciLayerType, std::move(tar));
    return layer;
  }
  ASSIGN_OR_RETURN(std::string gz, Gzip(tar));
  layer.blob = MakeBlob(
      media_types == MediaTypes::kDocker ? kDockerLayerGzipType : kOciLayerGzipType, std::move(gz));
  return layer;
}

absl::StatusOr<OciImage> MakeImage(std::vector<Layer> layers, const ImageOptions& options) {
  if (layers.empty()) return InvalidArgumentError("image: needs at least one layer");
  const bool docker = options.media_types == MediaTypes::kDocker;
  for (const Layer& l : layers) {
    if (!LayerTypeMatches(l.blob.media_type, options.media_types)) {
      return InvalidArgumentError(fmt::format("image: layer media type {:?} does not belong to {}",
                                              l.blob.media_type, docker ? "Docker" : "OCI"));
    }
  }
  OciImage image;
  image.media_types = options.media_types;
  image.os = options.os;
  image.architecture = options.architecture;
  image.variant = options.variant;
  image.layers = std::move(layers);

  json config;
  config["created"] = kCreated;
  config["architecture"] = options.architecture;
  if (!options.variant.empty()) config["variant"] = options.variant;
  config["os"] = options.os;
  config["config"] = json{{"Env", options.env}, {"Cmd", options.cmd}, {"WorkingDir", "/"}};
  json diff_ids = json::array();
  json history = json::array();
  for (const Layer& l : image.layers) {
    diff_ids.push_back(l.diff_id);
    history.push_back(json{{"created", kCreated}, {"created_by", "berth lib/testing/oci_image"}});
  }
  config["rootfs"] = json{{"type", "layers"}, {"diff_ids", diff_ids}};
  config["history"] = history;
  image.config = MakeBlob(docker ? kDockerConfigType : kOciConfigType, config.dump());

  json manifest;
  manifest["schemaVersion"] = 2;
  manifest["mediaType"] = docker ? kDockerManifestType : kOciManifestType;
  manifest["config"] = Descriptor(image.config);
  json layer_descriptors = json::array();
  for (const Layer& l : image.layers) layer_descriptors.push_back(Descriptor(l.blob));
  manifest["layers"] = layer_descriptors;
  if (!options.annotations.empty() && !docker) {
    json annotations = json::object();
    for (const auto& [k, v] : options.annotations) annotations[k] = v;
    manifest["annotations"] = annotations;
  }
  image.manifest = MakeBlob(docker ? kDockerManifestType : kOciManifestType, manifest.dump());
  return image;
}

absl::StatusOr<OciIndex> MakeIndex(std::vector<OciImage> images, MediaTypes media_types) {
  if (images.empty()) return InvalidArgumentError("index: needs at least one image");
  const bool docker = media_types == MediaTypes::kDocker;
  json manifests = json::array();
  for (const OciImage& image : images) {
    if (image.media_types != media_types) {
      return InvalidArgumentError("index: images must use the index's media types");
    }
    json entry = Descriptor(image.manifest);
    json platform{{"architecture", image.architecture}, {"os", image.os}};
    if (!image.variant.empty()) platform["variant"] = image.variant;
    entry["platform"] = platform;
    manifests.push_back(entry);
  }
  json index;
  index["schemaVersion"] = 2;
  index["mediaType"] = docker ? kDockerListType : kOciIndexType;
  index["manifests"] = manifests;
  OciIndex out;
  out.media_types = media_types;
  out.images = std::move(images);
  out.index = MakeBlob(docker ? kDockerListType : kOciIndexType, index.dump());
  return out;
}

absl::StatusOr<std::vector<TarEntry>> BusyboxEntries() {
  std::ifstream in(kBusyboxPath, std::ios::binary);
  if (!in) return ErrnoToStatus("open", kBusyboxPath, errno != 0 ? errno : ENOENT);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string busybox = ss.str();
  if (busybox.empty()) return NotFoundError(fmt::format("busybox {:?} is empty", kBusyboxPath));
  std::vector<TarEntry> entries = {
      TarEntry::Directory("bin"),
      TarEntry::File("bin/busybox", std::move(busybox), 0755),
  };
  for (const char* applet : {"sh", "echo", "true", "sleep", "cat", "ls"}) {
    entries.push_back(TarEntry::Symlink(std::string("bin/") + applet, "busybox"));
  }
  entries.push_back(TarEntry::Directory("etc"));
  entries.push_back(TarEntry::File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"));
  entries.push_back(TarEntry::File("etc/group", "root:x:0:\n"));
  return entries;
}

absl::StatusOr<OciImage> BusyboxImage(const ImageOptions& options) {
  ASSIGN_OR_RETURN(std::vector<TarEntry> entries, BusyboxEntries());
  ASSIGN_OR_RETURN(Layer layer, MakeLayer(entries, options.media_types));
  std::vector<Layer> layers;
  layers.push_back(std::move(layer));
  return MakeImage(std::move(layers), options);
}

absl::StatusOr<OciImage> WhiteoutImage(const ImageOptions& options) {
  ASSIGN_OR_RETURN(std::vector<TarEntry> base, BusyboxEntries());
  base.push_back(TarEntry::File("etc/keep", "keep\n"));
  base.push_back(TarEntry::File("etc/gone", "gone\n"));
  base.push_back(TarEntry::Directory("opaque"));
  base.push_back(TarEntry::File("opaque/old1", "old1\n"));
  base.push_back(TarEntry::File("opaque/old2", "old2\n"));
  base.push_back(TarEntry::Directory("olddir"));
  base.push_back(TarEntry::Directory("olddir/sub"));
  base.push_back(TarEntry::File("olddir/sub/file", "file\n"));
  const std::vector<TarEntry> changes = {
      TarEntry::Directory("etc"),
      TarEntry::Whiteout("etc/gone"),
      TarEntry::File("etc/added", "added\n"),
      TarEntry::Directory("opaque"),
      TarEntry::Opaque("opaque"),
      TarEntry::File("opaque/new", "new\n"),
      TarEntry::Whiteout("olddir"),
  };
  const std::vector<TarEntry> overwrite = {
      TarEntry::Directory("etc"),
      TarEntry::File("etc/keep", "changed\n"),
  };
  std::vector<Layer> layers;
  ASSIGN_OR_RETURN(Layer l0, MakeLayer(base, options.media_types));
  ASSIGN_OR_RETURN(Layer l1, MakeLayer(changes, options.media_types));
  // The last layer is an uncompressed tar where the media types allow it.
  ASSIGN_OR_RETURN(
      Layer l2,
      MakeLayer(overwrite, options.media_types,
                options.media_types == MediaTypes::kOci ? Compression::kNone : Compression::kGzip));
  layers.push_back(std::move(l0));
  layers.push_back(std::move(l1));
  layers.push_back(std::move(l2));
  return MakeImage(std::move(layers), options);
}

absl::StatusOr<OciIndex> MultiPlatformIndex(MediaTypes media_types) {
  ImageOptions amd64;
  amd64.media_types = media_types;
  amd64.architecture = "amd64";
  // Its own configs, so that its manifests never coincide with BusyboxImage()'s: a test that
  // pulled both must be able to tell which manifests a platform selection fetched.
  amd64.env.push_back("BERTH_TEST_IMAGE=multi-platform");
  ImageOptions arm64 = amd64;
  arm64.architecture = "arm64";
  ASSIGN_OR_RETURN(OciImage a, BusyboxImage(amd64));
  ASSIGN_OR_RETURN(OciImage b, BusyboxImage(arm64));
  std::vector<OciImage> images;
  images.push_back(std::move(a));
  images.push_back(std::move(b));
  return MakeIndex(std::move(images), media_types);
}

}  // namespace berth::testing
