#include "gateway/gc/pin_store.h"

#include <fmt/format.h>

#include "lib/status/status.h"

namespace berth::gateway::gc {
namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string Hex(const std::string& s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool Unhex(std::string_view s, std::string* out) {
  if (s.empty() || s.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = HexValue(s[i]);
    const int lo = HexValue(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    *out += static_cast<char>(hi * 16 + lo);
  }
  return true;
}

absl::StatusOr<std::string> PinKey(const std::string& ns, const std::string& image) {
  if (ns.empty() || ns.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(fmt::format("image pin: bad namespace {:?}", ns));
  }
  if (image.empty()) return absl::InvalidArgumentError("image pin: empty image name");
  return PinStore::Prefix() + ns + "/" + Hex(image);
}

}  // namespace

std::string PinStore::Prefix() { return "v1/gc/pins/"; }

absl::StatusOr<Pins> PinStore::Load() const {
  Pins pins;
  const std::string prefix = Prefix();
  RETURN_IF_ERROR(db_->Scan(prefix, [&](std::string_view key, std::string_view value) {
    const std::string_view rest = key.substr(prefix.size());
    const size_t slash = rest.find('/');
    std::string name;
    if (slash == std::string_view::npos || slash == 0 || !Unhex(rest.substr(slash + 1), &name)) {
      return true;
    }
    pins[{std::string(rest.substr(0, slash)), name}] = std::string(value);
    return true;
  }));
  return pins;
}

absl::Status PinStore::Put(const std::string& ns, const std::string& image,
                           const std::string& digest) {
  if (digest.empty()) return absl::InvalidArgumentError("image pin: empty digest");
  ASSIGN_OR_RETURN(std::string key, PinKey(ns, image));
  return db_->Put(key, digest);
}

absl::Status PinStore::Delete(const std::string& ns, const std::string& image) {
  ASSIGN_OR_RETURN(std::string key, PinKey(ns, image));
  return db_->Delete(key);
}

}  // namespace berth::gateway::gc
