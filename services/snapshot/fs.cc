#include "services/snapshot/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::snapshot {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

absl::StatusOr<UniqueFd> OpenDirectory(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus("open", path, errno);
  return UniqueFd(fd);
}

namespace {

// The names in directory `dir_fd`, without "." and "..".
absl::StatusOr<std::vector<std::string>> ListNames(int dir_fd, const std::string& where) {
  int list_fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (list_fd < 0) return ErrnoToStatus("open", where, errno);
  DIR* dir = fdopendir(list_fd);
  if (dir == nullptr) {
    int err = errno;
    close(list_fd);
    return ErrnoToStatus("opendir", where, err);
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  int err = errno;
  closedir(dir);
  if (err != 0) return ErrnoToStatus("readdir", where, err);
  return names;
}

// statx of `name` in `dir_fd` without following it, with the mount-root attribute.
int StatxAt(int dir_fd, const std::string& name, struct statx* stx) {
  return statx(dir_fd, name.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
               STATX_TYPE | STATX_MODE | STATX_INO | STATX_NLINK | STATX_BLOCKS, stx);
}

bool IsMountRoot(const struct statx& stx, dev_t parent_dev) {
  if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) {
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  }
  return makedev(stx.stx_dev_major, stx.stx_dev_minor) != parent_dev;
}

absl::Status RemoveContentsOn(int dir_fd, dev_t dev, const std::string& where) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListNames(dir_fd, where));
  absl::Status first_error;
  for (const std::string& name : names) {
    const std::string path = where + "/" + name;
    struct statx stx;
    if (StatxAt(dir_fd, name, &stx) != 0) {
      if (errno == ENOENT) continue;
      if (first_error.ok()) first_error = ErrnoToStatus("stat", path, errno);
      continue;
    }
    if (!S_ISDIR(stx.stx_mode)) {
      if (unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT && first_error.ok()) {
        first_error = ErrnoToStatus("remove", path, errno);
      }
      continue;
    }
    if (IsMountRoot(stx, dev)) {
      if (first_error.ok()) {
        first_error = FailedPreconditionError(
            fmt::format("remove {}: is a mount point, left alone", Quote(path)));
      }
      continue;
    }
    int child = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0) {
      if (errno != ENOENT && first_error.ok()) first_error = ErrnoToStatus("open", path, errno);
      continue;
    }
    absl::Status s = RemoveContentsOn(child, dev, path);
    close(child);
    if (!s.ok()) {
      if (first_error.ok()) first_error = s;
      continue;
    }
    if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT && first_error.ok()) {
      first_error = ErrnoToStatus("remove", path, errno);
    }
  }
  return first_error;
}

}  // namespace

absl::Status RemoveContents(int dir_fd, const std::string& where) {
  struct stat st;
  if (fstat(dir_fd, &st) != 0) return ErrnoToStatus("stat", where, errno);
  return RemoveContentsOn(dir_fd, st.st_dev, where);
}

absl::Status RemoveAllAt(int dir_fd, const std::string& name, const std::string& where) {
  struct stat parent;
  if (fstat(dir_fd, &parent) != 0) return ErrnoToStatus("stat", where, errno);
  struct statx stx;
  if (StatxAt(dir_fd, name, &stx) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus("stat", where, errno);
  }
  if (!S_ISDIR(stx.stx_mode)) {
    if (unlinkat(dir_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoToStatus("remove", where, errno);
    }
    return absl::OkStatus();
  }
  if (IsMountRoot(stx, parent.st_dev)) {
    return FailedPreconditionError(
        fmt::format("remove {}: is a mount point, left alone", Quote(where)));
  }
  int child = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (child < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus("open", where, errno);
  }
  absl::Status s = RemoveContentsOn(child, parent.st_dev, where);
  close(child);
  RETURN_IF_ERROR(s);
  if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return ErrnoToStatus("remove", where, errno);
  }
  return absl::OkStatus();
}

absl::Status RemoveAll(const std::string& path) {
  std::string parent = ".";
  std::string name = path;
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos) {
    parent = slash == 0 ? "/" : path.substr(0, slash);
    name = path.substr(slash + 1);
  }
  if (name.empty() || name == "." || name == "..") {
    return InvalidArgumentError(fmt::format("remove {}: not a removable path", Quote(path)));
  }
  int dir_fd = open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus("open", parent, errno);
  }
  absl::Status s = RemoveAllAt(dir_fd, name, path);
  close(dir_fd);
  return s;
}

