#include "gateway/server/version_service.h"

#include "gateway/server/unary.h"
#include "gateway/version.h"

namespace berth::gateway {

grpc::ServerUnaryReactor* VersionService::Version(
    grpc::CallbackServerContext* ctx, const google::protobuf::Empty*,
    containerd::services::version::v1::VersionResponse* resp) {
  return Unary(ctx, false, [&](const CallContext&) -> absl::Status {
    resp->set_version(BerthVersion());
    resp->set_revision(BerthRevision());
    return absl::OkStatus();
  });
}

}  // namespace berth::gateway
