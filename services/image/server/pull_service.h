// PullService: berth.image.v1.Pull (proto/berth/image/v1/pull.proto) over pull::Puller and
// push::Pusher — the gRPC edge of berth-image's server-side pull and push (Pull/Push: the
// request becomes a push::PushRequest, every push::Progress a PushProgress, same checks on
// hosts_dirs and the namespace; UNIMPLEMENTED when the service has no Pusher). The request becomes
// a pull::PullRequest, every pull::Progress one PullProgress message on the stream, and the pull's
// error the status the stream ends with.
//
// Request checks (INVALID_ARGUMENT before anything is fetched): a reference is required;
// hosts_dirs must be absolute paths (they are read on the server's host); labels must be
// valid (lib/labels). A namespace is required (FAILED_PRECONDITION).
//
// Thread-safety: gRPC's sync server calls Pull from many threads; the Puller is thread-safe,
// and a stream's writes are serialised by the Puller's progress callback.
#ifndef BERTH_SERVICES_IMAGE_SERVER_PULL_SERVICE_H_
#define BERTH_SERVICES_IMAGE_SERVER_PULL_SERVICE_H_

#include "proto/berth/image/v1/pull.grpc.pb.h"
#include "services/image/pull/puller.h"
#include "services/image/push/pusher.h"

namespace berth::image {

// The Puller's request for a PullRequest message (no validation).
pull::PullRequest FromProto(const berth::image::v1::PullRequest& req);
// The PullProgress message of a progress step.
berth::image::v1::PullProgress ToProto(const pull::Progress& p);
// The Pusher's request for a PushRequest message (no validation).
push::PushRequest FromProto(const berth::image::v1::PushRequest& req);
// The PushProgress message of a push step.
berth::image::v1::PushProgress ToProto(const push::Progress& p);

class PullService final : public berth::image::v1::Pull::Service {
 public:
  // `puller` and `pusher` (may be null: Push is then UNIMPLEMENTED) are not owned and must
  // outlive the service.
  explicit PullService(pull::Puller* puller, push::Pusher* pusher = nullptr)
      : puller_(puller), pusher_(pusher) {}

  grpc::Status Pull(grpc::ServerContext* ctx, const berth::image::v1::PullRequest* req,
                    grpc::ServerWriter<berth::image::v1::PullProgress>* writer) override;
  grpc::Status Push(grpc::ServerContext* ctx, const berth::image::v1::PushRequest* req,
                    grpc::ServerWriter<berth::image::v1::PushProgress>* writer) override;

 private:
  pull::Puller* puller_;
  push::Pusher* pusher_;
};

}  // namespace berth::image

#endif  // BERTH_SERVICES_IMAGE_SERVER_PULL_SERVICE_H_
