#include "services/image/server/collectable_service.h"

#include <fmt/format.h>

#include <string>
#include <vector>

#include "lib/identifiers/identifiers.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::image {
namespace {

namespace pb = ::berth::gc::v1;

// Objects per ListObjectsResponse message.
constexpr int kBatch = 500;
constexpr char kGcLabelPrefix[] = "containerd.io/gc.";

int64_t UnixNanos(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000000 + t.nanos();
}

}  // namespace

grpc::Status CollectableService::ListObjects(grpc::ServerContext* ctx,
                                             const pb::ListObjectsRequest* req,
                                             grpc::ServerWriter<pb::ListObjectsResponse>* writer) {
  return server::GrpcHandler([&]() -> absl::Status {
    for (const std::string& ns : req->namespaces()) {
      if (absl::Status s = identifiers::Validate(ns); !s.ok()) {
        return absl::InvalidArgumentError(
            fmt::format("namespace {:?}: {}", ns, std::string(s.message())));
      }
    }
    pb::ListObjectsResponse batch;
    for (const std::string& ns : req->namespaces()) {
      CallContext call = CallContext::Background(ns);
      call.cancelled = server::CancellationCheck(ctx);
      ASSIGN_OR_RETURN(std::vector<Image> images, store_->List(call, {}));
      for (const Image& image : images) {
        pb::Object* o = batch.add_objects();
        o->mutable_ref()->set_namespace_(ns);
        o->mutable_ref()->set_type("images");
        o->mutable_ref()->set_id(image.name());
        for (const auto& [key, value] : image.labels()) {
          if (key.rfind(kGcLabelPrefix, 0) == 0) (*o->mutable_labels())[key] = value;
        }
        if (!image.target().digest().empty()) {
          pb::ObjectRef* target = o->add_references();
          target->set_namespace_(ns);
          target->set_type("content");
          target->set_id(image.target().digest());
        }
        o->set_created_at_unix_nanos(UnixNanos(image.created_at()));
        o->set_updated_at_unix_nanos(UnixNanos(image.updated_at()));
        o->set_size(image.target().size());
        if (batch.objects_size() >= kBatch) {
          if (!writer->Write(batch)) return absl::CancelledError("list objects: client went away");
          batch.Clear();
        }
      }
    }
    if (batch.objects_size() > 0 && !writer->Write(batch)) {
      return absl::CancelledError("list objects: client went away");
    }
    return absl::OkStatus();
  });
}

}  // namespace berth::image
