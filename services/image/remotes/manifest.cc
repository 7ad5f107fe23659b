#include "services/image/remotes/manifest.h"

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <utility>

#include "lib/status/status.h"
#include "nlohmann/json.hpp"
#include "services/image/remotes/media_types.h"

namespace berth::remotes {
namespace {

using Json = nlohmann::json;

// What the parse was asked for; names the document in errors.
enum class Want { kIndex, kManifest, kAny };

std::string_view WantName(Want want) {
  switch (want) {
    case Want::kIndex:
      return "image index";
    case Want::kManifest:
      return "image manifest";
    case Want::kAny:
      break;
  }
  return "manifest or index";
}

absl::Status Invalid(Want want, std::string_view reason) {
  return absl::InvalidArgumentError(fmt::format("invalid {}: {}", WantName(want), reason));
}

// Deepest nesting of arrays and objects a document may have. Image documents need 4; the
// limit keeps every recursive walk over a hostile document shallow.
constexpr int kMaxNesting = 32;

// A short printable form of an offending JSON value for messages: scalars as JSON (strings
// cut, so that a hostile document cannot make an error message megabytes long), containers
// by kind only.
std::string Show(const Json& value) {
  if (value.is_object()) return "an object";
  if (value.is_array()) return "an array";
  if (value.is_string()) {
    std::string s = value.get<std::string>();
    if (s.size() > 64) s = s.substr(0, 64) + "...";
    return Json(s).dump(-1, ' ', true, Json::error_handler_t::replace);
  }
  return value.dump();
}

// Whether the nesting of `[` and `{` (outside strings) stays within kMaxNesting.
bool NestingWithinLimit(std::string_view bytes) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxNesting) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

absl::Status ParseString(const Json& obj, const char* key, std::string_view path,
                         std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        fmt::format("{}{}: must be a string, got {}", path, key, Show(*it)));
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status ParseStringMap(const Json& obj, const char* key, std::string_view path,
                            std::map<std::string, std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) {
    return absl::InvalidArgumentError(
        fmt::format("{}{}: must be an object of strings, got {}", path, key, Show(*it)));
  }
  for (const auto& [k, v] : it->items()) {
    if (!v.is_string()) {
      return absl::InvalidArgumentError(
          fmt::format("{}{}.{}: must be a string, got {}", path, key, k, Show(v)));
    }
    (*out)[k] = v.get<std::string>();
  }
  return absl::OkStatus();
}

absl::Status ParseStringList(const Json& obj, const char* key, std::string_view path,
                             std::vector<std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) {
    return absl::InvalidArgumentError(
        fmt::format("{}{}: must be an array of strings, got {}", path, key, Show(*it)));
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    const Json& v = (*it)[i];
    if (!v.is_string()) {
      return absl::InvalidArgumentError(
          fmt::format("{}{}[{}]: must be a string, got {}", path, key, i, Show(v)));
    }
    out->push_back(v.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ParsePlatform(const Json& v, std::string_view path, Descriptor* desc) {
  if (!v.is_object()) {
    return absl::InvalidArgumentError(
        fmt::format("{}platform: must be an object, got {}", path, Show(v)));
  }
  std::string p = fmt::format("{}platform.", path);
  platforms::Platform platform;
  RETURN_IF_ERROR(ParseString(v, "os", p, &platform.os));
  RETURN_IF_ERROR(ParseString(v, "architecture", p, &platform.architecture));
  RETURN_IF_ERROR(ParseString(v, "variant", p, &platform.variant));
  RETURN_IF_ERROR(ParseString(v, "os.version", p, &desc->os_version));
  RETURN_IF_ERROR(ParseStringList(v, "os.features", p, &desc->os_features));
  desc->platform = std::move(platform);
  return absl::OkStatus();
}

// Parses one descriptor; `path` is its JSON path with a trailing '.' ("layers[2].").
absl::Status ParseDescriptor(const Json& v, std::string_view path, Descriptor* desc) {
  if (!v.is_object()) {
    std::string where(path.substr(0, path.empty() ? 0 : path.size() - 1));
    return absl::InvalidArgumentError(
        fmt::format("{}: must be a descriptor object, got {}", where, Show(v)));
  }
  RETURN_IF_ERROR(ParseString(v, "mediaType", path, &desc->media_type));
  if (desc->media_type.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}mediaType: required", path));
  }
  std::string digest;
  RETURN_IF_ERROR(ParseString(v, "digest", path, &digest));
  if (digest.empty()) return absl::InvalidArgumentError(fmt::format("{}digest: required", path));
  auto parsed = digest::Digest::Parse(digest);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("{}digest: {}", path, std::string(parsed.status().message())));
  }
  desc->digest = *std::move(parsed);

  auto size = v.find("size");
  if (size == v.end()) return absl::InvalidArgumentError(fmt::format("{}size: required", path));
  if (size->is_number_unsigned() &&
      size->get<std::uint64_t>() <=
          static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    desc->size = static_cast<std::int64_t>(size->get<std::uint64_t>());
  } else {
    return absl::InvalidArgumentError(
        fmt::format("{}size: must be a non-negative integer, got {}", path, Show(*size)));
  }
  RETURN_IF_ERROR(ParseStringList(v, "urls", path, &desc->urls));
  RETURN_IF_ERROR(ParseStringMap(v, "annotations", path, &desc->annotations));
  RETURN_IF_ERROR(ParseString(v, "artifactType", path, &desc->artifact_type));
  auto platform = v.find("platform");
  if (platform != v.end() && !platform->is_null()) {
    RETURN_IF_ERROR(ParsePlatform(*platform, path, desc));
  }
  return absl::OkStatus();
}

