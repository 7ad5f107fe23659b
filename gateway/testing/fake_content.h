// FakeContent: a scripted containerd Content service for testing and benchmarking the
// gateway's forwarding without the real content store. It keeps nothing on disk; each method
// behaves so a test can see what crossed the gateway:
//
//  - Info: NotFound for digest "missing"; otherwise Info{digest, size = len(digest)}. Initial
//    metadata `x-initial: 1`; trailing metadata `x-namespace` (the call's namespace),
//    `x-lease` (the lease, when set), `x-deadline` ("set" or "none").
//  - Read: `size` bytes (offset ignored) in chunks of at most 1 MiB, byte i = i % 251.
//  - List: `filters[0]` parsed as a number N of messages (default 3), each with one Info.
//  - Write: lock-step, one reply per request with offset = bytes received so far; COMMIT ends
//    the stream OK with digest "sha256:fake". ref "exists": AlreadyExists at the first
//    message (the stream stays open on the client's side). ref "block": replies to the first
//    message, then waits until the call is cancelled.
//  - Status: ref "block" waits until the call is cancelled, then returns Cancelled; any other
//    ref: Status{ref}.
//  - Abort: ref "locked" -> Unavailable `ref locked` (an application-level Unavailable);
//    anything else OK.
//  - Delete: FailedPrecondition with trailing metadata `x-reason: test`.
//  Info and Delete also send `x-backend: <name>`.
//
// Thread-safety: a sync gRPC service; the counters are atomics.
#ifndef BERTH_GATEWAY_TESTING_FAKE_CONTENT_H_
#define BERTH_GATEWAY_TESTING_FAKE_CONTENT_H_

#include <atomic>
#include <string>

#include "proto/containerd/services/content/v1/content.grpc.pb.h"

namespace berth::gateway::testing {

class FakeContent final : public containerd::services::content::v1::Content::Service {
 public:
  using Service = containerd::services::content::v1::Content::Service;

  // `name` is sent back as trailing metadata `x-backend` by Info and Delete, so a test can
  // tell which of several instances served a call.
  explicit FakeContent(std::string name = "fake") : name_(std::move(name)) {}

  grpc::Status Info(grpc::ServerContext* ctx,
                    const containerd::services::content::v1::InfoRequest* req,
                    containerd::services::content::v1::InfoResponse* resp) override;
  grpc::Status Read(
      grpc::ServerContext* ctx, const containerd::services::content::v1::ReadContentRequest* req,
      grpc::ServerWriter<containerd::services::content::v1::ReadContentResponse>* writer) override;
  grpc::Status List(
      grpc::ServerContext* ctx, const containerd::services::content::v1::ListContentRequest* req,
      grpc::ServerWriter<containerd::services::content::v1::ListContentResponse>* writer) override;
  grpc::Status Write(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<containerd::services::content::v1::WriteContentResponse,
                               containerd::services::content::v1::WriteContentRequest>* stream)
      override;
  grpc::Status Status(grpc::ServerContext* ctx,
                      const containerd::services::content::v1::StatusRequest* req,
                      containerd::services::content::v1::StatusResponse* resp) override;
  grpc::Status Abort(grpc::ServerContext* ctx,
                     const containerd::services::content::v1::AbortRequest* req,
                     google::protobuf::Empty* resp) override;
  grpc::Status Delete(grpc::ServerContext* ctx,
                      const containerd::services::content::v1::DeleteContentRequest* req,
                      google::protobuf::Empty* resp) override;

  // Calls that ended because the caller cancelled (Write "block", Status "block").
  int cancelled_calls() const { return cancelled_.load(); }
  // Calls currently waiting in Write "block" / Status "block".
  int blocked_calls() const { return blocked_.load(); }
  // Bytes received by Write.
  long long bytes_written() const { return bytes_.load(); }

 private:
  const std::string name_;
  std::atomic<int> cancelled_{0};
  std::atomic<int> blocked_{0};
  std::atomic<long long> bytes_{0};
};

}  // namespace berth::gateway::testing

#endif  // BERTH_GATEWAY_TESTING_FAKE_CONTENT_H_
