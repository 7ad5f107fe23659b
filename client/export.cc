// Client::Export: images as an OCI image-layout tar archive, on the client side (containerd's
// client.Export / `ctr images export`): oci-layout, index.json naming each image,
// blobs/sha256/<hex> for every blob of their trees, each once, and (unless skipped) Docker's
// manifest.json, so that `docker load` takes the archive too. Documents (indexes,
// manifests) are read whole, at most 4 MiB each (what a registry may serve); layers stream
// from the content store into the archive, 1 MiB at a time, with a progress step per MiB
// (ExportOptions::progress).
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "client/berth.h"
#include "client/client.h"
#include "client/connection.h"
#include "client/image.h"
#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/platforms/platforms.h"
#include "lib/reference/reference.h"
#include "lib/status/status.h"
#include "nlohmann/json.hpp"
#include "services/content/store.h"

namespace berth {
namespace {

using json = nlohmann::json;

constexpr int64_t kMaxDocumentBytes = 4 << 20;
constexpr int kMaxDepth = 4;

struct WriterCloser {
  void operator()(struct archive* a) const { archive_write_free(a); }
};

bool IsIndex(const std::string& mt) {
  return mt == kMediaTypeOCIIndex || mt == kMediaTypeDockerManifestList;
}
bool IsManifest(const std::string& mt) {
  return mt == kMediaTypeOCIManifest || mt == kMediaTypeDockerManifest;
}

class Exporter {
 public:
  Exporter(const Client& c, const ExportOptions& options, struct archive* a)
      : c_(c), options_(options), a_(a) {}

  absl::Status Init() {
    for (const std::string& p : options_.platforms) {
      ASSIGN_OR_RETURN(platforms::Platform pl, platforms::Parse(p));
      wanted_.push_back(platforms::Normalize(pl));
    }
    return absl::OkStatus();
  }

  // The tree below `desc` (already known to exist when `required`).
  absl::Status Walk(const std::string& dgst, const std::string& media_type, int64_t size, int depth,
                    bool required) {
    if (depth > kMaxDepth) {
      return InvalidArgumentError(fmt::format("export: {}: indexes nested too deeply", dgst));
    }
    if (!IsIndex(media_type) && !IsManifest(media_type)) {
      return AddBlob(dgst, size, required, "");
    }
    if (size > kMaxDocumentBytes) {
      return InvalidArgumentError(
          fmt::format("export: {} is {} bytes, more than the {} allowed for a manifest", dgst, size,
                      kMaxDocumentBytes));
    }
    absl::StatusOr<std::string> data = ReadBlob(c_, dgst, kMaxDocumentBytes);
    if (!data.ok()) {
      if (IsNotFound(data.status()) && !required) return absl::OkStatus();
      if (IsNotFound(data.status())) {
        return NotFoundError(fmt::format("export: {} {} is not in the content store",
                                         IsIndex(media_type) ? "index" : "manifest", dgst));
      }
      return data.status();
    }
    json j = json::parse(*data, nullptr, false);
    if (!j.is_object()) return InvalidArgumentError(fmt::format("export: {} is not JSON", dgst));
    if (IsIndex(media_type)) {
      if (!j.contains("manifests") || !j["manifests"].is_array()) {
        return InvalidArgumentError(fmt::format("export: index {} has no manifests", dgst));
      }
      for (const json& m : j["manifests"]) {
        if (!m.is_object()) continue;
        const std::string child = m.value("digest", "");
        const std::string mt = m.value("mediaType", "");
        bool want = true;
        if (!wanted_.empty() && m.contains("platform") && m["platform"].is_object()) {
          platforms::Platform p;
          p.os = m["platform"].value("os", "");
          p.architecture = m["platform"].value("architecture", "");
          p.variant = m["platform"].value("variant", "");
          p = platforms::Normalize(p);
          want = false;
          for (const platforms::Platform& w : wanted_) {
            if (w.os == p.os && w.architecture == p.architecture &&
                (w.variant.empty() || w.variant == p.variant)) {
              want = true;
            }
          }
        }
        if (!want) continue;
        // Manifests of other platforms may be absent (a pull fetches one): skipped unless
        // platforms were asked for.
        RETURN_IF_ERROR(Walk(child, mt, m.value("size", int64_t{0}), depth + 1,
                             /*required=*/!wanted_.empty()));
      }
    } else {
      if (!j.contains("config") || !j["config"].is_object()) {
        return InvalidArgumentError(fmt::format("export: manifest {} has no config", dgst));
      }
      RETURN_IF_ERROR(AddBlob(j["config"].value("digest", ""),
                              j["config"].value("size", int64_t{0}), true, "config"));
      if (j.contains("layers") && j["layers"].is_array()) {
        for (const json& l : j["layers"]) {
          if (!l.is_object()) continue;
          RETURN_IF_ERROR(
              AddBlob(l.value("digest", ""), l.value("size", int64_t{0}), true, "layer"));
        }
      }
    }
    return WriteEntry(dgst, *data, IsIndex(media_type) ? "index" : "manifest");
  }