absl::Status ParseDescriptorList(const Json& obj, const char* key, std::vector<Descriptor>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: must be an array of descriptors, got {}", key, Show(*it)));
  }
  out->reserve(it->size());
  for (std::size_t i = 0; i < it->size(); ++i) {
    Descriptor desc;
    RETURN_IF_ERROR(ParseDescriptor((*it)[i], fmt::format("{}[{}].", key, i), &desc));
    out->push_back(std::move(desc));
  }
  return absl::OkStatus();
}

absl::Status ParseSubject(const Json& obj, std::optional<Descriptor>* out) {
  auto it = obj.find("subject");
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  Descriptor desc;
  RETURN_IF_ERROR(ParseDescriptor(*it, "subject.", &desc));
  *out = std::move(desc);
  return absl::OkStatus();
}

bool Has(const Json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

// The document parsed and checked for everything both kinds share: size, JSON object, schema
// 1, schemaVersion 2, the ambiguity rule and the declared kind.
struct Common {
  Json json;
  std::string body_media_type;
  Document::Kind kind = Document::Kind::kManifest;
};

absl::StatusOr<Common> ParseCommon(std::string_view bytes, std::string_view declared, Want want) {
  if (static_cast<std::int64_t>(bytes.size()) > kMaxManifestSize) {
    return Invalid(want, fmt::format("document is {} bytes, over the {} byte limit", bytes.size(),
                                     kMaxManifestSize));
  }
  auto schema1 = [&](std::string_view how) {
    return absl::UnimplementedError(fmt::format(
        "Docker image manifest v2 schema 1 ({}) is not supported: berth reads schema 2 and OCI "
        "manifests only; push the image again with a current client to convert it",
        how));
  };
  if (IsSchema1Type(declared)) {
    return schema1(fmt::format("media type \"{}\"", MediaTypeBase(declared)));
  }
  if (!NestingWithinLimit(bytes)) {
    return Invalid(want, fmt::format("JSON nested deeper than {} levels", kMaxNesting));
  }
  Common c;
  c.json = Json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (c.json.is_discarded()) return Invalid(want, "not valid JSON");
  if (!c.json.is_object()) return Invalid(want, "not a JSON object");
  const Json& j = c.json;

  if (auto st = ParseString(j, "mediaType", "", &c.body_media_type); !st.ok()) {
    return Invalid(want, std::string(st.message()));
  }
  if (IsSchema1Type(c.body_media_type)) {
    return schema1(fmt::format("media type \"{}\"", c.body_media_type));
  }
  if (Has(j, "fsLayers") || Has(j, "signatures")) return schema1("fsLayers");
  auto version = j.find("schemaVersion");
  if (version == j.end()) return Invalid(want, "schemaVersion: required");
  if (version->is_number_integer() && version->get<std::int64_t>() == 1) {
    return schema1("schemaVersion 1");
  }
  if (!version->is_number_integer() || version->get<std::int64_t>() != 2) {
    return Invalid(want, fmt::format("schemaVersion: must be 2, got {}", Show(*version)));
  }

  bool has_manifests = Has(j, "manifests");
  bool has_manifest_fields = Has(j, "layers") || Has(j, "config");
  if (has_manifests && has_manifest_fields) {
    return Invalid(want,
                   "document has both \"manifests\" and \"layers\"/\"config\": ambiguous between "
                   "an index and a manifest, refused");
  }

  // The kind: declared type first, then the body's mediaType, then the fields.
  std::string_view declared_base = MediaTypeBase(declared);
  bool declared_index = IsIndexType(declared_base);
  bool declared_manifest = IsManifestType(declared_base);
  bool body_index = IsIndexType(c.body_media_type);
  bool body_manifest = IsManifestType(c.body_media_type);
  if ((declared_index && body_manifest) || (declared_manifest && body_index)) {
    return Invalid(want, fmt::format("declared as \"{}\" but the document says \"{}\"",
                                     declared_base, c.body_media_type));
  }
  if (declared_index || body_index) {
    c.kind = Document::Kind::kIndex;
  } else if (declared_manifest || body_manifest) {
    c.kind = Document::Kind::kManifest;
  } else if (has_manifests) {
    c.kind = Document::Kind::kIndex;
  } else if (has_manifest_fields) {
    c.kind = Document::Kind::kManifest;
  } else {
    return Invalid(want,
                   "neither \"manifests\" nor \"config\"/\"layers\": not a manifest or an "
                   "index");
  }
  // Fields that contradict the kind the declaration or the body's mediaType gave.
  if (c.kind == Document::Kind::kIndex && has_manifest_fields) {
    return Invalid(want, "expected an index but found a manifest (\"config\"/\"layers\")");
  }
  if (c.kind == Document::Kind::kManifest && has_manifests) {
    return Invalid(want, "expected a manifest but found an index (\"manifests\")");
  }
  if (want == Want::kIndex && c.kind != Document::Kind::kIndex) {
    return Invalid(want, "the document is an image manifest");
  }
  if (want == Want::kManifest && c.kind != Document::Kind::kManifest) {
    return Invalid(want, "the document is an image index");
  }
  return c;
}

absl::StatusOr<Index> IndexFrom(const Common& c, Want want) {
  Index index;
  index.media_type = c.body_media_type;
  absl::Status st = ParseDescriptorList(c.json, "manifests", &index.manifests);
  if (st.ok()) st = ParseStringMap(c.json, "annotations", "", &index.annotations);
  if (st.ok()) st = ParseSubject(c.json, &index.subject);
  if (st.ok()) st = ParseString(c.json, "artifactType", "", &index.artifact_type);
  if (!st.ok()) return Invalid(want, std::string(st.message()));
  return index;
}

absl::StatusOr<Manifest> ManifestFrom(const Common& c, Want want) {
  Manifest manifest;
  manifest.media_type = c.body_media_type;
  auto config = c.json.find("config");
  if (config == c.json.end() || config->is_null()) return Invalid(want, "config: required");
  absl::Status st = ParseDescriptor(*config, "config.", &manifest.config);
  if (st.ok()) st = ParseDescriptorList(c.json, "layers", &manifest.layers);
  if (st.ok()) st = ParseStringMap(c.json, "annotations", "", &manifest.annotations);
  if (st.ok()) st = ParseSubject(c.json, &manifest.subject);
  if (st.ok()) st = ParseString(c.json, "artifactType", "", &manifest.artifact_type);
  if (!st.ok()) return Invalid(want, std::string(st.message()));
  return manifest;
}

// nlohmann::json throws only on misuse (every access above checks types first); a stray
// exception still must not cross the module boundary.
template <typename F>
auto NoThrow(Want want, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    return Invalid(want, e.what());
  }
}

}  // namespace

