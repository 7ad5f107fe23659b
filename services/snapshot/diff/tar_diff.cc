#include "services/snapshot/diff/tar_diff.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "lib/status/status.h"
#include "services/snapshot/fs.h"

namespace berth::snapshot::diff {
namespace {

using Xattrs = std::map<std::string, std::string>;

absl::StatusOr<std::vector<std::string>> SortedNames(int dir_fd, const std::string& where) {
  UniqueFd list(openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!list.valid()) return ErrnoToStatus("open", where, errno);
  DIR* d = fdopendir(list.Release());
  if (d == nullptr) return ErrnoToStatus("opendir", where, errno);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
    errno = 0;
  }
  int err = errno;
  closedir(d);
  if (err != 0) return ErrnoToStatus("readdir", where, err);
  std::sort(names.begin(), names.end());
  return names;
}

// xattrs of `name` in `dir_fd` (not followed), without overlayfs's own.
absl::StatusOr<Xattrs> ReadXattrs(int dir_fd, const std::string& name, const std::string& where) {
  Xattrs out;
  const std::string path = fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
  std::vector<char> names(4096);
  ssize_t n;
  while (true) {
    n = llistxattr(path.c_str(), names.data(), names.size());
    if (n >= 0) break;
    if (errno == ERANGE) {
      names.resize(names.size() * 4);
      continue;
    }
    if (errno == ENOTSUP || errno == EOPNOTSUPP) return out;
    return ErrnoToStatus("listxattr", where, errno);
  }
  std::vector<char> value(4096);
  for (ssize_t off = 0; off < n;) {
    std::string key = names.data() + off;
    off += static_cast<ssize_t>(key.size()) + 1;
    if (key.rfind("trusted.overlay.", 0) == 0 || key.rfind("user.overlay.", 0) == 0) continue;
    ssize_t len;
    while (true) {
      len = lgetxattr(path.c_str(), key.c_str(), value.data(), value.size());
      if (len >= 0 || errno != ERANGE) break;
      value.resize(value.size() * 4);
    }
    if (len < 0) {
      if (errno == ENODATA) continue;
      return ErrnoToStatus("getxattr", where, errno);
    }
    out[key] = std::string(value.data(), static_cast<size_t>(len));
  }
  return out;
}

bool SameTime(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

absl::StatusOr<bool> SameContent(int lfd, int ufd, const std::string& name,
                                 const std::string& where) {
  UniqueFd a(openat(lfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!a.valid()) return ErrnoToStatus("open", where, errno);
  UniqueFd b(openat(ufd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!b.valid()) return ErrnoToStatus("open", where, errno);
  std::vector<char> ba(1 << 16), bb(1 << 16);
  while (true) {
    ssize_t na = read(a.get(), ba.data(), ba.size());
    ssize_t nb = read(b.get(), bb.data(), bb.size());
    if (na < 0 || nb < 0) return ErrnoToStatus("read", where, errno);
    if (na != nb || std::memcmp(ba.data(), bb.data(), static_cast<size_t>(na)) != 0) return false;
    if (na == 0) return true;
  }
}

class DiffWriter {
 public:
  explicit DiffWriter(const ByteSink& sink) : sink_(sink) {}
  ~DiffWriter() {
    if (archive_ != nullptr) archive_write_free(archive_);
    if (entry_ != nullptr) archive_entry_free(entry_);
  }

  absl::StatusOr<DiffStats> Run(const std::string& lower, const std::string& upper) {
    archive_ = archive_write_new();
    entry_ = archive_entry_new();
    if (archive_ == nullptr || entry_ == nullptr) {
      return ResourceExhaustedError("libarchive allocation failed");
    }
    archive_write_set_format_pax(archive_);
    archive_write_add_filter_none(archive_);
    if (archive_write_open(archive_, this, nullptr, &DiffWriter::WriteCallback, nullptr) !=
        ARCHIVE_OK) {
      return ArchiveError("open");
    }
    ASSIGN_OR_RETURN(UniqueFd ufd, OpenDirectory(upper));
    UniqueFd lfd;
    if (!lower.empty()) {
      ASSIGN_OR_RETURN(lfd, OpenDirectory(lower));
    }
    upper_ = upper;
    upper_fd_ = ufd.get();
    RETURN_IF_ERROR(Dir(lfd.get(), ufd.get(), ""));
    RETURN_IF_ERROR(CompleteLinkGroups());
    if (archive_write_close(archive_) != ARCHIVE_OK) return ArchiveError("close");
    return stats_;
  }

 private:
  static la_ssize_t WriteCallback(struct archive* a, void* client, const void* buf, size_t n) {
    auto* self = static_cast<DiffWriter*>(client);
    absl::Status s = self->sink_(std::string_view(static_cast<const char*>(buf), n));
    if (!s.ok()) {
      self->sink_error_ = s;
      archive_set_error(a, EIO, "%s", std::string(s.message()).c_str());
      return -1;
    }
    self->stats_.tar_bytes += static_cast<std::int64_t>(n);
    return static_cast<la_ssize_t>(n);
  }

  absl::Status ArchiveError(std::string_view what) {
    if (!sink_error_.ok()) return sink_error_;
    const char* m = archive_error_string(archive_);
    return InternalError(fmt::format("write layer tar: {}: {}", what, m ? m : "unknown error"));
  }

  static std::string Child(const std::string& rel, const std::string& name) {
    return rel.empty() ? name : rel + "/" + name;
  }

  // Walks directory `rel`, present in upper (ufd) and in lower when lfd >= 0.
  absl::Status Dir(int lfd, int ufd, const std::string& rel) {
    const std::string where = rel.empty() ? upper_ : upper_ + "/" + rel;
    ASSIGN_OR_RETURN(std::vector<std::string> unames, SortedNames(ufd, where));
    std::vector<std::string> lnames;
    if (lfd >= 0) {
      ASSIGN_OR_RETURN(lnames, SortedNames(lfd, where));
    }
    size_t i = 0, j = 0;
    while (i < lnames.size() || j < unames.size()) {
      if (j >= unames.size() || (i < lnames.size() && lnames[i] < unames[j])) {
        RETURN_IF_ERROR(WriteWhiteout(rel, lnames[i]));
        ++i;
        continue;
      }
      const std::string& name = unames[j];
      const bool in_lower = i < lnames.size() && lnames[i] == name;
      if (in_lower) ++i;
      ++j;
      RETURN_IF_ERROR(Compare(in_lower ? lfd : -1, ufd, rel, name));
    }
    return absl::OkStatus();
  }

  absl::Status Compare(int lfd, int ufd, const std::string& rel, const std::string& name) {
    const std::string path = Child(rel, name);
    const std::string where = upper_ + "/" + path;
    struct stat ust;
    if (fstatat(ufd, name.c_str(), &ust, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoToStatus("stat", where, errno);
    }
    if (S_ISSOCK(ust.st_mode)) return absl::OkStatus();
    if (S_ISREG(ust.st_mode) && ust.st_nlink > 1) {
      all_links_[std::make_pair(ust.st_dev, ust.st_ino)].push_back(path);
    }
    ASSIGN_OR_RETURN(Xattrs uxattrs, ReadXattrs(ufd, name, where));
    bool changed = true;
    bool lower_dir = false;
    if (lfd >= 0) {
      struct stat lst;
      if (fstatat(lfd, name.c_str(), &lst, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoToStatus("stat", where, errno);
      }
      lower_dir = S_ISDIR(lst.st_mode);
      ASSIGN_OR_RETURN(changed, Differs(lfd, ufd, name, lst, ust, uxattrs, where));
    }
    if (S_ISDIR(ust.st_mode)) {
      if (changed) RETURN_IF_ERROR(WriteEntry(ufd, name, path, ust, uxattrs));
      UniqueFd sub_u(openat(ufd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_u.valid()) return ErrnoToStatus("open", where, errno);
      UniqueFd sub_l;
      if (lower_dir) {
        sub_l.Reset(openat(lfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub_l.valid()) return ErrnoToStatus("open", where, errno);
      }
      parents_.push_back({path, ust, uxattrs, changed});
      absl::Status s = Dir(sub_l.get(), sub_u.get(), path);
      parents_.pop_back();
      return s;
    }
    if (!changed) return absl::OkStatus();
    return WriteEntry(ufd, name, path, ust, uxattrs);
  }

  absl::StatusOr<bool> Differs(int lfd, int ufd, const std::string& name, const struct stat& l,
                               const struct stat& u, const Xattrs& uxattrs,
                               const std::string& where) {
    if ((l.st_mode & S_IFMT) != (u.st_mode & S_IFMT)) return true;
    if ((l.st_mode & 07777) != (u.st_mode & 07777) || l.st_uid != u.st_uid ||
        l.st_gid != u.st_gid) {
      return true;
    }
    ASSIGN_OR_RETURN(Xattrs lxattrs, ReadXattrs(lfd, name, where));
    if (lxattrs != uxattrs) return true;
    if (S_ISDIR(u.st_mode)) return !SameTime(l.st_mtim, u.st_mtim);
    if ((S_ISCHR(u.st_mode) || S_ISBLK(u.st_mode)) && l.st_rdev != u.st_rdev) return true;
    if (S_ISLNK(u.st_mode)) {
      std::string a(static_cast<size_t>(l.st_size) + 1, '\0');
      std::string b(static_cast<size_t>(u.st_size) + 1, '\0');
      ssize_t na = readlinkat(lfd, name.c_str(), a.data(), a.size());
      ssize_t nb = readlinkat(ufd, name.c_str(), b.data(), b.size());
      if (na < 0 || nb < 0) return ErrnoToStatus("readlink", where, errno);
      a.resize(static_cast<size_t>(na));
      b.resize(static_cast<size_t>(nb));
      if (a != b) return true;
    }
    if (l.st_size != u.st_size || !SameTime(l.st_mtim, u.st_mtim)) return true;
    if (S_ISREG(u.st_mode) && l.st_mtim.tv_nsec == 0 && u.st_mtim.tv_nsec == 0 &&
        (l.st_dev != u.st_dev || l.st_ino != u.st_ino)) {
      // Second-granular timestamps can hide a change: look at the bytes.
      ASSIGN_OR_RETURN(bool same, SameContent(lfd, ufd, name, where));
      return !same;
    }
    return false;
  }

  struct Parent {
    std::string path;
    struct stat st;
    Xattrs xattrs;
    bool written;
  };

  absl::Status WriteParents() {
    for (Parent& p : parents_) {
      if (p.written) continue;
      RETURN_IF_ERROR(WriteHeader(p.path, p.st, p.xattrs, "", ""));
      p.written = true;
    }
    return absl::OkStatus();
  }

  // A file that was added or changed may share its inode with paths that did not change
  // (a new hard link to an old file): those paths are written as hard links to it after the
  // walk, with their parents, so the link structure survives (containerd does the same).
  absl::Status CompleteLinkGroups() {
    for (const auto& [key, first] : links_) {
      auto it = all_links_.find(key);
      if (it == all_links_.end()) continue;
      for (const std::string& path : it->second) {
        if (emitted_.count(path)) continue;
        size_t slash = 0;
        while ((slash = path.find('/', slash)) != std::string::npos) {
          std::string dir = path.substr(0, slash++);
          if (written_dirs_.count(dir)) continue;
          struct stat st;
          if (fstatat(upper_fd_, dir.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            return ErrnoToStatus("stat", upper_ + "/" + dir, errno);
          }
          ASSIGN_OR_RETURN(Xattrs x, ReadXattrs(upper_fd_, dir, upper_ + "/" + dir));
          RETURN_IF_ERROR(WriteHeader(dir, st, x, "", ""));
        }
        struct stat st;
        if (fstatat(upper_fd_, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          return ErrnoToStatus("stat", upper_ + "/" + path, errno);
        }
        RETURN_IF_ERROR(WriteHeader(path, st, {}, "", first));
        emitted_.insert(path);
      }
    }
    return absl::OkStatus();
  }

  absl::Status WriteWhiteout(const std::string& rel, const std::string& name) {
    RETURN_IF_ERROR(WriteParents());
    archive_entry_clear(entry_);
    archive_entry_set_pathname(entry_, Child(rel, ".wh." + name).c_str());
    archive_entry_set_filetype(entry_, AE_IFREG);
    archive_entry_set_perm(entry_, 0);
    archive_entry_set_size(entry_, 0);
    archive_entry_set_mtime(entry_, 0, 0);
    if (archive_write_header(archive_, entry_) < ARCHIVE_WARN) return ArchiveError("whiteout");
    ++stats_.entries;
    return absl::OkStatus();
  }

  absl::Status WriteHeader(const std::string& path, const struct stat& st, const Xattrs& xattrs,
                           const std::string& symlink, const std::string& hardlink) {
    archive_entry_clear(entry_);
    archive_entry_set_pathname(entry_, path.c_str());
    archive_entry_set_uid(entry_, st.st_uid);
    archive_entry_set_gid(entry_, st.st_gid);
    archive_entry_set_perm(entry_, st.st_mode & 07777);
    archive_entry_set_mtime(entry_, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    for (const auto& [k, v] : xattrs) {
      archive_entry_xattr_add_entry(entry_, k.c_str(), v.data(), v.size());
    }
    if (!hardlink.empty()) {
      archive_entry_set_filetype(entry_, AE_IFREG);
      archive_entry_set_hardlink(entry_, hardlink.c_str());
      archive_entry_set_size(entry_, 0);
    } else {
      archive_entry_set_filetype(entry_, st.st_mode & S_IFMT);
      if (S_ISLNK(st.st_mode)) archive_entry_set_symlink(entry_, symlink.c_str());
      if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) archive_entry_set_rdev(entry_, st.st_rdev);
      archive_entry_set_size(entry_, S_ISREG(st.st_mode) ? st.st_size : 0);
    }
    // ARCHIVE_WARN: a name that is not text in the current locale; pax then records the raw
    // bytes (hdrcharset=BINARY), which is right for Linux file names.
    if (archive_write_header(archive_, entry_) < ARCHIVE_WARN) {
      return ArchiveError("header " + path);
    }
    ++stats_.entries;
    if (S_ISDIR(st.st_mode) && hardlink.empty()) written_dirs_.insert(path);
    return absl::OkStatus();
  }

  absl::Status WriteEntry(int ufd, const std::string& name, const std::string& path,
                          const struct stat& st, const Xattrs& xattrs) {
    RETURN_IF_ERROR(WriteParents());
    const std::string where = upper_ + "/" + path;
    emitted_.insert(path);
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = links_.find(key);
      if (it != links_.end()) return WriteHeader(path, st, xattrs, "", it->second);
      links_.emplace(key, path);
    }
    std::string symlink;
    if (S_ISLNK(st.st_mode)) {
      symlink.resize(static_cast<size_t>(st.st_size) + 1);
      ssize_t n = readlinkat(ufd, name.c_str(), symlink.data(), symlink.size());
      if (n < 0) return ErrnoToStatus("readlink", where, errno);
      symlink.resize(static_cast<size_t>(n));
    }
    RETURN_IF_ERROR(WriteHeader(path, st, xattrs, symlink, ""));
    if (!S_ISREG(st.st_mode) || st.st_size == 0) return absl::OkStatus();
    UniqueFd fd(openat(ufd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return ErrnoToStatus("open", where, errno);
    std::vector<char> buf(1 << 20);
    std::int64_t left = st.st_size;
    while (left > 0) {
      ssize_t n = read(fd.get(), buf.data(), std::min<std::int64_t>(buf.size(), left));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoToStatus("read", where, errno);
      }
      if (n == 0) break;  // Shrunk while reading: libarchive pads the entry with zeros.
      if (archive_write_data(archive_, buf.data(), static_cast<size_t>(n)) < 0) {
        return ArchiveError("data " + path);
      }
      left -= n;
    }
    return absl::OkStatus();
  }

  const ByteSink& sink_;
  absl::Status sink_error_;
  struct archive* archive_ = nullptr;
  struct archive_entry* entry_ = nullptr;
  std::string upper_;
  std::vector<Parent> parents_;
  int upper_fd_ = -1;
  // First path written for each inode with several links.
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
  // Every path in upper of each inode with several links.
  std::map<std::pair<dev_t, ino_t>, std::vector<std::string>> all_links_;
  std::set<std::string> emitted_;       // Non-directory paths written.
  std::set<std::string> written_dirs_;  // Directory paths written.
  DiffStats stats_;
};

}  // namespace

absl::StatusOr<DiffStats> WriteTarDiff(const std::string& lower, const std::string& upper,
                                       const ByteSink& sink) {
  DiffWriter writer(sink);
  return writer.Run(lower, upper);
}

}  // namespace berth::snapshot::diff
