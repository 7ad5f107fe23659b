// CollectableService: berth.gc.v1.Collectable (proto/berth/gc/v1/gc.proto) over a
// ContainerStore — berth-runtime's part in the gateway's garbage collection. Containers are
// roots:
//
//   ListObjects  per namespace asked for, every container (type "containers", id = its id,
//                its containerd.io/gc.* labels, references to its snapshot
//                ("snapshots/<snapshotter>", key) and to its image ("images", name),
//                created/updated)
//   Sweep        UNIMPLEMENTED: the collector never deletes a container
//
// Thread-safety: as the store (safe from any thread).
#ifndef BERTH_SERVICES_RUNTIME_SERVER_COLLECTABLE_SERVICE_H_
#define BERTH_SERVICES_RUNTIME_SERVER_COLLECTABLE_SERVICE_H_

#include "proto/berth/gc/v1/gc.grpc.pb.h"
#include "services/runtime/container_store.h"

namespace berth::runtime {

class CollectableService final : public berth::gc::v1::Collectable::Service {
 public:
  // `containers` is not owned and must outlive the service.
  explicit CollectableService(ContainerStore* containers) : containers_(containers) {}

  grpc::Status ListObjects(grpc::ServerContext* ctx, const berth::gc::v1::ListObjectsRequest* req,
                           grpc::ServerWriter<berth::gc::v1::ListObjectsResponse>* writer) override;

 private:
  ContainerStore* containers_;
};

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_SERVER_COLLECTABLE_SERVICE_H_