  absl::Status WriteFile(const std::string& path, const std::string& data) {
    std::unique_ptr<struct archive_entry, void (*)(struct archive_entry*)> e(archive_entry_new(),
                                                                             archive_entry_free);
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0444);
    if (archive_write_header(a_, e.get()) != ARCHIVE_OK) return Error("write " + path);
    if (!data.empty() &&
        archive_write_data(a_, data.data(), data.size()) != static_cast<la_ssize_t>(data.size())) {
      return Error("write " + path);
    }
    return absl::OkStatus();
  }

  absl::Status Error(const std::string& what) {
    const char* msg = archive_error_string(a_);
    return InternalError(fmt::format("export: {}: {}", what, msg != nullptr ? msg : "error"));
  }

 private:
  static std::string PathOf(const digest::Digest& d) {
    return fmt::format("blobs/{}/{}", std::string(d.algorithm()), std::string(d.hex()));
  }

  void Report(ArchiveProgress::Kind kind, const std::string& path, const std::string& dgst,
              const std::string& role, int64_t offset, int64_t total) {
    if (!options_.progress) return;
    ArchiveProgress p;
    p.kind = kind;
    p.path = path;
    p.digest = dgst;
    p.role = role;
    p.offset = offset;
    p.total = total;
    options_.progress(p);
  }

  absl::Status WriteEntry(const std::string& dgst, const std::string& data,
                          const std::string& role) {
    if (!written_.insert(dgst).second) return absl::OkStatus();
    ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(dgst));
    RETURN_IF_ERROR(WriteFile(PathOf(d), data));
    const auto size = static_cast<int64_t>(data.size());
    Report(ArchiveProgress::Kind::kDone, PathOf(d), dgst, role, size, size);
    return absl::OkStatus();
  }

  // Streams a blob from the content store into the archive.
  absl::Status AddBlob(const std::string& dgst, int64_t size, bool required,
                       const std::string& role) {
    ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(dgst));
    if (written_.count(dgst) > 0) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<content::ReaderAt>> r =
        c_.ContentStore().OpenReader(c_.Context(), d);
    if (IsNotFound(r.status())) {
      if (!required) return absl::OkStatus();
      return NotFoundError(fmt::format("export: blob {} is not in the content store", dgst));
    }
    if (!r.ok()) return r.status();
    if ((*r)->Size() != size) {
      return DataLossError(fmt::format("export: blob {} is {} bytes, its descriptor says {}", dgst,
                                       (*r)->Size(), size));
    }
    written_.insert(dgst);
    std::unique_ptr<struct archive_entry, void (*)(struct archive_entry*)> e(archive_entry_new(),
                                                                             archive_entry_free);
    const std::string path = PathOf(d);
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), 0444);
    if (archive_write_header(a_, e.get()) != ARCHIVE_OK) return Error("write " + path);
    std::string buf(1 << 20, '\0');
    int64_t off = 0;
    int64_t reported = 0;
    Report(ArchiveProgress::Kind::kCopying, path, dgst, role, 0, size);
    while (off < size) {
      ASSIGN_OR_RETURN(std::size_t n,
                       (*r)->ReadAt(buf.data(),
                                    static_cast<std::size_t>(std::min<int64_t>(
                                        size - off, static_cast<int64_t>(buf.size()))),
                                    off));
      if (n == 0) return DataLossError(fmt::format("export: blob {}: short read at {}", dgst, off));
      if (archive_write_data(a_, buf.data(), n) != static_cast<la_ssize_t>(n)) {
        return Error("write " + path);
      }
      off += static_cast<int64_t>(n);
      if (off < size && off - reported >= static_cast<int64_t>(buf.size())) {
        reported = off;
        Report(ArchiveProgress::Kind::kCopying, path, dgst, role, off, size);
      }
    }
    Report(ArchiveProgress::Kind::kDone, path, dgst, role, size, size);
    return absl::OkStatus();
  }

  const Client& c_;
  const ExportOptions& options_;
  struct archive* a_;
  std::vector<platforms::Platform> wanted_;
  std::set<std::string> written_;
};

