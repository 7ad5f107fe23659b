// ImagesService: containerd.services.images.v1.Images over an image::Store — the gRPC edge of
// berth-image's image records (reference/containerd-api.md §3.7).
//
//  - Get / List (filters) / Create / Update (field masks) / Delete, as containerd; every call
//    needs a namespace (FAILED_PRECONDITION "namespace is required" otherwise). Timestamps
//    are always filled; those a client sends are ignored.
//  - Delete with `sync: true` is accepted and answered once the record is gone. containerd
//    also runs garbage collection before replying; berth's collector is a later piece (the
//    gateway's mark-and-sweep), so for now sync changes nothing.
//
// Thread-safety: gRPC's sync server calls the handlers from many threads; the store is
// thread-safe.
#ifndef BERTH_SERVICES_IMAGE_SERVER_IMAGES_SERVICE_H_
#define BERTH_SERVICES_IMAGE_SERVER_IMAGES_SERVICE_H_

#include "proto/containerd/services/images/v1/images.grpc.pb.h"
#include "services/image/store.h"

namespace berth::image {

class ImagesService final : public containerd::services::images::v1::Images::Service {
 public:
  // `store` is not owned and must outlive the service.
  explicit ImagesService(Store* store) : store_(store) {}

  grpc::Status Get(grpc::ServerContext* ctx,
                   const containerd::services::images::v1::GetImageRequest* req,
                   containerd::services::images::v1::GetImageResponse* resp) override;
  grpc::Status List(grpc::ServerContext* ctx,
                    const containerd::services::images::v1::ListImagesRequest* req,
                    containerd::services::images::v1::ListImagesResponse* resp) override;
  grpc::Status Create(grpc::ServerContext* ctx,
                      const containerd::services::images::v1::CreateImageRequest* req,
                      containerd::services::images::v1::CreateImageResponse* resp) override;
  grpc::Status Update(grpc::ServerContext* ctx,
                      const containerd::services::images::v1::UpdateImageRequest* req,
                      containerd::services::images::v1::UpdateImageResponse* resp) override;
  grpc::Status Delete(grpc::ServerContext* ctx,
                      const containerd::services::images::v1::DeleteImageRequest* req,
                      google::protobuf::Empty* resp) override;

 private:
  Store* store_;
};

}  // namespace berth::image

#endif  // BERTH_SERVICES_IMAGE_SERVER_IMAGES_SERVICE_H_
