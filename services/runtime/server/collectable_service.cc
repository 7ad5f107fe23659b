#include "services/runtime/server/collectable_service.h"

#include <fmt/format.h>

#include <string>
#include <vector>

#include "lib/identifiers/identifiers.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::runtime {
namespace {

namespace pb = ::berth::gc::v1;

// Objects per ListObjectsResponse message.
constexpr int kBatch = 500;
constexpr char kGcLabelPrefix[] = "containerd.io/gc.";

int64_t UnixNanos(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000000 + t.nanos();
}

void Ref(const std::string& ns, const std::string& type, const std::string& id,
         pb::ObjectRef* out) {
  out->set_namespace_(ns);
  out->set_type(type);
  out->set_id(id);
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
      ASSIGN_OR_RETURN(std::vector<Container> containers, containers_->List(call, {}));
      for (const Container& c : containers) {
        pb::Object* o = batch.add_objects();
        Ref(ns, "containers", c.id(), o->mutable_ref());
        for (const auto& [key, value] : c.labels()) {
          if (key.rfind(kGcLabelPrefix, 0) == 0) (*o->mutable_labels())[key] = value;
        }
        if (!c.snapshot_key().empty() && !c.snapshotter().empty()) {
          Ref(ns, "snapshots/" + c.snapshotter(), c.snapshot_key(), o->add_references());
        }
        if (!c.image().empty()) Ref(ns, "images", c.image(), o->add_references());
        o->set_created_at_unix_nanos(UnixNanos(c.created_at()));
        o->set_updated_at_unix_nanos(UnixNanos(c.updated_at()));
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

}  // namespace berth::runtime
