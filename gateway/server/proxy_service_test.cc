#include "gateway/server/proxy_service.h"

#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/sync_stream.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/testing/fake_content.h"
#include "lib/server/health_service.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"

namespace berth::gateway {
namespace {

namespace content = containerd::services::content::v1;
using ::berth::testing::TempDir;
using ::berth::testing::WaitFor;

// gRPC shuts itself down (and may wait seconds for its threads) whenever the last gRPC
// object goes; keep it initialised for the whole test binary instead.
const bool kGrpcInitialized = (grpc_init(), true);

constexpr char kContent[] = "containerd.services.content.v1.Content";
constexpr char kSum[] = "berth.test.Sum";

std::string Md(const std::multimap<grpc::string_ref, grpc::string_ref>& md,
               const std::string& key) {
  auto it = md.find(key);
  if (it == md.end()) return "<absent>";
  return std::string(it->second.data(), it->second.size());
}

// A client-streaming method registered by hand ("/berth.test.Sum/Add": replies
// "<messages>/<bytes>"), since the containerd API has none.
class SumReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  explicit SumReactor(grpc::ByteBuffer* response) : response_(response) { StartRead(&buf_); }
  void OnReadDone(bool ok) override {
    if (ok) {
      ++messages_;
      bytes_ += buf_.Length();
      StartRead(&buf_);
      return;
    }
    grpc::Slice slice(std::to_string(messages_) + "/" + std::to_string(bytes_));
    *response_ = grpc::ByteBuffer(&slice, 1);
    Finish(grpc::Status::OK);
  }
  void OnDone() override { delete this; }

 private:
  grpc::ByteBuffer* response_;
  grpc::ByteBuffer buf_;
  int messages_ = 0;
  size_t bytes_ = 0;
};

class SumService final : public grpc::Service {
 public:
  SumService() {
    AddMethod(new grpc::internal::RpcServiceMethod(
        "/berth.test.Sum/Add", grpc::internal::RpcMethod::CLIENT_STREAMING, nullptr));
    MarkMethodRawCallback(
        0, new grpc::internal::CallbackClientStreamingHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
               [](grpc::CallbackServerContext*, grpc::ByteBuffer* response) {
                 return new SumReactor(response);
               }));
  }
};

// Backends serve grpc.health.v1 as every berth server does: the proxy asks it after an
// Unavailable.
server::HealthService* BackendHealth() {
  static server::HealthService* health = [] {
    auto* h = new server::HealthService();
    h->SetServingStatus("", true);
    return h;
  }();
  return health;
}

std::unique_ptr<grpc::Server> StartBackend(const std::string& socket, grpc::Service* content,
                                           grpc::Service* sum) {
  grpc::ServerBuilder builder;
  builder.RegisterService(BackendHealth());
  // The sync server's pollers wake up this often; shutdown waits for them.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC, 50);
  builder.AddListeningPort("unix:" + socket, grpc::InsecureServerCredentials());
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.SetMaxSendMessageSize(16 << 20);
  builder.RegisterService(content);
  if (sum != nullptr) builder.RegisterService(sum);
  return builder.BuildAndStart();
}

std::shared_ptr<grpc::Channel> Dial(const std::string& socket) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
}

// How the proxy is registered: as a generic service (every call a bidi stream), as methods
// registered by name (unary methods on the unary path), or by name with every method a bidi
// stream.
enum class Mode { kGeneric, kRegistered, kRegisteredBidi };

// Runs the proxy in front of FakeContent backends, registered as GetParam() says.
class ProxyTest : public ::testing::TestWithParam<Mode> {
 protected:
  bool generic() const { return GetParam() == Mode::kGeneric; }

  void StartBackends(int n) {
    for (int i = 0; i < n; ++i) {
      fakes_.push_back(std::make_unique<testing::FakeContent>("b" + std::to_string(i)));
    }
  }

