#include "services/snapshot/diff/tar_apply.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "fmt/format.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "services/snapshot/fs.h"

// Syscalls newer than Debian 12's headers; the numbers are the same on every architecture.
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#endif

namespace berth::snapshot::diff {

std::vector<std::string> CleanComponents(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view c = path.substr(i, j - i);
    if (c.empty() || c == ".") {
      // Skip.
    } else if (c == "..") {
      if (!out.empty()) out.pop_back();
    } else {
      out.emplace_back(c);
    }
    i = j + 1;
  }
  return out;
}

namespace {

constexpr int kMaxSymlinks = 40;

std::string JoinPath(const std::vector<std::string>& components, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += '/';
    out += components[i];
  }
  return out;
}

std::string JoinPath(const std::vector<std::string>& components) {
  return JoinPath(components, components.size());
}

// openat2 with the in-root rules; -1 with errno set on failure.
int OpenInRoot(int root_fd, const std::string& path, std::uint64_t flags,
               bool cross_mounts = false) {
  struct open_how how;
  std::memset(&how, 0, sizeof(how));
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  if (!cross_mounts) how.resolve |= RESOLVE_NO_XDEV;
  return static_cast<int>(
      syscall(SYS_openat2, root_fd, path.empty() ? "." : path.c_str(), &how, sizeof(how)));
}

std::atomic<bool> g_no_openat2{false};
std::atomic<bool> g_no_fchmodat2{false};
std::atomic<bool> g_no_setxattrat{false};

