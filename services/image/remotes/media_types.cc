#include "services/image/remotes/media_types.h"

#include <cctype>

namespace berth::remotes {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::string_view MediaTypeBase(std::string_view media_type) {
  std::size_t semi = media_type.find(';');
  if (semi != std::string_view::npos) media_type = media_type.substr(0, semi);
  while (!media_type.empty() && std::isspace(static_cast<unsigned char>(media_type.front()))) {
    media_type.remove_prefix(1);
  }
  while (!media_type.empty() && std::isspace(static_cast<unsigned char>(media_type.back()))) {
    media_type.remove_suffix(1);
  }
  return media_type;
}

namespace {

// Compares a header value (any case, maybe with parameters) with a lowercase media type.
bool Is(std::string_view media_type, std::string_view want) {
  std::string_view base = MediaTypeBase(media_type);
  if (base.size() != want.size()) return false;
  for (std::size_t i = 0; i < base.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(base[i])) != want[i]) return false;
  }
  return true;
}

}  // namespace

bool IsIndexType(std::string_view media_type) {
  return Is(media_type, kOciIndex) || Is(media_type, kDockerManifestList);
}

bool IsManifestType(std::string_view media_type) {
  return Is(media_type, kOciManifest) || Is(media_type, kDockerManifest);
}

bool IsManifestOrIndexType(std::string_view media_type) {
  return IsIndexType(media_type) || IsManifestType(media_type);
}

bool IsSchema1Type(std::string_view media_type) {
  return Is(media_type, kDockerSchema1Manifest) || Is(media_type, kDockerSchema1SignedManifest);
}

bool IsLayerType(std::string_view media_type) {
  std::string_view base = MediaTypeBase(media_type);
  return StartsWith(base, "application/vnd.oci.image.layer.") ||
         StartsWith(base, "application/vnd.docker.image.rootfs.");
}

bool IsConfigType(std::string_view media_type) {
  return Is(media_type, kOciConfig) || Is(media_type, kDockerConfig);
}

}  // namespace berth::remotes
