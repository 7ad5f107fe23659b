// ContentService on the wire: the request/response shapes ctr depends on, spoken with the raw
// generated stub (no proxy), over a temporary unix socket.
#include "services/content/server/content_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "proto/berth/content/v1/admin.grpc.pb.h"
#include "services/content/local_store.h"
#include "services/content/server/admin_service.h"

namespace berth::content {
namespace {

namespace api = containerd::services::content::v1;
using Stream = grpc::ClientReaderWriter<api::WriteContentRequest, api::WriteContentResponse>;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

std::string D(const std::string& data) { return digest::FromBytes(data).ToString(); }

class ContentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LocalStoreOptions options;
    options.root = dir_.Path("root");
    ASSERT_OK_AND_ASSIGN(store_, LocalStore::Open(options));
    ContentServiceOptions service_options;
    service_options.read_chunk = 1 << 20;
    service_ = std::make_unique<ContentService>(store_.get(), service_options);
    admin_ = std::make_unique<AdminService>(store_.get());
    const std::string address = "unix:" + dir_.Path("c.sock");
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    builder.RegisterService(admin_.get());
    builder.SetMaxReceiveMessageSize(16 << 20);
    builder.SetMaxSendMessageSize(16 << 20);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(16 << 20);
    auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    stub_ = api::Content::NewStub(channel);
    admin_stub_ = berth::content::v1::ContentAdmin::NewStub(channel);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  static void Ns(grpc::ClientContext* ctx, const std::string& ns = "default") {
    ctx->AddMetadata("containerd-namespace", ns);
  }

  // Sends one request and reads its reply; false when the stream ended instead.
  static bool Send(Stream* stream, const api::WriteContentRequest& req,
                   api::WriteContentResponse* resp) {
    return stream->Write(req) && stream->Read(resp);
  }

  static api::WriteContentRequest Req(api::WriteAction action, int64_t offset = 0,
                                      const std::string& data = "") {
    api::WriteContentRequest req;
    req.set_action(action);
    req.set_offset(offset);
    req.set_data(data);
    return req;
  }

  // Commits `data` the way ctr does.
  void Ingest(const std::string& ref, const std::string& data,
              const std::map<std::string, std::string>& labels = {},
              const std::string& ns = "default") {
    grpc::ClientContext ctx;
    Ns(&ctx, ns);
    auto stream = stub_->Write(&ctx);
    api::WriteContentRequest req = Req(api::STAT);
    req.set_ref(ref);
    req.set_total(static_cast<int64_t>(data.size()));
    req.set_expected(D(data));
    api::WriteContentResponse resp;
    ASSERT_TRUE(Send(stream.get(), req, &resp)) << stream->Finish().error_message();
    req = Req(api::COMMIT, 0, data);
    req.set_total(static_cast<int64_t>(data.size()));
    req.set_expected(D(data));
    for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
    ASSERT_TRUE(Send(stream.get(), req, &resp)) << stream->Finish().error_message();
    EXPECT_EQ(resp.digest(), D(data));
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }

  absl::Status WriteBlobDirect(const std::string& data) {
    CallContext ctx = CallContext::Background("default");
    ASSIGN_OR_RETURN(auto w, store_->OpenWriter(ctx, {"direct-" + data, 0, {}}));
    RETURN_IF_ERROR(w->Write(data));
    return w->Commit(0, {}, {});
  }

  grpc::Status ReadRange(const std::string& dgst, int64_t offset, int64_t size,
                         std::vector<api::ReadContentResponse>* out) {
    grpc::ClientContext ctx;
    Ns(&ctx);
    api::ReadContentRequest req;
    req.set_digest(dgst);
    req.set_offset(offset);
    req.set_size(size);
    auto reader = stub_->Read(&ctx, req);
    api::ReadContentResponse resp;
    while (reader->Read(&resp)) out->push_back(resp);
    return reader->Finish();
  }

