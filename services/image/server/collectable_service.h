// CollectableService: berth.gc.v1.Collectable (proto/berth/gc/v1/gc.proto) over an
// image::Store — berth-image's part in the gateway's garbage collection. Images are roots:
//
//   ListObjects  per namespace asked for, every image (type "images", id = name, its
//                containerd.io/gc.* labels, a reference to its target blob, created/updated)
//   Sweep        UNIMPLEMENTED: the collector never deletes an image
//
// Thread-safety: as the store (safe from any thread).
#ifndef BERTH_SERVICES_IMAGE_SERVER_COLLECTABLE_SERVICE_H_
#define BERTH_SERVICES_IMAGE_SERVER_COLLECTABLE_SERVICE_H_

#include "proto/berth/gc/v1/gc.grpc.pb.h"
#include "services/image/store.h"

namespace berth::image {

class CollectableService final : public berth::gc::v1::Collectable::Service {
 public:
  // `store` is not owned and must outlive the service.
  explicit CollectableService(Store* store) : store_(store) {}

  grpc::Status ListObjects(grpc::ServerContext* ctx, const berth::gc::v1::ListObjectsRequest* req,
                           grpc::ServerWriter<berth::gc::v1::ListObjectsResponse>* writer) override;

 private:
  Store* store_;
};

}  // namespace berth::image

#endif  // BERTH_SERVICES_IMAGE_SERVER_COLLECTABLE_SERVICE_H_
