// Snapshotter: containerd's snapshot model — the interface every berth snapshotter
// implements (OverlaySnapshotter, NativeSnapshotter, and SnapshotProxy over gRPC).
//
// A snapshot is a directory tree identified by a caller-chosen key, in one of three kinds:
//
//   Active     writable, made by Prepare (on top of an optional committed parent);
//   View       read-only, made by View (on top of an optional committed parent);
//   Committed  immutable, made by Commit from an active snapshot; it is the only kind that
//              can be a parent.
//
// A snapshotter never mounts anything: Prepare, View and Mounts *return* the mounts that,
// when mounted by the caller (ctr, the shim, Diff.Apply's temp mount), show the snapshot's
// filesystem. So a restart of the snapshot service never disturbs a running container.
//
// The lifecycle, as `ctr images pull` unpacks a two-layer image and `ctr run` starts on it:
//
//   // layer 1: an empty active snapshot, fill it, commit it under its chain ID
//   ASSIGN_OR_RETURN(auto mounts, sn.Prepare(ctx, "extract-1 sha256:c1", "", {}));
//   RETURN_IF_ERROR(applier.Apply(ctx, layer1, mounts));        // writes through the mounts
//   RETURN_IF_ERROR(sn.Commit(ctx, "sha256:c1", "extract-1 sha256:c1", {}));
//   // layer 2: on top of layer 1
//   ASSIGN_OR_RETURN(mounts, sn.Prepare(ctx, "extract-2 sha256:c2", "sha256:c1", {}));
//   RETURN_IF_ERROR(applier.Apply(ctx, layer2, mounts));
//   RETURN_IF_ERROR(sn.Commit(ctx, "sha256:c2", "extract-2 sha256:c2", {}));
//   // a container's writable rootfs, and a read-only look at the image
//   ASSIGN_OR_RETURN(auto rootfs, sn.Prepare(ctx, "my-container", "sha256:c2", {}));
//   ASSIGN_OR_RETURN(auto view, sn.View(ctx, "look", "sha256:c2", {}));
//   ... mount `rootfs`, run, unmount ...
//   RETURN_IF_ERROR(sn.Remove(ctx, "look"));
//   RETURN_IF_ERROR(sn.Remove(ctx, "my-container"));
//   RETURN_IF_ERROR(sn.Remove(ctx, "sha256:c2"));  // FailedPrecondition while it has children
//
// Keys live per namespace (CallContext::ns, required: FailedPrecondition "namespace is
// required" without one): the same key in two namespaces names two snapshots. Keys and
// committed names share one space per namespace. When the call carries a lease
// (CallContext::lease), Prepare, View and Commit attach the snapshot they create to it.
//
// The error codes are the ones containerd's clients branch on (reference/containerd-api.md
// §1.3): an existing key -> AlreadyExists (ctr's unpack retries with a new key), a missing
// parent -> NotFound (ctr unpacks the lower layers first), removing a snapshot that still has
// children -> FailedPrecondition.
//
// Thread-safety: implementations are safe to call from many threads at once.
#ifndef BERTH_SERVICES_SNAPSHOT_SNAPSHOTTER_H_
#define BERTH_SERVICES_SNAPSHOT_SNAPSHOTTER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "services/snapshot/mount.h"

namespace berth::snapshot {

// Numbered as containerd.services.snapshots.v1.Kind.
enum class Kind {
  kUnknown = 0,
  kView = 1,
  kActive = 2,
  kCommitted = 3,
};

// "view", "active", "committed" ("unknown"), as containerd prints kinds and filters on them.
std::string_view KindName(Kind kind);

using Labels = std::map<std::string, std::string>;

// What Stat, Walk and Update report about a snapshot.
struct Info {
  Kind kind = Kind::kUnknown;
  // The key (active, view) or name (committed).
  std::string name;
  // Name of the committed parent; empty for a snapshot without parent.
  std::string parent;
  Labels labels;
  std::chrono::system_clock::time_point created;
  std::chrono::system_clock::time_point updated;
};

// Disk usage of one snapshot's own layer (not its parents').
struct Usage {
  // Bytes allocated on disk (st_blocks * 512, hard links counted once).
  std::int64_t size = 0;
  // Inodes used, hard links counted once.
  std::int64_t inodes = 0;
};

class Snapshotter {
 public:
  virtual ~Snapshotter() = default;