  // Starts the gateway with one backend "content" at `addresses` (backend sockets).
  void StartGateway(const std::vector<std::string>& sockets) {
    GatewayConfig config;
    BackendConfig b;
    b.name = "content";
    b.services = {kContent};
    if (generic()) b.services.push_back(kSum);
    for (const std::string& s : sockets) b.addresses.push_back("unix://" + s);
    b.read_methods = {"Info", "Read", "List", "Status"};
    config.backends.push_back(b);
    config.reconnect_backoff_max = std::chrono::milliseconds(200);
    ASSERT_OK_AND_ASSIGN(router_, Router::Create(config));
    ProxyOptions options;
    options.on_write = [this](const std::string& ns) -> absl::Status {
      std::lock_guard<std::mutex> lock(mu_);
      written_namespaces_.push_back(ns);
      if (ns == "bad!") return absl::InvalidArgumentError("namespace validation: bad");
      return absl::OkStatus();
    };
    proxy_ = std::make_unique<ProxyService>(router_.get(), options);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + gateway_socket_, grpc::InsecureServerCredentials());
    builder.SetMaxReceiveMessageSize(16 << 20);
    builder.SetMaxSendMessageSize(16 << 20);
    if (generic()) {
      builder.RegisterCallbackGenericService(proxy_.get());
    } else {
      ASSERT_OK_AND_ASSIGN(registered_,
                           proxy_->RegisteredService({}, GetParam() == Mode::kRegistered));
      builder.RegisterService(registered_.get());
    }
    gateway_ = builder.BuildAndStart();
    ASSERT_NE(gateway_, nullptr);
    channel_ = Dial(gateway_socket_);
    stub_ = content::Content::NewStub(channel_);
  }

  void SetUp() override {
    backend_socket_ = dir_.Path("backend.sock");
    gateway_socket_ = dir_.Path("gateway.sock");
  }

  void TearDown() override {
    if (gateway_ != nullptr) gateway_->Shutdown(std::chrono::system_clock::now());
    for (auto& b : backends_) b->Shutdown(std::chrono::system_clock::now());
  }

  std::vector<std::string> WrittenNamespaces() {
    std::lock_guard<std::mutex> lock(mu_);
    return written_namespaces_;
  }

  TempDir dir_{"gwproxy"};
  std::string backend_socket_;
  std::string gateway_socket_;
  std::vector<std::unique_ptr<testing::FakeContent>> fakes_;
  SumService sum_;
  std::vector<std::unique_ptr<grpc::Server>> backends_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<ProxyService> proxy_;
  std::unique_ptr<grpc::Service> registered_;
  std::unique_ptr<grpc::Server> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<content::Content::Stub> stub_;
  std::mutex mu_;
  std::vector<std::string> written_namespaces_;
};

// Starts one FakeContent backend on backend_socket_ and the gateway in front of it.
class OneBackendTest : public ProxyTest {
 protected:
  void SetUp() override {
    ProxyTest::SetUp();
    StartBackends(1);
    backends_.push_back(StartBackend(backend_socket_, fakes_[0].get(), &sum_));
    ASSERT_NE(backends_[0], nullptr);
    StartGateway({backend_socket_});
  }
  testing::FakeContent& fake() { return *fakes_[0]; }
};

TEST_P(OneBackendTest, UnaryForwardsMetadataBothWays) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("containerd-namespace", "ns1");
  ctx.AddMetadata("containerd-lease", "lease1");
  content::InfoRequest req;
  req.set_digest("sha256:abc");
  content::InfoResponse resp;
  grpc::Status s = stub_->Info(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.info().digest(), "sha256:abc");
  EXPECT_EQ(resp.info().size(), 10);
  EXPECT_EQ(Md(ctx.GetServerInitialMetadata(), "x-initial"), "1");
  EXPECT_EQ(Md(ctx.GetServerTrailingMetadata(), "x-namespace"), "ns1");
  EXPECT_EQ(Md(ctx.GetServerTrailingMetadata(), "x-lease"), "lease1");
  EXPECT_EQ(Md(ctx.GetServerTrailingMetadata(), "x-deadline"), "none");
}

