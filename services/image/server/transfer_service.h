// TransferService: containerd 1.7's containerd.services.transfer.v1.Transfer, for the one
// transfer berth-image does today — a pull from a registry into the image store — over the
// same pull::Puller as berth.image.v1.Pull. It is what containerd's client (`ctr` 1.7+ with
// --local=false, 2.x by default) and berth's client library (Client::Pull, `berth pull`) send.
//
// The source and destination are Anys of containerd.types.transfer messages, whose protos berth
// does not carry; they are read field by field (DecodeTransferPull), as containerd declares them:
//   OCIRegistry{1 reference, 2 resolver: RegistryResolver{3 host_dir, 4 default_scheme}}
//   ImageStore{1 name, 2 labels, 3 platforms: Platform[], 10 unpacks:
//              UnpackConfiguration{1 platform, 2 snapshotter}[]}
// Other fields (auth and progress streams, headers, all_metadata, manifest_limit,
// extra_references) are ignored: progress and credentials travel over containerd's Streaming
// service, which berth does not serve — use berth.image.v1.Pull for both.
//
// Errors: UNIMPLEMENTED for any other source or destination type (import, export, push),
// INVALID_ARGUMENT for a payload that does not parse, then the pull's errors.
//
// Thread-safety: gRPC's sync server calls Transfer from many threads; the Puller is thread-safe.
#ifndef BERTH_SERVICES_IMAGE_SERVER_TRANSFER_SERVICE_H_
#define BERTH_SERVICES_IMAGE_SERVER_TRANSFER_SERVICE_H_

#include "absl/status/statusor.h"
#include "proto/containerd/services/transfer/v1/transfer.grpc.pb.h"
#include "services/image/pull/puller.h"

namespace berth::image {

inline constexpr char kOciRegistryType[] = "containerd.types.transfer.OCIRegistry";
inline constexpr char kImageStoreType[] = "containerd.types.transfer.ImageStore";

// The pull a TransferRequest from an OCIRegistry to an ImageStore asks for.
absl::StatusOr<pull::PullRequest> DecodeTransferPull(
    const containerd::services::transfer::v1::TransferRequest& req);

class TransferService final : public containerd::services::transfer::v1::Transfer::Service {
 public:
  // `puller` is not owned and must outlive the service.
  explicit TransferService(pull::Puller* puller) : puller_(puller) {}

  grpc::Status Transfer(grpc::ServerContext* ctx,
                        const containerd::services::transfer::v1::TransferRequest* req,
                        google::protobuf::Empty* resp) override;

 private:
  pull::Puller* puller_;
};

}  // namespace berth::image

#endif  // BERTH_SERVICES_IMAGE_SERVER_TRANSFER_SERVICE_H_
