#include "services/image/server/images_service.h"

#include <string>
#include <utility>
#include <vector>

#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::image {

namespace imagespb = containerd::services::images::v1;

grpc::Status ImagesService::Get(grpc::ServerContext* ctx, const imagespb::GetImageRequest* req,
                                imagespb::GetImageResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*resp->mutable_image(), store_->Get(call, req->name()));
    return absl::OkStatus();
  });
}

grpc::Status ImagesService::List(grpc::ServerContext* ctx, const imagespb::ListImagesRequest* req,
                                 imagespb::ListImagesResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    std::vector<std::string> filters(req->filters().begin(), req->filters().end());
    ASSIGN_OR_RETURN(std::vector<Image> images, store_->List(call, filters));
    for (Image& image : images) *resp->add_images() = std::move(image);
    return absl::OkStatus();
  });
}

grpc::Status ImagesService::Create(grpc::ServerContext* ctx,
                                   const imagespb::CreateImageRequest* req,
                                   imagespb::CreateImageResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*resp->mutable_image(), store_->Create(call, req->image()));
    return absl::OkStatus();
  });
}

grpc::Status ImagesService::Update(grpc::ServerContext* ctx,
                                   const imagespb::UpdateImageRequest* req,
                                   imagespb::UpdateImageResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    std::vector<std::string> paths(req->update_mask().paths().begin(),
                                   req->update_mask().paths().end());
    ASSIGN_OR_RETURN(*resp->mutable_image(), store_->Update(call, req->image(), paths));
    return absl::OkStatus();
  });
}

grpc::Status ImagesService::Delete(grpc::ServerContext* ctx,
                                   const imagespb::DeleteImageRequest* req,
                                   google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    // req->sync(): containerd runs garbage collection before replying; berth has no collector
    // in this service (the gateway's mark-and-sweep is a later piece), so the reply comes as
    // soon as the record is gone.
    return store_->Delete(call, req->name());
  });
}

}  // namespace berth::image
