// Filesystem helpers the snapshotters and the differ share: an owning file descriptor,
// recursive removal that never leaves its filesystem, disk usage, and a faithful tree copy.
//
// Everything works on descriptors (openat/fstatat/unlinkat with O_NOFOLLOW) so a symlink in
// a tree is an object to copy or remove, never a way out of the tree.
//
// Thread-safety: free functions, safe from any thread; a UniqueFd belongs to one owner.
#ifndef BERTH_SERVICES_SNAPSHOT_FS_H_
#define BERTH_SERVICES_SNAPSHOT_FS_H_

#include <sys/types.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/snapshot/snapshotter.h"

namespace berth::snapshot {

// Owns one file descriptor and closes it.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Opens `path` as a directory (O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, read-only).
[[nodiscard]] absl::StatusOr<UniqueFd> OpenDirectory(const std::string& path);

// Removes `path` and everything below it. Symlinks are removed, not followed. A directory on
// another filesystem below `path` (a mount point) is left alone and the call returns
// FailedPrecondition naming it, after removing everything else it could. OK when `path`
// does not exist.
[[nodiscard]] absl::Status RemoveAll(const std::string& path);

// As RemoveAll, for the entry `name` of the directory `dir_fd`; `where` names it in errors.
[[nodiscard]] absl::Status RemoveAllAt(int dir_fd, const std::string& name,
                                       const std::string& where);

// Removes everything inside the directory `dir_fd` (not the directory itself), with
// RemoveAll's rules; `where` names it in errors.
[[nodiscard]] absl::Status RemoveContents(int dir_fd, const std::string& where);

// Disk usage of the tree at `path`: st_blocks * 512 and inode count, each inode once (hard
// links) and without crossing into other filesystems.
[[nodiscard]] absl::StatusOr<Usage> DiskUsage(const std::string& path);

// Copies the contents of directory `src` into the existing directory `dst`, and `src`'s own
// owner, mode, xattrs and times onto `dst`: regular files (reflinked or copy_file_range'd
// when the filesystem can), directories, symlinks, hard links (kept as links), devices,
// fifos and sockets, with owners, modes (incl. setuid/setgid/sticky), xattrs and
// nanosecond mtimes. overlayfs's own xattrs (trusted.overlay.*, user.overlay.*) are not
// copied. Does not cross into other filesystems.
[[nodiscard]] absl::Status CopyDirectory(const std::string& src, const std::string& dst);

// Copies one entry that is not a directory — a regular file, symlink, device, fifo or socket
// — from `name` in `src_dir` to a new entry `name` in `dst_dir`, with owner, mode, xattrs and
// times (as CopyDirectory does for each entry). AlreadyExists when the destination exists;
// InvalidArgument for a directory. `where` names the entry in errors.
[[nodiscard]] absl::Status CopyEntryAt(int src_dir, int dst_dir, const std::string& name,
                                       const std::string& where);

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_FS_H_
