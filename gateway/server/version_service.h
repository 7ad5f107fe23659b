// VersionService: containerd.services.version.v1.Version — berth's version and the git
// revision it was built from (gateway/version.h).
//
// Thread-safety: stateless.
#ifndef BERTH_GATEWAY_SERVER_VERSION_SERVICE_H_
#define BERTH_GATEWAY_SERVER_VERSION_SERVICE_H_

#include "proto/containerd/services/version/v1/version.grpc.pb.h"

namespace berth::gateway {

class VersionService final : public containerd::services::version::v1::Version::CallbackService {
 public:
  grpc::ServerUnaryReactor* Version(
      grpc::CallbackServerContext* ctx, const google::protobuf::Empty* req,
      containerd::services::version::v1::VersionResponse* resp) override;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_VERSION_SERVICE_H_