TEST_P(OneBackendTest, DeadlineReachesBackend) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  content::InfoRequest req;
  req.set_digest("d");
  content::InfoResponse resp;
  ASSERT_TRUE(stub_->Info(&ctx, req, &resp).ok());
  EXPECT_EQ(Md(ctx.GetServerTrailingMetadata(), "x-deadline"), "set");
}

TEST_P(OneBackendTest, ErrorsKeepCodeMessageAndTrailers) {
  {
    grpc::ClientContext ctx;
    content::InfoRequest req;
    req.set_digest("missing");
    content::InfoResponse resp;
    grpc::Status s = stub_->Info(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(s.error_message(), "content digest missing: not found");
  }
  {
    grpc::ClientContext ctx;
    content::DeleteContentRequest req;
    google::protobuf::Empty resp;
    grpc::Status s = stub_->Delete(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(s.error_message(), "cannot delete");
    EXPECT_EQ(Md(ctx.GetServerTrailingMetadata(), "x-reason"), "test");
  }
  {
    // An Unavailable from the backend itself (a locked ingest) is not the backend being
    // down: it passes unchanged.
    grpc::ClientContext ctx;
    content::AbortRequest req;
    req.set_ref("locked");
    google::protobuf::Empty resp;
    grpc::Status s = stub_->Abort(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.error_message(), "ref locked");
  }
}

TEST_P(OneBackendTest, ServerStreamingLargeRead) {
  constexpr int64_t kSize = (5 << 20) + 3;
  grpc::ClientContext ctx;
  content::ReadContentRequest req;
  req.set_digest("d");
  req.set_size(kSize);
  auto reader = stub_->Read(&ctx, req);
  content::ReadContentResponse resp;
  int64_t got = 0;
  int messages = 0;
  bool pattern_ok = true;
  while (reader->Read(&resp)) {
    EXPECT_EQ(resp.offset(), got);
    for (size_t i = 0; i < resp.data().size(); ++i) {
      if (static_cast<unsigned char>(resp.data()[i]) != (got + static_cast<int64_t>(i)) % 251) {
        pattern_ok = false;
      }
    }
    got += static_cast<int64_t>(resp.data().size());
    ++messages;
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, kSize);
  EXPECT_EQ(messages, 6);
  EXPECT_TRUE(pattern_ok);
}

TEST_P(OneBackendTest, ServerStreamingManyMessages) {
  grpc::ClientContext ctx;
  content::ListContentRequest req;
  req.add_filters("1000");
  auto reader = stub_->List(&ctx, req);
  content::ListContentResponse resp;
  int n = 0;
  while (reader->Read(&resp)) {
    ASSERT_EQ(resp.info_size(), 1);
    EXPECT_EQ(resp.info(0).digest(), "sha256:" + std::to_string(n));
    ++n;
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(n, 1000);
}

TEST_P(OneBackendTest, BidiLockStep) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("containerd-namespace", "ns2");
  auto stream = stub_->Write(&ctx);
  content::WriteContentRequest req;
  content::WriteContentResponse resp;
  req.set_action(content::STAT);
  req.set_ref("ref1");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.offset(), 0);
  int64_t offset = 0;
  const std::string chunk(1 << 20, 'x');
  for (int i = 0; i < 8; ++i) {
    req.Clear();
    req.set_action(content::WRITE);
    req.set_offset(offset);
    req.set_data(chunk);
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->Read(&resp));
    offset += static_cast<int64_t>(chunk.size());
    EXPECT_EQ(resp.offset(), offset);
  }
  req.Clear();
  req.set_action(content::COMMIT);
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.digest(), "sha256:fake");
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&resp));
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(fake().bytes_written(), 8 << 20);
  EXPECT_EQ(WrittenNamespaces(), std::vector<std::string>{"ns2"});
}

