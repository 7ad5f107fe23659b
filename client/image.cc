#include "client/image.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "client/berth.h"
#include "client/connection.h"
#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/platforms/platforms.h"
#include "lib/status/status.h"
#include "services/content/store.h"
#include "services/snapshot/diff/differ.h"
#include "services/snapshot/snapshotter.h"

namespace berth {
namespace {

using json = nlohmann::json;

bool IsIndexType(const std::string& mt) {
  return mt == kMediaTypeOCIIndex || mt == kMediaTypeDockerManifestList;
}

bool IsManifestType(const std::string& mt) {
  return mt == kMediaTypeOCIManifest || mt == kMediaTypeDockerManifest;
}

Descriptor DescriptorFromJson(const json& j) {
  Descriptor d;
  d.media_type = j.value("mediaType", "");
  d.digest = j.value("digest", "");
  if (j.contains("size") && j["size"].is_number_integer()) d.size = j["size"].get<int64_t>();
  if (j.contains("annotations") && j["annotations"].is_object()) {
    for (const auto& [k, v] : j["annotations"].items()) {
      if (v.is_string()) d.annotations[k] = v.get<std::string>();
    }
  }
  if (j.contains("platform") && j["platform"].is_object()) {
    const json& p = j["platform"];
    platforms::Platform plat{p.value("os", ""), p.value("architecture", ""),
                             p.value("variant", "")};
    d.platform = platforms::Format(plat);
  }
  return d;
}

absl::StatusOr<json> ReadJsonBlob(const Client& client, const Descriptor& d) {
  ASSIGN_OR_RETURN(std::string data, ReadBlob(client, d.digest, 16 << 20));
  json j = json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return InvalidArgumentError(fmt::format("blob {}: not a JSON object", d.digest));
  }
  return j;
}

absl::StatusOr<platforms::Matcher> MatcherFor(const std::string& platform) {
  if (platform.empty()) return platforms::Default();
  ASSIGN_OR_RETURN(platforms::Platform p, platforms::Parse(platform));
  return platforms::Only(p);
}

// The media type of a blob, from its descriptor or (when the descriptor has none) its JSON.
std::string KindOf(const Descriptor& d, const json& j) {
  if (!d.media_type.empty()) return d.media_type;
  std::string mt = j.value("mediaType", "");
  if (!mt.empty()) return mt;
  if (j.contains("manifests")) return kMediaTypeOCIIndex;
  if (j.contains("layers")) return kMediaTypeOCIManifest;
  return "";
}

// Resolves `root` to the manifest for `matcher`, recursing through nested indexes.
absl::StatusOr<Descriptor> ResolveManifest(const Client& client, const Descriptor& root,
                                           const platforms::Matcher& matcher, int depth,
                                           std::vector<Descriptor>* path) {
  if (depth > 8) return InvalidArgumentError("image: indexes nested too deeply");
  ASSIGN_OR_RETURN(json j, ReadJsonBlob(client, root));
  const std::string kind = KindOf(root, j);
  if (IsManifestType(kind)) {
    Descriptor m = root;
    m.media_type = kind;
    return m;
  }
  if (!IsIndexType(kind)) {
    return InvalidArgumentError(
        fmt::format("image: unsupported media type {:?} of {}", kind, root.digest));
  }
  if (path != nullptr) path->push_back(root);
  std::vector<Descriptor> candidates;
  if (j.contains("manifests") && j["manifests"].is_array()) {
    for (const json& e : j["manifests"]) {
      Descriptor d = DescriptorFromJson(e);
      if (d.platform.empty()) {
        candidates.push_back(d);
        continue;
      }
      absl::StatusOr<platforms::Platform> p = platforms::Parse(d.platform);
      if (p.ok() && matcher.Match(*p)) candidates.push_back(d);
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](const Descriptor& a, const Descriptor& b) {
                     if (a.platform.empty() || b.platform.empty()) return false;
                     auto pa = platforms::Parse(a.platform);
                     auto pb = platforms::Parse(b.platform);
                     return pa.ok() && pb.ok() && matcher.Less(*pa, *pb);
                   });
  absl::Status last = NotFoundError(
      fmt::format("image: no manifest for platform {} in {}",
                  matcher.platforms().empty() ? "any" : platforms::Format(matcher.platforms()[0]),
                  root.digest));
  for (const Descriptor& c : candidates) {
    absl::StatusOr<Descriptor> m = ResolveManifest(client, c, matcher, depth + 1, path);
    if (m.ok()) return m;
    last = m.status();
  }
  return last;
}

ImageSpec ParseImageSpec(json raw) {
  ImageSpec s;
  auto strings = [](const json& j, const char* key) {
    std::vector<std::string> out;
    if (j.contains(key) && j[key].is_array()) {
      for (const json& v : j[key]) {
        if (v.is_string()) out.push_back(v.get<std::string>());
      }
    }
    return out;
  };
  s.os = raw.value("os", "");
  s.architecture = raw.value("architecture", "");
  if (raw.contains("config") && raw["config"].is_object()) {
    const json& c = raw["config"];
    s.env = strings(c, "Env");
    s.entrypoint = strings(c, "Entrypoint");
    s.cmd = strings(c, "Cmd");
    s.working_dir = c.value("WorkingDir", "");
    s.user = c.value("User", "");
    s.stop_signal = c.value("StopSignal", "");
    if (c.contains("Labels") && c["Labels"].is_object()) {
      for (const auto& [k, v] : c["Labels"].items()) {
        if (v.is_string()) s.labels[k] = v.get<std::string>();
      }
    }
  }
  if (raw.contains("rootfs") && raw["rootfs"].is_object()) {
    s.diff_ids = strings(raw["rootfs"], "diff_ids");
  }
  s.raw = std::move(raw);
  return s;
}

absl::Status LabelBlob(const Client& client, const std::string& dgst, const std::string& key,
                       const std::string& value) {
  ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(dgst));
  content::Info info;
  info.digest = d;
  info.labels[key] = value;
  return client.ContentStore().Update(client.Context(), info, {"labels." + key}).status();
}

