// WriteTarDiff: the changes that turn directory `lower` into directory `upper`, as an OCI
// layer tar (PAX format), written to a sink — what Diff.Diff stores and what ApplyTar
// reads back.
//
// Both trees are walked together in name order (containerd's "double walk"):
//  - a name only in upper is added (a directory with everything below it);
//  - a name only in lower gets a whiteout `.wh.<name>` (nothing below it is walked);
//  - a name in both is added when its type, mode, owner, size, mtime (to the nanosecond;
//    when both mtimes have no sub-second part the contents are compared too), symlink
//    target, device numbers or xattrs differ; directories are always walked further;
//  - every added entry is preceded by its parent directories (with upper's attributes),
//    once, so the layer applies onto a tree that lacks them;
//  - hard links among added files stay hard links; sockets are left out; overlayfs xattrs
//    (trusted.overlay.*, user.overlay.*) are never written.
// Applying the result onto a copy of lower with ApplyTar reproduces upper (names, types,
// modes, owners, contents, link targets, xattrs, hard links, mtimes).
//
// Thread-safety: a call uses only its arguments.
#ifndef BERTH_SERVICES_SNAPSHOT_DIFF_TAR_DIFF_H_
#define BERTH_SERVICES_SNAPSHOT_DIFF_TAR_DIFF_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "services/snapshot/diff/stream.h"

namespace berth::snapshot::diff {

struct DiffStats {
  std::int64_t entries = 0;    // Entries written (whiteouts included).
  std::int64_t tar_bytes = 0;  // Size of the tar stream.
};

// Writes the tar of the changes from `lower` (empty string: an empty tree) to `upper` into
// `sink`. Errors: the sink's; filesystem errors via ErrnoToStatus naming the path.
[[nodiscard]] absl::StatusOr<DiffStats> WriteTarDiff(const std::string& lower,
                                                     const std::string& upper,
                                                     const ByteSink& sink);

}  // namespace berth::snapshot::diff

#endif  // BERTH_SERVICES_SNAPSHOT_DIFF_TAR_DIFF_H_
