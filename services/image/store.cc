#include "services/image/store.h"

#include <string>
#include <vector>

#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/labels/labels.h"
#include "lib/status/status.h"

namespace berth::image {
namespace {

// Longest part of a name shown in an error message.
constexpr std::size_t kMaxNameInMessage = 128;

std::string Shown(const std::string& name) {
  if (name.size() <= kMaxNameInMessage) return name;
  return name.substr(0, kMaxNameInMessage) + "...";
}

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
bool IsUtf8(const std::string& s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned int min;
    unsigned int cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

std::optional<std::string> MapField(const google::protobuf::Map<std::string, std::string>& m,
                                    const std::vector<std::string>& path) {
  if (path.size() < 2) return std::nullopt;
  std::string key = path[1];
  for (size_t i = 2; i < path.size(); ++i) key += "." + path[i];
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

void DropEmpty(google::protobuf::Map<std::string, std::string>* m) {
  for (auto it = m->begin(); it != m->end();) {
    if (it->second.empty()) {
      it = m->erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

absl::Status ValidateName(const std::string& name) {
  if (name.empty()) return InvalidArgumentError("image name must not be empty");
  if (name.size() > kMaxNameLength) {
    return InvalidArgumentError(
        fmt::format("image name {:?} is longer than {} bytes", Shown(name), kMaxNameLength));
  }
  if (!IsUtf8(name)) {
    // Not printed: {:?} of invalid UTF-8 would be escaped anyway, but keep the message short.
    return InvalidArgumentError("image name is not valid UTF-8");
  }
  for (char c : name) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return InvalidArgumentError(
          fmt::format("image name {:?} contains a control character", Shown(name)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateImage(const Image& image) {
  RETURN_IF_ERROR(ValidateName(image.name()));
  const std::string what = fmt::format("image {:?}", Shown(image.name()));
  for (const auto& [key, value] : image.labels()) {
    absl::Status s = labels::Validate(std::string_view(key), std::string_view(value));
    if (!s.ok()) return Annotate(s, what + ": labels");
  }
  const auto& target = image.target();
  absl::StatusOr<digest::Digest> d = digest::Digest::Parse(target.digest());
  if (!d.ok()) {
    return InvalidArgumentError(fmt::format("{}: target.digest {:?} invalid: {}", what,
                                            target.digest().substr(0, 100),
                                            std::string(d.status().message())));
  }
  if (target.size() <= 0) {
    return InvalidArgumentError(what + ": target.size must be greater than zero");
  }
  if (target.media_type().empty()) {
    return InvalidArgumentError(what + ": target.media_type must be set");
  }
  return absl::OkStatus();
}

void DropEmptyValues(Image* image) {
  DropEmpty(image->mutable_labels());
  if (image->has_target()) DropEmpty(image->mutable_target()->mutable_annotations());
}

std::optional<std::string> FilterField(const Image& image, const std::vector<std::string>& path) {
  auto present = [](const std::string& v) -> std::optional<std::string> {
    if (v.empty()) return std::nullopt;
    return v;
  };
  const std::string& head = path[0];
  if (head == "name") return present(image.name());
  if (head == "target") {
    if (path.size() < 2) return std::nullopt;
    if (path[1] == "digest") return present(image.target().digest());
    if (path[1] == "mediatype") return present(image.target().media_type());
    return std::nullopt;
  }
  if (head == "labels") return MapField(image.labels(), path);
  if (head == "annotations") return MapField(image.target().annotations(), path);
  return std::nullopt;
}

}  // namespace berth::image
