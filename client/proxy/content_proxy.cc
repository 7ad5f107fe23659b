#include "client/proxy/content_proxy.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "fmt/format.h"
#include "lib/server/call_context.h"
#include "lib/status/grpc_status.h"
#include "lib/status/status.h"
#include "proto/berth/content/v1/admin.grpc.pb.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"
#include "services/content/server/convert.h"

namespace berth::proxy {

namespace api = containerd::services::content::v1;
using content::FromProto;
using content::ToProto;

struct ContentProxy::Stub {
  std::unique_ptr<api::Content::Stub> stub;
};

namespace {

void Prepare(const CallContext& call, grpc::ClientContext* ctx) { server::ToClient(call, ctx); }

}  // namespace

// ---------------------------------------------------------------------------------------
// Reader

class ContentProxy::ProxyReader final : public content::ReaderAt {
 public:
  ProxyReader(api::Content::Stub* stub, CallContext call, digest::Digest d, int64_t size)
      : stub_(stub), call_(std::move(call)), digest_(std::move(d)), size_(size) {}

  int64_t Size() const override { return size_; }

  absl::StatusOr<std::size_t> ReadAt(char* buf, std::size_t n, int64_t offset) override {
    if (offset < 0) {
      return InvalidArgumentError(
          fmt::format("read {}: negative offset {}", digest_.ToString(), offset));
    }
    if (offset >= size_ || n == 0) return 0;
    n = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(n), size_ - offset));
    grpc::ClientContext ctx;
    Prepare(call_, &ctx);
    api::ReadContentRequest req;
    req.set_digest(digest_.ToString());
    req.set_offset(offset);
    req.set_size(static_cast<int64_t>(n));
    auto reader = stub_->Read(&ctx, req);
    api::ReadContentResponse resp;
    size_t done = 0;
    while (reader->Read(&resp)) {
      if (resp.offset() != offset + static_cast<int64_t>(done) || done + resp.data().size() > n) {
        ctx.TryCancel();
        reader->Finish().ok();
        return DataLossError(fmt::format("read {}: unexpected chunk at {} of {} bytes",
                                         digest_.ToString(), resp.offset(), resp.data().size()));
      }
      std::memcpy(buf + done, resp.data().data(), resp.data().size());
      done += resp.data().size();
    }
    RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
    return done;
  }

 private:
  api::Content::Stub* stub_;
  CallContext call_;
  digest::Digest digest_;
  int64_t size_;
};

// ---------------------------------------------------------------------------------------
// Writer

class ContentProxy::ProxyWriter final : public content::Writer {
 public:
  using Stream = grpc::ClientReaderWriter<api::WriteContentRequest, api::WriteContentResponse>;

  // Sends the opening STAT; the stream's error, if any, is OpenWriter's.
  static absl::StatusOr<std::unique_ptr<ProxyWriter>> Open(api::Content::Stub* stub,
                                                           const CallContext& call,
                                                           const content::WriterOptions& options) {
    std::unique_ptr<ProxyWriter> w(new ProxyWriter(options));
    Prepare(call, &w->ctx_);
    w->stream_ = stub->Write(&w->ctx_);
    api::WriteContentRequest req;
    req.set_action(api::STAT);
    req.set_ref(options.ref);
    req.set_total(options.total);
    req.set_expected(options.expected.ToString());
    api::WriteContentResponse resp;
    RETURN_IF_ERROR(w->RoundTrip(req, &resp));
    w->offset_ = resp.offset();
    return w;
  }

  ~ProxyWriter() override { Close().IgnoreError(); }

  absl::StatusOr<content::IngestStatus> Status() override {
    api::WriteContentRequest req;
    req.set_action(api::STAT);
    api::WriteContentResponse resp;
    RETURN_IF_ERROR(RoundTrip(req, &resp));
    content::IngestStatus st;
    st.ref = options_.ref;
    st.offset = resp.offset();
    st.total = resp.total();
    st.expected = options_.expected;
    st.started_at = FromProto(resp.started_at());
    st.updated_at = FromProto(resp.updated_at());
    offset_ = resp.offset();
    return st;
  }

  absl::StatusOr<digest::Digest> Digest() override {
    api::WriteContentRequest req;
    req.set_action(api::STAT);
    api::WriteContentResponse resp;
    RETURN_IF_ERROR(RoundTrip(req, &resp));
    return content::ParseDigestField(resp.digest(), "digest");
  }

