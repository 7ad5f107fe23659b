// Users and groups of a container image: /etc/passwd and /etc/group read from an untrusted
// root filesystem.
//
// The files come from images, so they are read defensively: the path is resolved inside the
// root (openat2 with RESOLVE_IN_ROOT, so symlinks such as /etc/passwd -> /host/etc/passwd
// cannot leave it), only regular files are read, at most kMaxUserFileBytes of them, lines
// longer than kMaxUserLineBytes are refused, and ids must lie in [0, kMaxID].
//
// Thread-safety: pure functions.
#ifndef BERTH_CLIENT_OCI_USER_H_
#define BERTH_CLIENT_OCI_USER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::oci {

inline constexpr std::size_t kMaxUserFileBytes = 4 << 20;
inline constexpr std::size_t kMaxUserLineBytes = 64 << 10;

struct PasswdEntry {
  std::string name;
  int64_t uid = 0;
  int64_t gid = 0;
  std::string home;
  std::string shell;
};

struct GroupEntry {
  std::string name;
  int64_t gid = 0;
  std::vector<std::string> members;
};

// Parses passwd text (name:password:uid:gid:gecos:home:shell). Blank lines and lines starting
// with '#' are skipped; a line with fewer than 4 fields, a non-numeric or out-of-range id is
// InvalidArgument naming the line number.
absl::StatusOr<std::vector<PasswdEntry>> ParsePasswd(std::string_view text);

// Parses group text (name:password:gid:member,member). Same rules as ParsePasswd.
absl::StatusOr<std::vector<GroupEntry>> ParseGroup(std::string_view text);

// Reads `path` (absolute, e.g. "/etc/passwd") inside `root`, never leaving it. NotFound when
// it does not exist, InvalidArgument when it is not a regular file, ResourceExhausted when
// larger than kMaxUserFileBytes, errno errors otherwise.
absl::StatusOr<std::string> ReadFileInRoot(const std::string& root, const std::string& path);

// Parses a decimal id in [0, kMaxID]; InvalidArgument otherwise ("uid" / "gid" in `what`).
absl::StatusOr<int64_t> ParseID(std::string_view s, std::string_view what);

}  // namespace berth::oci

#endif  // BERTH_CLIENT_OCI_USER_H_
