#include "client/oci/user.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::oci {
namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// Calls fn(line_number, line) for each meaningful line; stops at fn's first error.
template <typename Fn>
absl::Status ForEachLine(std::string_view text, std::string_view file, Fn fn) {
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.size() > kMaxUserLineBytes) {
      return InvalidArgumentError(
          fmt::format("{} line {}: longer than {} bytes", file, line_no, kMaxUserLineBytes));
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    RETURN_IF_ERROR(fn(line_no, line));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> ParseID(std::string_view s, std::string_view what) {
  int64_t v = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, v);
  if (ec == std::errc::result_out_of_range) {
    return InvalidArgumentError(fmt::format("invalid {} {}: out of range [0, 2147483647]",
                                            std::string(what), std::string(s)));
  }
  if (s.empty() || ec != std::errc() || ptr != end) {
    return InvalidArgumentError(
        fmt::format("invalid {} {:?}: not a decimal number", std::string(what), std::string(s)));
  }
  if (v < 0 || v > 2147483647) {
    return InvalidArgumentError(
        fmt::format("invalid {} {}: out of range [0, 2147483647]", std::string(what), v));
  }
  return v;
}

absl::StatusOr<std::vector<PasswdEntry>> ParsePasswd(std::string_view text) {
  std::vector<PasswdEntry> out;
  RETURN_IF_ERROR(ForEachLine(text, "passwd", [&](size_t n, std::string_view line) {
    std::vector<std::string_view> f = Split(line, ':');
    if (f.size() < 4) {
      return InvalidArgumentError(fmt::format("passwd line {}: want at least 4 fields", n));
    }
    PasswdEntry e;
    e.name = std::string(f[0]);
    absl::StatusOr<int64_t> uid = ParseID(f[2], "uid");
    absl::StatusOr<int64_t> gid = ParseID(f[3], "gid");
    if (!uid.ok()) return Annotate(uid.status(), fmt::format("passwd line {}", n));
    if (!gid.ok()) return Annotate(gid.status(), fmt::format("passwd line {}", n));
    e.uid = *uid;
    e.gid = *gid;
    if (f.size() > 5) e.home = std::string(f[5]);
    if (f.size() > 6) e.shell = std::string(f[6]);
    out.push_back(std::move(e));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<GroupEntry>> ParseGroup(std::string_view text) {
  std::vector<GroupEntry> out;
  RETURN_IF_ERROR(ForEachLine(text, "group", [&](size_t n, std::string_view line) {
    std::vector<std::string_view> f = Split(line, ':');
    if (f.size() < 3) {
      return InvalidArgumentError(fmt::format("group line {}: want at least 3 fields", n));
    }
    GroupEntry e;
    e.name = std::string(f[0]);
    absl::StatusOr<int64_t> gid = ParseID(f[2], "gid");
    if (!gid.ok()) return Annotate(gid.status(), fmt::format("group line {}", n));
    e.gid = *gid;
    if (f.size() > 3 && !f[3].empty()) {
      for (std::string_view m : Split(f[3], ',')) {
        while (!m.empty() && m.front() == ' ') m.remove_prefix(1);
        while (!m.empty() && m.back() == ' ') m.remove_suffix(1);
        if (!m.empty()) e.members.emplace_back(m);
      }
    }
    out.push_back(std::move(e));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::string> ReadFileInRoot(const std::string& root, const std::string& path) {
  const std::string where = root + path;
  int dir = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return ErrnoToStatus("open", root, errno);
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel = path;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  int fd = static_cast<int>(syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof(how)));
  int err = errno;
  close(dir);
  if (fd < 0) return ErrnoToStatus("open", where, err);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    err = errno;
    close(fd);
    return ErrnoToStatus("stat", where, err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return InvalidArgumentError(fmt::format("read {:?}: not a regular file", where));
  }
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      close(fd);
      return ErrnoToStatus("read", where, err);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxUserFileBytes) {
      close(fd);
      return ResourceExhaustedError(
          fmt::format("read {:?}: larger than {} bytes", where, kMaxUserFileBytes));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace berth::oci