TEST_P(OneBackendTest, BackendEndsStreamWhileClientKeepsItOpen) {
  // The backend answers the first message with AlreadyExists; the client has not
  // half-closed and waits for a reply: it must get the status, not hang.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(1));
  auto stream = stub_->Write(&ctx);
  content::WriteContentRequest req;
  req.set_ref("exists");
  ASSERT_TRUE(stream->Write(req));
  content::WriteContentResponse resp;
  EXPECT_FALSE(stream->Read(&resp));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_EQ(s.error_message(), "content sha256:x: already exists");
}

TEST_P(OneBackendTest, ClientCancelCancelsBackendCall) {
  grpc::ClientContext ctx;
  grpc::Status s;
  std::thread t([&] {
    content::StatusRequest req;
    req.set_ref("block");
    content::StatusResponse resp;
    s = stub_->Status(&ctx, req, &resp);
  });
  ASSERT_TRUE(WaitFor([&] { return fake().blocked_calls() == 1; }));
  ctx.TryCancel();
  t.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return fake().cancelled_calls() == 1; }));
}

// A unary call that ends before its request message arrived (the client half-closes or goes
// away first; ctr cancels its pull-progress Content.Info calls so) fails alone. It used to be
// forwarded as a send with no message, which gRPC answers by aborting the whole gateway.
TEST_P(OneBackendTest, UnaryCallWithoutRequestMessageFailsAlone) {
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      generic.PrepareCall(&ctx, "/containerd.services.content.v1.Content/Info", &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  call->WritesDone(reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, reinterpret_cast<void*>(3));
  EXPECT_FALSE(status.ok());
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  // The gateway still serves.
  grpc::ClientContext ctx2;
  content::InfoRequest req;
  req.set_digest("sha256:abc");
  content::InfoResponse resp;
  grpc::Status s = stub_->Info(&ctx2, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.info().digest(), "sha256:abc");
}

TEST_P(OneBackendTest, ClientCancelMidStreamCancelsBackendStream) {
  grpc::ClientContext ctx;
  auto stream = stub_->Write(&ctx);
  content::WriteContentRequest req;
  req.set_ref("block");
  ASSERT_TRUE(stream->Write(req));
  content::WriteContentResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_TRUE(WaitFor([&] { return fake().blocked_calls() == 1; }));
  ctx.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return fake().cancelled_calls() == 1; }));
}

TEST_P(OneBackendTest, DeadlineExceededCancelsBackendCall) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  content::StatusRequest req;
  req.set_ref("block");
  content::StatusResponse resp;
  grpc::Status s = stub_->Status(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(WaitFor([&] { return fake().cancelled_calls() == 1; }));
}

TEST_P(OneBackendTest, ImplicitNamespaceOnWritesOnly) {
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("containerd-namespace", "readns");
    content::InfoRequest req;
    req.set_digest("d");
    content::InfoResponse resp;
    ASSERT_TRUE(stub_->Info(&ctx, req, &resp).ok());
  }
  EXPECT_TRUE(WrittenNamespaces().empty());
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("containerd-namespace", "bad!");
    content::AbortRequest req;
    google::protobuf::Empty resp;
    grpc::Status s = stub_->Abort(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(s.error_message(), "namespace validation: bad");
  }
  EXPECT_EQ(WrittenNamespaces(), std::vector<std::string>{"bad!"});
}

TEST_P(OneBackendTest, UnknownServiceIsUnimplemented) {
  grpc::GenericStub stub(channel_);
  grpc::ClientContext ctx;
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&ctx, "/berth.nope.Service/Method", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = s;
                   done = true;
                   cv.notify_all();
                 });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_P(OneBackendTest, ClientStreaming) {
  if (!generic()) GTEST_SKIP() << "berth.test.Sum is not a containerd service";
  grpc::ClientContext ctx;
  grpc::ByteBuffer response;
  std::unique_ptr<grpc::ClientWriter<grpc::ByteBuffer>> writer(
      grpc::internal::ClientWriterFactory<grpc::ByteBuffer>::Create(
          channel_.get(),
          grpc::internal::RpcMethod("/berth.test.Sum/Add",
                                    grpc::internal::RpcMethod::CLIENT_STREAMING),
          &ctx, &response));
  for (int i = 0; i < 10; ++i) {
    grpc::Slice slice(std::string(static_cast<size_t>(100 + i), 'a'));
    grpc::ByteBuffer msg(&slice, 1);
    ASSERT_TRUE(writer->Write(msg));
  }
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string text;
  for (const auto& s : slices) text.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(text, "10/1045");
}

