#include "services/snapshot/server/diff_service.h"

#include "lib/server/call_context.h"
#include "lib/status/status.h"
#include "services/snapshot/server/convert.h"

namespace berth::snapshot {

namespace api = containerd::services::diff::v1;

grpc::Status DiffService::Apply(grpc::ServerContext* ctx, const api::ApplyRequest* req,
                                api::ApplyResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    if (!req->payloads().empty()) {
      return UnimplementedError("apply: stream processor payloads are not supported");
    }
    ASSIGN_OR_RETURN(diff::Descriptor applied,
                     applier_->Apply(call, FromProto(req->diff()), FromProto(req->mounts())));
    ToProto(applied, resp->mutable_applied());
    return absl::OkStatus();
  });
}

grpc::Status DiffService::Diff(grpc::ServerContext* ctx, const api::DiffRequest* req,
                               api::DiffResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    diff::CompareOptions options;
    options.media_type = req->media_type();
    options.ref = req->ref();
    options.labels.insert(req->labels().begin(), req->labels().end());
    ASSIGN_OR_RETURN(diff::Descriptor desc, comparer_->Compare(call, FromProto(req->left()),
                                                               FromProto(req->right()), options));
    ToProto(desc, resp->mutable_diff());
    return absl::OkStatus();
  });
}

}  // namespace berth::snapshot