namespace {

struct UsageWalk {
  Usage usage;
  std::set<std::pair<dev_t, ino_t>> seen;
};

absl::Status UsageOf(int dir_fd, dev_t dev, const std::string& where, UsageWalk* walk) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListNames(dir_fd, where));
  for (const std::string& name : names) {
    struct statx stx;
    if (StatxAt(dir_fd, name, &stx) != 0) {
      if (errno == ENOENT) continue;
      return ErrnoToStatus("stat", where + "/" + name, errno);
    }
    if (stx.stx_nlink > 1 && !S_ISDIR(stx.stx_mode)) {
      if (!walk->seen.emplace(makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino).second) {
        continue;
      }
    }
    walk->usage.inodes++;
    walk->usage.size += static_cast<std::int64_t>(stx.stx_blocks) * 512;
    if (S_ISDIR(stx.stx_mode) && !IsMountRoot(stx, dev)) {
      int child = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0) {
        if (errno == ENOENT) continue;
        return ErrnoToStatus("open", where + "/" + name, errno);
      }
      absl::Status s = UsageOf(child, dev, where + "/" + name, walk);
      close(child);
      RETURN_IF_ERROR(s);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Usage> DiskUsage(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenDirectory(path));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoToStatus("stat", path, errno);
  UsageWalk walk;
  walk.usage.inodes = 1;
  walk.usage.size = static_cast<std::int64_t>(st.st_blocks) * 512;
  RETURN_IF_ERROR(UsageOf(fd.get(), st.st_dev, path, &walk));
  return walk.usage;
}

namespace {

// A path naming entry `name` of directory `dir_fd` without following `name` itself, for the
// l*xattr calls (there is no *xattrat before Linux 6.13).
std::string ProcPath(int dir_fd, const std::string& name) {
  return fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
}

// Copies the xattrs of src to dst. With fds (files, directories) when both are >= 0, else
// through the l*xattr path forms.
absl::Status CopyXattrs(int src_fd, int dst_fd, const std::string& src_path,
                        const std::string& dst_path, const std::string& where) {
  const bool by_fd = src_fd >= 0 && dst_fd >= 0;
  std::vector<char> names(4096);
  ssize_t n;
  while (true) {
    n = by_fd ? flistxattr(src_fd, names.data(), names.size())
              : llistxattr(src_path.c_str(), names.data(), names.size());
    if (n >= 0) break;
    if (errno == ERANGE) {
      names.resize(names.size() * 4);
      continue;
    }
    if (errno == ENOTSUP || errno == EOPNOTSUPP) return absl::OkStatus();
    return ErrnoToStatus("listxattr", where, errno);
  }
  std::vector<char> value(4096);
  for (ssize_t off = 0; off < n;) {
    const char* name = names.data() + off;
    off += static_cast<ssize_t>(strlen(name)) + 1;
    // overlayfs's own bookkeeping (origin, redirect, opaque, metacopy) belongs to the layer
    // it was made in; a copy must not carry it.
    if (std::strncmp(name, "trusted.overlay.", 16) == 0 ||
        std::strncmp(name, "user.overlay.", 13) == 0) {
      continue;
    }
    ssize_t len;
    while (true) {
      len = by_fd ? fgetxattr(src_fd, name, value.data(), value.size())
                  : lgetxattr(src_path.c_str(), name, value.data(), value.size());
      if (len >= 0) break;
      if (errno == ERANGE) {
        value.resize(value.size() * 4);
        continue;
      }
      break;
    }
    if (len < 0) {
      if (errno == ENODATA) continue;
      return ErrnoToStatus(fmt::format("getxattr {}", name), where, errno);
    }
    int rc = by_fd ? fsetxattr(dst_fd, name, value.data(), static_cast<size_t>(len), 0)
                   : lsetxattr(dst_path.c_str(), name, value.data(), static_cast<size_t>(len), 0);
    if (rc != 0 && errno != ENOTSUP && errno != EOPNOTSUPP) {
      return ErrnoToStatus(fmt::format("setxattr {}", name), where, errno);
    }
  }
  return absl::OkStatus();
}

// Copies file data: FICLONE when the filesystem shares extents, otherwise the data segments
// (holes stay holes) with copy_file_range, falling back to read/write.
absl::Status CopyData(int src, int dst, off_t size, const std::string& where) {
  if (size == 0) return absl::OkStatus();
  if (ioctl(dst, FICLONE, src) == 0) return absl::OkStatus();
  off_t data = 0;
  while (data < size) {
    off_t start = lseek(src, data, SEEK_DATA);
    if (start < 0) {
      if (errno == ENXIO) break;  // Only a hole is left.
      start = data;               // SEEK_DATA unsupported: copy everything.
    }
    off_t end = lseek(src, start, SEEK_HOLE);
    if (end < 0 || end > size) end = size;
    off_t in = start, out = start;
    while (in < end) {
      ssize_t n = copy_file_range(src, &in, dst, &out, static_cast<size_t>(end - in), 0);
      if (n > 0) continue;
      if (n == 0) break;
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
        return ErrnoToStatus("copy", where, errno);
      }
      // Fallback: plain reads and writes.
      std::vector<char> buf(1 << 20);
      while (in < end) {
        ssize_t r = pread(src, buf.data(), std::min<off_t>(buf.size(), end - in), in);
        if (r < 0) {
          if (errno == EINTR) continue;
          return ErrnoToStatus("read", where, errno);
        }
        if (r == 0) break;
        for (ssize_t w = 0; w < r;) {
          ssize_t k = pwrite(dst, buf.data() + w, static_cast<size_t>(r - w), out);
          if (k < 0) {
            if (errno == EINTR) continue;
            return ErrnoToStatus("write", where, errno);
          }
          w += k;
          out += k;
        }
        in += r;
      }
    }
    data = end;
  }
  if (ftruncate(dst, size) != 0) return ErrnoToStatus("truncate", where, errno);
  return absl::OkStatus();
}

