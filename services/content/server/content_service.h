// ContentService: containerd.services.content.v1.Content over a content::Store — the gRPC
// edge of berth-content and, with AdminService, the only content code that touches
// grpc::Status.
//
// Behaviour ctr depends on (reference/containerd-api.md §3.6):
//  - List streams the namespace's blobs in messages of `list_batch` (100) infos.
//  - Read streams exactly [offset, min(offset+size, blob size)) (size <= 0: to the end) in
//    chunks of `read_chunk` (1 MiB); a negative offset is INVALID_ARGUMENT, one past the end
//    OUT_OF_RANGE.
//  - Write is strict lock-step: one response per request. The first request must carry the
//    ref (INVALID_ARGUMENT otherwise) and opens the writer (ALREADY_EXISTS when `expected` is
//    committed in the namespace — the normal "skip" path; UNAVAILABLE while another stream
//    holds the ref). Every request carrying `expected` re-checks that, and a hit aborts the
//    ingest and ends the stream with ALREADY_EXISTS. STAT replies with the offset, total,
//    times and the digest so far. WRITE checks a non-zero offset against the ingest's
//    (OUT_OF_RANGE), truncates on offset 0 of a non-empty ingest, appends the data and
//    replies with the new offset; a negative offset is INVALID_ARGUMENT. COMMIT does the
//    same with its data, then commits with the latest `total` and `expected` and the labels
//    (FAILED_PRECONDITION naming both values on a size or digest mismatch, ALREADY_EXISTS
//    when the blob was already committed), replies with the offset and digest, and ends the
//    stream.
//  - WRITE replies carry no digest: computing it would wait for hashing, which runs behind
//    the writes (content::LocalStore) so that it overlaps with receiving the next chunk.
//    containerd's client only reads the digest of STAT and COMMIT replies.
//
// Thread-safety: gRPC's sync server calls the handlers from many threads; the service keeps
// no per-call state outside the handlers, and the Store is thread-safe.
#ifndef BERTH_SERVICES_CONTENT_SERVER_CONTENT_SERVICE_H_
#define BERTH_SERVICES_CONTENT_SERVER_CONTENT_SERVICE_H_

#include <cstddef>

#include "proto/containerd/services/content/v1/content.grpc.pb.h"
#include "services/content/store.h"

namespace berth::content {

struct ContentServiceOptions {
  // Infos per List message (containerd sends 100).
  std::size_t list_batch = 100;
  // Largest data chunk per Read message (containerd: 1 MiB).
  std::size_t read_chunk = 1 << 20;
};

class ContentService final : public containerd::services::content::v1::Content::Service {
 public:
  // `store` is not owned and must outlive the service.
  explicit ContentService(Store* store, ContentServiceOptions options = {});

  grpc::Status Info(grpc::ServerContext* ctx,
                    const containerd::services::content::v1::InfoRequest* req,
                    containerd::services::content::v1::InfoResponse* resp) override;
  grpc::Status Update(grpc::ServerContext* ctx,
                      const containerd::services::content::v1::UpdateRequest* req,
                      containerd::services::content::v1::UpdateResponse* resp) override;
  grpc::Status List(
      grpc::ServerContext* ctx, const containerd::services::content::v1::ListContentRequest* req,
      grpc::ServerWriter<containerd::services::content::v1::ListContentResponse>* writer) override;
  grpc::Status Delete(grpc::ServerContext* ctx,
                      const containerd::services::content::v1::DeleteContentRequest* req,
                      google::protobuf::Empty* resp) override;
  grpc::Status Read(
      grpc::ServerContext* ctx, const containerd::services::content::v1::ReadContentRequest* req,
      grpc::ServerWriter<containerd::services::content::v1::ReadContentResponse>* writer) override;
  grpc::Status Status(grpc::ServerContext* ctx,
                      const containerd::services::content::v1::StatusRequest* req,
                      containerd::services::content::v1::StatusResponse* resp) override;
  grpc::Status ListStatuses(grpc::ServerContext* ctx,
                            const containerd::services::content::v1::ListStatusesRequest* req,
                            containerd::services::content::v1::ListStatusesResponse* resp) override;
  grpc::Status Write(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<containerd::services::content::v1::WriteContentResponse,
                               containerd::services::content::v1::WriteContentRequest>* stream)
      override;
  grpc::Status Abort(grpc::ServerContext* ctx,
                     const containerd::services::content::v1::AbortRequest* req,
                     google::protobuf::Empty* resp) override;

 private:
  Store* store_;
  ContentServiceOptions options_;
};

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_SERVER_CONTENT_SERVICE_H_