TEST_P(ProxyTest, BackendDownIsUnavailableThenReconnects) {
  StartBackends(1);
  StartGateway({backend_socket_});
  content::InfoRequest req;
  req.set_digest("d");
  content::InfoResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Info(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.error_message().rfind(std::string("service ") + kContent + " unavailable: ", 0), 0u)
        << s.error_message();
  }
  backends_.push_back(StartBackend(backend_socket_, fakes_[0].get(), nullptr));
  ASSERT_NE(backends_[0], nullptr);
  EXPECT_TRUE(WaitFor([&] {
    grpc::ClientContext ctx;
    return stub_->Info(&ctx, req, &resp).ok();
  }));
}

TEST_P(ProxyTest, BackendGoneMidStreamIsUnavailable) {
  StartBackends(1);
  backends_.push_back(StartBackend(backend_socket_, fakes_[0].get(), nullptr));
  StartGateway({backend_socket_});
  grpc::ClientContext ctx;
  auto stream = stub_->Write(&ctx);
  content::WriteContentRequest req;
  req.set_ref("block");
  ASSERT_TRUE(stream->Write(req));
  content::WriteContentResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_TRUE(WaitFor([&] { return fakes_[0]->blocked_calls() == 1; }));
  // The backend stops: its calls are cut off and its socket goes away.
  backends_[0]->Shutdown(std::chrono::system_clock::now());
  backends_.clear();
  EXPECT_FALSE(stream->Read(&resp));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(s.error_message().rfind(std::string("service ") + kContent + " unavailable: ", 0), 0u)
      << s.error_message();
}

TEST_P(ProxyTest, ReadsRoundRobinWritesToPrimary) {
  StartBackends(2);
  const std::string second = dir_.Path("backend2.sock");
  backends_.push_back(StartBackend(backend_socket_, fakes_[0].get(), nullptr));
  backends_.push_back(StartBackend(second, fakes_[1].get(), nullptr));
  StartGateway({backend_socket_, second});
  std::map<std::string, int> reads;
  for (int i = 0; i < 10; ++i) {
    grpc::ClientContext ctx;
    content::InfoRequest req;
    req.set_digest("d");
    content::InfoResponse resp;
    ASSERT_TRUE(stub_->Info(&ctx, req, &resp).ok());
    ++reads[Md(ctx.GetServerTrailingMetadata(), "x-backend")];
  }
  EXPECT_EQ(reads, (std::map<std::string, int>{{"b0", 5}, {"b1", 5}}));
  for (int i = 0; i < 4; ++i) {
    grpc::ClientContext ctx;
    content::DeleteContentRequest req;
    google::protobuf::Empty resp;
    EXPECT_EQ(stub_->Delete(&ctx, req, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(Md(ctx.GetServerTrailingMetadata(), "x-backend"), "b0");
  }
}

INSTANTIATE_TEST_SUITE_P(Generic, OneBackendTest, ::testing::Values(Mode::kGeneric));
INSTANTIATE_TEST_SUITE_P(Registered, OneBackendTest, ::testing::Values(Mode::kRegistered));
INSTANTIATE_TEST_SUITE_P(RegisteredBidi, OneBackendTest, ::testing::Values(Mode::kRegisteredBidi));
INSTANTIATE_TEST_SUITE_P(Generic, ProxyTest, ::testing::Values(Mode::kGeneric));
INSTANTIATE_TEST_SUITE_P(Registered, ProxyTest, ::testing::Values(Mode::kRegistered));
INSTANTIATE_TEST_SUITE_P(RegisteredBidi, ProxyTest, ::testing::Values(Mode::kRegisteredBidi));

}  // namespace
}  // namespace berth::gateway