  absl::Status Write(std::string data) override {
    if (data.empty()) return absl::OkStatus();
    // One message carries at most kMaxChunk bytes, well under gRPC's message limit
    // (16 MiB each way, with room for the request's other fields): larger writes go in parts.
    constexpr size_t kMaxChunk = 4 << 20;
    if (data.size() > kMaxChunk) {
      for (size_t at = 0; at < data.size(); at += kMaxChunk) {
        RETURN_IF_ERROR(Write(data.substr(at, kMaxChunk)));
      }
      return absl::OkStatus();
    }
    const int64_t n = static_cast<int64_t>(data.size());
    api::WriteContentRequest req;
    req.set_action(api::WRITE);
    req.set_offset(offset_);
    req.set_data(std::move(data));
    api::WriteContentResponse resp;
    RETURN_IF_ERROR(RoundTrip(req, &resp));
    const int64_t written = resp.offset() - offset_;
    if (written < n) {
      return DataLossError(
          fmt::format("write {}: short write: {} of {} bytes", Quote(options_.ref), written, n));
    }
    offset_ = resp.offset();
    return absl::OkStatus();
  }

  absl::Status Truncate(int64_t size) override {
    if (size != 0) {
      return InvalidArgumentError(
          fmt::format("truncate {}: only truncating to 0 is supported", Quote(options_.ref)));
    }
    api::WriteContentRequest req;
    req.set_action(api::WRITE);
    req.set_offset(0);
    api::WriteContentResponse resp;
    RETURN_IF_ERROR(RoundTrip(req, &resp));
    offset_ = resp.offset();
    return absl::OkStatus();
  }

  absl::Status Commit(int64_t size, const digest::Digest& expected,
                      const content::Labels& labels) override {
    api::WriteContentRequest req;
    req.set_action(api::COMMIT);
    req.set_total(size);
    req.set_offset(offset_);
    req.set_expected(expected.ToString());
    for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
    api::WriteContentResponse resp;
    RETURN_IF_ERROR(RoundTrip(req, &resp));
    RETURN_IF_ERROR(Close());
    if (size > 0 && resp.offset() != size) {
      return FailedPreconditionError(fmt::format("commit {}: unexpected size {} != {}",
                                                 Quote(options_.ref), resp.offset(), size));
    }
    if (!expected.empty() && resp.digest() != expected.ToString()) {
      return FailedPreconditionError(fmt::format("commit {}: unexpected digest {} != {}",
                                                 Quote(options_.ref), resp.digest(),
                                                 expected.ToString()));
    }
    return absl::OkStatus();
  }

 private:
  explicit ProxyWriter(content::WriterOptions options) : options_(std::move(options)) {}

  // One request, one reply (containerd's lock-step). A failed send or receive ends the stream
  // and returns its final status.
  absl::Status RoundTrip(const api::WriteContentRequest& req, api::WriteContentResponse* resp) {
    if (!final_.ok()) return final_;
    if (closed_)
      return FailedPreconditionError(fmt::format("writer {}: closed", Quote(options_.ref)));
    if (!stream_->Write(req) || !stream_->Read(resp)) {
      closed_ = true;
      final_ = FromGrpcStatus(stream_->Finish());
      if (final_.ok()) {
        final_ = UnavailableError(fmt::format("write {}: stream ended early", Quote(options_.ref)));
      }
      return final_;
    }
    return absl::OkStatus();
  }

  absl::Status Close() {
    if (closed_) return absl::OkStatus();
    closed_ = true;
    stream_->WritesDone();
    return FromGrpcStatus(stream_->Finish());
  }

  content::WriterOptions options_;
  grpc::ClientContext ctx_;
  std::unique_ptr<Stream> stream_;
  int64_t offset_ = 0;
  bool closed_ = false;
  absl::Status final_;
};

// ---------------------------------------------------------------------------------------
// ContentProxy

ContentProxy::ContentProxy(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), stub_(new Stub{api::Content::NewStub(channel_)}) {}

ContentProxy::~ContentProxy() = default;

absl::StatusOr<content::Info> ContentProxy::Info(const CallContext& call, const digest::Digest& d) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  api::InfoRequest req;
  req.set_digest(d.ToString());
  api::InfoResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Info(&ctx, req, &resp)));
  return FromProto(resp.info());
}

absl::StatusOr<content::Info> ContentProxy::Update(const CallContext& call,
                                                   const content::Info& info,
                                                   const std::vector<std::string>& fieldpaths) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  api::UpdateRequest req;
  ToProto(info, req.mutable_info());
  for (const std::string& path : fieldpaths) req.mutable_update_mask()->add_paths(path);
  api::UpdateResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Update(&ctx, req, &resp)));
  return FromProto(resp.info());
}

absl::Status ContentProxy::Walk(const CallContext& call, const std::vector<std::string>& filters,
                                const std::function<absl::Status(const content::Info&)>& fn) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  api::ListContentRequest req;
  for (const std::string& f : filters) req.add_filters(f);
  auto reader = stub_->stub->List(&ctx, req);
  api::ListContentResponse resp;
  while (reader->Read(&resp)) {
    for (const auto& proto : resp.info()) {
      absl::StatusOr<content::Info> info = FromProto(proto);
      absl::Status s = info.ok() ? fn(*info) : info.status();
      if (!s.ok()) {
        ctx.TryCancel();
        reader->Finish().ok();
        return s;
      }
    }
  }
  return FromGrpcStatus(reader->Finish());
}