// manifest.json as `docker save` writes it and `docker load` reads it: one entry per image
// manifest, naming its config and layers by their paths in the archive and the images that
// use it by Docker's familiar names. Same content as containerd's exporter.
class DockerManifest {
 public:
  DockerManifest(const Client& c, const ExportOptions& options) : c_(c) {
    std::vector<platforms::Platform> wanted;
    for (const std::string& p : options.platforms) {
      absl::StatusOr<platforms::Platform> pl = platforms::Parse(p);
      if (pl.ok()) wanted.push_back(*pl);
    }
    matcher_ = wanted.empty() ? platforms::Default() : platforms::Ordered(wanted);
  }

  // Adds the image `name` whose target is `dgst` (a manifest, or an index whose best manifest
  // for the platforms is taken). An index with no such manifest in the store adds nothing, as
  // `docker load` could not run it anyway.
  absl::Status Add(const std::string& name, const std::string& dgst,
                   const std::string& media_type) {
    std::string manifest = dgst;
    if (IsIndex(media_type)) {
      ASSIGN_OR_RETURN(std::optional<std::string> best, BestOf(dgst));
      if (!best.has_value()) return absl::OkStatus();
      manifest = *best;
    } else if (!IsManifest(media_type)) {
      return absl::OkStatus();
    }
    auto it = std::find_if(entries_.begin(), entries_.end(),
                           [&](const Entry& e) { return e.manifest == manifest; });
    if (it == entries_.end()) {
      ASSIGN_OR_RETURN(json record, Record(manifest));
      entries_.push_back({manifest, std::move(record)});
      it = std::prev(entries_.end());
    }
    if (std::optional<std::string> tag = RepoTag(name); tag.has_value()) {
      it->record["RepoTags"].push_back(*tag);
    }
    return absl::OkStatus();
  }

  std::string Dump() const {
    json out = json::array();
    for (const Entry& e : entries_) out.push_back(e.record);
    return out.dump();
  }

 private:
  struct Entry {
    std::string manifest;
    json record;
  };

  static std::string BlobPath(const std::string& dgst) {
    absl::StatusOr<digest::Digest> d = digest::Digest::Parse(dgst);
    if (!d.ok()) return dgst;
    return fmt::format("blobs/{}/{}", std::string(d->algorithm()), std::string(d->hex()));
  }

  // containerd's familiarizeReference: a bare name gets `:latest`; docker.io/library/ goes.
  static std::optional<std::string> RepoTag(const std::string& name) {
    absl::StatusOr<reference::Reference> r = reference::Reference::ParseNormalized(name);
    if (!r.ok()) return std::nullopt;
    if (r->tag.empty() && r->digest.empty()) r->tag = "latest";
    return r->Familiar();
  }

  absl::StatusOr<json> ReadJson(const std::string& dgst) {
    ASSIGN_OR_RETURN(std::string data, ReadBlob(c_, dgst, kMaxDocumentBytes));
    json j = json::parse(data, nullptr, false);
    if (!j.is_object()) return InvalidArgumentError(fmt::format("export: {} is not JSON", dgst));
    return j;
  }

  // The manifest of the index that the platforms prefer, among those in the content store.
  absl::StatusOr<std::optional<std::string>> BestOf(const std::string& index) {
    ASSIGN_OR_RETURN(json j, ReadJson(index));
    std::vector<std::pair<platforms::Platform, std::string>> candidates;
    if (j.contains("manifests") && j["manifests"].is_array()) {
      for (const json& m : j["manifests"]) {
        if (!m.is_object() || !IsManifest(m.value("mediaType", ""))) continue;
        if (!m.contains("platform") || !m["platform"].is_object()) continue;
        platforms::Platform p;
        p.os = m["platform"].value("os", "");
        p.architecture = m["platform"].value("architecture", "");
        p.variant = m["platform"].value("variant", "");
        if (matcher_.Match(p)) candidates.emplace_back(p, m.value("digest", ""));
      }
    }
    std::stable_sort(candidates.begin(), candidates.end(), [&](const auto& a, const auto& b) {
      return matcher_.Less(a.first, b.first);
    });
    for (const auto& [platform, dgst] : candidates) {
      absl::StatusOr<digest::Digest> d = digest::Digest::Parse(dgst);
      if (!d.ok()) continue;
      absl::StatusOr<content::Info> info = c_.ContentStore().Info(c_.Context(), *d);
      if (info.ok()) return std::optional<std::string>(dgst);
      if (!IsNotFound(info.status())) return info.status();
    }
    return std::optional<std::string>();
  }

