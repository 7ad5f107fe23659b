#include "lib/mount/mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string_view>
#include <utility>

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::mount {
namespace {

struct FlagDef {
  bool clear;  // The option clears the flag ("rw" clears MS_RDONLY).
  unsigned long flag;
};

const std::map<std::string_view, FlagDef>& Flags() {
  static const auto* flags = new std::map<std::string_view, FlagDef>{
      {"async", {true, MS_SYNCHRONOUS}},
      {"atime", {true, MS_NOATIME}},
      {"bind", {false, MS_BIND}},
      {"defaults", {false, 0}},
      {"dev", {true, MS_NODEV}},
      {"diratime", {true, MS_NODIRATIME}},
      {"dirsync", {false, MS_DIRSYNC}},
      {"exec", {true, MS_NOEXEC}},
      {"mand", {false, MS_MANDLOCK}},
      {"noatime", {false, MS_NOATIME}},
      {"nodev", {false, MS_NODEV}},
      {"nodiratime", {false, MS_NODIRATIME}},
      {"noexec", {false, MS_NOEXEC}},
      {"nomand", {true, MS_MANDLOCK}},
      {"norelatime", {true, MS_RELATIME}},
      {"nostrictatime", {true, MS_STRICTATIME}},
      {"nosuid", {false, MS_NOSUID}},
      {"rbind", {false, MS_BIND | MS_REC}},
      {"relatime", {false, MS_RELATIME}},
      {"remount", {false, MS_REMOUNT}},
      {"ro", {false, MS_RDONLY}},
      {"rw", {true, MS_RDONLY}},
      {"strictatime", {false, MS_STRICTATIME}},
      {"suid", {true, MS_NOSUID}},
      {"sync", {false, MS_SYNCHRONOUS}},
  };
  return *flags;
}

const std::map<std::string_view, unsigned long>& PropagationFlags() {
  static const auto* flags = new std::map<std::string_view, unsigned long>{
      {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
      {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
      {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
      {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
  };
  return *flags;
}

struct ParsedOptions {
  unsigned long flags = 0;
  unsigned long propagation = 0;
  std::vector<std::string> data;  // Filesystem-specific options, in order.
};

ParsedOptions ParseOptions(const std::vector<std::string>& options) {
  ParsedOptions out;
  for (const std::string& option : options) {
    if (auto it = Flags().find(option); it != Flags().end()) {
      if (it->second.clear) {
        out.flags &= ~it->second.flag;
      } else {
        out.flags |= it->second.flag;
      }
    } else if (auto p = PropagationFlags().find(option); p != PropagationFlags().end()) {
      out.propagation |= p->second;
    } else {
      out.data.push_back(option);
    }
  }
  return out;
}

std::string Join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads the messages the kernel left on an fs context fd ("e overlayfs: failed to ...").
std::string ContextMessages(int fs_fd) {
  std::string out;
  char buf[512];
  for (int i = 0; i < 8; ++i) {
    ssize_t n = read(fs_fd, buf, sizeof(buf) - 1);
    if (n <= 0) break;
    if (!out.empty()) out += "; ";
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

constexpr int kNewApiUnsupported = -2;

// Mounts an overlay with the new mount API, one fsconfig per lowerdir. Returns 0, an errno,
// or kNewApiUnsupported when the kernel lacks fsopen or `lowerdir+` (caller falls back).
int MountOverlayNewApi(const ParsedOptions& parsed, const std::string& target,
                       std::string* detail) {
  Fd fs(fsopen("overlay", FSOPEN_CLOEXEC));
  if (fs.get() < 0) return errno == ENOSYS ? kNewApiUnsupported : errno;
  for (const std::string& option : parsed.data) {
    size_t eq = option.find('=');
    if (eq == std::string::npos) {
      if (fsconfig(fs.get(), FSCONFIG_SET_FLAG, option.c_str(), nullptr, 0) != 0) {
        int err = errno;
        *detail = ContextMessages(fs.get());
        return err;
      }
      continue;
    }
    std::string key = option.substr(0, eq);
    std::string value = option.substr(eq + 1);
    if (key == "lowerdir") {
      for (const std::string& dir : Split(value, ':')) {
        if (fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", dir.c_str(), 0) != 0) {
          int err = errno;
          std::string messages = ContextMessages(fs.get());
          // Kernels before 6.8 do not know "lowerdir+".
          if (err == EINVAL && messages.find("lowerdir+") != std::string::npos) {
            return kNewApiUnsupported;
          }
          *detail = messages;
          return err;
        }
      }
      continue;
    }
    if (fsconfig(fs.get(), FSCONFIG_SET_STRING, key.c_str(), value.c_str(), 0) != 0) {
      int err = errno;
      *detail = ContextMessages(fs.get());
      return err;
    }
  }
  if (fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    int err = errno;
    *detail = ContextMessages(fs.get());
    return err;
  }
  unsigned int attrs = 0;
  if (parsed.flags & MS_RDONLY) attrs |= MOUNT_ATTR_RDONLY;
  if (parsed.flags & MS_NOSUID) attrs |= MOUNT_ATTR_NOSUID;
  if (parsed.flags & MS_NODEV) attrs |= MOUNT_ATTR_NODEV;
  if (parsed.flags & MS_NOEXEC) attrs |= MOUNT_ATTR_NOEXEC;
  if (parsed.flags & MS_NODIRATIME) attrs |= MOUNT_ATTR_NODIRATIME;
  if (parsed.flags & MS_NOATIME) {
    attrs |= MOUNT_ATTR_NOATIME;
  } else if (parsed.flags & MS_STRICTATIME) {
    attrs |= MOUNT_ATTR_STRICTATIME;
  }
  Fd mnt(fsmount(fs.get(), FSMOUNT_CLOEXEC, attrs));
  if (mnt.get() < 0) {
    int err = errno;
    *detail = ContextMessages(fs.get());
    return err;
  }
  if (move_mount(mnt.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0) {
    return errno;
  }
  return 0;
}

// The longest directory prefix (ending in '/') shared by all `paths`; "" when none.
std::string CommonDir(const std::vector<std::string>& paths) {
  if (paths.empty()) return "";
  std::string prefix = paths[0];
  for (const std::string& p : paths) {
    size_t n = 0;
    while (n < prefix.size() && n < p.size() && prefix[n] == p[n]) ++n;
    prefix.resize(n);
  }
  size_t slash = prefix.rfind('/');
  if (slash == std::string::npos || slash == 0) return "";
  return prefix.substr(0, slash + 1);
}

// mount(2) from a child process whose working directory is `dir`, so that relative lowerdir
// paths resolve there. Returns 0 or the child's errno.
int MountInDir(const std::string& dir, const std::string& source, const std::string& target,
               const std::string& type, unsigned long flags, const std::string& data) {
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    // Only async-signal-safe calls here.
    if (chdir(dir.c_str()) != 0) _exit(errno & 0xff);
    if (::mount(source.c_str(), target.c_str(), type.c_str(), flags, data.c_str()) != 0) {
      _exit(errno & 0xff);
    }
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errno;
  }
  if (!WIFEXITED(status)) return EIO;
  return WEXITSTATUS(status);
}

int MountLegacy(const Mount& m, const ParsedOptions& parsed, const std::string& target) {
  unsigned long flags = parsed.flags;
  // The type may say it too (containerd's "bind" and "rbind" mount types).
  if (m.type == "bind") flags |= MS_BIND;
  if (m.type == "rbind") flags |= MS_BIND | MS_REC;
  std::string data = Join(parsed.data, ',');
  const std::string source = m.source.empty() ? m.type : m.source;
  const long page = sysconf(_SC_PAGESIZE);
  if (m.type == "overlay" && static_cast<long>(data.size()) >= page - 512) {
    // As containerd's mount helper: make lowerdirs relative to their common parent.
    std::vector<std::string> data_opts = parsed.data;
    for (std::string& option : data_opts) {
      if (option.rfind("lowerdir=", 0) != 0) continue;
      std::vector<std::string> dirs = Split(option.substr(9), ':');
      std::string common = CommonDir(dirs);
      if (common.empty()) break;
      for (std::string& d : dirs) d = d.substr(common.size());
      option = "lowerdir=" + Join(dirs, ':');
      std::string compact = Join(data_opts, ',');
      if (static_cast<long>(compact.size()) >= page) return E2BIG;
      return MountInDir(common, source, target, m.type, flags & ~MS_REMOUNT, compact);
    }
    if (static_cast<long>(data.size()) >= page) return E2BIG;
  }
  if ((flags & MS_REMOUNT) == 0 || !data.empty()) {
    if (::mount(source.c_str(), target.c_str(), m.type.c_str(), flags, data.c_str()) != 0) {
      return errno;
    }
  }
  if (parsed.propagation != 0) {
    if (::mount("", target.c_str(), "", parsed.propagation, nullptr) != 0) return errno;
  }
  // A bind mount ignores its other flags (ro, nosuid, nodev, ...) until it is remounted.
  constexpr unsigned long kBindOnly = MS_BIND | MS_REC | MS_REMOUNT;
  if ((flags & MS_BIND) != 0 && (flags & ~kBindOnly) != 0) {
    const unsigned long remount = MS_BIND | MS_REMOUNT | (flags & ~kBindOnly);
    if (::mount("", target.c_str(), "", remount, nullptr) != 0) return errno;
  }
  return 0;
}

absl::Status MountOne(const Mount& m, const std::string& target, bool legacy_only) {
  ParsedOptions parsed = ParseOptions(m.options);
  std::string detail;
  int err = 0;
  if (m.type == "overlay" && !legacy_only) {
    err = MountOverlayNewApi(parsed, target, &detail);
    if (err == 0) {
      if (parsed.propagation != 0 &&
          ::mount("", target.c_str(), "", parsed.propagation, nullptr) != 0) {
        err = errno;
      }
    } else if (err == kNewApiUnsupported) {
      detail.clear();
      err = MountLegacy(m, parsed, target);
    }
  } else {
    err = MountLegacy(m, parsed, target);
  }
  if (err == 0) return absl::OkStatus();
  absl::Status status = ErrnoToStatus("mount", target, err);
  std::string message =
      fmt::format("{} ({})", std::string(status.message()), MountToString(m, target));
  if (!detail.empty()) message += ": " + detail;
  return absl::Status(status.code(), message);
}

}  // namespace

std::string MountToString(const Mount& mount, const std::string& target) {
  std::string out = fmt::format("mount -t {} {} {}", mount.type, mount.source, target);
  if (!mount.options.empty()) out += " -o " + Join(mount.options, ',');
  return out;
}

namespace {

absl::Status MountAllImpl(const std::vector<Mount>& mounts, const std::string& target,
                          bool legacy_only) {
  std::vector<std::string> done;
  for (const Mount& m : mounts) {
    std::string where = target;
    if (!m.target.empty()) where += "/" + m.target;
    absl::Status status = MountOne(m, where, legacy_only);
    if (!status.ok()) {
      for (auto it = done.rbegin(); it != done.rend(); ++it) {
        (void)umount2(it->c_str(), MNT_DETACH);
      }
      return status;
    }
    done.push_back(where);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status MountAll(const std::vector<Mount>& mounts, const std::string& target) {
  return MountAllImpl(mounts, target, /*legacy_only=*/false);
}

absl::Status internal::MountAllLegacy(const std::vector<Mount>& mounts, const std::string& target) {
  return MountAllImpl(mounts, target, /*legacy_only=*/true);
}

absl::Status UnmountAll(const std::string& target, bool detach) {
  // Bounded: a mount point cannot hold more stacked mounts than this in practice, and a
  // bound keeps a kernel oddity from spinning forever.
  for (int i = 0; i < 1024; ++i) {
    if (umount2(target.c_str(), (detach ? MNT_DETACH : 0) | UMOUNT_NOFOLLOW) == 0) continue;
    int err = errno;
    if (err == EINVAL || err == ENOENT) return absl::OkStatus();  // Nothing (more) mounted.
    if (err == EINTR) continue;
    return ErrnoToStatus("unmount", target, err);
  }
  return ErrnoToStatus("unmount", target, EBUSY);
}

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountinfo(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() + 1) {
      out.push_back(static_cast<char>(std::stoi(field.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

}  // namespace

bool IsMountPoint(const std::string& path_in) {
  struct statx stx;
  if (statx(AT_FDCWD, path_in.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
      (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  }
  char resolved[PATH_MAX];
  const std::string path = realpath(path_in.c_str(), resolved) != nullptr ? resolved : path_in;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint ...
    std::istringstream fields(line);
    std::string id, parent, devno, root, mount_point;
    if (fields >> id >> parent >> devno >> root >> mount_point &&
        UnescapeMountinfo(mount_point) == path) {
      return true;
    }
  }
  return false;
}

bool RunningInUserNamespace() {
  static const bool in_userns = [] {
    std::ifstream in("/proc/self/uid_map");
    long inside = -1, outside = -1, length = -1;
    if (!(in >> inside >> outside >> length)) return false;
    return !(inside == 0 && outside == 0 && length == 4294967295L);
  }();
  return in_userns;
}

}  // namespace berth::mount
