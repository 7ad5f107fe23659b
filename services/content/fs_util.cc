#include "services/content/fs_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::content::internal {
namespace {

// Closes a file descriptor when it goes out of scope.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus("open", path, errno);
  FdCloser closer{fd};
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus("read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) return InvalidArgumentError("read \"" + path + "\": too large");
  }
  return out;
}

absl::Status WriteFile(const std::string& path, std::string_view contents) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus("open", path, errno);
  FdCloser closer{fd};
  const char* p = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus("write", path, errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  closer.fd = -1;
  if (::close(fd) != 0) return ErrnoToStatus("close", path, errno);
  return absl::OkStatus();
}

absl::Status ReplaceFile(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  RETURN_IF_ERROR(WriteFile(tmp, contents));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoToStatus("rename", path, err);
  }
  return absl::OkStatus();
}

absl::Status FsyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus("open", path, errno);
  FdCloser closer{fd};
  if (::fsync(fd) != 0) return ErrnoToStatus("fsync", path, errno);
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& path, int mode) {
  if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) == 0) return absl::OkStatus();
  int err = errno;
  if (err == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return absl::OkStatus();
    return FailedPreconditionError("mkdir \"" + path + "\": exists and is not a directory");
  }
  return ErrnoToStatus("mkdir", path, err);
}

absl::Status RemoveFlatDir(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus("opendir", path, errno);
  }
  absl::Status status;
  while (struct dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (::unlinkat(dirfd(dir), name.c_str(), 0) != 0 && errno != ENOENT && status.ok()) {
      status = ErrnoToStatus("unlink", path + "/" + name, errno);
    }
  }
  ::closedir(dir);
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT && status.ok()) {
    status = ErrnoToStatus("rmdir", path, errno);
  }
  return status;
}

std::string FormatTime(Time t) {
  const int64_t nanos = ToUnixNanos(t);
  int64_t secs = nanos / 1000000000;
  int64_t frac = nanos % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  time_t tt = static_cast<time_t>(secs);
  struct tm tm;
  ::gmtime_r(&tt, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

std::optional<Time> ParseTime(std::string_view text) {
  std::string s(text);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  struct tm tm = {};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  size_t pos = static_cast<size_t>(consumed);
  int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 9) {
        frac = frac * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    while (digits++ < 9) frac *= 10;
  }
  if (pos + 1 != s.size() || s[pos] != 'Z') return std::nullopt;
  time_t secs = ::timegm(&tm);
  return FromUnixNanos(static_cast<int64_t>(secs) * 1000000000 + frac);
}

int64_t ToUnixNanos(Time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Time FromUnixNanos(int64_t nanos) {
  return Time(std::chrono::duration_cast<Time::duration>(std::chrono::nanoseconds(nanos)));
}

}  // namespace berth::content::internal
