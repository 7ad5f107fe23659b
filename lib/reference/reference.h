// Image references: `[host[:port]/]path[:tag][@digest]`, parsed and normalised the way
// Docker, containerd and the distribution project do.
//
//   ParseNormalized("ubuntu")          -> docker.io/library/ubuntu:latest
//   ParseNormalized("stevvooe/ubuntu") -> docker.io/stevvooe/ubuntu:latest
//   ParseNormalized("ubuntu@sha256:<hex>") -> docker.io/library/ubuntu@sha256:<hex> (no tag added)
//   Parse("localhost:5000/a/b:tag")    -> as written; Parse("ubuntu") fails (no host)
//
// Grammar (distribution/reference):
//   reference := name [":" tag] ["@" digest]
//   name      := [domain "/"] component ("/" component)*
//   domain    := host [":" port]; host := dns-label ("." dns-label)* | "[" ipv6 "]"
//                (dns-label [A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?, ipv6 [A-Fa-f0-9:]+ with
//                no zone, port [0-9]+)
//   component := [a-z0-9]+ (separator [a-z0-9]+)*; separator := "." | "_" | "__" | "-"+
//   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//   digest    := sha256:<64 lowercase hex> (berth supports sha256 only, see lib/digest)
// The name (domain "/" path) may be at most 255 characters, as containerd 1.6 checks.
//
// Thread-safety: Reference is a plain value; the functions are pure.
#ifndef BERTH_LIB_REFERENCE_REFERENCE_H_
#define BERTH_LIB_REFERENCE_REFERENCE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/digest/digest.h"

namespace berth::reference {

inline constexpr std::string_view kDefaultDomain = "docker.io";
inline constexpr std::string_view kLegacyDefaultDomain = "index.docker.io";
inline constexpr std::string_view kOfficialRepoPrefix = "library/";
inline constexpr std::string_view kDefaultTag = "latest";
inline constexpr std::size_t kNameTotalLengthMax = 255;
inline constexpr std::size_t kTagMaxLength = 128;

struct Reference {
  // Registry host with optional port: "docker.io", "localhost:5000", "[::1]:5000". Never
  // empty in a parsed reference.
  std::string domain;
  // Repository path inside the registry: "library/ubuntu".
  std::string path;
  // Tag, or empty when the reference has none.
  std::string tag;
  // Digest, or empty() when the reference has none.
  digest::Digest digest;

  // Parses a reference the way `docker pull` and containerd's ParseDockerRef read it: a
  // missing domain becomes docker.io (a first component is a domain only when it contains
  // "." or ":", is "localhost", or has uppercase letters), index.docker.io becomes
  // docker.io, a single docker.io path component gets "library/", and a reference with
  // neither tag nor digest gets the tag "latest". Errors are InvalidArgument
  // `invalid reference "<s>": <reason>` with reasons such as
  //   `repository name must be lowercase`,
  //   `repository name must not be more than 255 characters`,
  //   `invalid reference format: invalid repository path "a//b"`,
  //   `invalid reference format: invalid registry host "-x.io"`,
  //   `invalid tag "-x": must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`,
  //   `invalid tag: longer than 128 characters (130)`,
  //   `invalid digest "sha256:abc": invalid checksum digest length: ...`,
  //   `cannot specify 64-byte hexadecimal strings as a repository name`,
  //   `repository name must have at least one component` (empty input).
  static absl::StatusOr<Reference> ParseNormalized(std::string_view s);

  // Parses a fully qualified reference, as containerd's reference.Parse used by ctr: the
  // first "/"-separated component is the registry host and must be present; nothing is
  // defaulted (no docker.io, no library/, no latest), so tag and digest may both be empty.
  // Same errors as ParseNormalized, plus `hostname required (not a fully qualified
  // reference)` when there is no "/" in the name.
  static absl::StatusOr<Reference> Parse(std::string_view s);

  // domain/path[:tag][@digest]
  std::string String() const;

  // The short form Docker shows: docker.io/ and (for a single-component path) library/
  // removed, tag and digest kept: "ubuntu:latest", "stevvooe/ubuntu:latest",
  // "localhost:5000/x@sha256:<hex>".
  std::string Familiar() const;

  // Familiar() without tag and digest: "ubuntu".
  std::string FamiliarName() const;

  // The registry host with port, as containerd's Spec.Hostname(): "docker.io".
  const std::string& Hostname() const { return domain; }

  // domain/path: "docker.io/library/ubuntu" (containerd's Spec.Locator).
  std::string Repository() const;

  // What to fetch, as containerd's Spec.Object: "latest", "16.04@sha256:<hex>", "@sha256:<hex>",
  // or "" when the reference has neither tag nor digest.
  std::string Object() const;

  friend bool operator==(const Reference& a, const Reference& b) {
    return a.domain == b.domain && a.path == b.path && a.tag == b.tag && a.digest == b.digest;
  }
  friend bool operator!=(const Reference& a, const Reference& b) { return !(a == b); }
};

}  // namespace berth::reference

#endif  // BERTH_LIB_REFERENCE_REFERENCE_H_
