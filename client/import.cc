// Client::Import: image archives into the content store and image records, on the client side
// (containerd's client.Import / `ctr images import`).
//
// Formats: an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>), and the
// `docker save` layout (manifest.json naming a config and layer files per image, RepoTags as
// names; newer Docker writes both, and index.json wins when it names images). The archive may
// be compressed (libarchive detects gzip, zstd, ...). Blobs stream into the content store
// (digests verified by the store for OCI blobs); GC labels tie index -> manifests ->
// config/layers together as a pull does, and everything runs under one lease. Progress is
// reported per blob as it is copied (ImportOptions::progress).
#include <archive.h>
#include <archive_entry.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/berth.h"
#include "client/client.h"
#include "client/connection.h"
#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/reference/reference.h"
#include "lib/status/status.h"
#include "nlohmann/json.hpp"
#include "services/content/store.h"

namespace berth {
namespace {

using json = nlohmann::json;

// CVE-2023-25153 (containerd's importer read index.json and manifest.json without a limit):
// the archive's metadata files and the manifests and indexes they point to are read whole,
// so each is capped at what a registry may serve for a manifest (4 MiB) and refused — before
// a byte of it is read — when larger. Blobs are streamed and need no cap.
constexpr int64_t kMaxMetadataBytes = 4 << 20;

// Bytes between two byte-count progress steps of a blob.
constexpr int64_t kProgressStep = 1 << 20;

struct Blob {
  std::string digest;
  int64_t size = 0;
  bool gzip = false;
};

struct ArchiveCloser {
  void operator()(struct archive* a) const {
    archive_read_close(a);
    archive_read_free(a);
  }
};

std::string CleanPath(std::string p) {
  while (p.compare(0, 2, "./") == 0) p.erase(0, 2);
  while (!p.empty() && p[0] == '/') p.erase(0, 1);
  return p;
}

bool IsHex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status ArchiveError(struct archive* a, const std::string& what) {
  const char* msg = archive_error_string(a);
  return InvalidArgumentError(fmt::format("import: {}: {}", what, msg != nullptr ? msg : "error"));
}

using ProgressFn = std::function<void(const ArchiveProgress&)>;

void Report(const ProgressFn& progress, ArchiveProgress::Kind kind, const std::string& path,
            const std::string& dgst, int64_t offset, int64_t total) {
  if (!progress) return;
  ArchiveProgress p;
  p.kind = kind;
  p.path = path;
  p.digest = dgst;
  p.offset = offset;
  p.total = total;
  progress(p);
}

// Streams the current entry into the content store; `expected` may be empty (the digest is
// then what the bytes hash to).
absl::StatusOr<Blob> StoreEntry(const Client& c, struct archive* a, const std::string& path,
                                int64_t size, const std::string& expected,
                                const ProgressFn& progress) {
  content::WriterOptions wo;
  wo.total = size;
  if (!expected.empty()) {
    ASSIGN_OR_RETURN(wo.expected, digest::Digest::Parse(expected));
    wo.ref = "import-" + expected;
  } else {
    wo.ref = fmt::format("import-{}-{}", path,
                         std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count());
  }
  Blob blob;
  blob.size = size;
  const CallContext ctx = c.Context();
  absl::StatusOr<std::unique_ptr<content::Writer>> w = c.ContentStore().OpenWriter(ctx, wo);
  if (IsAlreadyExists(w.status())) {
    blob.digest = expected;
    // Peek for compression without storing.
    char magic[2] = {0, 0};
    la_ssize_t n = archive_read_data(a, magic, 2);
    blob.gzip = n == 2 && static_cast<unsigned char>(magic[0]) == 0x1f &&
                static_cast<unsigned char>(magic[1]) == 0x8b;
    Report(progress, ArchiveProgress::Kind::kExists, path, expected, size, size);
    return blob;
  }
  if (!w.ok()) return Annotate(w.status(), fmt::format("import {:?}", path));
  ASSIGN_OR_RETURN(content::IngestStatus st, (*w)->Status());
  if (st.offset != 0) RETURN_IF_ERROR((*w)->Truncate(0));
  std::string buf(1 << 20, '\0');
  bool first = true;
  digest::Sha256 hash;
  int64_t offset = 0;
  int64_t reported = 0;
  Report(progress, ArchiveProgress::Kind::kCopying, path, expected, 0, size);
  while (true) {
    la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n < 0) return ArchiveError(a, fmt::format("read {:?}", path));
    if (n == 0) break;
    if (first && n >= 2) {
      blob.gzip =
          static_cast<unsigned char>(buf[0]) == 0x1f && static_cast<unsigned char>(buf[1]) == 0x8b;
    }
    first = false;
    hash.Update(buf.data(), static_cast<size_t>(n));
    RETURN_IF_ERROR((*w)->Write(buf.substr(0, static_cast<size_t>(n))));
    offset += n;
    if (offset - reported >= kProgressStep) {
      reported = offset;
      Report(progress, ArchiveProgress::Kind::kCopying, path, expected, offset, size);
    }
  }
  digest::Digest d = hash.Finish();
  if (!expected.empty() && d.ToString() != expected) {
    return InvalidArgumentError(
        fmt::format("import {:?}: content is {}, its name says {}", path, d.ToString(), expected));
  }
  absl::Status s = (*w)->Commit(size, d, {});
  if (!s.ok() && !IsAlreadyExists(s)) return Annotate(s, fmt::format("import {:?}", path));
  blob.digest = d.ToString();
  Report(progress, ArchiveProgress::Kind::kDone, path, blob.digest, offset, size);
  return blob;
}

absl::Status Label(const Client& c, const std::string& dgst, const Labels& labels) {
  if (labels.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(dgst));
  content::Info info;
  info.digest = d;
  info.labels = labels;
  std::vector<std::string> paths;
  for (const auto& [k, v] : labels) paths.push_back("labels." + k);
  return c.ContentStore().Update(c.Context(), info, paths).status();
}

// Adds the GC reference labels from `desc` down (index -> manifests, manifest -> config and
// layers), as a pull does.
absl::Status LabelTree(const Client& c, const std::string& dgst, const std::string& media_type,
                       int depth) {
  if (depth > 8) return InvalidArgumentError("import: indexes nested too deeply");
  ASSIGN_OR_RETURN(std::string data, ReadBlob(c, dgst, kMaxMetadataBytes));
  json j = json::parse(data, nullptr, false);
  if (!j.is_object()) return InvalidArgumentError(fmt::format("import: {} is not JSON", dgst));
  std::string mt = media_type.empty() ? j.value("mediaType", "") : media_type;
  Labels labels;
  if (j.contains("manifests") && j["manifests"].is_array()) {
    int i = 0;
    for (const json& m : j["manifests"]) {
      const std::string child = m.value("digest", "");
      labels[fmt::format("containerd.io/gc.ref.content.m.{}", i++)] = child;
      absl::Status s = LabelTree(c, child, m.value("mediaType", ""), depth + 1);
      // Manifests of other platforms may be absent from an archive.
      if (!s.ok() && !IsNotFound(s)) return s;
    }
  } else if (j.contains("layers") || j.contains("config")) {
    if (j.contains("config") && j["config"].is_object()) {
      labels["containerd.io/gc.ref.content.config"] = j["config"].value("digest", "");
    }
    int i = 0;
    if (j.contains("layers") && j["layers"].is_array()) {
      for (const json& l : j["layers"]) {
        labels[fmt::format("containerd.io/gc.ref.content.l.{}", i++)] = l.value("digest", "");
      }
    }
  }
  return Label(c, dgst, labels);
}

// The image name for an index entry, or "" when it has none usable.
std::string NameOf(const json& entry, const std::string& base_name) {
  if (!entry.contains("annotations") || !entry["annotations"].is_object()) return "";
  const json& a = entry["annotations"];
  std::string full = a.value("io.containerd.image.name", "");
  if (!full.empty()) return full;
  std::string ref = a.value("org.opencontainers.image.ref.name", "");
  if (ref.empty()) return "";
  if (ref.find_first_of("/:@") == std::string::npos) {
    return base_name.empty() ? "" : base_name + ":" + ref;
  }
  absl::StatusOr<reference::Reference> r = reference::Reference::ParseNormalized(ref);
  return r.ok() ? r->String() : "";
}

}  // namespace