  // The snapshot `key`. NotFound when there is none.
  [[nodiscard]] virtual absl::StatusOr<Info> Stat(const CallContext& ctx, std::string_view key) = 0;

  // Changes the labels of the snapshot `info.name` and returns the updated info.
  // `fieldpaths` as containerd's field mask: empty or "labels" replaces all labels with
  // info.labels; "labels.<k>" sets label k to info.labels[k], or deletes it when absent or
  // empty. Any other path -> InvalidArgument; NotFound when there is no such snapshot;
  // InvalidArgument for labels over the size limit.
  [[nodiscard]] virtual absl::StatusOr<Info> Update(const CallContext& ctx, const Info& info,
                                                    const std::vector<std::string>& fieldpaths) = 0;

  // Disk usage of the snapshot's own layer. Active snapshots are measured now; committed
  // ones report what was measured at Commit; views use no space of their own. NotFound when
  // there is no such snapshot.
  [[nodiscard]] virtual absl::StatusOr<snapshot::Usage> Usage(const CallContext& ctx,
                                                              std::string_view key) = 0;

  // The mounts of an active or view snapshot, as Prepare/View returned them. NotFound when
  // there is none, FailedPrecondition for a committed snapshot.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Mount>> Mounts(const CallContext& ctx,
                                                                  std::string_view key) = 0;

  // Creates the active snapshot `key` on top of the committed snapshot `parent` (none when
  // empty) and returns its mounts. InvalidArgument for an empty key or bad labels,
  // AlreadyExists when `key` exists, NotFound when `parent` does not, InvalidArgument when
  // `parent` is not committed.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Mount>> Prepare(const CallContext& ctx,
                                                                   std::string_view key,
                                                                   std::string_view parent,
                                                                   const Labels& labels) = 0;

  // As Prepare, but the snapshot is a read-only view of `parent` (mounted read-only; it can
  // not be committed).
  [[nodiscard]] virtual absl::StatusOr<std::vector<Mount>> View(const CallContext& ctx,
                                                                std::string_view key,
                                                                std::string_view parent,
                                                                const Labels& labels) = 0;

  // Turns the active snapshot `key` into the committed snapshot `name` (the key is gone
  // afterwards), records its disk usage and adds `labels`. NotFound when `key` does not
  // exist, FailedPrecondition when it is not active, AlreadyExists when `name` exists,
  // InvalidArgument for an empty name or bad labels. The active snapshot must not be mounted
  // for writing any more when this is called.
  [[nodiscard]] virtual absl::Status Commit(const CallContext& ctx, std::string_view name,
                                            std::string_view key, const Labels& labels) = 0;

  // Removes the snapshot `key` of any kind and its data. NotFound when there is none,
  // FailedPrecondition when other snapshots have it as parent. Mounts made from it must be
  // unmounted first (the data is deleted without crossing into mounted filesystems).
  [[nodiscard]] virtual absl::Status Remove(const CallContext& ctx, std::string_view key) = 0;

  // Calls fn for every snapshot of the namespace that matches `filters` (containerd filter
  // syntax, ORed; fields name, parent, kind ("view", "active", "committed", as containerd's
  // metadata adaptor spells them) and labels.<k>), in key order. Stops at and returns
  // the first error fn returns. InvalidArgument for an unparsable filter.
  [[nodiscard]] virtual absl::Status Walk(const CallContext& ctx,
                                          const std::vector<std::string>& filters,
                                          const std::function<absl::Status(const Info&)>& fn) = 0;

  // Reclaims space that is no longer referenced: directories left by interrupted operations
  // or removed snapshots.
  [[nodiscard]] virtual absl::Status Cleanup(const CallContext& ctx) = 0;
};

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_SNAPSHOTTER_H_
