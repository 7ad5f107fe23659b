#include "lib/identifiers/identifiers.h"

#include <string>

#include "fmt/format.h"

namespace berth::identifiers {
namespace {

constexpr std::string_view kPattern = "^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$";

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsSeparator(char c) { return c == '.' || c == '_' || c == '-'; }

// Quotes `id` for an error message: printable ASCII as is (with `"` and `\` escaped),
// other bytes as \xNN, cut after kMaxLength bytes with "...".
std::string QuoteForMessage(std::string_view id) {
  std::string out = "\"";
  std::string_view shown = id.substr(0, kMaxLength);
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
  if (shown.size() < id.size()) out += "...";
  out += '"';
  return out;
}

// The regular expression above, as a scan: alnum+ (sep alnum+)*.
bool Matches(std::string_view id) {
  bool need_alnum = true;  // At the start and right after a separator.
  for (char c : id) {
    if (IsAlnum(c)) {
      need_alnum = false;
    } else if (IsSeparator(c) && !need_alnum) {
      need_alnum = true;
    } else {
      return false;
    }
  }
  return !need_alnum;
}

}  // namespace

absl::Status Validate(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("identifier must not be empty");
  if (id.size() > kMaxLength) {
    return absl::InvalidArgumentError(
        fmt::format("identifier {} greater than maximum length ({} characters)",
                    QuoteForMessage(id), kMaxLength));
  }
  if (!Matches(id)) {
    return absl::InvalidArgumentError(
        fmt::format("identifier {} must match {}", QuoteForMessage(id), kPattern));
  }
  return absl::OkStatus();
}

}  // namespace berth::identifiers