const char* ArchiveProgressKindName(ArchiveProgress::Kind kind) {
  switch (kind) {
    case ArchiveProgress::Kind::kCopying:
      return "copying";
    case ArchiveProgress::Kind::kDone:
      return "done";
    case ArchiveProgress::Kind::kExists:
      return "exists";
    case ArchiveProgress::Kind::kUnspecified:
      break;
  }
  return "unknown";
}

absl::StatusOr<std::vector<Image>> Client::Import(int fd, const ImportOptions& options) const {
  RETURN_IF_ERROR(AddressStatus());
  ASSIGN_OR_RETURN(ScopedLease lease, WithLease());
  const Client& c = lease.client();

  std::unique_ptr<struct archive, ArchiveCloser> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "open archive");
  }
  std::map<std::string, Blob> files;  // docker layout: path -> stored blob
  std::string index_json, manifest_json;
  struct archive_entry* entry = nullptr;
  while (true) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return ArchiveError(a.get(), "read entry");
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    const std::string path = CleanPath(archive_entry_pathname(entry));
    const int64_t size = archive_entry_size(entry);
    if (path == "index.json" || path == "manifest.json" || path == "oci-layout" ||
        path == "repositories") {
      if (size > kMaxMetadataBytes || size < 0) {
        return InvalidArgumentError(fmt::format(
            "import: {} is {} bytes, more than the {} allowed (refused unread, CVE-2023-25153)",
            path, size, kMaxMetadataBytes));
      }
      std::string data(static_cast<size_t>(size), '\0');
      la_ssize_t n = size > 0 ? archive_read_data(a.get(), data.data(), data.size()) : 0;
      if (n != static_cast<la_ssize_t>(size)) return ArchiveError(a.get(), "read " + path);
      if (path == "index.json") index_json = std::move(data);
      if (path == "manifest.json") manifest_json = std::move(data);
      continue;
    }
    std::string expected;
    if (path.compare(0, 13, "blobs/sha256/") == 0 && IsHex(path.substr(13))) {
      expected = "sha256:" + path.substr(13);
    }
    ASSIGN_OR_RETURN(Blob blob, StoreEntry(c, a.get(), path, size, expected, options.progress));
    files[path] = blob;
  }

  struct Named {
    std::string name;
    Descriptor target;
  };
  std::vector<Named> named;
  if (!index_json.empty()) {
    json index = json::parse(index_json, nullptr, false);
    if (!index.is_object()) return InvalidArgumentError("import: index.json is not JSON");
    if (index.contains("manifests") && index["manifests"].is_array()) {
      for (const json& m : index["manifests"]) {
        Named n;
        n.name = NameOf(m, options.base_name);
        n.target.media_type = m.value("mediaType", "");
        n.target.digest = m.value("digest", "");
        n.target.size = m.value("size", int64_t{0});
        RETURN_IF_ERROR(LabelTree(c, n.target.digest, n.target.media_type, 0));
        if (!n.name.empty()) named.push_back(std::move(n));
      }
    }
  }
  if (named.empty() && !manifest_json.empty()) {
    json manifests = json::parse(manifest_json, nullptr, false);
    if (!manifests.is_array()) return InvalidArgumentError("import: manifest.json is not a list");
    for (const json& m : manifests) {
      auto blob_of = [&](const std::string& p) -> absl::StatusOr<Blob> {
        auto it = files.find(CleanPath(p));
        if (it == files.end()) {
          return NotFoundError(
              fmt::format("import: manifest.json names {:?}, not in the archive", p));
        }
        return it->second;
      };
      ASSIGN_OR_RETURN(Blob config, blob_of(m.value("Config", "")));
      json manifest = {{"schemaVersion", 2},
                       {"mediaType", kMediaTypeDockerManifest},
                       {"config",
                        {{"mediaType", kMediaTypeDockerConfig},
                         {"size", config.size},
                         {"digest", config.digest}}},
                       {"layers", json::array()}};
      if (m.contains("Layers") && m["Layers"].is_array()) {
        for (const json& l : m["Layers"]) {
          ASSIGN_OR_RETURN(Blob layer, blob_of(l.get<std::string>()));
          manifest["layers"].push_back(
              {{"mediaType", layer.gzip ? kMediaTypeDockerLayerGzip : kMediaTypeDockerLayer},
               {"size", layer.size},
               {"digest", layer.digest}});
        }
      }
      const std::string text = manifest.dump();
      const std::string dgst = digest::FromBytes(text).ToString();
      RETURN_IF_ERROR(WriteBlob(c, "import-manifest-" + dgst, text, dgst));
      RETURN_IF_ERROR(LabelTree(c, dgst, kMediaTypeDockerManifest, 0));
      if (m.contains("RepoTags") && m["RepoTags"].is_array()) {
        for (const json& tag : m["RepoTags"]) {
          absl::StatusOr<reference::Reference> r =
              reference::Reference::ParseNormalized(tag.get<std::string>());
          if (!r.ok()) return r.status();
          Named n;
          n.name = r->String();
          n.target = {kMediaTypeDockerManifest, dgst, static_cast<int64_t>(text.size()), {}, ""};
          named.push_back(std::move(n));
        }
      }
    }
  }
  if (named.empty()) {
    return InvalidArgumentError(
        "import: the archive names no image (no io.containerd.image.name or full "
        "org.opencontainers.image.ref.name annotation, no RepoTags); set a base name");
  }

  std::vector<Image> out;
  for (const Named& n : named) {
    ImageRecord record;
    record.set_name(n.name);
    record.mutable_labels()->insert(options.labels.begin(), options.labels.end());
    record.mutable_target()->set_media_type(n.target.media_type);
    record.mutable_target()->set_digest(n.target.digest);
    record.mutable_target()->set_size(n.target.size);
    absl::StatusOr<ImageRecord> created = Images().Create(record);
    if (IsAlreadyExists(created.status())) created = Images().Update(record);
    if (!created.ok()) return created.status();
    Image image(*this, *created, options.platform);
    if (options.unpack) RETURN_IF_ERROR(image.Unpack(options.snapshotter));
    out.push_back(std::move(image));
  }
  RETURN_IF_ERROR(lease.Release());
  return out;
}

}  // namespace berth
