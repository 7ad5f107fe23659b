// CollectableService: berth.gc.v1.Collectable (proto/berth/gc/v1/gc.proto) over the
// snapshotters of berth-snapshot — its part in the gateway's garbage collection:
//
//   ListObjects  per namespace asked for and per snapshotter, every snapshot (type
//                "snapshots/<snapshotter>", id = key or committed name, its
//                containerd.io/gc.* labels, a reference to its parent, created/updated, and
//                for committed snapshots the disk usage measured at commit)
//   Sweep        removes each snapshot (Snapshotter::Remove: metadata and directory) unless
//                it was created or updated after not_after. Children go before their
//                parents: a snapshot whose children are not all removed stays (IN_USE).
//
// Removals by garbage collection publish no /snapshot/remove events, as containerd's. With a
// SweepGuard (sweep_guard.h) each removal runs under the guard's exclusive lock, and a
// snapshot used under a lease after not_after (a pull found it while the collection ran) is
// kept (SWEEP_IN_USE).
//
// Thread-safety: as the snapshotters (safe from any thread).
#ifndef BERTH_SERVICES_SNAPSHOT_SERVER_COLLECTABLE_SERVICE_H_
#define BERTH_SERVICES_SNAPSHOT_SERVER_COLLECTABLE_SERVICE_H_

#include <map>
#include <string>
#include <utility>

#include "proto/berth/gc/v1/gc.grpc.pb.h"
#include "services/snapshot/snapshotter.h"
#include "services/snapshot/sweep_guard.h"

namespace berth::snapshot {

class CollectableService final : public berth::gc::v1::Collectable::Service {
 public:
  // Snapshotters by name ("overlayfs") and the guard (may be null); not owned, they must
  // outlive the service.
  explicit CollectableService(std::map<std::string, Snapshotter*> snapshotters,
                              SweepGuard* guard = nullptr)
      : snapshotters_(std::move(snapshotters)), guard_(guard) {}

  grpc::Status ListObjects(grpc::ServerContext* ctx, const berth::gc::v1::ListObjectsRequest* req,
                           grpc::ServerWriter<berth::gc::v1::ListObjectsResponse>* writer) override;
  grpc::Status Sweep(grpc::ServerContext* ctx, const berth::gc::v1::SweepRequest* req,
                     berth::gc::v1::SweepResponse* resp) override;

 private:
  std::map<std::string, Snapshotter*> snapshotters_;
  SweepGuard* guard_;
};

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_SERVER_COLLECTABLE_SERVICE_H_
