#include "services/snapshot/overlay_snapshotter.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "fmt/format.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "services/snapshot/fs.h"

namespace berth::snapshot {
namespace {

// True when readdir on `dir`'s filesystem reports entry types (overlay needs d_type).
absl::StatusOr<bool> SupportsDType(const std::string& dir) {
  const std::string probe = dir + "/.d_type-probe";
  if (mkdir(probe.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus("mkdir", probe, errno);
  }
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    int err = errno;
    rmdir(probe.c_str());
    return ErrnoToStatus("opendir", dir, err);
  }
  bool ok = false;
  while (struct dirent* e = readdir(d)) {
    if (std::string_view(e->d_name) == ".d_type-probe") ok = e->d_type == DT_DIR;
  }
  closedir(d);
  rmdir(probe.c_str());
  return ok;
}

}  // namespace

std::string ShortId(std::uint64_t id) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[id % 36]);
    id /= 36;
  } while (id != 0);
  return out;
}

OverlaySnapshotter::OverlaySnapshotter(std::string root, MetaStore* meta)
    : DirectorySnapshotter(kName, std::move(root), meta) {}

absl::StatusOr<std::unique_ptr<OverlaySnapshotter>> OverlaySnapshotter::Create(std::string root,
                                                                               MetaStore* meta) {
  std::unique_ptr<OverlaySnapshotter> sn(new OverlaySnapshotter(std::move(root), meta));
  RETURN_IF_ERROR(sn->Init());
  const std::string links = sn->root() + "/l";
  if (mkdir(links.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus("mkdir", links, errno);
  }
  ASSIGN_OR_RETURN(bool dtype, SupportsDType(sn->root()));
  if (!dtype) {
    return FailedPreconditionError(
        fmt::format("overlayfs snapshotter: filesystem of {} does not support d_type "
                    "(xfs needs ftype=1)",
                    Quote(sn->root())));
  }
  // Without index=off, overlay refuses to mount a lower layer again with another upper
  // once the index feature has tied them together; containerd turns it off likewise.
  sn->index_off_ = access("/sys/module/overlay/parameters/index", F_OK) == 0;
  sn->userxattr_ = RunningInUserNamespace();
  return sn;
}

std::string OverlaySnapshotter::UpperDir(std::uint64_t id) const { return SnapshotDir(id) + "/fs"; }

std::string OverlaySnapshotter::LinkPath(std::uint64_t id) const {
  return root() + "/l/" + ShortId(id);
}

absl::Status OverlaySnapshotter::CreateLayout(std::uint64_t id, Kind kind,
                                              const std::vector<std::uint64_t>& parent_ids) {
  const std::string fs = UpperDir(id);
  const std::string work = SnapshotDir(id) + "/work";
  if (mkdir(fs.c_str(), 0755) != 0) return ErrnoToStatus("mkdir", fs, errno);
  if (mkdir(work.c_str(), 0711) != 0) return ErrnoToStatus("mkdir", work, errno);
  if (!parent_ids.empty()) {
    // The merged root takes its attributes from the upper directory: give it the parent's.
    const std::string parent_fs = UpperDir(parent_ids[0]);
    struct stat st;
    if (stat(parent_fs.c_str(), &st) != 0) return ErrnoToStatus("stat", parent_fs, errno);
    if (lchown(fs.c_str(), st.st_uid, st.st_gid) != 0) {
      return ErrnoToStatus("chown", fs, errno);
    }
    if (chmod(fs.c_str(), st.st_mode & 07777) != 0) return ErrnoToStatus("chmod", fs, errno);
  } else if (chmod(fs.c_str(), 0755) != 0) {
    return ErrnoToStatus("chmod", fs, errno);
  }
  const std::string link = LinkPath(id);
  const std::string target = fmt::format("../snapshots/{}/fs", id);
  unlink(link.c_str());  // A stale link of a reused short name.
  if (symlink(target.c_str(), link.c_str()) != 0) return ErrnoToStatus("symlink", link, errno);
  return absl::OkStatus();
}

std::vector<Mount> OverlaySnapshotter::MountsFor(const SnapshotChain& chain) const {
  if (chain.parent_ids.empty()) {
    return {
        Mount{"bind", UpperDir(chain.id), "", {chain.kind == Kind::kView ? "ro" : "rw", "rbind"}}};
  }
  if (chain.kind == Kind::kView && chain.parent_ids.size() == 1) {
    return {Mount{"bind", UpperDir(chain.parent_ids[0]), "", {"ro", "rbind"}}};
  }
  std::vector<std::string> options;
  if (index_off_) options.push_back("index=off");
  if (userxattr_) options.push_back("userxattr");
  if (chain.kind == Kind::kActive) {
    options.push_back("workdir=" + SnapshotDir(chain.id) + "/work");
    options.push_back("upperdir=" + UpperDir(chain.id));
  }
  std::string lower = "lowerdir=";
  for (size_t i = 0; i < chain.parent_ids.size(); ++i) {
    if (i > 0) lower += ':';
    lower += LinkPath(chain.parent_ids[i]);
  }
  options.push_back(std::move(lower));
  return {Mount{"overlay", "overlay", "", std::move(options)}};
}

void OverlaySnapshotter::ForgetId(std::uint64_t id) {
  const std::string link = LinkPath(id);
  if (unlink(link.c_str()) != 0 && errno != ENOENT) {
    log::Warn("overlayfs: cannot remove layer link {:?}: {}", link, strerror(errno));
  }
}

absl::Status OverlaySnapshotter::CleanupExtra(const std::set<std::uint64_t>& live) {
  std::set<std::string> wanted;
  for (std::uint64_t id : live) wanted.insert(ShortId(id));
  const std::string links = root() + "/l";
  DIR* d = opendir(links.c_str());
  if (d == nullptr) return ErrnoToStatus("opendir", links, errno);
  std::vector<std::string> stale;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (!wanted.count(n)) stale.push_back(n);
  }
  closedir(d);
  for (const std::string& n : stale) unlink((links + "/" + n).c_str());
  // A live snapshot whose link went missing (crash between mkdir and symlink cannot leave a
  // record, but a hand-cleaned l/ can): put it back.
  for (std::uint64_t id : live) {
    const std::string link = LinkPath(id);
    struct stat st;
    if (lstat(link.c_str(), &st) == 0) continue;
    const std::string target = fmt::format("../snapshots/{}/fs", id);
    if (symlink(target.c_str(), link.c_str()) != 0) {
      log::Warn("overlayfs: cannot restore layer link {:?}: {}", link, strerror(errno));
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::snapshot