  berth::testing::TempDir dir_{"csvc"};
  std::unique_ptr<LocalStore> store_;
  std::unique_ptr<ContentService> service_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<api::Content::Stub> stub_;
  std::unique_ptr<berth::content::v1::ContentAdmin::Stub> admin_stub_;
};

// ctr's pull sequence: STAT{ref,total,expected}, two more STATs, WRITEs, COMMIT, half-close.
TEST_F(ContentServiceTest, LockStepWriteAsCtrPulls) {
  const std::string data = RandomBytes(3 << 20, 1);
  grpc::ClientContext ctx;
  Ns(&ctx);
  auto stream = stub_->Write(&ctx);
  api::WriteContentRequest req = Req(api::STAT);
  req.set_ref("layer-" + D(data));
  req.set_total(static_cast<int64_t>(data.size()));
  req.set_expected(D(data));
  api::WriteContentResponse resp;
  ASSERT_TRUE(Send(stream.get(), req, &resp));
  EXPECT_EQ(resp.action(), api::STAT);
  EXPECT_EQ(resp.offset(), 0);
  EXPECT_EQ(resp.total(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(resp.digest(), D(""));
  EXPECT_GT(resp.started_at().seconds(), 0);
  EXPECT_GT(resp.updated_at().seconds(), 0);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(Send(stream.get(), Req(api::STAT), &resp));
    EXPECT_EQ(resp.offset(), 0);
    EXPECT_EQ(resp.total(), static_cast<int64_t>(data.size()));
  }
  int64_t offset = 0;
  for (size_t off = 0; off < data.size(); off += 1 << 20) {
    ASSERT_TRUE(Send(stream.get(), Req(api::WRITE, offset, data.substr(off, 1 << 20)), &resp));
    EXPECT_EQ(resp.action(), api::WRITE);
    EXPECT_EQ(resp.offset(), offset + (1 << 20));
    offset = resp.offset();
  }
  // Mid-stream, the ingest is visible to the progress poller.
  {
    grpc::ClientContext lctx;
    Ns(&lctx);
    api::ListStatusesRequest lreq;
    lreq.add_filters("");
    api::ListStatusesResponse lresp;
    ASSERT_TRUE(stub_->ListStatuses(&lctx, lreq, &lresp).ok());
    ASSERT_EQ(lresp.statuses_size(), 1);
    EXPECT_EQ(lresp.statuses(0).offset(), offset);
    EXPECT_EQ(lresp.statuses(0).total(), static_cast<int64_t>(data.size()));
    EXPECT_EQ(lresp.statuses(0).expected(), D(data));
  }
  req = Req(api::COMMIT, offset);
  req.set_total(static_cast<int64_t>(data.size()));
  req.set_expected(D(data));
  (*req.mutable_labels())["k"] = "v";
  ASSERT_TRUE(Send(stream.get(), req, &resp));
  EXPECT_EQ(resp.action(), api::COMMIT);
  EXPECT_EQ(resp.offset(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(resp.digest(), D(data));
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());

  grpc::ClientContext ictx;
  Ns(&ictx);
  api::InfoRequest ireq;
  ireq.set_digest(D(data));
  api::InfoResponse iresp;
  ASSERT_TRUE(stub_->Info(&ictx, ireq, &iresp).ok());
  EXPECT_EQ(iresp.info().size(), static_cast<int64_t>(data.size()));
  EXPECT_EQ(iresp.info().labels().at("k"), "v");
  EXPECT_GT(iresp.info().created_at().seconds(), 0);
  EXPECT_GT(iresp.info().updated_at().seconds(), 0);

  // The next pull of the same blob is skipped: ALREADY_EXISTS on the first reply.
  grpc::ClientContext again_ctx;
  Ns(&again_ctx);
  auto again = stub_->Write(&again_ctx);
  req = Req(api::STAT);
  req.set_ref("layer-" + D(data));
  req.set_total(static_cast<int64_t>(data.size()));
  req.set_expected(D(data));
  EXPECT_FALSE(Send(again.get(), req, &resp));
  EXPECT_EQ(again->Finish().error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

TEST_F(ContentServiceTest, FirstMessageMustCarryRef) {
  grpc::ClientContext ctx;
  Ns(&ctx);
  auto stream = stub_->Write(&ctx);
  api::WriteContentResponse resp;
  EXPECT_FALSE(Send(stream.get(), Req(api::STAT), &resp));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("reference"), std::string::npos) << s.error_message();
}

TEST_F(ContentServiceTest, NamespaceIsRequired) {
  grpc::ClientContext ctx;
  api::InfoRequest req;
  req.set_digest(D("x"));
  api::InfoResponse resp;
  EXPECT_EQ(stub_->Info(&ctx, req, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ContentServiceTest, WrongOffsetIsOutOfRangeAndNegativeIsInvalid) {
  grpc::ClientContext ctx;
  Ns(&ctx);
  auto stream = stub_->Write(&ctx);
  api::WriteContentRequest req = Req(api::STAT);
  req.set_ref("r");
  api::WriteContentResponse resp;
  ASSERT_TRUE(Send(stream.get(), req, &resp));
  ASSERT_TRUE(Send(stream.get(), Req(api::WRITE, 0, "hello"), &resp));
  EXPECT_EQ(resp.offset(), 5);
  EXPECT_FALSE(Send(stream.get(), Req(api::WRITE, 3, "x"), &resp));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_NE(s.error_message().find("current offset 5"), std::string::npos) << s.error_message();

  // The ingest survived the broken stream; resume at its offset.
  grpc::ClientContext ctx2;
  Ns(&ctx2);
  auto stream2 = stub_->Write(&ctx2);
  req = Req(api::STAT);
  req.set_ref("r");
  ASSERT_TRUE(Send(stream2.get(), req, &resp));
  EXPECT_EQ(resp.offset(), 5);
  EXPECT_EQ(resp.digest(), D("hello"));
  EXPECT_FALSE(Send(stream2.get(), Req(api::WRITE, -1, "x"), &resp));
  EXPECT_EQ(stream2->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ContentServiceTest, OffsetZeroTruncates) {
  grpc::ClientContext ctx;
  Ns(&ctx);
  auto stream = stub_->Write(&ctx);
  api::WriteContentRequest req = Req(api::STAT);
  req.set_ref("t");
  api::WriteContentResponse resp;
  ASSERT_TRUE(Send(stream.get(), req, &resp));
  ASSERT_TRUE(Send(stream.get(), Req(api::WRITE, 0, "garbage"), &resp));
  ASSERT_TRUE(Send(stream.get(), Req(api::WRITE, 0, "good"), &resp));
  EXPECT_EQ(resp.offset(), 4);
  req = Req(api::COMMIT, 4);
  req.set_expected(D("good"));
  ASSERT_TRUE(Send(stream.get(), req, &resp));
  EXPECT_EQ(resp.digest(), D("good"));
}

TEST_F(ContentServiceTest, CommitMismatchNamesBothDigests) {
  grpc::ClientContext ctx;
  Ns(&ctx);
  auto stream = stub_->Write(&ctx);
  api::WriteContentRequest req = Req(api::STAT);
  req.set_ref("m");
  api::WriteContentResponse resp;
  ASSERT_TRUE(Send(stream.get(), req, &resp));
  req = Req(api::COMMIT, 0, "actual bytes");
  req.set_expected(D("claimed bytes"));
  EXPECT_FALSE(Send(stream.get(), req, &resp));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find(D("actual bytes")), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find(D("claimed bytes")), std::string::npos) << s.error_message();

  grpc::ClientContext ctx2;
  Ns(&ctx2);
  stream = stub_->Write(&ctx2);
  req = Req(api::STAT);
  req.set_ref("m2");
  ASSERT_TRUE(Send(stream.get(), req, &resp));
  req = Req(api::COMMIT, 0, "1234");
  req.set_total(5);
  EXPECT_FALSE(Send(stream.get(), req, &resp));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ContentServiceTest, SecondWriterOnARefIsUnavailable) {
  grpc::ClientContext ctx1;
  Ns(&ctx1);
  auto s1 = stub_->Write(&ctx1);
  api::WriteContentRequest req = Req(api::STAT);
  req.set_ref("locked-ref");
  api::WriteContentResponse resp;
  ASSERT_TRUE(Send(s1.get(), req, &resp));
  grpc::ClientContext ctx2;
  Ns(&ctx2);
  auto s2 = stub_->Write(&ctx2);
  EXPECT_FALSE(Send(s2.get(), req, &resp));
  grpc::Status s = s2->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("locked"), std::string::npos) << s.error_message();
}

// A message carrying an `expected` that exists by now aborts the ingest.
TEST_F(ContentServiceTest, ExpectedCommittedMidStreamIsAlreadyExists) {
  const std::string data = "content";
  grpc::ClientContext ctx;
  Ns(&ctx);
  auto stream = stub_->Write(&ctx);
  api::WriteContentRequest req = Req(api::STAT);
  req.set_ref("slow");
  api::WriteContentResponse resp;
  ASSERT_TRUE(Send(stream.get(), req, &resp));
  ASSERT_TRUE(Send(stream.get(), Req(api::WRITE, 0, "con"), &resp));
  Ingest("fast", data);
  req = Req(api::WRITE, 3, "tent");
  req.set_expected(D(data));
  EXPECT_FALSE(Send(stream.get(), req, &resp));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::ALREADY_EXISTS);
  grpc::ClientContext sctx;
  Ns(&sctx);
  api::StatusRequest sreq;
  sreq.set_ref("slow");
  api::StatusResponse sresp;
  EXPECT_EQ(stub_->Status(&sctx, sreq, &sresp).error_code(), grpc::StatusCode::NOT_FOUND);
}

// Two pulls of one image: the blob one stream was writing is committed by the other. The
// stream told that it exists must also get it attached to its lease, as it would had it
// opened after the commit — else a collection may remove what its client goes on to use.
TEST_F(ContentServiceTest, ExpectedCommittedMidStreamIsLeasedToTheStream) {
  const std::string data = "manifest bytes";
  grpc::ClientContext ctx;
  Ns(&ctx);
  ctx.AddMetadata("containerd-lease", "pull-b");
  auto stream = stub_->Write(&ctx);
  api::WriteContentRequest req = Req(api::STAT);
  req.set_ref("pull-b-manifest");
  req.set_expected(D(data));
  api::WriteContentResponse resp;
  ASSERT_TRUE(Send(stream.get(), req, &resp));
  Ingest("pull-a-manifest", data);  // the other pull commits it, under no lease
  req = Req(api::WRITE, 0, data);
  req.set_expected(D(data));
  EXPECT_FALSE(Send(stream.get(), req, &resp));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::ALREADY_EXISTS);
  ASSERT_OK_AND_ASSIGN(std::vector<LeaseResource> held,
                       store_->ListLeaseResources(CallContext::Background("default"), "pull-b"));
  bool leased = false;
  for (const LeaseResource& r : held) leased = leased || (r.type == "content" && r.id == D(data));
  EXPECT_TRUE(leased);
}

TEST_F(ContentServiceTest, MalformedDigests) {
  for (const std::string& bad :
       std::vector<std::string>{"", "sha256:xyz", "md5:abc", "sha256:" + std::string(64, 'A')}) {
    grpc::ClientContext ctx;
    Ns(&ctx);
    api::InfoRequest req;
    req.set_digest(bad);
    api::InfoResponse resp;
    EXPECT_EQ(stub_->Info(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << bad;
    std::vector<api::ReadContentResponse> chunks;
    EXPECT_EQ(ReadRange(bad, 0, 0, &chunks).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  grpc::ClientContext ctx;
  Ns(&ctx);
  auto stream = stub_->Write(&ctx);
  api::WriteContentRequest req = Req(api::STAT);
  req.set_ref("r");
  req.set_expected("sha256:short");
  api::WriteContentResponse resp;
  EXPECT_FALSE(Send(stream.get(), req, &resp));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// Read sends exactly the clamped range, in 1 MiB chunks with their offsets.
TEST_F(ContentServiceTest, ReadRanges) {
  const std::string data = RandomBytes((2 << 20) + 100, 2);
  Ingest("blob", data);
  struct Case {
    int64_t offset, size, expect_bytes;
    size_t chunks;
  };
  const int64_t n = static_cast<int64_t>(data.size());
  for (const Case& c : {Case{0, 0, n, 3}, Case{0, -1, n, 3}, Case{0, 1 << 20, 1 << 20, 1},
                        Case{5, 10, 10, 1}, Case{n - 10, 100, 10, 1}, Case{n, 0, 0, 0},
                        Case{1 << 20, 0, n - (1 << 20), 2}, Case{0, n + 5, n, 3}}) {
    std::vector<api::ReadContentResponse> chunks;
    ASSERT_TRUE(ReadRange(D(data), c.offset, c.size, &chunks).ok());
    EXPECT_EQ(chunks.size(), c.chunks) << c.offset << "+" << c.size;
    std::string got;
    for (const auto& chunk : chunks) {
      EXPECT_EQ(chunk.offset(), c.offset + static_cast<int64_t>(got.size()));
      EXPECT_LE(chunk.data().size(), 1u << 20);
      got += chunk.data();
    }
    EXPECT_EQ(got, data.substr(static_cast<size_t>(c.offset), static_cast<size_t>(c.expect_bytes)));
  }
  std::vector<api::ReadContentResponse> chunks;
  EXPECT_EQ(ReadRange(D(data), n + 1, 0, &chunks).error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(ReadRange(D(data), -1, 0, &chunks).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ReadRange(D("absent"), 0, 0, &chunks).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A Read stream that started before a Delete finishes with the right bytes.
TEST_F(ContentServiceTest, ReadInFlightSurvivesDelete) {
  const std::string data = RandomBytes(4 << 20, 3);
  Ingest("blob", data);
  grpc::ClientContext ctx;
  Ns(&ctx);
  api::ReadContentRequest req;
  req.set_digest(D(data));
  auto reader = stub_->Read(&ctx, req);
  api::ReadContentResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  std::string got = resp.data();
  grpc::ClientContext dctx;
  Ns(&dctx);
  api::DeleteContentRequest dreq;
  dreq.set_digest(D(data));
  google::protobuf::Empty empty;
  ASSERT_TRUE(stub_->Delete(&dctx, dreq, &empty).ok());
  while (reader->Read(&resp)) got += resp.data();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, data);
}

// List batches 100 infos per message.
TEST_F(ContentServiceTest, ListBatchesOfOneHundred) {
  for (int i = 0; i < 250; ++i) ASSERT_OK(WriteBlobDirect(std::to_string(i)));
  grpc::ClientContext ctx;
  Ns(&ctx);
  api::ListContentRequest req;
  auto reader = stub_->List(&ctx, req);
  api::ListContentResponse resp;
  std::vector<int> sizes;
  while (reader->Read(&resp)) sizes.push_back(resp.info_size());
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(sizes, (std::vector<int>{100, 100, 50}));

  grpc::ClientContext ctx2;
  Ns(&ctx2, "empty");
  auto reader2 = stub_->List(&ctx2, req);
  EXPECT_FALSE(reader2->Read(&resp));
  EXPECT_TRUE(reader2->Finish().ok());

  grpc::ClientContext ctx3;
  Ns(&ctx3);
  req.add_filters("labels.=");
  auto reader3 = stub_->List(&ctx3, req);
  EXPECT_FALSE(reader3->Read(&resp));
  EXPECT_EQ(reader3->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// Update: Go clients send zero timestamps (-62135596800 s); masks select labels.
TEST_F(ContentServiceTest, UpdateWithMask) {
  Ingest("u", "update me", {{"a", "1"}, {"b", "2"}});
  grpc::ClientContext ctx;
  Ns(&ctx);
  api::UpdateRequest req;
  req.mutable_info()->set_digest(D("update me"));
  req.mutable_info()->mutable_created_at()->set_seconds(-62135596800);
  req.mutable_info()->mutable_updated_at()->set_seconds(-62135596800);
  (*req.mutable_info()->mutable_labels())["containerd.io/distribution.source.127.0.0.1"] =
      "test/img";
  req.mutable_update_mask()->add_paths("labels.containerd.io/distribution.source.127.0.0.1");
  req.mutable_update_mask()->add_paths("labels.b");
  api::UpdateResponse resp;
  ASSERT_TRUE(stub_->Update(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.info().labels().size(), 2u);
  EXPECT_EQ(resp.info().labels().at("a"), "1");
  EXPECT_EQ(resp.info().labels().at("containerd.io/distribution.source.127.0.0.1"), "test/img");
  EXPECT_GT(resp.info().created_at().seconds(), 0);
}

TEST_F(ContentServiceTest, AdminOverTheWire) {
  grpc::ClientContext ctx;
  Ns(&ctx);
  berth::content::v1::NamespaceUsageRequest req;
  req.set_namespace_("default");
  berth::content::v1::NamespaceUsageResponse resp;
  ASSERT_TRUE(admin_stub_->NamespaceUsage(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.blobs(), 0);
  Ingest("x", "xyz");
  grpc::ClientContext ctx2;
  ASSERT_TRUE(admin_stub_->NamespaceUsage(&ctx2, req, &resp).ok());
  EXPECT_EQ(resp.blobs(), 1);
  EXPECT_EQ(resp.blob_bytes(), 3);
  grpc::ClientContext ctx3;
  berth::content::v1::ListLeaseResourcesRequest lreq;
  lreq.set_lease("l");
  berth::content::v1::ListLeaseResourcesResponse lresp;
  EXPECT_EQ(admin_stub_->ListLeaseResources(&ctx3, lreq, &lresp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace berth::content
