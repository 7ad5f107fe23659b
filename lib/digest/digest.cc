#include "lib/digest/digest.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <ostream>

#include "fmt/format.h"

namespace berth::digest {
namespace {

constexpr std::size_t kMaxQuoted = 100;

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

// A printable rendering of one byte for messages: 'g' or '\x00'.
std::string ByteForMessage(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  if (u < 0x20 || u >= 0x7f || c == '\'' || c == '\\') return fmt::format("'\\x{:02x}'", u);
  return fmt::format("'{}'", c);
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// OCI image-spec's algorithm grammar: [a-z0-9]+([+._-][a-z0-9]+)*
bool IsWellFormedAlgorithm(std::string_view a) {
  bool need = true;
  for (char c : a) {
    if (IsLowerAlnum(c)) {
      need = false;
    } else if ((c == '+' || c == '.' || c == '_' || c == '-') && !need) {
      need = true;
    } else {
      return false;
    }
  }
  return !need;
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "berth digest: OpenSSL %s failed\n", what);
  std::abort();
}

// The SHA-256 implementation, fetched once (OpenSSL 3 otherwise looks it up on every
// EVP_DigestInit_ex).
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = [] {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
    if (const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr)) return fetched;
#endif
    return EVP_sha256();
  }();
  return md;
}

void Init(EVP_MD_CTX* ctx) {
  if (EVP_DigestInit_ex(ctx, Sha256Md(), nullptr) != 1) Die("EVP_DigestInit_ex");
}

constexpr char kHexDigits[] = "0123456789abcdef";

std::string ToDigestString(const unsigned char* raw, unsigned int n) {
  std::string out(kSha256);
  out += ':';
  for (unsigned int i = 0; i < n; ++i) {
    out += kHexDigits[raw[i] >> 4];
    out += kHexDigits[raw[i] & 0xf];
  }
  return out;
}

}  // namespace

absl::StatusOr<Digest> Digest::Parse(std::string_view s) {
  auto fail = [&](const std::string& reason) {
    return absl::InvalidArgumentError(
        fmt::format("invalid digest {}: {}", QuoteForMessage(s), reason));
  };
  const std::size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size() ||
      !IsWellFormedAlgorithm(s.substr(0, colon))) {
    return fail("invalid checksum digest format, want <algorithm>:<hex>");
  }
  const std::string_view algorithm = s.substr(0, colon);
  const std::string_view hex = s.substr(colon + 1);
  if (algorithm != kSha256) {
    return fail(fmt::format("unsupported digest algorithm {}: berth supports sha256 only",
                            QuoteForMessage(algorithm)));
  }
  if (hex.size() != kSha256HexLength) {
    return fail(
        fmt::format("invalid checksum digest length: sha256 needs {} hex characters, got {}",
                    kSha256HexLength, hex.size()));
  }
  for (std::size_t i = 0; i < hex.size(); ++i) {
    const char c = hex[i];
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) continue;
    if (c >= 'A' && c <= 'F') {
      return fail(fmt::format(
          "invalid checksum digest: uppercase hex {} at offset {}, hex must be lowercase",
          ByteForMessage(c), i));
    }
    return fail(fmt::format("invalid checksum digest: non-hex character {} at offset {}",
                            ByteForMessage(c), i));
  }
  return Digest(std::string(s));
}

std::string_view Digest::algorithm() const {
  std::string_view v = value_;
  const std::size_t colon = v.find(':');
  return colon == std::string_view::npos ? std::string_view() : v.substr(0, colon);
}

std::string_view Digest::hex() const {
  std::string_view v = value_;
  const std::size_t colon = v.find(':');
  return colon == std::string_view::npos ? std::string_view() : v.substr(colon + 1);
}

std::ostream& operator<<(std::ostream& os, const Digest& d) { return os << d.ToString(); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr) Die("EVP_MD_CTX_new");
  Init(ctx_);
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

Sha256::Sha256(Sha256&& other) noexcept : ctx_(other.ctx_), size_(other.size_) {
  other.ctx_ = nullptr;
  other.size_ = 0;
}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = other.ctx_;
    size_ = other.size_;
    other.ctx_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void Sha256::Update(std::string_view data) { Update(data.data(), data.size()); }

void Sha256::Update(const void* data, std::size_t size) {
  if (size == 0) return;
  if (ctx_ == nullptr) Die("use of a moved-from Sha256");
  if (EVP_DigestUpdate(ctx_, data, size) != 1) Die("EVP_DigestUpdate");
  size_ += size;
}

Digest Sha256::Finish() {
  if (ctx_ == nullptr) Die("use of a moved-from Sha256");
  std::array<unsigned char, EVP_MAX_MD_SIZE> raw;
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx_, raw.data(), &n) != 1) Die("EVP_DigestFinal_ex");
  Init(ctx_);
  size_ = 0;
  return Digest(ToDigestString(raw.data(), n));
}

Digest Sha256::Sum() const {
  if (ctx_ == nullptr) Die("use of a moved-from Sha256");
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  if (copy == nullptr) Die("EVP_MD_CTX_new");
  if (EVP_MD_CTX_copy_ex(copy, ctx_) != 1) Die("EVP_MD_CTX_copy_ex");
  std::array<unsigned char, EVP_MAX_MD_SIZE> raw;
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(copy, raw.data(), &n) != 1) Die("EVP_DigestFinal_ex");
  EVP_MD_CTX_free(copy);
  return Digest(ToDigestString(raw.data(), n));
}

Digest FromBytes(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

Verifier::Verifier(std::int64_t expected_size, Digest expected)
    : expected_size_(expected_size < 0 ? -1 : expected_size), expected_(std::move(expected)) {}

absl::Status Verifier::Update(std::string_view data) {
  if (!error_.ok()) return error_;
  size_ += static_cast<std::int64_t>(data.size());
  if (expected_size_ >= 0 && size_ > expected_size_) {
    error_ = absl::FailedPreconditionError(
        fmt::format("unexpected commit size {}, expected {}", size_, expected_size_));
    return error_;
  }
  hasher_.Update(data);
  return absl::OkStatus();
}

absl::Status Verifier::Verify() const {
  if (!error_.ok()) return error_;
  if (expected_size_ >= 0 && size_ != expected_size_) {
    return absl::FailedPreconditionError(
        fmt::format("unexpected commit size {}, expected {}", size_, expected_size_));
  }
  Digest got = hasher_.Sum();
  if (got != expected_) {
    return absl::FailedPreconditionError(fmt::format("unexpected commit digest {}, expected {}",
                                                     got.ToString(), expected_.ToString()));
  }
  return absl::OkStatus();
}

}  // namespace berth::digest
