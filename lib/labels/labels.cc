#include "lib/labels/labels.h"

#include <string>

#include "fmt/format.h"

namespace berth::labels {
namespace {

// Quotes a key for an error message: escaped, cut after kMaxKeyInMessage bytes with "...".
std::string QuoteForMessage(std::string_view s) {
  std::string out = "\"";
  std::string_view shown = s.substr(0, kMaxKeyInMessage);
  for (char c : shown) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  if (shown.size() < s.size()) out += "...";
  out += '"';
  return out;
}

}  // namespace

absl::Status Validate(std::string_view key, std::string_view value) {
  if (key.empty()) return absl::InvalidArgumentError("label key must not be empty");
  const std::size_t total = key.size() + value.size();
  if (total > kMaxSize) {
    return absl::InvalidArgumentError(fmt::format(
        "label key and value length ({} bytes) greater than maximum size ({} bytes), key: {}",
        total, kMaxSize, QuoteForMessage(key)));
  }
  return absl::OkStatus();
}

}  // namespace berth::labels