snapshot::diff::Descriptor ToDiffDescriptor(const Descriptor& d) {
  snapshot::diff::Descriptor out;
  out.media_type = d.media_type;
  out.digest = d.digest;
  out.size = d.size;
  out.annotations = d.annotations;
  return out;
}

}  // namespace

std::vector<std::string> ChainIDs(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> out;
  for (const std::string& d : diff_ids) {
    if (out.empty()) {
      out.push_back(d);
    } else {
      out.push_back(digest::FromBytes(out.back() + " " + d).ToString());
    }
  }
  return out;
}

absl::StatusOr<std::string> ReadBlob(const Client& client, const std::string& dgst,
                                     int64_t max_bytes) {
  RETURN_IF_ERROR(client.AddressStatus());
  ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(dgst));
  ASSIGN_OR_RETURN(std::unique_ptr<content::ReaderAt> reader,
                   client.ContentStore().OpenReader(client.Context(), d));
  const int64_t size = reader->Size();
  if (size > max_bytes) {
    return ResourceExhaustedError(
        fmt::format("read blob {}: {} bytes, more than the {} allowed", dgst, size, max_bytes));
  }
  std::string out(static_cast<size_t>(size), '\0');
  int64_t off = 0;
  while (off < size) {
    ASSIGN_OR_RETURN(
        size_t n, reader->ReadAt(out.data() + off,
                                 static_cast<size_t>(std::min<int64_t>(size - off, 1 << 20)), off));
    if (n == 0) return DataLossError(fmt::format("read blob {}: short read at {}", dgst, off));
    off += static_cast<int64_t>(n);
  }
  return out;
}

absl::Status WriteBlob(const Client& client, const std::string& ref, const std::string& data,
                       const std::string& expected_digest, const Labels& labels) {
  RETURN_IF_ERROR(client.AddressStatus());
  content::WriterOptions wo;
  wo.ref = ref;
  wo.total = static_cast<int64_t>(data.size());
  digest::Digest expected;
  if (!expected_digest.empty()) {
    ASSIGN_OR_RETURN(expected, digest::Digest::Parse(expected_digest));
  } else {
    expected = digest::FromBytes(data);
  }
  wo.expected = expected;
  const CallContext ctx = client.Context();
  content::Store& store = client.ContentStore();
  absl::StatusOr<std::unique_ptr<content::Writer>> w = store.OpenWriter(ctx, wo);
  if (IsAlreadyExists(w.status())) {
    for (const auto& [k, v] : labels) RETURN_IF_ERROR(LabelBlob(client, expected.ToString(), k, v));
    return absl::OkStatus();
  }
  if (!w.ok()) return w.status();
  ASSIGN_OR_RETURN(content::IngestStatus st, (*w)->Status());
  if (st.offset != 0 && st.offset != wo.total) RETURN_IF_ERROR((*w)->Truncate(0));
  if (st.offset != wo.total) {
    for (size_t off = 0; off < data.size(); off += 1 << 20) {
      RETURN_IF_ERROR((*w)->Write(data.substr(off, 1 << 20)));
    }
  }
  absl::Status s = (*w)->Commit(wo.total, expected, labels);
  if (IsAlreadyExists(s)) return absl::OkStatus();
  return s;
}

