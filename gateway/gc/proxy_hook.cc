#include "gateway/gc/proxy_hook.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/slice.h>

#include <utility>
#include <vector>

#include "lib/context/call_context.h"
#include "lib/log/log.h"
#include "lib/status/grpc_status.h"
#include "lib/status/status.h"
#include "proto/containerd/services/images/v1/images.grpc.pb.h"

namespace berth::gateway::gc {
namespace {

namespace images = ::containerd::services::images::v1;

constexpr char kImagesDelete[] = "/containerd.services.images.v1.Images/Delete";

// The method's short name for reports: "/pkg.v1.Service/Method" -> "Service.Method".
std::string ShortName(const std::string& method) {
  const size_t slash = method.rfind('/');
  const size_t dot = method.rfind('.', slash);
  if (slash == std::string::npos || dot == std::string::npos) return method;
  return method.substr(dot + 1, slash - dot - 1) + "." + method.substr(slash + 1);
}

bool Parse(const grpc::ByteBuffer* buffer, google::protobuf::Message* message) {
  if (buffer == nullptr || !buffer->Valid()) return false;
  std::vector<grpc::Slice> slices;
  if (!buffer->Dump(&slices).ok()) return false;
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return message->ParseFromString(bytes);
}

// Replies once a collection that started after now has run.
void CollectThenReply(Scheduler* scheduler, const std::string& reason, Reply reply) {
  CollectRequest request;
  request.reasons = {reason + " sync"};
  scheduler->Request(std::move(request),
                     [reply = std::move(reply)](const absl::StatusOr<berth::gc::v1::Report>& r) {
                       reply(r.status());
                     });
}

}  // namespace

ForwardHook NewForwardHook(Scheduler* scheduler, Collector* collector) {
  return [scheduler, collector](const std::string& method, const std::string& ns,
                                const grpc::ByteBuffer* request) -> AfterForward {
    bool sync = false;
    if (method == kImagesDelete) {
      images::DeleteImageRequest req;
      if (Parse(request, &req)) {
        sync = req.sync();
        if (collector != nullptr && !ns.empty() && !req.name().empty()) {
          absl::Status s = collector->PinImage(ns, req.name());
          if (!s.ok() && !IsNotFound(s)) {
            log::Warn("gc: image target not pinned namespace={:?} image={:?} error={:?}", ns,
                      req.name(), s.ToString());
          }
        }
      }
    } else if (method != "/containerd.services.containers.v1.Containers/Delete" &&
               method != "/containerd.services.snapshots.v1.Snapshots/Remove" &&
               method != "/containerd.services.content.v1.Content/Delete") {
      // Any other write counts towards mutation_threshold once it succeeded.
      return [scheduler](Reply reply) {
        scheduler->Mutated();
        reply(absl::OkStatus());
      };
    }
    const std::string reason = ShortName(method);
    return [scheduler, sync, reason](Reply reply) {
      if (sync) {
        CollectThenReply(scheduler, reason, std::move(reply));
        return;
      }
      scheduler->Deleted(reason);
      reply(absl::OkStatus());
    };
  };
}

LeaseDeletedHook NewLeaseDeletedHook(Scheduler* scheduler) {
  return [scheduler](bool sync, Reply reply) {
    if (sync) {
      CollectThenReply(scheduler, "Leases.Delete", std::move(reply));
      return;
    }
    scheduler->Deleted("Leases.Delete");
    reply(absl::OkStatus());
  };
}

ImageResolver NewImagesGetResolver(std::shared_ptr<grpc::Channel> channel,
                                   std::chrono::nanoseconds timeout) {
  std::shared_ptr<images::Images::Stub> stub = images::Images::NewStub(channel);
  return [stub, timeout](const std::string& ns,
                         const std::string& name) -> absl::StatusOr<std::string> {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(timeout));
    ctx.AddMetadata(kNamespaceMetadataKey, ns);
    images::GetImageRequest req;
    req.set_name(name);
    images::GetImageResponse resp;
    RETURN_IF_ERROR(FromGrpcStatus(stub->Get(&ctx, req, &resp)));
    if (resp.image().target().digest().empty()) {
      return absl::NotFoundError("image \"" + name + "\" has no target");
    }
    return resp.image().target().digest();
  };
}

}  // namespace berth::gateway::gc
