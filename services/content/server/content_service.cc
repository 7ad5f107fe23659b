#include "services/content/server/content_service.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "lib/log/log.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"
#include "services/content/buffer_pool.h"
#include "services/content/server/convert.h"

namespace berth::content {

namespace api = containerd::services::content::v1;

namespace {

// Client went away mid-stream: nothing to tell it any more.
absl::Status StreamBroken(const char* what) {
  return CancelledError(fmt::format("{}: the client went away", what));
}

}  // namespace

ContentService::ContentService(Store* store, ContentServiceOptions options)
    : store_(store), options_(options) {
  if (options_.list_batch == 0) options_.list_batch = 1;
  if (options_.read_chunk == 0) options_.read_chunk = 1 << 20;
}

grpc::Status ContentService::Info(grpc::ServerContext* ctx, const api::InfoRequest* req,
                                  api::InfoResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(digest::Digest d, ParseDigestField(req->digest(), "digest"));
    ASSIGN_OR_RETURN(content::Info info, store_->Info(call, d));
    ToProto(info, resp->mutable_info());
    return absl::OkStatus();
  });
}

grpc::Status ContentService::Update(grpc::ServerContext* ctx, const api::UpdateRequest* req,
                                    api::UpdateResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(content::Info info, FromProto(req->info()));
    std::vector<std::string> paths(req->update_mask().paths().begin(),
                                   req->update_mask().paths().end());
    ASSIGN_OR_RETURN(content::Info updated, store_->Update(call, info, paths));
    ToProto(updated, resp->mutable_info());
    return absl::OkStatus();
  });
}

grpc::Status ContentService::List(grpc::ServerContext* ctx, const api::ListContentRequest* req,
                                  grpc::ServerWriter<api::ListContentResponse>* writer) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    std::vector<std::string> filters(req->filters().begin(), req->filters().end());
    api::ListContentResponse batch;
    RETURN_IF_ERROR(store_->Walk(call, filters, [&](const content::Info& info) -> absl::Status {
      ToProto(info, batch.add_info());
      if (static_cast<size_t>(batch.info_size()) >= options_.list_batch) {
        if (!writer->Write(batch)) return StreamBroken("list");
        batch.Clear();
      }
      return absl::OkStatus();
    }));
    if (batch.info_size() > 0 && !writer->Write(batch)) return StreamBroken("list");
    return absl::OkStatus();
  });
}

grpc::Status ContentService::Delete(grpc::ServerContext* ctx, const api::DeleteContentRequest* req,
                                    google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(digest::Digest d, ParseDigestField(req->digest(), "digest"));
    return store_->Delete(call, d);
  });
}

grpc::Status ContentService::Read(grpc::ServerContext* ctx, const api::ReadContentRequest* req,
                                  grpc::ServerWriter<api::ReadContentResponse>* writer) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(digest::Digest d, ParseDigestField(req->digest(), "digest"));
    if (req->offset() < 0) {
      return InvalidArgumentError(
          fmt::format("read {}: negative offset {}", d.ToString(), req->offset()));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<ReaderAt> reader, store_->OpenReader(call, d));
    const int64_t blob_size = reader->Size();
    int64_t offset = req->offset();
    if (offset > blob_size) {
      return OutOfRangeError(fmt::format("read {}: offset {} is past the object length {} bytes",
                                         d.ToString(), offset, blob_size));
    }
    const int64_t end =
        req->size() <= 0 ? blob_size : offset + std::min(req->size(), blob_size - offset);
    api::ReadContentResponse resp;
    std::string* data = resp.mutable_data();
    while (offset < end) {
      if (call.IsCancelled()) return CancelledError("read: cancelled");
      const size_t want = static_cast<size_t>(
          std::min<int64_t>(static_cast<int64_t>(options_.read_chunk), end - offset));
      // Same size as the last chunk: no re-initialisation of the buffer.
      data->resize(want);
      ASSIGN_OR_RETURN(size_t n, reader->ReadAt(data->data(), want, offset));
      if (n == 0) {
        return DataLossError(
            fmt::format("read {}: blob ended at {} before {}", d.ToString(), offset, end));
      }
      data->resize(n);
      resp.set_offset(offset);
      if (!writer->Write(resp)) return StreamBroken("read");
      offset += static_cast<int64_t>(n);
    }
    return absl::OkStatus();
  });
}

grpc::Status ContentService::Status(grpc::ServerContext* ctx, const api::StatusRequest* req,
                                    api::StatusResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(IngestStatus status, store_->Status(call, req->ref()));
    ToProto(status, resp->mutable_status());
    return absl::OkStatus();
  });
}

grpc::Status ContentService::ListStatuses(grpc::ServerContext* ctx,
                                          const api::ListStatusesRequest* req,
                                          api::ListStatusesResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    std::vector<std::string> filters(req->filters().begin(), req->filters().end());
    ASSIGN_OR_RETURN(std::vector<IngestStatus> statuses, store_->ListStatuses(call, filters));
    for (const IngestStatus& status : statuses) ToProto(status, resp->add_statuses());
    return absl::OkStatus();
  });
}