absl::StatusOr<Index> ParseIndex(std::string_view bytes, std::string_view media_type) {
  return NoThrow(Want::kIndex, [&]() -> absl::StatusOr<Index> {
    ASSIGN_OR_RETURN(Common c, ParseCommon(bytes, media_type, Want::kIndex));
    return IndexFrom(c, Want::kIndex);
  });
}

absl::StatusOr<Manifest> ParseManifest(std::string_view bytes, std::string_view media_type) {
  return NoThrow(Want::kManifest, [&]() -> absl::StatusOr<Manifest> {
    ASSIGN_OR_RETURN(Common c, ParseCommon(bytes, media_type, Want::kManifest));
    return ManifestFrom(c, Want::kManifest);
  });
}

absl::StatusOr<Document> ParseDocument(std::string_view bytes, std::string_view media_type) {
  return NoThrow(Want::kAny, [&]() -> absl::StatusOr<Document> {
    std::string_view declared = MediaTypeBase(media_type);
    if (!declared.empty() && !IsManifestOrIndexType(declared) && !IsSchema1Type(declared) &&
        (IsLayerType(declared) || IsConfigType(declared))) {
      return Invalid(Want::kAny,
                     fmt::format("media type \"{}\" is not a manifest or an index", declared));
    }
    ASSIGN_OR_RETURN(Common c, ParseCommon(bytes, media_type, Want::kAny));
    Document doc;
    doc.kind = c.kind;
    if (IsManifestOrIndexType(declared)) {
      doc.media_type = std::string(declared);
    } else if (!c.body_media_type.empty()) {
      doc.media_type = c.body_media_type;
    } else {
      doc.media_type = std::string(c.kind == Document::Kind::kIndex ? kOciIndex : kOciManifest);
    }
    if (c.kind == Document::Kind::kIndex) {
      ASSIGN_OR_RETURN(doc.index, IndexFrom(c, Want::kIndex));
    } else {
      ASSIGN_OR_RETURN(doc.manifest, ManifestFrom(c, Want::kManifest));
    }
    return doc;
  });
}