// --- Image ----------------------------------------------------------------------------------

Image::Image(Client client, ImageRecord record, std::string platform)
    : client_(std::move(client)), record_(std::move(record)), platform_(std::move(platform)) {}

Descriptor Image::Target() const {
  Descriptor d;
  d.media_type = record_.target().media_type();
  d.digest = record_.target().digest();
  d.size = record_.target().size();
  d.annotations.insert(record_.target().annotations().begin(),
                       record_.target().annotations().end());
  return d;
}

Labels Image::GetLabels() const { return Labels(record_.labels().begin(), record_.labels().end()); }

Image Image::ForPlatform(std::string platform) const {
  return Image(client_, record_, std::move(platform));
}

absl::StatusOr<Descriptor> Image::Manifest() const {
  ASSIGN_OR_RETURN(platforms::Matcher matcher, MatcherFor(platform_));
  absl::StatusOr<Descriptor> m = ResolveManifest(client_, Target(), matcher, 0, nullptr);
  if (!m.ok()) return Annotate(m.status(), fmt::format("image {:?}", Name()));
  return m;
}

absl::StatusOr<Descriptor> Image::Config() const {
  ASSIGN_OR_RETURN(Descriptor m, Manifest());
  ASSIGN_OR_RETURN(json j, ReadJsonBlob(client_, m));
  if (!j.contains("config") || !j["config"].is_object()) {
    return InvalidArgumentError(
        fmt::format("image {:?}: manifest {} has no config", Name(), m.digest));
  }
  return DescriptorFromJson(j["config"]);
}

absl::StatusOr<ImageSpec> Image::Spec() const {
  ASSIGN_OR_RETURN(Descriptor c, Config());
  if (c.media_type != kMediaTypeOCIConfig && c.media_type != kMediaTypeDockerConfig) {
    return InvalidArgumentError(
        fmt::format("image {:?}: unknown image config media type {:?}", Name(), c.media_type));
  }
  ASSIGN_OR_RETURN(json j, ReadJsonBlob(client_, c));
  return ParseImageSpec(std::move(j));
}

