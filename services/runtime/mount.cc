#include "services/runtime/mount.h"

#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::runtime {
namespace {

struct Flag {
  bool clear;
  unsigned long flag;
};

const std::map<std::string, Flag>& FlagTable() {
  static const auto* table = new std::map<std::string, Flag>{
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
  return *table;
}

std::string Describe(const containerd::types::Mount& m) {
  return fmt::format("type={} source={}", m.type(), m.source());
}

}  // namespace

MountOptions ParseMountOptions(const std::vector<std::string>& options) {
  MountOptions out;
  std::vector<std::string> data;
  for (const std::string& o : options) {
    auto it = FlagTable().find(o);
    if (it != FlagTable().end()) {
      if (it->second.clear) {
        out.flags &= ~it->second.flag;
      } else {
        out.flags |= it->second.flag;
      }
    } else if (o == "private" || o == "rprivate") {
      out.propagation_private = true;
    } else {
      data.push_back(o);
    }
  }
  for (size_t i = 0; i < data.size(); ++i) {
    if (i > 0) out.data += ",";
    out.data += data[i];
  }
  return out;
}

absl::Status MountAll(const std::vector<containerd::types::Mount>& mounts,
                      const std::string& target) {
  for (size_t i = 0; i < mounts.size(); ++i) {
    const containerd::types::Mount& m = mounts[i];
    std::vector<std::string> options(m.options().begin(), m.options().end());
    MountOptions o = ParseMountOptions(options);
    bool bind = (o.flags & MS_BIND) != 0 || m.type() == "bind" || m.type() == "rbind";
    if (m.type() == "rbind") o.flags |= MS_REC;
    if (bind) o.flags |= MS_BIND;
    if (m.source().empty() || (!bind && m.type().empty())) {
      (void)UnmountAll(target);
      return InvalidArgumentError(
          fmt::format("mount rootfs {:?}: mount {} needs a type and a source", target, i));
    }
    const char* type = bind ? nullptr : m.type().c_str();
    unsigned long first = o.flags;
    // A bind mount ignores most flags on the first call; they need a remount.
    if (bind) first &= (MS_BIND | MS_REC);
    if (mount(m.source().c_str(), target.c_str(), type, first,
              o.data.empty() ? nullptr : o.data.c_str()) != 0) {
      int err = errno;
      (void)UnmountAll(target);
      return Annotate(ErrnoToStatus("mount", target, err), Describe(m));
    }
    if (bind && (o.flags & ~(MS_BIND | MS_REC)) != 0) {
      unsigned long remount = MS_BIND | MS_REMOUNT | (o.flags & ~(MS_BIND | MS_REC | MS_REMOUNT));
      if (mount(nullptr, target.c_str(), nullptr, remount, nullptr) != 0) {
        int err = errno;
        (void)UnmountAll(target);
        return Annotate(ErrnoToStatus("remount", target, err), Describe(m));
      }
    }
    if (o.propagation_private) {
      (void)mount(nullptr, target.c_str(), nullptr, MS_PRIVATE | (o.flags & MS_REC), nullptr);
    }
  }
  return absl::OkStatus();
}

absl::Status UnmountAll(const std::string& target) {
  struct stat st;
  if (lstat(target.c_str(), &st) != 0) return absl::OkStatus();
  for (int i = 0; i < 128; ++i) {
    if (!IsMountPoint(target)) return absl::OkStatus();
    if (umount2(target.c_str(), UMOUNT_NOFOLLOW) == 0) continue;
    int err = errno;
    if (err == EINVAL) return absl::OkStatus();  // Not mounted.
    if (err == EBUSY && umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) continue;
    return ErrnoToStatus("unmount", target, err);
  }
  return FailedPreconditionError(fmt::format("unmount {:?}: still mounted", target));
}

bool IsMountPoint(const std::string& path_in) {
  char resolved[PATH_MAX];
  std::string path = realpath(path_in.c_str(), resolved) != nullptr ? resolved : path_in;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint ...
    std::istringstream fields(line);
    std::string id, parent, dev, root, mountpoint;
    if (!(fields >> id >> parent >> dev >> root >> mountpoint)) continue;
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    std::string unescaped;
    for (size_t i = 0; i < mountpoint.size(); ++i) {
      if (mountpoint[i] == '\\' && i + 3 < mountpoint.size() + 1) {
        unescaped.push_back(static_cast<char>(std::stoi(mountpoint.substr(i + 1, 3), nullptr, 8)));
        i += 3;
      } else {
        unescaped.push_back(mountpoint[i]);
      }
    }
    if (unescaped == path) return true;
  }
  return false;
}

}  // namespace berth::runtime
