#include "gateway/testing/fake_content.h"

#include <chrono>
#include <string>
#include <thread>

namespace berth::gateway::testing {
namespace {

namespace content = containerd::services::content::v1;

std::string Metadata(grpc::ServerContext* ctx, const std::string& key) {
  auto it = ctx->client_metadata().find(key);
  if (it == ctx->client_metadata().end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// Waits (polling: the sync API has no cancellation callback) until the call is cancelled.
void WaitCancelled(grpc::ServerContext* ctx) {
  while (!ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace

grpc::Status FakeContent::Info(grpc::ServerContext* ctx, const content::InfoRequest* req,
                               content::InfoResponse* resp) {
  ctx->AddInitialMetadata("x-initial", "1");
  ctx->AddTrailingMetadata("x-backend", name_);
  ctx->AddTrailingMetadata("x-namespace", Metadata(ctx, "containerd-namespace"));
  const std::string lease = Metadata(ctx, "containerd-lease");
  if (!lease.empty()) ctx->AddTrailingMetadata("x-lease", lease);
  ctx->AddTrailingMetadata(
      "x-deadline",
      ctx->deadline() == std::chrono::system_clock::time_point::max() ? "none" : "set");
  if (req->digest() == "missing") {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "content digest missing: not found");
  }
  resp->mutable_info()->set_digest(req->digest());
  resp->mutable_info()->set_size(static_cast<int64_t>(req->digest().size()));
  return grpc::Status::OK;
}

grpc::Status FakeContent::Read(grpc::ServerContext* ctx, const content::ReadContentRequest* req,
                               grpc::ServerWriter<content::ReadContentResponse>* writer) {
  constexpr int64_t kChunk = 1 << 20;
  int64_t sent = 0;
  content::ReadContentResponse resp;
  while (sent < req->size()) {
    const int64_t n = std::min(kChunk, req->size() - sent);
    std::string* data = resp.mutable_data();
    data->resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) (*data)[i] = static_cast<char>((sent + i) % 251);
    resp.set_offset(sent);
    if (!writer->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
    sent += n;
  }
  return grpc::Status::OK;
}

grpc::Status FakeContent::List(grpc::ServerContext* ctx, const content::ListContentRequest* req,
                               grpc::ServerWriter<content::ListContentResponse>* writer) {
  int n = 3;
  if (req->filters_size() > 0 && !req->filters(0).empty()) n = std::stoi(req->filters(0));
  for (int i = 0; i < n; ++i) {
    content::ListContentResponse resp;
    resp.add_info()->set_digest("sha256:" + std::to_string(i));
    if (!writer->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
  }
  return grpc::Status::OK;
}

grpc::Status FakeContent::Write(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<content::WriteContentResponse, content::WriteContentRequest>* stream) {
  content::WriteContentRequest req;
  int64_t offset = 0;
  bool first = true;
  std::string ref;
  while (stream->Read(&req)) {
    if (first) {
      ref = req.ref();
      if (ref == "exists") {
        return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "content sha256:x: already exists");
      }
    }
    offset += static_cast<int64_t>(req.data().size());
    bytes_ += static_cast<long long>(req.data().size());
    content::WriteContentResponse resp;
    resp.set_action(req.action());
    resp.set_offset(offset);
    resp.set_total(req.total());
    if (req.action() == content::COMMIT) {
      resp.set_digest("sha256:fake");
      stream->Write(resp);
      return grpc::Status::OK;
    }
    if (!stream->Write(resp)) return grpc::Status(grpc::StatusCode::CANCELLED, "client gone");
    if (first && ref == "block") {
      ++blocked_;
      WaitCancelled(ctx);
      --blocked_;
      ++cancelled_;
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    first = false;
  }
  return grpc::Status::OK;
}

grpc::Status FakeContent::Status(grpc::ServerContext* ctx, const content::StatusRequest* req,
                                 content::StatusResponse* resp) {
  if (req->ref() == "block") {
    ++blocked_;
    WaitCancelled(ctx);
    --blocked_;
    ++cancelled_;
    return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
  }
  resp->mutable_status()->set_ref(req->ref());
  return grpc::Status::OK;
}

grpc::Status FakeContent::Abort(grpc::ServerContext* ctx, const content::AbortRequest* req,
                                google::protobuf::Empty* resp) {
  if (req->ref() == "locked") {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "ref locked");
  }
  return grpc::Status::OK;
}

grpc::Status FakeContent::Delete(grpc::ServerContext* ctx, const content::DeleteContentRequest* req,
                                 google::protobuf::Empty* resp) {
  ctx->AddTrailingMetadata("x-reason", "test");
  ctx->AddTrailingMetadata("x-backend", name_);
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "cannot delete");
}

}  // namespace berth::gateway::testing