  absl::StatusOr<json> Record(const std::string& manifest) {
    ASSIGN_OR_RETURN(json m, ReadJson(manifest));
    if (!m.contains("config") || !m["config"].is_object()) {
      return InvalidArgumentError(fmt::format("export: manifest {} has no config", manifest));
    }
    json layers = json::array();
    if (m.contains("layers") && m["layers"].is_array()) {
      for (const json& l : m["layers"]) {
        if (l.is_object()) layers.push_back(BlobPath(l.value("digest", "")));
      }
    }
    return json{{"Config", BlobPath(m["config"].value("digest", ""))},
                {"RepoTags", json::array()},
                {"Layers", std::move(layers)}};
  }

  const Client& c_;
  platforms::Matcher matcher_;
  std::vector<Entry> entries_;
};

// ctr's ociReferenceName: the tag of a parsable reference, else the name itself.
std::string OciRefName(const std::string& name) {
  absl::StatusOr<reference::Reference> r = reference::Reference::Parse(name);
  if (r.ok() && !r->tag.empty()) return r->tag;
  return name;
}

}  // namespace

absl::Status Client::Export(int fd, const std::vector<std::string>& names,
                            const ExportOptions& options) const {
  RETURN_IF_ERROR(AddressStatus());
  if (names.empty()) return InvalidArgumentError("export: no image named");
  std::vector<ImageRecord> records;
  for (const std::string& name : names) {
    absl::StatusOr<ImageRecord> rec = Images().Get(name);
    if (IsNotFound(rec.status())) {
      absl::StatusOr<reference::Reference> r = reference::Reference::ParseNormalized(name);
      if (r.ok() && r->String() != name) rec = Images().Get(r->String());
    }
    if (IsNotFound(rec.status())) {
      return NotFoundError(
          fmt::format("export: image {:?} not found in namespace {:?}", name, Namespace()));
    }
    if (!rec.ok()) return rec.status();
    records.push_back(*std::move(rec));
  }

  std::unique_ptr<struct archive, WriterCloser> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  if (archive_write_open_fd(a.get(), fd) != ARCHIVE_OK) {
    const char* msg = archive_error_string(a.get());
    return InternalError(fmt::format("export: open: {}", msg != nullptr ? msg : "error"));
  }
  Exporter ex(*this, options, a.get());
  RETURN_IF_ERROR(ex.Init());
  json index = {
      {"schemaVersion", 2}, {"mediaType", kMediaTypeOCIIndex}, {"manifests", json::array()}};
  DockerManifest docker(*this, options);
  for (const ImageRecord& rec : records) {
    const auto& t = rec.target();
    RETURN_IF_ERROR(ex.Walk(t.digest(), t.media_type(), t.size(), 0, /*required=*/true));
    if (!options.skip_docker_manifest) {
      RETURN_IF_ERROR(docker.Add(rec.name(), t.digest(), t.media_type()));
    }
    json entry = {{"mediaType", t.media_type()}, {"digest", t.digest()}, {"size", t.size()}};
    json annotations = json::object();
    for (const auto& [k, v] : t.annotations()) annotations[k] = v;
    annotations["io.containerd.image.name"] = rec.name();
    annotations["org.opencontainers.image.ref.name"] = OciRefName(rec.name());
    entry["annotations"] = annotations;
    index["manifests"].push_back(entry);
  }
  RETURN_IF_ERROR(ex.WriteFile("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  RETURN_IF_ERROR(ex.WriteFile("index.json", index.dump()));
  if (!options.skip_docker_manifest) RETURN_IF_ERROR(ex.WriteFile("manifest.json", docker.Dump()));
  if (archive_write_close(a.get()) != ARCHIVE_OK) return ex.Error("close");
  return absl::OkStatus();
}

}  // namespace berth