class TreeCopier {
 public:
  explicit TreeCopier(dev_t dev) : dev_(dev) {}

  // Copies the contents of src_dir into dst_dir; `rel` is their path below the roots.
  absl::Status CopyContents(int src_dir, int dst_dir, int dst_root, const std::string& rel,
                            const std::string& where) {
    ASSIGN_OR_RETURN(std::vector<std::string> names, ListNames(src_dir, where));
    for (const std::string& name : names) {
      const std::string path = where + "/" + name;
      const std::string child_rel = rel.empty() ? name : rel + "/" + name;
      struct stat st;
      if (fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return ErrnoToStatus("stat", path, errno);
      }
      if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
        auto it = links_.find({st.st_dev, st.st_ino});
        if (it != links_.end()) {
          if (linkat(dst_root, it->second.c_str(), dst_dir, name.c_str(), 0) != 0) {
            return ErrnoToStatus("link", path, errno);
          }
          continue;
        }
        links_.emplace(std::make_pair(st.st_dev, st.st_ino), child_rel);
      }
      switch (st.st_mode & S_IFMT) {
        case S_IFDIR:
          RETURN_IF_ERROR(CopyDir(src_dir, dst_dir, dst_root, name, child_rel, st, path));
          break;
        case S_IFREG:
          RETURN_IF_ERROR(CopyFile(src_dir, dst_dir, name, st, path));
          break;
        case S_IFLNK:
          RETURN_IF_ERROR(CopySymlink(src_dir, dst_dir, name, st, path));
          break;
        default:
          RETURN_IF_ERROR(CopySpecial(src_dir, dst_dir, name, st, path));
          break;
      }
    }
    return absl::OkStatus();
  }

  // Owner, mode, xattrs and times of an open file or directory.
  static absl::Status CopyMetadataFd(int src, int dst, const struct stat& st,
                                     const std::string& where) {
    if (fchown(dst, st.st_uid, st.st_gid) != 0) return ErrnoToStatus("chown", where, errno);
    if (fchmod(dst, st.st_mode & 07777) != 0) return ErrnoToStatus("chmod", where, errno);
    RETURN_IF_ERROR(CopyXattrs(src, dst, "", "", where));
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (futimens(dst, times) != 0) return ErrnoToStatus("utimes", where, errno);
    return absl::OkStatus();
  }

 private:
  friend absl::Status snapshot::CopyEntryAt(int, int, const std::string&, const std::string&);
  absl::Status CopyDir(int src_dir, int dst_dir, int dst_root, const std::string& name,
                       const std::string& rel, const struct stat& st, const std::string& path) {
    if (st.st_dev != dev_) return absl::OkStatus();  // Another filesystem: not ours to copy.
    if (mkdirat(dst_dir, name.c_str(), 0700) != 0) return ErrnoToStatus("mkdir", path, errno);
    UniqueFd src(openat(src_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!src.valid()) return ErrnoToStatus("open", path, errno);
    UniqueFd dst(openat(dst_dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dst.valid()) return ErrnoToStatus("open", path, errno);
    RETURN_IF_ERROR(CopyContents(src.get(), dst.get(), dst_root, rel, path));
    return CopyMetadataFd(src.get(), dst.get(), st, path);
  }

  static absl::Status CopyFile(int src_dir, int dst_dir, const std::string& name,
                               const struct stat& st, const std::string& path) {
    UniqueFd src(openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!src.valid()) return ErrnoToStatus("open", path, errno);
    UniqueFd dst(
        openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!dst.valid()) return ErrnoToStatus("create", path, errno);
    RETURN_IF_ERROR(CopyData(src.get(), dst.get(), st.st_size, path));
    return CopyMetadataFd(src.get(), dst.get(), st, path);
  }

  static absl::Status CopySymlink(int src_dir, int dst_dir, const std::string& name,
                                  const struct stat& st, const std::string& path) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = readlinkat(src_dir, name.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoToStatus("readlink", path, errno);
    target.resize(static_cast<size_t>(n));
    if (symlinkat(target.c_str(), dst_dir, name.c_str()) != 0) {
      return ErrnoToStatus("symlink", path, errno);
    }
    return CopyMetadataAt(src_dir, dst_dir, name, st, path);
  }

  static absl::Status CopySpecial(int src_dir, int dst_dir, const std::string& name,
                                  const struct stat& st, const std::string& path) {
    if (mknodat(dst_dir, name.c_str(), st.st_mode, st.st_rdev) != 0) {
      return ErrnoToStatus("mknod", path, errno);
    }
    return CopyMetadataAt(src_dir, dst_dir, name, st, path);
  }

  // Owner, mode, xattrs and times of a symlink or special file (no fd to hold).
  static absl::Status CopyMetadataAt(int src_dir, int dst_dir, const std::string& name,
                                     const struct stat& st, const std::string& path) {
    if (fchownat(dst_dir, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoToStatus("chown", path, errno);
    }
    if (!S_ISLNK(st.st_mode)) {
      // The node was just made by us in a directory only we write to.
      if (fchmodat(dst_dir, name.c_str(), st.st_mode & 07777, 0) != 0) {
        return ErrnoToStatus("chmod", path, errno);
      }
    }
    RETURN_IF_ERROR(CopyXattrs(-1, -1, ProcPath(src_dir, name), ProcPath(dst_dir, name), path));
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (utimensat(dst_dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoToStatus("utimes", path, errno);
    }
    return absl::OkStatus();
  }

  dev_t dev_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // First copy of each linked inode.
};

}  // namespace

absl::Status CopyEntryAt(int src_dir, int dst_dir, const std::string& name,
                         const std::string& where) {
  struct stat st;
  if (fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoToStatus("stat", where, errno);
  }
  switch (st.st_mode & S_IFMT) {
    case S_IFDIR:
      return InvalidArgumentError(fmt::format("copy {}: is a directory", Quote(where)));
    case S_IFREG:
      return TreeCopier::CopyFile(src_dir, dst_dir, name, st, where);
    case S_IFLNK:
      return TreeCopier::CopySymlink(src_dir, dst_dir, name, st, where);
    default:
      return TreeCopier::CopySpecial(src_dir, dst_dir, name, st, where);
  }
}

absl::Status CopyDirectory(const std::string& src, const std::string& dst) {
  ASSIGN_OR_RETURN(UniqueFd src_fd, OpenDirectory(src));
  ASSIGN_OR_RETURN(UniqueFd dst_fd, OpenDirectory(dst));
  struct stat st;
  if (fstat(src_fd.get(), &st) != 0) return ErrnoToStatus("stat", src, errno);
  TreeCopier copier(st.st_dev);
  RETURN_IF_ERROR(copier.CopyContents(src_fd.get(), dst_fd.get(), dst_fd.get(), "", src));
  return TreeCopier::CopyMetadataFd(src_fd.get(), dst_fd.get(), st, dst);
}

}  // namespace berth::snapshot