grpc::Status ContentService::Abort(grpc::ServerContext* ctx, const api::AbortRequest* req,
                                   google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return store_->Abort(call, req->ref());
  });
}

grpc::Status ContentService::Write(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<api::WriteContentResponse, api::WriteContentRequest>* stream) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    api::WriteContentRequest req;
    if (!stream->Read(&req)) return absl::OkStatus();  // Closed before saying anything.
    if (req.ref().empty()) return InvalidArgumentError("first message must have a reference");
    const std::string ref = req.ref();
    int64_t total = req.total();
    if (total < 0) {
      return InvalidArgumentError(fmt::format("write {}: negative total {}", Quote(ref), total));
    }
    digest::Digest expected;
    if (!req.expected().empty()) {
      ASSIGN_OR_RETURN(expected, ParseDigestField(req.expected(), "expected"));
    }
    // Opening locks the ref for this stream.
    ASSIGN_OR_RETURN(std::unique_ptr<Writer> writer,
                     store_->OpenWriter(call, {ref, total, expected}));

    api::WriteContentResponse resp;
    for (;;) {
      resp.Clear();
      resp.set_action(req.action());
      ASSIGN_OR_RETURN(IngestStatus ws, writer->Status());
      resp.set_offset(ws.offset);

      if (!req.expected().empty()) {
        ASSIGN_OR_RETURN(digest::Digest d, ParseDigestField(req.expected(), "expected"));
        if (!expected.empty() && d != expected) {
          log::Debug("commit digest differs from writer digest ref={:?} writer={} request={}", ref,
                     expected.ToString(), d.ToString());
        }
        expected = d;
        if (store_->Info(call, d).ok()) {
          writer.reset();  // Unlock the ref before aborting its ingest.
          if (absl::Status s = store_->Abort(call, ref); !s.ok() && !IsNotFound(s)) {
            log::Warn("cannot abort ingest of existing blob ref={:?} error={:?}", ref,
                      s.ToString());
          }
          // Someone committed the blob since this stream opened (two pulls of one image).
          // Opening by digest again is what attaches the existing blob to the call's lease,
          // as the open at the start would have: the client, told it exists, goes on to use
          // it, and a collection must not take it away meanwhile.
          absl::StatusOr<std::unique_ptr<Writer>> again = store_->OpenWriter(call, {ref, total, d});
          if (!again.ok()) return again.status();  // AlreadyExists, and leased
          // Deleted again in between: then it is written here after all.
          writer = std::move(*again);
          ASSIGN_OR_RETURN(ws, writer->Status());
          resp.set_offset(ws.offset);
        }
      }
      if (req.total() < 0) {
        return InvalidArgumentError(
            fmt::format("write {}: negative total {}", Quote(ref), req.total()));
      }
      if (req.total() > 0) total = req.total();

      switch (req.action()) {
        case api::STAT: {
          ASSIGN_OR_RETURN(digest::Digest sum, writer->Digest());
          resp.set_digest(sum.ToString());
          ToProto(ws.started_at, resp.mutable_started_at());
          ToProto(ws.updated_at, resp.mutable_updated_at());
          resp.set_total(total);
          break;
        }
        case api::WRITE:
        case api::COMMIT: {
          if (req.offset() < 0) {
            return InvalidArgumentError(
                fmt::format("write {}: negative offset {}", Quote(ref), req.offset()));
          }
          if (req.offset() > 0 && req.offset() != ws.offset) {
            return OutOfRangeError(
                fmt::format("write @{} must occur at current offset {}", req.offset(), ws.offset));
          }
          if (req.offset() == 0 && ws.offset > 0) {
            RETURN_IF_ERROR(Annotate(writer->Truncate(0), "truncate failed"));
            resp.set_offset(0);
          }
          if (!req.data().empty()) {
            const int64_t n = static_cast<int64_t>(req.data().size());
            // Hand the received buffer over: no copy between gRPC and the store.
            RETURN_IF_ERROR(writer->Write(std::move(*req.mutable_data())));
            resp.set_offset(resp.offset() + n);
          }
          if (req.action() == api::COMMIT) {
            ASSIGN_OR_RETURN(digest::Digest sum, writer->Digest());
            Labels labels(req.labels().begin(), req.labels().end());
            RETURN_IF_ERROR(writer->Commit(total, expected, labels));
            resp.set_digest(sum.ToString());
          }
          break;
        }
        default:
          return InvalidArgumentError(fmt::format("write {}: unknown action {}", Quote(ref),
                                                  static_cast<int>(req.action())));
      }

      if (!stream->Write(resp)) return StreamBroken("write");
      if (req.action() == api::COMMIT) return absl::OkStatus();
      // Parse the next chunk into a recycled buffer (the last one went to the store).
      *req.mutable_data() = internal::BufferPool::Global().Get();
      if (!stream->Read(&req)) return absl::OkStatus();  // Half-closed or gone: resumable.
    }
  });
}

}  // namespace berth::content
