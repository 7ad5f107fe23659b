// CollectableService: berth.gc.v1.Collectable (proto/berth/gc/v1/gc.proto) over a
// content::Store — berth-content's part in the gateway's garbage collection:
//
//   ListObjects  per namespace asked for, every blob (type "content", id = digest, its
//                containerd.io/gc.* labels, created/updated, size) and every ingest (type
//                "ingests", id = ref, a reference to its expected blob when declared,
//                started/updated, bytes written)
//   Sweep        "content": removes the blob from the namespace (Manager::Delete; its file
//                goes with the last namespace holding it) unless it was created or updated
//                after not_after; "ingests": aborts the ingest unless it started or was
//                written after not_after (IN_USE while a writer holds it)
//
// Give it the undecorated store (LocalStore): deletions by garbage collection publish no
// /content/delete events, as containerd's. With a SweepGuard (sweep_guard.h) each deletion
// runs under the guard's exclusive lock, and an object leased after not_after (a pull found
// the blob while the collection ran) is kept (SWEEP_IN_USE).
//
// Thread-safety: as the store (LocalStore is safe from any thread).
#ifndef BERTH_SERVICES_CONTENT_SERVER_COLLECTABLE_SERVICE_H_
#define BERTH_SERVICES_CONTENT_SERVER_COLLECTABLE_SERVICE_H_

#include "proto/berth/gc/v1/gc.grpc.pb.h"
#include "services/content/store.h"
#include "services/content/sweep_guard.h"

namespace berth::content {

class CollectableService final : public berth::gc::v1::Collectable::Service {
 public:
  // Neither is owned; both must outlive the service. `guard` may be null (no guard: for
  // a store nothing else writes to).
  explicit CollectableService(Store* store, SweepGuard* guard = nullptr)
      : store_(store), guard_(guard) {}

  grpc::Status ListObjects(grpc::ServerContext* ctx, const berth::gc::v1::ListObjectsRequest* req,
                           grpc::ServerWriter<berth::gc::v1::ListObjectsResponse>* writer) override;
  grpc::Status Sweep(grpc::ServerContext* ctx, const berth::gc::v1::SweepRequest* req,
                     berth::gc::v1::SweepResponse* resp) override;

 private:
  Store* store_;
  SweepGuard* guard_;
};

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_SERVER_COLLECTABLE_SERVICE_H_
