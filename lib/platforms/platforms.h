// Container platforms (os/architecture/variant, as in OCI image indexes): parsing user
// specifiers, normalising, and choosing the best manifest for a host. A port of containerd's
// platforms package (1.6 behaviour, Linux hosts).
//
// Specifiers are `<os>`, `<arch>`, `<os>/<arch>` or `<os>/<arch>/<variant>`; a lone os gets
// the host's architecture, a lone architecture the host's os. Architecture aliases are
// normalised: x86_64, x86-64 -> amd64; aarch64 -> arm64; armhf -> arm/v7; armel -> arm/v6;
// i386 -> 386; os names are lowercased and macos becomes darwin.
//
// Canonical forms (Normalize): arm without variant is arm/v7; arm64/v8 is arm64 (no
// variant); amd64/v1 is amd64. Parse keeps two spellings as containerd does ("linux/arm"
// parses with an empty variant, "linux/arm64/v8" keeps v8); matching always compares
// normalised platforms, so they match their canonical forms.
//
// Thread-safety: Platform and Matcher are values; all functions are safe to call from any
// thread.
#ifndef BERTH_LIB_PLATFORMS_PLATFORMS_H_
#define BERTH_LIB_PLATFORMS_PLATFORMS_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::platforms {

struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // "amd64", "arm64", "arm", ...
  std::string variant;       // "v7", "v8", "v3", or empty

  friend bool operator==(const Platform& a, const Platform& b) {
    return a.os == b.os && a.architecture == b.architecture && a.variant == b.variant;
  }
  friend bool operator!=(const Platform& a, const Platform& b) { return !(a == b); }
};

// Parses a platform specifier (see the file comment). Errors are InvalidArgument
// `"<specifier>": invalid platform specifier: <reason>`, reasons:
//   `component "" must match ^[A-Za-z0-9_.-]+$` (empty, leading/trailing "/", spaces, ...),
//   `wildcards are not supported`,
//   `unknown operating system or architecture` (a single unknown component),
//   `unknown operating system "foo"` (berth checks the os of every form),
//   `too many components (at most os/architecture/variant)`.
absl::StatusOr<Platform> Parse(std::string_view specifier);

// The specifier for a platform: "linux/arm64", "linux/arm/v7" (empty parts are skipped),
// or "unknown" when os is empty.
std::string Format(const Platform& platform);

// The canonical form: os lowercased (macos -> darwin, empty -> the host's os), aliases
// resolved and default variants applied as described in the file comment.
Platform Normalize(const Platform& platform);

// The platform of this host, normalised: os "linux", architecture and variant from
// uname(2)'s machine field (see FromUnameMachine).
Platform DefaultPlatform();

// Maps a uname machine string to a Linux platform: x86_64 -> amd64, i686 -> 386,
// aarch64 -> arm64, armv7l -> arm/v7, armv6l -> arm/v6, armv5tel -> arm/v5, armv8l ->
// arm/v8, ppc64le, s390x, riscv64, loongarch64 -> loong64, ...; anything else is passed
// through lowercased.
Platform FromUnameMachine(std::string_view machine);

// Decides which platforms an image may be for, and which of several is best. Build one with
// Only, Ordered, All or Default; a default-constructed Matcher matches nothing.
class Matcher {
 public:
  // True when a manifest for `platform` can run under this matcher.
  bool Match(const Platform& platform) const;

  // True when `a` is strictly preferable to `b` (sort candidates with it, best first):
  // the first of the matcher's platforms that matches exactly one of them decides.
  // Always false for All().
  bool Less(const Platform& a, const Platform& b) const;

  // The accepted platforms, normalised, best first (empty for All()).
  const std::vector<Platform>& platforms() const { return ordered_; }

 private:
  friend Matcher Only(const Platform& platform);
  friend Matcher Ordered(const std::vector<Platform>& platforms);
  friend Matcher All();

  bool all_ = false;
  std::vector<Platform> ordered_;
};

// A matcher for one platform plus what it can also run, best first:
//   arm/vN   -> arm/vN, arm/v(N-1), ..., arm/v5 (so arm/v7 takes v7 > v6 > v5)
//   amd64/vN -> amd64/vN, amd64/v(N-1), ..., amd64/v2, amd64 (plain amd64: itself only)
//   arm64/v8.N -> arm64/v8.N, ..., arm64/v8.1, arm64; arm64/v9.N -> v9.N..v9, v8.(N+5)..
//   anything else -> itself only (no 386 for amd64, no 32-bit arm for arm64).
Matcher Only(const Platform& platform);

// A matcher accepting exactly the given platforms, preferring them in the given order.
Matcher Ordered(const std::vector<Platform>& platforms);

// A matcher accepting every platform with no preference.
Matcher All();

// Only(DefaultPlatform()).
Matcher Default();

}  // namespace berth::platforms

#endif  // BERTH_LIB_PLATFORMS_PLATFORMS_H_