// chmod of `name` in `dir_fd` that refuses to follow a symlink.
int ChmodNoFollow(int dir_fd, const std::string& name, mode_t mode) {
  if (!g_no_fchmodat2.load(std::memory_order_relaxed)) {
    long rc = syscall(SYS_fchmodat2, dir_fd, name.c_str(), mode, AT_SYMLINK_NOFOLLOW);
    if (rc == 0) return 0;
    if (errno != ENOSYS) return -1;
    g_no_fchmodat2.store(true, std::memory_order_relaxed);
  }
  // Older kernels: pin the inode with O_PATH|O_NOFOLLOW, check it is no symlink, and chmod
  // it through its /proc/self/fd path (which names that inode, not a path to re-resolve).
  UniqueFd fd(openat(dir_fd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return -1;
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return -1;
  if (S_ISLNK(st.st_mode)) {
    errno = EOPNOTSUPP;
    return -1;
  }
  return chmod(fmt::format("/proc/self/fd/{}", fd.get()).c_str(), mode);
}

struct XattrArgs {
  std::uint64_t value;
  std::uint32_t size;
  std::uint32_t flags;
};

// setxattr on `name` in `dir_fd` without following it (Linux 6.13+); ENOSYS before.
int SetXattrAtNoFollow(int dir_fd, const std::string& name, const char* key, const void* value,
                       size_t size) {
  if (g_no_setxattrat.load(std::memory_order_relaxed)) {
    errno = ENOSYS;
    return -1;
  }
  XattrArgs args{reinterpret_cast<std::uint64_t>(value), static_cast<std::uint32_t>(size), 0};
  long rc =
      syscall(SYS_setxattrat, dir_fd, name.c_str(), AT_SYMLINK_NOFOLLOW, key, &args, sizeof(args));
  if (rc != 0 && errno == ENOSYS) g_no_setxattrat.store(true, std::memory_order_relaxed);
  return rc == 0 ? 0 : -1;
}

bool IsOverlayXattr(std::string_view name) {
  return name.rfind("trusted.overlay.", 0) == 0 || name.rfind("user.overlay.", 0) == 0;
}

struct DirTimes {
  std::vector<std::string> components;
  struct timespec times[2];
};

class TarApplier {
 public:
  TarApplier(ChunkSource& in, const ApplyOptions& options) : in_(in), options_(options) {}

  ~TarApplier() {
    if (archive_ != nullptr) archive_read_free(archive_);
  }

  absl::StatusOr<ApplyStats> Run(const std::string& root) {
    root_fd_.Reset(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd_.valid()) return ErrnoToStatus("open", root, errno);
    root_path_ = root;
    if (options_.whiteouts == ApplyOptions::Whiteouts::kOverlay) {
      for (const std::string& p : options_.parents) {
        int fd = open(p.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return ErrnoToStatus("open lower", p, errno);
        lowers_.emplace_back(fd);
      }
    }
    archive_ = archive_read_new();
    if (archive_ == nullptr) return ResourceExhaustedError("archive_read_new failed");
    archive_read_support_format_tar(archive_);
    if (archive_read_open(archive_, this, nullptr, &TarApplier::ReadCallback, nullptr) !=
        ARCHIVE_OK) {
      return ArchiveError("open");
    }
    while (true) {
      if (options_.cancelled && (stats_.entries & 63) == 0 && options_.cancelled()) {
        return CancelledError("apply layer: cancelled");
      }
      struct archive_entry* entry = nullptr;
      int r = archive_read_next_header(archive_, &entry);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_RETRY) continue;
      if (r == ARCHIVE_WARN) {
        log::Debug("layer archive warning: {}", ArchiveMessage());
      } else if (r != ARCHIVE_OK) {
        return ArchiveError("read header");
      }
      ++stats_.entries;
      RETURN_IF_ERROR(Entry(entry));
    }
    RETURN_IF_ERROR(FinishDirectories());
    return stats_;
  }

 private:
  using SharedFd = std::shared_ptr<UniqueFd>;

  static la_ssize_t ReadCallback(struct archive* a, void* client, const void** buffer) {
    auto* self = static_cast<TarApplier*>(client);
    absl::StatusOr<std::string_view> chunk = self->in_.Next();
    if (!chunk.ok()) {
      self->read_error_ = chunk.status();
      archive_set_error(a, EIO, "%s", std::string(chunk.status().message()).c_str());
      return -1;
    }
    *buffer = chunk->data();
    return static_cast<la_ssize_t>(chunk->size());
  }

  std::string ArchiveMessage() const {
    const char* m = archive_error_string(archive_);
    return m == nullptr ? "unknown error" : m;
  }

  absl::Status ArchiveError(std::string_view what) {
    if (!read_error_.ok()) return read_error_;
    return InvalidArgumentError(fmt::format("invalid layer tar: {}: {}", what, ArchiveMessage()));
  }

  // `name` is the entry as the tar names it; a full disk names the file on disk instead, so
  // the message says which filesystem ran out of space.
  absl::Status EntryError(std::string_view op, const std::string& name, int err) const {
    if (err == ENOSPC || err == EDQUOT) return ErrnoToStatus(op, root_path_ + "/" + name, err);
    return ErrnoToStatus(op, name, err);
  }

  // The directory `components` names, inside the root (symlinks followed within it). With
  // `create`, missing directories are made. NotFound (without create) when a component is
  // missing; InvalidArgument when one is not a directory or symlinks loop.
  absl::StatusOr<SharedFd> ResolveDir(const std::vector<std::string>& components, bool create) {
    std::string key = JoinPath(components);
    if (cached_fd_ && cached_key_ == key) return cached_fd_;
    if (!g_no_openat2.load(std::memory_order_relaxed)) {
      int fd = OpenInRoot(root_fd_.get(), key, O_PATH | O_DIRECTORY, options_.cross_mounts);
      if (fd >= 0) {
        cached_key_ = std::move(key);
        cached_fd_ = std::make_shared<UniqueFd>(fd);
        return cached_fd_;
      }
      int err = errno;
      if (err == ENOSYS || err == E2BIG) {
        g_no_openat2.store(true, std::memory_order_relaxed);
      } else if (err == EAGAIN) {
        // openat2 saw a concurrent rename and gave up; the walk below does not need it.
      } else if (err != ENOENT || !create) {
        return EntryError("resolve", key.empty() ? "/" : key, err);
      }
    }
    ASSIGN_OR_RETURN(SharedFd fd, Walk(components, create));
    cached_key_ = std::move(key);
    cached_fd_ = fd;
    return fd;
  }

  // Component-by-component resolution with RESOLVE_IN_ROOT's rules, creating what is missing.
  absl::StatusOr<SharedFd> Walk(const std::vector<std::string>& components, bool create) {
    std::vector<UniqueFd> stack;
    std::vector<std::string> names;  // Real path (symlinks resolved) of stack[1..].
    stack.emplace_back(dup(root_fd_.get()));
    if (!stack.back().valid()) return ErrnoToStatus("dup", root_path_, errno);
    struct stat root_st;
    if (fstat(root_fd_.get(), &root_st) != 0) return ErrnoToStatus("stat", root_path_, errno);
    std::deque<std::string> todo(components.begin(), components.end());
    int links = 0;
    const std::string shown = JoinPath(components);
    while (!todo.empty()) {
      std::string c = std::move(todo.front());
      todo.pop_front();
      if (c.empty() || c == ".") continue;
      if (c == "..") {
        if (stack.size() > 1) {
          stack.pop_back();
          names.pop_back();
        }
        continue;
      }
      int cur = stack.back().get();
      struct stat st;
      if (fstatat(cur, c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) return EntryError("resolve", shown, errno);
        if (!create) return EntryError("resolve", shown, ENOENT);
        names.push_back(c);
        RETURN_IF_ERROR(MakeParentDir(cur, c, names));
        names.pop_back();
        if (fstatat(cur, c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
          return EntryError("resolve", shown, errno);
        }
      }
      if (S_ISLNK(st.st_mode)) {
        if (++links > kMaxSymlinks) return EntryError("resolve", shown, ELOOP);
        std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
        ssize_t n = readlinkat(cur, c.c_str(), target.data(), target.size());
        if (n < 0) return EntryError("readlink", shown, errno);
        target.resize(static_cast<size_t>(n));
        std::vector<std::string> parts;
        size_t i = 0;
        while (i <= target.size()) {
          size_t j = target.find('/', i);
          if (j == std::string::npos) j = target.size();
          if (j > i) parts.push_back(target.substr(i, j - i));
          i = j + 1;
        }
        if (!target.empty() && target[0] == '/') {
          stack.resize(1);
          names.clear();
        }
        todo.insert(todo.begin(), parts.begin(), parts.end());
        continue;
      }
      if (!S_ISDIR(st.st_mode)) return EntryError("resolve", shown, ENOTDIR);
      if (!options_.cross_mounts && st.st_dev != root_st.st_dev) {
        return EntryError("resolve", shown, EXDEV);
      }
      int fd = openat(cur, c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return EntryError("resolve", shown, errno);
      stack.emplace_back(fd);
      names.push_back(c);
    }
    return std::make_shared<UniqueFd>(stack.back().Release());
  }

  // Creates directory `name` in `dir_fd` for a path the archive did not list (its real path
  // below the root is `path`), with attributes from the nearest lower layer that has it.
  absl::Status MakeParentDir(int dir_fd, const std::string& name,
                             const std::vector<std::string>& path) {
    if (mkdirat(dir_fd, name.c_str(), 0755) != 0 && errno != EEXIST) {
      return EntryError("mkdir", JoinPath(path), errno);
    }
    struct stat lower;
    bool found = false;
    for (const UniqueFd& l : lowers_) {
      UniqueFd fd(OpenInRoot(l.get(), JoinPath(path), O_PATH | O_NOFOLLOW));
      if (!fd.valid()) {
        if (errno == ENOSYS) break;
        continue;
      }
      if (fstat(fd.get(), &lower) == 0 && S_ISDIR(lower.st_mode)) found = true;
      break;  // The nearest lower that has the name decides.
    }
    if (!found) {
      if (ChmodNoFollow(dir_fd, name, 0755) != 0) return EntryError("chmod", JoinPath(path), errno);
      return absl::OkStatus();
    }
    if (fchownat(dir_fd, name.c_str(), lower.st_uid, lower.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return EntryError("chown", JoinPath(path), errno);
    }
    if (ChmodNoFollow(dir_fd, name, lower.st_mode & 07777) != 0) {
      return EntryError("chmod", JoinPath(path), errno);
    }
    DirTimes t;
    t.components = path;
    t.times[0] = lower.st_atim;
    t.times[1] = lower.st_mtim;
    dirs_.push_back(std::move(t));
    return absl::OkStatus();
  }

  void Invalidate() {
    cached_fd_.reset();
    cached_key_.clear();
  }

  absl::Status Entry(struct archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    if (raw == nullptr) raw = archive_entry_pathname_utf8(entry);
    if (raw == nullptr) return InvalidArgumentError("invalid layer tar: entry without a name");
    const std::string shown = raw;
    std::vector<std::string> components = CleanComponents(raw);
    if (components.empty()) return absl::OkStatus();  // The root itself: never replaced.
    const std::string base = components.back();
    components.pop_back();

    if (base.rfind(".wh.", 0) == 0) {
      if (base == ".wh..wh..opq") return Opaque(components, shown);
      if (base.rfind(".wh..wh.", 0) == 0) return absl::OkStatus();  // aufs bookkeeping.
      std::string target = base.substr(4);
      if (target.empty() || target == "." || target == "..") {
        return InvalidArgumentError(
            fmt::format("invalid layer tar: whiteout {} names no file", Quote(shown)));
      }
      return Whiteout(components, target, entry, shown);
    }

    ASSIGN_OR_RETURN(SharedFd parent, ResolveDir(components, /*create=*/true));
    const int pfd = parent->get();
    const mode_t type = archive_entry_filetype(entry);
    const char* hardlink = archive_entry_hardlink(entry);

    struct stat existing;
    if (fstatat(pfd, base.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
      bool keep = S_ISDIR(existing.st_mode) && type == AE_IFDIR && hardlink == nullptr;
      if (!keep) {
        Invalidate();
        RETURN_IF_ERROR(RemoveAllAt(pfd, base, shown));
      }
    } else if (errno != ENOENT) {
      return EntryError("stat", shown, errno);
    }

    if (hardlink != nullptr) {
      RETURN_IF_ERROR(HardLink(pfd, base, hardlink, shown));
    } else {
      switch (type) {
        case AE_IFDIR:
          RETURN_IF_ERROR(Directory(pfd, base, components, entry, shown));
          break;
        case AE_IFREG:
          RETURN_IF_ERROR(RegularFile(pfd, base, entry, shown));
          break;
        case AE_IFLNK:
          RETURN_IF_ERROR(Symlink(pfd, base, entry, shown));
          break;
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
          RETURN_IF_ERROR(Special(pfd, base, type, entry, shown));
          break;
        default:
          // Sockets and unknown types are not restored (as containerd).
          log::Debug("layer entry skipped name={:?} type={:o}", shown, type);
          return absl::OkStatus();
      }
    }
    if (options_.whiteouts == ApplyOptions::Whiteouts::kDelete) {
      // The entry and every directory above it belong to this layer (an opaque marker later
      // must keep implicitly created parents too).
      std::string rel;
      for (const std::string& c : components) {
        rel += rel.empty() ? c : "/" + c;
        unpacked_.insert(rel);
      }
      rel += rel.empty() ? base : "/" + base;
      unpacked_.insert(std::move(rel));
    }
    return absl::OkStatus();
  }

  static void EntryTimes(struct archive_entry* entry, struct timespec times[2]) {
    times[1].tv_sec = archive_entry_mtime(entry);
    times[1].tv_nsec = archive_entry_mtime_nsec(entry);
    times[0] = times[1];
    if (archive_entry_atime_is_set(entry)) {
      struct timespec a = {archive_entry_atime(entry), archive_entry_atime_nsec(entry)};
      if (a.tv_sec > times[1].tv_sec ||
          (a.tv_sec == times[1].tv_sec && a.tv_nsec > times[1].tv_nsec)) {
        times[0] = a;
      }
    }
  }

  // xattrs from the archive onto an open file (fd >= 0) or, without one, onto `name` in
  // `dir_fd` without following it.
  absl::Status Xattrs(struct archive_entry* entry, int fd, int dir_fd, const std::string& name,
                      const std::string& shown) {
    if (archive_entry_xattr_reset(entry) == 0) return absl::OkStatus();
    const char* key;
    const void* value;
    size_t size;
    while (archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK) {
      if (IsOverlayXattr(key)) {
        log::Debug("layer xattr dropped name={:?} xattr={:?}", shown, key);
        continue;
      }
      int rc = fd >= 0 ? fsetxattr(fd, key, value, size, 0)
                       : SetXattrAtNoFollow(dir_fd, name, key, value, size);
      if (rc == 0) continue;
      int err = errno;
      if (err == ENOTSUP || err == EOPNOTSUPP || err == EPERM || err == ENOSYS) {
        log::Debug("layer xattr ignored name={:?} xattr={:?}: {}", shown, key, strerror(err));
        continue;
      }
      return EntryError(fmt::format("setxattr {}", key), shown, err);
    }
    return absl::OkStatus();
  }

  // Owner, mode, xattrs and times through an open descriptor.
  absl::Status MetadataFd(int fd, struct archive_entry* entry, const std::string& shown,
                          bool times) {
    if (fchown(fd, static_cast<uid_t>(archive_entry_uid(entry)),
               static_cast<gid_t>(archive_entry_gid(entry))) != 0) {
      return EntryError("chown", shown, errno);
    }
    if (fchmod(fd, archive_entry_perm(entry) & 07777) != 0) {
      return EntryError("chmod", shown, errno);
    }
    RETURN_IF_ERROR(Xattrs(entry, fd, -1, "", shown));
    if (times) {
      struct timespec ts[2];
      EntryTimes(entry, ts);
      if (futimens(fd, ts) != 0) return EntryError("utimes", shown, errno);
    }
    return absl::OkStatus();
  }

  absl::Status Directory(int pfd, const std::string& base,
                         const std::vector<std::string>& parent_components,
                         struct archive_entry* entry, const std::string& shown) {
    if (mkdirat(pfd, base.c_str(), 0700) != 0 && errno != EEXIST) {
      return EntryError("mkdir", shown, errno);
    }
    UniqueFd fd(openat(pfd, base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return EntryError("open", shown, errno);
    RETURN_IF_ERROR(MetadataFd(fd.get(), entry, shown, /*times=*/false));
    DirTimes t;
    t.components = parent_components;
    t.components.push_back(base);
    EntryTimes(entry, t.times);
    dirs_.push_back(std::move(t));
    return absl::OkStatus();
  }

  absl::Status RegularFile(int pfd, const std::string& base, struct archive_entry* entry,
                           const std::string& shown) {
    UniqueFd fd(
        openat(pfd, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.valid()) return EntryError("create", shown, errno);
    std::int64_t end = 0;
    while (true) {
      const void* buf;
      size_t size;
      la_int64_t offset;
      int r = archive_read_data_block(archive_, &buf, &size, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return ArchiveError("read " + shown);
      const char* p = static_cast<const char*>(buf);
      while (size > 0) {
        ssize_t n = pwrite(fd.get(), p, size, offset);
        if (n < 0) {
          if (errno == EINTR) continue;
          return EntryError("write", shown, errno);
        }
        p += n;
        size -= static_cast<size_t>(n);
        offset += n;
        stats_.file_bytes += n;
      }
      end = std::max<std::int64_t>(end, offset);
    }
    const std::int64_t want = archive_entry_size(entry);
    if (want > end && ftruncate(fd.get(), want) != 0) {  // A trailing hole (sparse file).
      return EntryError("truncate", shown, errno);
    }
    return MetadataFd(fd.get(), entry, shown, /*times=*/true);
  }

  // Owner, mode, xattrs and times of `base` in `pfd`, never through a symlink.
  absl::Status MetadataAt(int pfd, const std::string& base, struct archive_entry* entry,
                          const std::string& shown, bool is_symlink) {
    if (fchownat(pfd, base.c_str(), static_cast<uid_t>(archive_entry_uid(entry)),
                 static_cast<gid_t>(archive_entry_gid(entry)), AT_SYMLINK_NOFOLLOW) != 0) {
      return EntryError("chown", shown, errno);
    }
    if (!is_symlink && ChmodNoFollow(pfd, base, archive_entry_perm(entry) & 07777) != 0) {
      return EntryError("chmod", shown, errno);
    }
    RETURN_IF_ERROR(Xattrs(entry, -1, pfd, base, shown));
    struct timespec ts[2];
    EntryTimes(entry, ts);
    if (utimensat(pfd, base.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
      return EntryError("utimes", shown, errno);
    }
    return absl::OkStatus();
  }

  absl::Status Symlink(int pfd, const std::string& base, struct archive_entry* entry,
                       const std::string& shown) {
    const char* target = archive_entry_symlink(entry);
    if (target == nullptr) target = archive_entry_symlink_utf8(entry);
    if (target == nullptr) {
      return InvalidArgumentError(
          fmt::format("invalid layer tar: symlink {} without target", Quote(shown)));
    }
    // The new symlink may change how later paths resolve.
    Invalidate();
    if (symlinkat(target, pfd, base.c_str()) != 0) return EntryError("symlink", shown, errno);
    return MetadataAt(pfd, base, entry, shown, /*is_symlink=*/true);
  }

  absl::Status Special(int pfd, const std::string& base, mode_t type, struct archive_entry* entry,
                       const std::string& shown) {
    if (type != AE_IFIFO && options_.skip_devices) {
      log::Debug("layer device skipped (no CAP_MKNOD) name={:?}", shown);
      return absl::OkStatus();
    }
    dev_t dev = 0;
    if (type != AE_IFIFO) {
      dev = makedev(archive_entry_rdevmajor(entry), archive_entry_rdevminor(entry));
    }
    if (mknodat(pfd, base.c_str(), type | 0600, dev) != 0) {
      return EntryError("mknod", shown, errno);
    }
    return MetadataAt(pfd, base, entry, shown, /*is_symlink=*/false);
  }

  // `pfd` stays open while ResolveDir replaces its cache: the caller holds it.
  absl::Status HardLink(int pfd, const std::string& base, const char* target,
                        const std::string& shown) {
    std::vector<std::string> tcomp = CleanComponents(target);
    if (tcomp.empty()) {
      return InvalidArgumentError(
          fmt::format("invalid layer tar: hard link {} to the root", Quote(shown)));
    }
    std::string tbase = tcomp.back();
    tcomp.pop_back();
    absl::StatusOr<SharedFd> tparent = ResolveDir(tcomp, /*create=*/false);
    if (IsNotFound(tparent.status()) && !lowers_.empty()) {
      RETURN_IF_ERROR(CopyUp(tcomp, tbase, shown));
      tparent = ResolveDir(tcomp, /*create=*/false);
    }
    if (!tparent.ok()) {
      return InvalidArgumentError(fmt::format("invalid layer tar: hard link {}: target {}: {}",
                                              Quote(shown), Quote(target),
                                              std::string(tparent.status().message())));
    }
    // Flags 0: a symlink target is linked itself, never followed.
    int rc = linkat((*tparent)->get(), tbase.c_str(), pfd, base.c_str(), 0);
    if (rc != 0 && errno == ENOENT && !lowers_.empty()) {
      RETURN_IF_ERROR(CopyUp(tcomp, tbase, shown));
      rc = linkat((*tparent)->get(), tbase.c_str(), pfd, base.c_str(), 0);
    }
    if (rc != 0) {
      int err = errno;
      if (err == ENOENT) {
        return InvalidArgumentError(
            fmt::format("invalid layer tar: hard link {}: target {} does not exist", Quote(shown),
                        Quote(target)));
      }
      return EntryError("link", shown, err);
    }
    return absl::OkStatus();
  }

  // Copies the entry dir/name from the nearest lower layer that has it into the upper (the
  // hard link target of an entry of this layer). A whiteout or a missing name there means
  // there is nothing to copy; the caller then reports the missing target.
  absl::Status CopyUp(const std::vector<std::string>& dir, const std::string& name,
                      const std::string& shown) {
    for (const UniqueFd& lower : lowers_) {
      UniqueFd ldir(OpenInRoot(lower.get(), JoinPath(dir), O_PATH | O_DIRECTORY));
      if (!ldir.valid()) continue;
      struct stat st;
      if (fstatat(ldir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) return absl::OkStatus();
      if (S_ISDIR(st.st_mode)) return absl::OkStatus();  // Not linkable.
      ASSIGN_OR_RETURN(SharedFd udir, ResolveDir(dir, /*create=*/true));
      // O_PATH descriptors are fine as *at() directories; CopyEntryAt reads through them.
      UniqueFd src(openat(ldir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!src.valid()) return EntryError("open lower", shown, errno);
      return CopyEntryAt(src.get(), udir->get(), name, shown);
    }
    return absl::OkStatus();
  }

  absl::Status Whiteout(const std::vector<std::string>& dir, const std::string& name,
                        struct archive_entry* entry, const std::string& shown) {
    Invalidate();
    if (options_.whiteouts == ApplyOptions::Whiteouts::kDelete) {
      absl::StatusOr<SharedFd> parent = ResolveDir(dir, /*create=*/false);
      if (IsNotFound(parent.status())) return absl::OkStatus();  // Nothing to delete.
      if (!parent.ok()) return parent.status();
      RETURN_IF_ERROR(RemoveAllAt((*parent)->get(), name, shown));
      Invalidate();
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(SharedFd parent, ResolveDir(dir, /*create=*/true));
    RETURN_IF_ERROR(RemoveAllAt(parent->get(), name, shown));
    if (mknodat(parent->get(), name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
      return EntryError("mknod whiteout", shown, errno);
    }
    if (fchownat(parent->get(), name.c_str(), static_cast<uid_t>(archive_entry_uid(entry)),
                 static_cast<gid_t>(archive_entry_gid(entry)), AT_SYMLINK_NOFOLLOW) != 0) {
      return EntryError("chown", shown, errno);
    }
    Invalidate();
    return absl::OkStatus();
  }

  absl::Status Opaque(const std::vector<std::string>& dir, const std::string& shown) {
    if (options_.whiteouts == ApplyOptions::Whiteouts::kOverlay) {
      ASSIGN_OR_RETURN(SharedFd d, ResolveDir(dir, /*create=*/true));
      UniqueFd fd(openat(d->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd.valid()) return EntryError("open", shown, errno);
      const std::string key = options_.overlay_xattr_prefix + "opaque";
      if (fsetxattr(fd.get(), key.c_str(), "y", 1, 0) != 0) {
        return EntryError(fmt::format("setxattr {}", key), shown, errno);
      }
      return absl::OkStatus();
    }
    absl::StatusOr<SharedFd> d = ResolveDir(dir, /*create=*/false);
    if (IsNotFound(d.status())) return absl::OkStatus();
    if (!d.ok()) return d.status();
    UniqueFd fd(openat((*d)->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) return EntryError("open", shown, errno);
    Invalidate();
    return EmptyExceptUnpacked(fd.get(), JoinPath(dir), shown);
  }

  // Removes what is in `dir_fd` (at `rel` below the root) and was not written by this layer.
  absl::Status EmptyExceptUnpacked(int dir_fd, const std::string& rel, const std::string& shown) {
    UniqueFd list(openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!list.valid()) return EntryError("open", shown, errno);
    DIR* d = fdopendir(list.Release());
    if (d == nullptr) return EntryError("opendir", shown, errno);
    std::vector<std::string> names;
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    closedir(d);
    for (const std::string& n : names) {
      std::string child = rel.empty() ? n : rel + "/" + n;
      if (!unpacked_.count(child)) {
        RETURN_IF_ERROR(RemoveAllAt(dir_fd, n, child));
        continue;
      }
      struct stat st;
      if (fstatat(dir_fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        UniqueFd sub(openat(dir_fd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) return EntryError("open", child, errno);
        RETURN_IF_ERROR(EmptyExceptUnpacked(sub.get(), child, shown));
      }
    }
    return absl::OkStatus();
  }

  // Sets directory times last, deepest (latest created) first.
  absl::Status FinishDirectories() {
    Invalidate();
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      std::vector<std::string> parent = it->components;
      std::string base = parent.back();
      parent.pop_back();
      absl::StatusOr<SharedFd> fd = ResolveDir(parent, /*create=*/false);
      if (!fd.ok()) continue;  // Removed by a later entry.
      if (utimensat((*fd)->get(), base.c_str(), it->times, AT_SYMLINK_NOFOLLOW) != 0 &&
          errno != ENOENT) {
        return EntryError("utimes", JoinPath(it->components), errno);
      }
    }
    return absl::OkStatus();
  }

  ChunkSource& in_;
  const ApplyOptions& options_;
  struct archive* archive_ = nullptr;
  absl::Status read_error_;
  UniqueFd root_fd_;
  std::string root_path_;
  std::vector<UniqueFd> lowers_;
  std::string cached_key_;
  SharedFd cached_fd_;
  std::vector<DirTimes> dirs_;
  std::unordered_set<std::string> unpacked_;
  ApplyStats stats_;
};

}  // namespace

absl::StatusOr<ApplyStats> ApplyTar(ChunkSource& in, const std::string& root,
                                    const ApplyOptions& options) {
  TarApplier applier(in, options);
  return applier.Run(root);
}

}  // namespace berth::snapshot::diff