absl::Status ContentProxy::Delete(const CallContext& call, const digest::Digest& d) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  api::DeleteContentRequest req;
  req.set_digest(d.ToString());
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->Delete(&ctx, req, &resp));
}

absl::StatusOr<std::unique_ptr<content::ReaderAt>> ContentProxy::OpenReader(
    const CallContext& call, const digest::Digest& d) {
  ASSIGN_OR_RETURN(content::Info info, Info(call, d));
  return std::make_unique<ProxyReader>(stub_->stub.get(), call, d, info.size);
}

absl::StatusOr<content::IngestStatus> ContentProxy::Status(const CallContext& call,
                                                           const std::string& ref) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  api::StatusRequest req;
  req.set_ref(ref);
  api::StatusResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->Status(&ctx, req, &resp)));
  return FromProto(resp.status());
}

absl::StatusOr<std::vector<content::IngestStatus>> ContentProxy::ListStatuses(
    const CallContext& call, const std::vector<std::string>& filters) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  api::ListStatusesRequest req;
  for (const std::string& f : filters) req.add_filters(f);
  api::ListStatusesResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->ListStatuses(&ctx, req, &resp)));
  std::vector<content::IngestStatus> out;
  for (const auto& proto : resp.statuses()) {
    ASSIGN_OR_RETURN(content::IngestStatus st, FromProto(proto));
    out.push_back(std::move(st));
  }
  return out;
}

absl::Status ContentProxy::Abort(const CallContext& call, const std::string& ref) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  api::AbortRequest req;
  req.set_ref(ref);
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->Abort(&ctx, req, &resp));
}

absl::StatusOr<std::unique_ptr<content::Writer>> ContentProxy::OpenWriter(
    const CallContext& call, const content::WriterOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<ProxyWriter> w,
                   ProxyWriter::Open(stub_->stub.get(), call, options));
  return std::unique_ptr<content::Writer>(std::move(w));
}

// ---------------------------------------------------------------------------------------
// ContentAdminProxy

struct ContentAdminProxy::Stub {
  std::unique_ptr<content::v1::ContentAdmin::Stub> stub;
};

ContentAdminProxy::ContentAdminProxy(std::shared_ptr<grpc::Channel> channel)
    : stub_(new Stub{content::v1::ContentAdmin::NewStub(channel)}) {}

ContentAdminProxy::~ContentAdminProxy() = default;

absl::StatusOr<std::vector<content::LeaseResource>> ContentAdminProxy::ListLeaseResources(
    const CallContext& call, const std::string& lease) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  content::v1::ListLeaseResourcesRequest req;
  req.set_lease(lease);
  content::v1::ListLeaseResourcesResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->ListLeaseResources(&ctx, req, &resp)));
  std::vector<content::LeaseResource> out;
  for (const auto& r : resp.resources()) out.push_back({r.id(), r.type()});
  return out;
}

absl::Status ContentAdminProxy::AddLeaseResource(const CallContext& call, const std::string& lease,
                                                 const content::LeaseResource& resource) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  content::v1::LeaseResourceRequest req;
  req.set_lease(lease);
  req.mutable_resource()->set_id(resource.id);
  req.mutable_resource()->set_type(resource.type);
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->AddLeaseResource(&ctx, req, &resp));
}

absl::Status ContentAdminProxy::DeleteLeaseResource(const CallContext& call,
                                                    const std::string& lease,
                                                    const content::LeaseResource& resource) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  content::v1::LeaseResourceRequest req;
  req.set_lease(lease);
  req.mutable_resource()->set_id(resource.id);
  req.mutable_resource()->set_type(resource.type);
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->DeleteLeaseResource(&ctx, req, &resp));
}

absl::Status ContentAdminProxy::DeleteLease(const CallContext& call, const std::string& lease) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  content::v1::DeleteLeaseRequest req;
  req.set_lease(lease);
  google::protobuf::Empty resp;
  return FromGrpcStatus(stub_->stub->DeleteLease(&ctx, req, &resp));
}

absl::StatusOr<content::NamespaceUsage> ContentAdminProxy::NamespaceUsage(const CallContext& call,
                                                                          const std::string& ns) {
  grpc::ClientContext ctx;
  Prepare(call, &ctx);
  content::v1::NamespaceUsageRequest req;
  req.set_namespace_(ns);
  content::v1::NamespaceUsageResponse resp;
  RETURN_IF_ERROR(FromGrpcStatus(stub_->stub->NamespaceUsage(&ctx, req, &resp)));
  content::NamespaceUsage usage;
  usage.blobs = resp.blobs();
  usage.blob_bytes = resp.blob_bytes();
  usage.ingests = resp.ingests();
  usage.leases = resp.leases();
  return usage;
}

}  // namespace berth::proxy
