#include "lib/reference/reference.h"

#include <algorithm>
#include <optional>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace berth::reference {
namespace {

constexpr std::size_t kMaxQuoted = 300;

// Quotes input for an error message: escaped, cut after kMaxQuoted bytes with "...".
std::string QuoteForMessage(std::string_view s) {
  std::string out = "\"";
  std::string_view shown = s.substr(0, kMaxQuoted);
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

absl::Status Invalid(std::string_view input, std::string_view reason) {
  return absl::InvalidArgumentError(
      fmt::format("invalid reference {}: {}", QuoteForMessage(input), reason));
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsWord(char c) { return IsAlnum(c) || c == '_'; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool HasUpper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?
bool ValidDnsLabel(std::string_view label) {
  if (label.empty() || !IsAlnum(label.front()) || !IsAlnum(label.back())) return false;
  return std::all_of(label.begin(), label.end(), [](char c) { return IsAlnum(c) || c == '-'; });
}

// host [":" port], host = labels joined by "." or "[" [A-Fa-f0-9:]+ "]".
bool ValidDomain(std::string_view domain) {
  std::string_view host;
  std::string_view rest;
  if (!domain.empty() && domain.front() == '[') {
    const std::size_t close = domain.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    const std::string_view inner = domain.substr(1, close - 1);
    if (!std::all_of(inner.begin(), inner.end(), [](char c) { return IsHex(c) || c == ':'; })) {
      return false;
    }
    rest = domain.substr(close + 1);
  } else {
    const std::size_t colon = domain.find(':');
    host = domain.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : domain.substr(colon);
    if (host.empty()) return false;
    std::size_t start = 0;
    for (;;) {
      const std::size_t dot = host.find('.', start);
      if (!ValidDnsLabel(host.substr(start, dot - start))) return false;
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  if (rest.empty()) return true;
  if (rest.front() != ':' || rest.size() < 2) return false;
  return std::all_of(rest.begin() + 1, rest.end(), IsDigit);
}

// [a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)*
bool ValidPathComponent(std::string_view c) {
  std::size_t i = 0;
  const std::size_t n = c.size();
  for (;;) {
    const std::size_t run = i;
    while (i < n && IsLowerAlnum(c[i])) ++i;
    if (i == run) return false;  // Every separator is followed by, and the start is, alnum.
    if (i == n) return true;
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      ++i;
      if (i < n && c[i] == '_') ++i;
    } else if (c[i] == '-') {
      while (i < n && c[i] == '-') ++i;
    } else {
      return false;
    }
  }
}

bool ValidPath(std::string_view path) {
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = path.find('/', start);
    if (!ValidPathComponent(path.substr(start, slash - start))) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool IsHexIdentifier(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(),
                                       [](char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); });
}

// A reference cut into its parts, not yet validated.
struct Parts {
  std::string_view name;  // Everything before the tag and digest.
  std::optional<std::string_view> tag;
  std::optional<std::string_view> digest;
};

// Splits `[name][":" tag]["@" digest]`: the digest starts at the first "@" (no other part may
// contain one); the tag is after the last ":" that follows the last "/" of what remains
// (a ":" before a "/" belongs to the registry port).
Parts Split(std::string_view s) {
  Parts p;
  const std::size_t at = s.find('@');
  if (at != std::string_view::npos) {
    p.digest = s.substr(at + 1);
    s = s.substr(0, at);
  }
  const std::size_t colon = s.rfind(':');
  const std::size_t slash = s.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    p.tag = s.substr(colon + 1);
    s = s.substr(0, colon);
  }
  p.name = s;
  return p;
}

// Validates the parts and builds the reference. `input` is only for messages.
absl::StatusOr<Reference> Build(std::string_view input, std::string_view domain,
                                std::string_view path, const Parts& parts) {
  if (!ValidDomain(domain)) {
    return Invalid(input, fmt::format("invalid reference format: invalid registry host {}",
                                      QuoteForMessage(domain)));
  }
  if (!ValidPath(path)) {
    if (HasUpper(path) && ValidPath(ToLower(path))) {
      return Invalid(input, "repository name must be lowercase");
    }
    return Invalid(input, fmt::format("invalid reference format: invalid repository path {}",
                                      QuoteForMessage(path)));
  }
  if (domain.size() + 1 + path.size() > kNameTotalLengthMax) {
    return Invalid(input, fmt::format("repository name must not be more than {} characters",
                                      kNameTotalLengthMax));
  }
  Reference ref;
  ref.domain = std::string(domain);
  ref.path = std::string(path);
  if (parts.tag.has_value()) {
    const std::string_view tag = *parts.tag;
    if (tag.empty()) return Invalid(input, "invalid reference format: empty tag");
    if (tag.size() > kTagMaxLength) {
      return Invalid(input, fmt::format("invalid tag: longer than {} characters ({})",
                                        kTagMaxLength, tag.size()));
    }
    if (!IsWord(tag.front()) || !std::all_of(tag.begin(), tag.end(), [](char c) {
          return IsWord(c) || c == '.' || c == '-';
        })) {
      return Invalid(input,
                     fmt::format("invalid tag {}: must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}",
                                 QuoteForMessage(tag)));
    }
    ref.tag = std::string(tag);
  }
  if (parts.digest.has_value()) {
    absl::StatusOr<digest::Digest> d = digest::Digest::Parse(*parts.digest);
    if (!d.ok()) return Invalid(input, std::string(d.status().message()));
    ref.digest = *std::move(d);
  }
  return ref;
}

}  // namespace

absl::StatusOr<Reference> Reference::ParseNormalized(std::string_view s) {
  if (s.empty()) return Invalid(s, "repository name must have at least one component");
  if (IsHexIdentifier(s)) {
    return Invalid(s, "cannot specify 64-byte hexadecimal strings as a repository name");
  }
  // Docker's splitDockerDomain.
  std::string domain;
  std::string remainder;
  const std::size_t slash = s.find('/');
  const std::string_view first = s.substr(0, slash);
  if (slash == std::string_view::npos || (first.find_first_of(".:") == std::string_view::npos &&
                                          first != "localhost" && !HasUpper(first))) {
    domain = std::string(kDefaultDomain);
    remainder = std::string(s);
  } else {
    domain = std::string(first);
    remainder = std::string(s.substr(slash + 1));
  }
  if (domain == kLegacyDefaultDomain) domain = std::string(kDefaultDomain);
  if (domain == kDefaultDomain && remainder.find('/') == std::string::npos) {
    remainder = std::string(kOfficialRepoPrefix) + remainder;
  }
  const Parts parts = Split(remainder);
  if (HasUpper(parts.name)) return Invalid(s, "repository name must be lowercase");
  absl::StatusOr<Reference> ref = Build(s, domain, parts.name, parts);
  if (!ref.ok()) return ref.status();
  if (ref->tag.empty() && ref->digest.empty()) ref->tag = std::string(kDefaultTag);
  return ref;
}

absl::StatusOr<Reference> Reference::Parse(std::string_view s) {
  if (s.empty()) return Invalid(s, "repository name must have at least one component");
  const Parts parts = Split(s);
  const std::size_t slash = parts.name.find('/');
  if (parts.name.empty()) {
    return Invalid(s,
                   "invalid reference format: repository name must have at least one "
                   "component");
  }
  if (slash == std::string_view::npos) {
    return Invalid(s, "hostname required (not a fully qualified reference)");
  }
  return Build(s, parts.name.substr(0, slash), parts.name.substr(slash + 1), parts);
}

std::string Reference::Repository() const { return domain + "/" + path; }

std::string Reference::Object() const {
  std::string out = tag;
  if (!digest.empty()) out += "@" + digest.ToString();
  return out;
}

std::string Reference::String() const {
  std::string out = Repository();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest.ToString();
  return out;
}

std::string Reference::FamiliarName() const {
  if (domain != kDefaultDomain) return Repository();
  std::string_view p = path;
  if (p.substr(0, kOfficialRepoPrefix.size()) == kOfficialRepoPrefix &&
      p.substr(kOfficialRepoPrefix.size()).find('/') == std::string_view::npos) {
    p.remove_prefix(kOfficialRepoPrefix.size());
  }
  // Without "docker.io/", a path whose first component looks like a host would read back as
  // another registry ("docker.io/ghcr.io/x" is not "ghcr.io/x"): keep the domain then.
  if (const std::size_t slash = p.find('/'); slash != std::string_view::npos) {
    const std::string_view first = p.substr(0, slash);
    if (first.find('.') != std::string_view::npos || first == "localhost") return Repository();
  }
  return std::string(p);
}

std::string Reference::Familiar() const {
  std::string out = FamiliarName();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest.ToString();
  return out;
}

}  // namespace berth::reference
