#include "services/snapshot/testsuite/fstest.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/testing/temp_dir.h"
#include "services/snapshot/fs.h"

namespace berth::snapshot::fstest {
namespace {

std::string Join(const std::string& root, const std::string& path) {
  if (path.empty() || path == "/") return root;
  return path[0] == '/' ? root + path : root + "/" + path;
}

absl::Status Errno(const char* op, const std::string& path) {
  return ErrnoToStatus(op, path, errno);
}

}  // namespace

Applier Apply(std::vector<Applier> appliers) {
  return [appliers = std::move(appliers)](const std::string& root) -> absl::Status {
    for (const Applier& a : appliers) RETURN_IF_ERROR(a(root));
    return absl::OkStatus();
  };
}

Applier CreateFile(std::string path, std::string content, mode_t mode) {
  return [=](const std::string& root) -> absl::Status {
    const std::string p = Join(root, path);
    int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return Errno("create", p);
    ssize_t n = write(fd, content.data(), content.size());
    int err = errno;
    close(fd);
    if (n != static_cast<ssize_t>(content.size())) return ErrnoToStatus("write", p, err);
    if (chmod(p.c_str(), mode) != 0) return Errno("chmod", p);
    return absl::OkStatus();
  };
}

Applier CreateDir(std::string path, mode_t mode) {
  return [=](const std::string& root) -> absl::Status {
    const std::string p = Join(root, path);
    if (mkdir(p.c_str(), mode) != 0 && errno != EEXIST) return Errno("mkdir", p);
    if (chmod(p.c_str(), mode) != 0) return Errno("chmod", p);
    return absl::OkStatus();
  };
}

Applier RemoveAll(std::string path) {
  return [=](const std::string& root) -> absl::Status {
    return snapshot::RemoveAll(Join(root, path));
  };
}

Applier Link(std::string existing, std::string link) {
  return [=](const std::string& root) -> absl::Status {
    if (::link(Join(root, existing).c_str(), Join(root, link).c_str()) != 0) {
      return Errno("link", Join(root, link));
    }
    return absl::OkStatus();
  };
}

Applier Symlink(std::string target, std::string link) {
  return [=](const std::string& root) -> absl::Status {
    if (symlink(target.c_str(), Join(root, link).c_str()) != 0) {
      return Errno("symlink", Join(root, link));
    }
    return absl::OkStatus();
  };
}

Applier Chown(std::string path, uid_t uid, gid_t gid) {
  return [=](const std::string& root) -> absl::Status {
    if (lchown(Join(root, path).c_str(), uid, gid) != 0) return Errno("chown", Join(root, path));
    return absl::OkStatus();
  };
}

Applier Chmod(std::string path, mode_t mode) {
  return [=](const std::string& root) -> absl::Status {
    if (chmod(Join(root, path).c_str(), mode) != 0) return Errno("chmod", Join(root, path));
    return absl::OkStatus();
  };
}

Applier SetXattr(std::string path, std::string name, std::string value) {
  return [=](const std::string& root) -> absl::Status {
    if (lsetxattr(Join(root, path).c_str(), name.c_str(), value.data(), value.size(), 0) != 0) {
      return Errno("setxattr", Join(root, path));
    }
    return absl::OkStatus();
  };
}

Applier Mknod(std::string path, mode_t mode, dev_t dev) {
  return [=](const std::string& root) -> absl::Status {
    if (mknod(Join(root, path).c_str(), mode, dev) != 0) return Errno("mknod", Join(root, path));
    if (!S_ISLNK(mode) && chmod(Join(root, path).c_str(), mode & 07777) != 0) {
      return Errno("chmod", Join(root, path));
    }
    return absl::OkStatus();
  };
}

Applier Chtimes(std::string path, long sec, long nsec) {
  return [=](const std::string& root) -> absl::Status {
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    if (utimensat(AT_FDCWD, Join(root, path).c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("utimes", Join(root, path));
    }
    return absl::OkStatus();
  };
}

namespace {

struct Entry {
  struct stat st;
  std::string content;  // Regular files.
  std::string target;   // Symlinks.
  std::map<std::string, std::string> xattrs;
};

absl::Status ReadXattrs(const std::string& path, std::map<std::string, std::string>* out) {
  char names[65536];
  ssize_t n = llistxattr(path.c_str(), names, sizeof(names));
  if (n < 0) {
    if (errno == ENOTSUP) return absl::OkStatus();
    return Errno("listxattr", path);
  }
  for (ssize_t off = 0; off < n;) {
    std::string name = names + off;
    off += static_cast<ssize_t>(name.size()) + 1;
    if (name.rfind("trusted.overlay.", 0) == 0 || name.rfind("user.overlay.", 0) == 0) continue;
    char value[65536];
    ssize_t len = lgetxattr(path.c_str(), name.c_str(), value, sizeof(value));
    if (len < 0) return Errno("getxattr", path);
    (*out)[name] = std::string(value, static_cast<size_t>(len));
  }
  return absl::OkStatus();
}

absl::Status Scan(const std::string& root, const std::string& rel, bool xattrs,
                  std::map<std::string, Entry>* out) {
  const std::string dir_path = rel.empty() ? root : root + "/" + rel;
  DIR* dir = opendir(dir_path.c_str());
  if (dir == nullptr) return Errno("opendir", dir_path);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(dir)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(dir);
  for (const std::string& n : names) {
    const std::string r = rel.empty() ? n : rel + "/" + n;
    const std::string p = root + "/" + r;
    Entry e;
    if (lstat(p.c_str(), &e.st) != 0) return Errno("lstat", p);
    if (S_ISREG(e.st.st_mode)) {
      std::ifstream in(p, std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      e.content = ss.str();
    } else if (S_ISLNK(e.st.st_mode)) {
      char buf[PATH_MAX];
      ssize_t len = readlink(p.c_str(), buf, sizeof(buf));
      if (len < 0) return Errno("readlink", p);
      e.target.assign(buf, static_cast<size_t>(len));
    }
    if (xattrs) RETURN_IF_ERROR(ReadXattrs(p, &e.xattrs));
    bool is_dir = S_ISDIR(e.st.st_mode);
    (*out)[r] = std::move(e);
    if (is_dir) RETURN_IF_ERROR(Scan(root, r, xattrs, out));
  }
  return absl::OkStatus();
}

std::string TypeName(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "file";
    case S_IFDIR:
      return "dir";
    case S_IFLNK:
      return "symlink";
    case S_IFCHR:
      return "chardev";
    case S_IFBLK:
      return "blockdev";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "socket";
    default:
      return "?";
  }
}

// For each path, the sorted paths sharing its inode (only for nlink > 1 non-dirs).
std::map<std::string, std::set<std::string>> LinkGroups(const std::map<std::string, Entry>& t) {
  std::map<ino_t, std::set<std::string>> by_ino;
  for (const auto& [p, e] : t) {
    if (!S_ISDIR(e.st.st_mode) && e.st.st_nlink > 1) by_ino[e.st.st_ino].insert(p);
  }
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [ino, paths] : by_ino) {
    if (paths.size() < 2) continue;
    for (const std::string& p : paths) out[p] = paths;
  }
  return out;
}

}  // namespace

absl::Status CheckDirectoryEqual(const std::string& a, const std::string& b,
                                 const CompareOptions& options) {
  std::map<std::string, Entry> ta, tb;
  RETURN_IF_ERROR(Scan(a, "", options.xattrs, &ta));
  RETURN_IF_ERROR(Scan(b, "", options.xattrs, &tb));
  std::vector<std::string> diffs;
  auto add = [&](std::string d) {
    if (diffs.size() < 20) diffs.push_back(std::move(d));
  };
  for (const auto& [p, e] : ta) {
    if (!tb.count(p)) add(fmt::format("{}: only in {}", p, a));
  }
  for (const auto& [p, e] : tb) {
    if (!ta.count(p)) add(fmt::format("{}: only in {}", p, b));
  }
  for (const auto& [p, ea] : ta) {
    auto it = tb.find(p);
    if (it == tb.end()) continue;
    const Entry& eb = it->second;
    if ((ea.st.st_mode & S_IFMT) != (eb.st.st_mode & S_IFMT)) {
      add(fmt::format("{}: type {} vs {}", p, TypeName(ea.st.st_mode), TypeName(eb.st.st_mode)));
      continue;
    }
    if (!S_ISLNK(ea.st.st_mode) && (ea.st.st_mode & 07777) != (eb.st.st_mode & 07777)) {
      add(fmt::format("{}: mode {:o} vs {:o}", p, ea.st.st_mode & 07777, eb.st.st_mode & 07777));
    }
    if (ea.st.st_uid != eb.st.st_uid || ea.st.st_gid != eb.st.st_gid) {
      add(fmt::format("{}: owner {}:{} vs {}:{}", p, ea.st.st_uid, ea.st.st_gid, eb.st.st_uid,
                      eb.st.st_gid));
    }
    if (ea.content != eb.content) add(fmt::format("{}: content differs", p));
    if (ea.target != eb.target) {
      add(fmt::format("{}: symlink target {:?} vs {:?}", p, ea.target, eb.target));
    }
    if ((S_ISCHR(ea.st.st_mode) || S_ISBLK(ea.st.st_mode)) && ea.st.st_rdev != eb.st.st_rdev) {
      add(fmt::format("{}: device {}:{} vs {}:{}", p, major(ea.st.st_rdev), minor(ea.st.st_rdev),
                      major(eb.st.st_rdev), minor(eb.st.st_rdev)));
    }
    if (ea.xattrs != eb.xattrs) add(fmt::format("{}: xattrs differ", p));
    if (options.mtimes && (ea.st.st_mtim.tv_sec != eb.st.st_mtim.tv_sec ||
                           ea.st.st_mtim.tv_nsec != eb.st.st_mtim.tv_nsec)) {
      add(fmt::format("{}: mtime {}.{:09} vs {}.{:09}", p, ea.st.st_mtim.tv_sec,
                      ea.st.st_mtim.tv_nsec, eb.st.st_mtim.tv_sec, eb.st.st_mtim.tv_nsec));
    }
  }
  auto ga = LinkGroups(ta), gb = LinkGroups(tb);
  for (const auto& [p, group] : ga) {
    auto it = gb.find(p);
    if (it == gb.end() || it->second != group) add(fmt::format("{}: hard links differ", p));
  }
  for (const auto& [p, group] : gb) {
    if (!ga.count(p)) add(fmt::format("{}: hard links differ", p));
  }
  if (diffs.empty()) return absl::OkStatus();
  std::string message = fmt::format("directories {} and {} differ:", a, b);
  for (const std::string& d : diffs) message += "\n  " + d;
  return InvalidArgumentError(message);
}

absl::Status CheckDirectoryEqualWithApplier(const std::string& dir, const Applier& applier,
                                            const CompareOptions& options) {
  berth::testing::TempDir expected("fstest");
  RETURN_IF_ERROR(applier(expected.path()));
  // The temporary root is 0700; compare contents only.
  return CheckDirectoryEqual(expected.path(), dir, options);
}

}  // namespace berth::snapshot::fstest
