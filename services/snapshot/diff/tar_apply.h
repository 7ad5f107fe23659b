// ApplyTar: unpacks an OCI layer (a tar stream) onto a directory, treating every byte of it
// as hostile.
//
// libarchive only parses (archive_read_*); every filesystem change is made here, relative to
// directory descriptors, so that nothing in the archive can reach outside the root:
//
//  - Entry names are cleaned as if rooted at "/" ("../../etc/x" -> "etc/x", "a/.." -> the
//    root, which is skipped), as containerd does.
//  - The parent directory of an entry is resolved *inside* the root: openat2 with
//    RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV, so symlinks in the path
//    (absolute ones included) are followed as if the root were "/"; missing parents are
//    created by a component-by-component walk with the same rules (O_NOFOLLOW opens,
//    ".." clamped at the root, at most 40 symlinks). Kernels without openat2 use that walk
//    for everything.
//  - The entry itself (the last component) is never followed: it is created with
//    mkdirat/openat(O_CREAT|O_EXCL|O_NOFOLLOW)/symlinkat/linkat/mknodat; an existing entry in
//    the way is removed first (a directory over a directory is kept and updated), without
//    following symlinks or crossing mounts.
//  - Metadata goes through the descriptor of the created file, or *at calls that do not
//    follow symlinks (lchown, fchmodat2 AT_SYMLINK_NOFOLLOW, utimensat AT_SYMLINK_NOFOLLOW):
//    a mode is never applied through a symlink (CVE-2021-32760), and hard links get no
//    metadata of their own (they share their target's inode).
//  - Hard link targets are resolved inside the root as well (a target that does not exist
//    there is InvalidArgument; on an overlay upper a target that exists only in a lower
//    layer is first copied up, as overlayfs itself does on link(2)); symlink targets are
//    stored as given and never followed during extraction.
//  - Whiteouts: `.wh.<name>` deletes <name> (kDelete) or becomes an overlay whiteout, a 0:0
//    character device (kOverlay); `.wh..wh..opq` empties the directory of what this layer did
//    not add (kDelete) or sets the overlay xattr `<prefix>opaque=y` (kOverlay). A whiteout of
//    "." or ".." (or an empty name) is refused with InvalidArgument. Other `.wh..wh.` names
//    (aufs bookkeeping) are skipped.
//  - xattrs named trusted.overlay.* / user.overlay.* in the archive are dropped: a layer must
//    not forge overlayfs metadata. xattrs the filesystem or our privileges refuse (ENOTSUP,
//    EPERM) are skipped, as containerd.
//  - Directory times are set after their contents, deepest first.
//
// Thread-safety: a call uses only its arguments; calls on different roots may run at once.
#ifndef BERTH_SERVICES_SNAPSHOT_DIFF_TAR_APPLY_H_
#define BERTH_SERVICES_SNAPSHOT_DIFF_TAR_APPLY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/snapshot/diff/stream.h"

namespace berth::snapshot::diff {

struct ApplyOptions {
  enum class Whiteouts {
    // Whiteouts delete what they name: the root is a plain directory (native snapshot,
    // a bind mount, or a mounted overlay).
    kDelete,
    // Whiteouts become overlayfs whiteouts: the root is an overlay upper directory.
    kOverlay,
  };
  Whiteouts whiteouts = Whiteouts::kDelete;
  // Prefix of overlayfs xattrs for kOverlay: "trusted.overlay." or, when the overlay is
  // mounted with `userxattr`, "user.overlay.".
  std::string overlay_xattr_prefix = "trusted.overlay.";
  // kOverlay: the lower directories under the upper, nearest first. A parent directory the
  // archive does not list but needs gets its mode, owner and times from the nearest lower
  // that has it, so the upper does not mask the lower's attributes.
  std::vector<std::string> parents;
  // Skip character and block devices (without CAP_MKNOD, in a user namespace).
  bool skip_devices = false;
  // Let path resolution enter filesystems mounted below the root. Only for a root whose
  // submounts the caller made itself (a temporary mount of several trusted mounts); a
  // snapshot directory has none, so crossing is refused by default.
  bool cross_mounts = false;
  // Polled between entries; true aborts with Cancelled.
  std::function<bool()> cancelled;
};

struct ApplyStats {
  std::int64_t entries = 0;     // Archive entries processed (whiteouts included).
  std::int64_t file_bytes = 0;  // Regular file data written.
};

// Unpacks the tar stream `in` into the directory `root`. Stops at the archive's end marker;
// the caller reads the rest of `in` if it needs digests of the whole stream. Errors:
// InvalidArgument for a malformed archive or a refused entry (message names the entry);
// the errors of `in` as they are; filesystem errors via ErrnoToStatus naming the entry.
// On error the root is left partly written (callers discard the snapshot).
[[nodiscard]] absl::StatusOr<ApplyStats> ApplyTar(ChunkSource& in, const std::string& root,
                                                  const ApplyOptions& options);

// Splits a tar path into clean components as if rooted at "/": empty and "." components
// dropped, ".." removes the previous one and never goes above the root. Exposed for tests.
std::vector<std::string> CleanComponents(std::string_view path);

}  // namespace berth::snapshot::diff

#endif  // BERTH_SERVICES_SNAPSHOT_DIFF_TAR_APPLY_H_