absl::StatusOr<std::vector<Descriptor>> Image::Layers() const {
  ASSIGN_OR_RETURN(Descriptor m, Manifest());
  ASSIGN_OR_RETURN(json j, ReadJsonBlob(client_, m));
  std::vector<Descriptor> out;
  if (j.contains("layers") && j["layers"].is_array()) {
    for (const json& l : j["layers"]) out.push_back(DescriptorFromJson(l));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> Image::RootFS() const {
  ASSIGN_OR_RETURN(ImageSpec s, Spec());
  return s.diff_ids;
}

absl::StatusOr<std::string> Image::TopChainID() const {
  ASSIGN_OR_RETURN(std::vector<std::string> diff_ids, RootFS());
  if (diff_ids.empty()) {
    return InvalidArgumentError(fmt::format("image {:?}: no layers", Name()));
  }
  return ChainIDs(diff_ids).back();
}

absl::StatusOr<int64_t> Image::Size() const {
  ASSIGN_OR_RETURN(platforms::Matcher matcher, MatcherFor(platform_));
  std::vector<Descriptor> indexes;
  ASSIGN_OR_RETURN(Descriptor m, ResolveManifest(client_, Target(), matcher, 0, &indexes));
  int64_t total = m.size;
  for (const Descriptor& i : indexes) total += i.size;
  ASSIGN_OR_RETURN(json j, ReadJsonBlob(client_, m));
  if (j.contains("config")) total += DescriptorFromJson(j["config"]).size;
  if (j.contains("layers") && j["layers"].is_array()) {
    for (const json& l : j["layers"]) total += DescriptorFromJson(l).size;
  }
  return total;
}

absl::StatusOr<ImageAvailability> Image::Check(const std::string& snapshotter) const {
  ImageAvailability a;
  std::vector<Descriptor> blobs = {Target()};
  absl::StatusOr<platforms::Matcher> matcher = MatcherFor(platform_);
  if (!matcher.ok()) return matcher.status();
  std::vector<Descriptor> indexes;
  absl::StatusOr<Descriptor> m = ResolveManifest(client_, Target(), *matcher, 0, &indexes);
  if (m.ok()) {
    blobs = indexes;
    blobs.push_back(*m);
    absl::StatusOr<json> j = ReadJsonBlob(client_, *m);
    if (j.ok()) {
      if (j->contains("config")) blobs.push_back(DescriptorFromJson((*j)["config"]));
      if (j->contains("layers") && (*j)["layers"].is_array()) {
        for (const json& l : (*j)["layers"]) blobs.push_back(DescriptorFromJson(l));
      }
    }
  } else if (!IsNotFound(m.status())) {
    return m.status();
  }
  for (const Descriptor& d : blobs) {
    a.total_bytes += d.size;
    absl::StatusOr<digest::Digest> dg = digest::Digest::Parse(d.digest);
    if (!dg.ok()) return dg.status();
    absl::StatusOr<content::Info> info = client_.ContentStore().Info(client_.Context(), *dg);
    if (info.ok()) {
      a.present_bytes += d.size;
    } else if (IsNotFound(info.status())) {
      a.missing.push_back(d.digest);
    } else {
      return info.status();
    }
  }
  a.complete = m.ok() && a.missing.empty();
  if (a.complete) {
    absl::StatusOr<bool> unpacked = IsUnpacked(snapshotter);
    a.unpacked = unpacked.ok() && *unpacked;
  }
  return a;
}

absl::StatusOr<bool> Image::IsUnpacked(const std::string& snapshotter) const {
  ASSIGN_OR_RETURN(std::string top, TopChainID());
  std::shared_ptr<snapshot::Snapshotter> sn = client_.SnapshotService(snapshotter);
  absl::StatusOr<snapshot::Info> info = sn->Stat(client_.Context(), top);
  if (info.ok()) return true;
  if (IsNotFound(info.status())) return false;
  return info.status();
}

absl::Status Image::Unpack(const std::string& snapshotter) const {
  std::string sn_name = snapshotter;
  if (sn_name.empty()) {
    ASSIGN_OR_RETURN(sn_name, client_.DefaultSnapshotter());
  }
  ASSIGN_OR_RETURN(ImageSpec spec, Spec());
  ASSIGN_OR_RETURN(std::vector<Descriptor> layers, Layers());
  ASSIGN_OR_RETURN(Descriptor config, Config());
  if (layers.size() != spec.diff_ids.size()) {
    return InvalidArgumentError(fmt::format("unpack {:?}: {} layers but {} diff_ids", Name(),
                                            layers.size(), spec.diff_ids.size()));
  }
  if (layers.empty()) return InvalidArgumentError(fmt::format("unpack {:?}: no layers", Name()));
  ASSIGN_OR_RETURN(ScopedLease lease, client_.WithLease());
  const Client& c = lease.client();
  std::shared_ptr<snapshot::Snapshotter> sn = c.SnapshotService(sn_name);
  const std::vector<std::string> chain = ChainIDs(spec.diff_ids);
  for (size_t i = 0; i < layers.size(); ++i) {
    const CallContext ctx = c.Context();
    absl::StatusOr<snapshot::Info> info = sn->Stat(ctx, chain[i]);
    if (info.ok()) continue;
    if (!IsNotFound(info.status())) return info.status();
    const std::string parent = i == 0 ? "" : chain[i - 1];
    for (int attempt = 0;; ++attempt) {
      auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
      const std::string key = fmt::format("extract-{}-{} {}", nanos, attempt, chain[i]);
      absl::StatusOr<std::vector<snapshot::Mount>> mounts = sn->Prepare(ctx, key, parent, {});
      if (IsAlreadyExists(mounts.status()) && attempt < 3) continue;
      if (!mounts.ok()) {
        return Annotate(mounts.status(), fmt::format("unpack {:?}: layer {}", Name(), i));
      }
      absl::StatusOr<snapshot::diff::Descriptor> applied =
          c.DiffService().Apply(ctx, ToDiffDescriptor(layers[i]), *mounts);
      absl::Status s = applied.status();
      if (s.ok() && applied->digest != spec.diff_ids[i]) {
        s = FailedPreconditionError(
            fmt::format("wrong diff id {} calculated on extraction, want {}", applied->digest,
                        spec.diff_ids[i]));
      }
      if (s.ok()) s = sn->Commit(ctx, chain[i], key, {});
      if (!s.ok()) {
        (void)sn->Remove(ctx, key);
        if (IsAlreadyExists(s)) break;  // Someone else committed it meanwhile.
        return Annotate(s, fmt::format("unpack {:?}: layer {} ({})", Name(), i, layers[i].digest));
      }
      break;
    }
    RETURN_IF_ERROR(LabelBlob(c, layers[i].digest, "containerd.io/uncompressed", spec.diff_ids[i]));
  }
  RETURN_IF_ERROR(
      LabelBlob(c, config.digest, "containerd.io/gc.ref.snapshot." + sn_name, chain.back()));
  return lease.Release();
}

}  // namespace berth