absl::Status ValidateDescriptor(const Descriptor& desc, std::string_view what) {
  if (desc.media_type.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: media type required", what));
  }
  if (desc.digest.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: digest required", what));
  }
  if (desc.size < 0) {
    return absl::InvalidArgumentError(fmt::format("{} {}: size must not be negative, got {}", what,
                                                  desc.digest.ToString(), desc.size));
  }
  return absl::OkStatus();
}

absl::Status VerifyContent(const Descriptor& desc, std::string_view bytes,
                           std::string_view source) {
  if (static_cast<std::int64_t>(bytes.size()) != desc.size) {
    return absl::DataLossError(
        fmt::format("size mismatch for {} from {:?}: got {} bytes, expected {}",
                    desc.digest.ToString(), source, bytes.size(), desc.size));
  }
  digest::Digest got = digest::FromBytes(bytes);
  if (got != desc.digest) {
    return absl::DataLossError(fmt::format("digest mismatch for {} from {:?}: got {}",
                                           desc.digest.ToString(), source, got.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<platforms::Matcher> MatcherFor(const std::vector<std::string>& specifiers,
                                              bool all) {
  if (all) return platforms::All();
  if (specifiers.empty()) return platforms::Default();
  std::vector<platforms::Platform> parsed;
  for (const std::string& s : specifiers) {
    ASSIGN_OR_RETURN(platforms::Platform p, platforms::Parse(s));
    parsed.push_back(std::move(p));
  }
  if (parsed.size() == 1) return platforms::Only(parsed[0]);
  return platforms::Ordered(parsed);
}

std::vector<Descriptor> SelectManifests(const Index& index, const platforms::Matcher& matcher,
                                        std::size_t limit, bool include_unplatformed) {
  std::vector<Descriptor> matched;
  std::vector<Descriptor> unplatformed;
  for (const Descriptor& d : index.manifests) {
    if (!IsManifestOrIndexType(d.media_type)) continue;
    if (!d.platform.has_value()) {
      if (include_unplatformed) unplatformed.push_back(d);
      continue;
    }
    if (matcher.Match(*d.platform)) matched.push_back(d);
  }
  std::stable_sort(matched.begin(), matched.end(), [&](const Descriptor& a, const Descriptor& b) {
    return matcher.Less(*a.platform, *b.platform);
  });
  for (Descriptor& d : unplatformed) matched.push_back(std::move(d));
  if (limit > 0 && matched.size() > limit) matched.resize(limit);
  return matched;
}

}  // namespace berth::remotes
