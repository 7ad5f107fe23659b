#include "services/image/pull/labels.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <set>

#include "fmt/format.h"
#include "lib/reference/reference.h"
#include "lib/status/status.h"
#include "nlohmann/json.hpp"
#include "services/image/remotes/media_types.h"

namespace berth::image::pull {
namespace {

// containerd's checkpoint types count as configs for IsKnownConfig.
constexpr std::string_view kCheckpointType =
    "application/vnd.containerd.container.criu.checkpoint.criu.tar";
constexpr std::string_view kCheckpointConfigType =
    "application/vnd.containerd.container.checkpoint.config.v1+proto";
// ocispec.AnnotationRefName: MakeRefKey puts it before the digest.
constexpr char kRefNameAnnotation[] = "org.opencontainers.image.ref.name";

bool IsKnownConfig(std::string_view media_type) {
  return remotes::IsConfigType(media_type) || media_type == kCheckpointType ||
         media_type == kCheckpointConfigType;
}

}  // namespace

std::string RoleOf(std::string_view media_type) {
  if (remotes::IsManifestType(media_type)) return "manifest";
  if (remotes::IsIndexType(media_type)) return "index";
  if (remotes::IsLayerType(media_type)) return "layer";
  if (IsKnownConfig(media_type)) return "config";
  return "unknown";
}

std::string IngestRef(const remotes::Descriptor& desc) {
  std::string key = desc.digest.ToString();
  if (auto it = desc.annotations.find(kRefNameAnnotation); it != desc.annotations.end()) {
    key = it->second + "@" + key;
  }
  return RoleOf(desc.media_type) + "-" + key;
}

std::map<std::string, std::string> ChildGcLabels(const std::vector<remotes::Descriptor>& children) {
  // images.ChildGCLabels: config, manifest (not index), layer, anything else; then
  // SetChildrenMappedLabels numbers keys ending in '.' from 0 and repeated keys from 1.
  std::map<std::string, std::string> labels;
  std::map<std::string, int> seen;
  for (const remotes::Descriptor& child : children) {
    std::string key = kGcRefContentPrefix;
    const std::string_view mt = child.media_type;
    if (IsKnownConfig(mt)) {
      key += "config";
    } else if (mt == remotes::kDockerManifest || mt == remotes::kOciManifest) {
      key += "m.";
    } else if (remotes::IsLayerType(mt)) {
      key += "l.";
    }
    const int index = seen[key]++;
    if (index > 0 || key.back() == '.') key += std::to_string(index);
    labels[key] = child.digest.ToString();
  }
  return labels;
}

std::string DistributionSource::LabelKey() const { return kDistributionSourcePrefix + host; }

absl::StatusOr<DistributionSource> DistributionSourceOf(std::string_view ref) {
  ASSIGN_OR_RETURN(reference::Reference r, reference::Reference::ParseNormalized(ref));
  // url.Hostname() of "dummy://<locator>": no port, IPv6 without brackets.
  std::string host = r.domain;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    host = host.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    host.resize(colon);
  }
  return DistributionSource{std::move(host), r.path};
}

std::string AppendDistributionSource(std::string_view existing, std::string_view repository) {
  std::set<std::string> repos;
  size_t start = 0;
  while (start <= existing.size()) {
    size_t end = existing.find(',', start);
    if (end == std::string_view::npos) end = existing.size();
    if (end > start) repos.emplace(existing.substr(start, end - start));
    start = end + 1;
  }
  if (!repository.empty()) repos.emplace(repository);
  std::string out;
  for (const std::string& r : repos) {
    if (!out.empty()) out += ',';
    out += r;
  }
  return out;
}

std::vector<digest::Digest> ChainIds(const std::vector<digest::Digest>& diff_ids) {
  std::vector<digest::Digest> chain;
  chain.reserve(diff_ids.size());
  for (const digest::Digest& d : diff_ids) {
    if (chain.empty()) {
      chain.push_back(d);
    } else {
      chain.push_back(digest::FromBytes(chain.back().ToString() + " " + d.ToString()));
    }
  }
  return chain;
}

std::string UnpackKey(const digest::Digest& chain_id) {
  // uniquePart(): the nanoseconds of the current second and 3 random bytes in base64url.
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() % 1000000000LL;
  const uint32_t bits = static_cast<uint32_t>(rng()) & 0xFFFFFF;
  std::string unique;
  for (int shift = 18; shift >= 0; shift -= 6) unique += kAlphabet[(bits >> shift) & 63];
  return fmt::format("extract-{}-{} {}", nanos, unique, chain_id.ToString());
}

absl::StatusOr<ImageConfig> ParseImageConfig(std::string_view bytes) {
  nlohmann::json doc = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr,
                                             /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgumentError("invalid image config: not a JSON object");
  }
  ImageConfig config;
  auto string_field = [&](const char* name, std::string* out) -> absl::Status {
    auto it = doc.find(name);
    if (it == doc.end() || it->is_null()) return absl::OkStatus();
    if (!it->is_string()) {
      return InvalidArgumentError(fmt::format("invalid image config: {}: must be a string", name));
    }
    *out = it->get<std::string>();
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(string_field("os", &config.os));
  RETURN_IF_ERROR(string_field("architecture", &config.architecture));
  RETURN_IF_ERROR(string_field("variant", &config.variant));
  auto rootfs = doc.find("rootfs");
  if (rootfs == doc.end() || rootfs->is_null()) return config;
  if (!rootfs->is_object()) {
    return InvalidArgumentError("invalid image config: rootfs: must be an object");
  }
  if (auto type = rootfs->find("type"); type != rootfs->end()) {
    if (!type->is_string() || type->get<std::string>() != "layers") {
      return InvalidArgumentError(fmt::format(
          "invalid image config: rootfs.type: must be \"layers\", got {}", type->dump()));
    }
  }
  auto ids = rootfs->find("diff_ids");
  if (ids == rootfs->end() || ids->is_null()) return config;
  if (!ids->is_array()) {
    return InvalidArgumentError("invalid image config: rootfs.diff_ids: must be an array");
  }
  for (size_t i = 0; i < ids->size(); ++i) {
    const nlohmann::json& id = (*ids)[i];
    if (!id.is_string()) {
      return InvalidArgumentError(
          fmt::format("invalid image config: rootfs.diff_ids[{}]: must be a string", i));
    }
    absl::StatusOr<digest::Digest> d = digest::Digest::Parse(id.get<std::string>());
    if (!d.ok()) {
      return InvalidArgumentError(fmt::format("invalid image config: rootfs.diff_ids[{}]: {}", i,
                                              std::string(d.status().message())));
    }
    config.diff_ids.push_back(*std::move(d));
  }
  return config;
}

}  // namespace berth::image::pull
