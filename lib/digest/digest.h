// Content digests (`sha256:<64 lowercase hex>`), SHA-256 hashing and streaming verification.
//
// Digest is an immutable value type naming content by hash, as OCI and containerd do. berth
// supports the sha256 algorithm only: Parse refuses other algorithms, and says so for the
// ones OCI registers (sha384, sha512) so a user sees it is a berth limitation, not a typo.
//
// Sha256 is a streaming hasher over OpenSSL's EVP interface (which uses the CPU's SHA
// extensions when present). Verifier wraps one to check bytes against an expected size and
// digest while they stream through (content writes, registry downloads).
//
// Thread-safety: Digest is immutable and safe to share. A Sha256 or Verifier object must not
// be used from several threads at once; distinct objects are independent.
#ifndef BERTH_LIB_DIGEST_DIGEST_H_
#define BERTH_LIB_DIGEST_DIGEST_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// OpenSSL's context type, kept out of this header.
struct evp_md_ctx_st;

namespace berth::digest {

// The only algorithm berth supports, and its hex length.
inline constexpr std::string_view kSha256 = "sha256";
inline constexpr std::size_t kSha256HexLength = 64;

class Digest {
 public:
  // The empty digest: empty() is true, ToString() is "". It is what "no digest" looks like
  // in option structs; Parse never returns it.
  Digest() = default;

  // Parses `<algorithm>:<hex>`. Returns the digest, or InvalidArgument whose message reads
  // `invalid digest "<s>": <reason>` with reasons:
  //   - `invalid checksum digest format, want <algorithm>:<hex>` (no `:`, empty parts,
  //     algorithm not matching OCI's `[a-z0-9]+([+._-][a-z0-9]+)*`);
  //   - `unsupported digest algorithm "sha512": berth supports sha256 only` (also sha384 and
  //     any other well-formed algorithm name);
  //   - `invalid checksum digest length: sha256 needs 64 hex characters, got N`;
  //   - `invalid checksum digest: uppercase hex 'A' at offset N, hex must be lowercase`;
  //   - `invalid checksum digest: non-hex character 'g' at offset N`.
  // The input is quoted escaped and cut after 100 bytes.
  static absl::StatusOr<Digest> Parse(std::string_view s);

  // True for the default-constructed digest only.
  bool empty() const { return value_.empty(); }

  // "sha256" (empty for the empty digest).
  std::string_view algorithm() const;

  // The 64 lowercase hex characters (empty for the empty digest).
  std::string_view hex() const;

  // `sha256:<hex>` (empty for the empty digest).
  const std::string& ToString() const { return value_; }

  // Ordered and compared by their string form.
  friend bool operator==(const Digest& a, const Digest& b) { return a.value_ == b.value_; }
  friend bool operator!=(const Digest& a, const Digest& b) { return a.value_ != b.value_; }
  friend bool operator<(const Digest& a, const Digest& b) { return a.value_ < b.value_; }
  friend bool operator<=(const Digest& a, const Digest& b) { return a.value_ <= b.value_; }
  friend bool operator>(const Digest& a, const Digest& b) { return a.value_ > b.value_; }
  friend bool operator>=(const Digest& a, const Digest& b) { return a.value_ >= b.value_; }

  // Hashable with absl containers (absl::flat_hash_map<Digest, ...>) and std ones.
  template <typename H>
  friend H AbslHashValue(H h, const Digest& d) {
    return H::combine(std::move(h), d.value_);
  }

  // Prints ToString() (gtest and logs).
  friend std::ostream& operator<<(std::ostream& os, const Digest& d);

 private:
  friend class Sha256;
  explicit Digest(std::string value) : value_(std::move(value)) {}

  std::string value_;
};

// A streaming SHA-256 hasher. Movable, not copyable.
//
// Failures inside OpenSSL here can only mean memory exhaustion or a broken library; they
// are broken invariants and abort the process with a message, so the API has no Status.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // Adds bytes to the hash. Any chunking gives the same result as one call.
  void Update(std::string_view data);
  void Update(const void* data, std::size_t size);

  // Returns the digest of everything added so far and resets the hasher to empty, ready for
  // new input.
  Digest Finish();

  // Returns the digest of everything added so far without disturbing the state: more
  // Update calls may follow.
  Digest Sum() const;

  // Bytes added since construction or the last Finish.
  std::uint64_t size() const { return size_; }

 private:
  evp_md_ctx_st* ctx_ = nullptr;
  std::uint64_t size_ = 0;
};

// The sha256 digest of `data`, in one call.
Digest FromBytes(std::string_view data);

// Checks bytes against an expected size and digest as they stream through.
//
//   Verifier v(desc.size, desc.digest);
//   while (...) RETURN_IF_ERROR(v.Update(chunk));
//   RETURN_IF_ERROR(v.Verify());
class Verifier {
 public:
  // `expected_size` is the exact number of bytes expected, or -1 (any negative value) when
  // unknown. `expected` must be a parsed, non-empty digest.
  Verifier(std::int64_t expected_size, Digest expected);

  // Adds bytes. Returns FailedPrecondition `unexpected commit size N, expected M` as soon as
  // the total exceeds a known expected size; once an Update failed, every later Update and
  // Verify returns the same error and nothing more is hashed.
  [[nodiscard]] absl::Status Update(std::string_view data);

  // Checks what was fed so far. OK when the size (if known) and the digest match, else
  // FailedPrecondition naming both values:
  //   `unexpected commit size 3, expected 4`
  //   `unexpected commit digest sha256:<got>, expected sha256:<want>`
  // The size is checked first. Does not change the state; may be called more than once.
  [[nodiscard]] absl::Status Verify() const;

  // Bytes fed so far (including a chunk that overflowed the expected size).
  std::int64_t size() const { return size_; }

  // The digest of the bytes hashed so far.
  Digest Sum() const { return hasher_.Sum(); }

  // What the Verifier was constructed with (a negative size reads back as -1).
  const Digest& expected() const { return expected_; }
  std::int64_t expected_size() const { return expected_size_; }

 private:
  std::int64_t expected_size_;
  Digest expected_;
  Sha256 hasher_;
  std::int64_t size_ = 0;
  absl::Status error_;  // Sticky error from Update.
};

}  // namespace berth::digest

template <>
struct std::hash<berth::digest::Digest> {
  std::size_t operator()(const berth::digest::Digest& d) const noexcept {
    return std::hash<std::string>()(d.ToString());
  }
};

#endif  // BERTH_LIB_DIGEST_DIGEST_H_
