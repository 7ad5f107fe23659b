#include "lib/server/call_context.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include "lib/server/server.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/services/version/v1/version.grpc.pb.h"

namespace berth::server {
namespace {

using containerd::services::version::v1::Version;
using containerd::services::version::v1::VersionResponse;
using std::chrono::system_clock;

// What the handler should do with the call; set by each test before it calls.
enum class Mode {
  kEcho,           // FromServer(required) and echo ns/lease/deadline
  kEchoOptional,   // FromServer(not required)
  kNotFound,       // body returns NotFound
  kThrow,          // body throws std::runtime_error
  kThrowNonStd,    // body throws an int
  kWaitForCancel,  // body waits until the call is cancelled
  kSpinForCancel,  // body asks IsCancelled in a tight loop, as a List walk does per item
};

// Version service whose handler runs through GrpcHandler and reports the CallContext it got:
// version = namespace, revision = lease, and the deadline in `deadline`.
class EchoService final : public Version::Service {
 public:
  grpc::Status Version(grpc::ServerContext* ctx, const google::protobuf::Empty*,
                       VersionResponse* response) override {
    switch (mode) {
      case Mode::kEcho:
      case Mode::kEchoOptional:
        return GrpcHandler(ctx, mode == Mode::kEcho, [&](const CallContext& call) -> absl::Status {
          response->set_version(call.ns);
          response->set_revision(call.lease);
          deadline = call.deadline;
          return absl::OkStatus();
        });
      case Mode::kNotFound:
        return GrpcHandler([]() -> absl::Status { return absl::NotFoundError("blob \"x\""); });
      case Mode::kThrow:
        return GrpcHandler([]() -> absl::Status { throw std::runtime_error("boom"); });
      case Mode::kThrowNonStd:
        return GrpcHandler([]() -> absl::Status { throw 42; });
      case Mode::kWaitForCancel:
        return GrpcHandler(ctx, false, [&](const CallContext& call) -> absl::Status {
          started.set_value();
          // Bounded so a broken test ends; the test cancels right after `started`.
          saw_cancel = testing::WaitFor([&] { return call.IsCancelled(); });
          return absl::OkStatus();
        });
      case Mode::kSpinForCancel:
        return GrpcHandler(ctx, false, [&](const CallContext& call) -> absl::Status {
          started.set_value();
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (!call.IsCancelled() && std::chrono::steady_clock::now() < give_up) {
          }
          // Once seen, a cancellation stays seen, copies of the context included.
          const CallContext copy = call;
          saw_cancel = call.IsCancelled() && copy.IsCancelled() && call.IsCancelled();
          return absl::OkStatus();
        });
    }
    return grpc::Status::OK;
  }

  std::atomic<Mode> mode{Mode::kEcho};
  system_clock::time_point deadline;
  std::promise<void> started;
  std::atomic<bool> saw_cancel{false};
};

class CallContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerConfig config;
    config.address = "unix://" + dir_.Path("s.sock");
    ServerOptions options;
    options.services.push_back(&service_);
    ASSERT_OK_AND_ASSIGN(server_, Server::Start(config, std::move(options)));
    stub_ = Version::NewStub(
        grpc::CreateChannel("unix:" + dir_.Path("s.sock"), grpc::InsecureChannelCredentials()));
  }

  grpc::Status Call(grpc::ClientContext* ctx, VersionResponse* response) {
    google::protobuf::Empty request;
    return stub_->Version(ctx, request, response);
  }

  // Calls with the handler in `mode`, cancels once it runs, and says whether it saw that.
  bool HandlerSeesTheClientCancel(Mode mode) {
    service_.mode = mode;
    grpc::ClientContext ctx;
    std::future<void> started = service_.started.get_future();
    std::thread caller([&] {
      VersionResponse response;
      Call(&ctx, &response);
    });
    started.wait();
    ctx.TryCancel();
    caller.join();
    // The handler may still be finishing after the client saw the cancellation.
    return testing::WaitFor([&] { return service_.saw_cancel.load(); });
  }

  testing::TempDir dir_{"cctx"};
  EchoService service_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Version::Stub> stub_;
};

TEST_F(CallContextTest, RoundTripThroughToClientAndFromServer) {
  CallContext call;
  call.ns = "k8s.io";
  call.lease = "pull-1234";
  call.deadline = system_clock::now() + std::chrono::hours(1);
  grpc::ClientContext ctx;
  ToClient(call, &ctx);
  VersionResponse response;
  grpc::Status status = Call(&ctx, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.version(), "k8s.io");
  EXPECT_EQ(response.revision(), "pull-1234");
  // The deadline travels as a relative timeout, so it comes back close, not identical.
  EXPECT_LT(service_.deadline, call.deadline + std::chrono::minutes(1));
  EXPECT_GT(service_.deadline, call.deadline - std::chrono::minutes(1));
}

TEST_F(CallContextTest, NoDeadlineIsTimePointMax) {
  CallContext call;
  call.ns = "default";
  grpc::ClientContext ctx;
  ToClient(call, &ctx);
  EXPECT_EQ(ctx.deadline(), system_clock::time_point::max());
  VersionResponse response;
  ASSERT_TRUE(Call(&ctx, &response).ok());
  EXPECT_EQ(service_.deadline, system_clock::time_point::max());
  EXPECT_EQ(response.revision(), "");
}

TEST_F(CallContextTest, FirstNamespaceWins) {
  grpc::ClientContext ctx;
  ctx.AddMetadata(kNamespaceMetadataKey, "first");
  ctx.AddMetadata(kNamespaceMetadataKey, "second");
  VersionResponse response;
  ASSERT_TRUE(Call(&ctx, &response).ok());
  EXPECT_EQ(response.version(), "first");
}

TEST_F(CallContextTest, InvalidNamespaceIsInvalidArgument) {
  for (const char* bad : {"Bad!", "-leading", "a..b", "x/y"}) {
    grpc::ClientContext ctx;
    ctx.AddMetadata(kNamespaceMetadataKey, bad);
    VersionResponse response;
    grpc::Status status = Call(&ctx, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_EQ(status.error_message().rfind("namespace validation: ", 0), 0u)
        << status.error_message();
  }
}

TEST_F(CallContextTest, InvalidNamespaceIsRejectedEvenWhenNotRequired) {
  service_.mode = Mode::kEchoOptional;
  grpc::ClientContext ctx;
  ctx.AddMetadata(kNamespaceMetadataKey, "no spaces");
  VersionResponse response;
  EXPECT_EQ(Call(&ctx, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CallContextTest, MissingNamespaceWhenRequiredIsFailedPrecondition) {
  for (bool empty_value : {false, true}) {
    grpc::ClientContext ctx;
    if (empty_value) ctx.AddMetadata(kNamespaceMetadataKey, "");
    VersionResponse response;
    grpc::Status status = Call(&ctx, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(status.error_message(), "namespace is required");
  }
}

TEST_F(CallContextTest, MissingNamespaceWhenOptionalIsEmpty) {
  service_.mode = Mode::kEchoOptional;
  grpc::ClientContext ctx;
  ctx.AddMetadata(kLeaseMetadataKey, "l1");
  VersionResponse response;
  grpc::Status status = Call(&ctx, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.version(), "");
  EXPECT_EQ(response.revision(), "l1");
}

TEST_F(CallContextTest, CancellationIsVisibleToTheHandler) {
  EXPECT_TRUE(HandlerSeesTheClientCancel(Mode::kWaitForCancel));
}

// The check asks gRPC at most once per millisecond (each ask plucks the completion queue);
// a handler that asks millions of times still sees the cancellation.
TEST_F(CallContextTest, CancellationIsSeenByAHandlerAskingInATightLoop) {
  EXPECT_TRUE(HandlerSeesTheClientCancel(Mode::kSpinForCancel));
}

TEST_F(CallContextTest, GrpcHandlerConvertsStatus) {
  service_.mode = Mode::kNotFound;
  grpc::ClientContext ctx;
  VersionResponse response;
  grpc::Status status = Call(&ctx, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "blob \"x\"");
}

TEST_F(CallContextTest, GrpcHandlerTurnsExceptionsIntoInternal) {
  service_.mode = Mode::kThrow;
  {
    grpc::ClientContext ctx;
    VersionResponse response;
    grpc::Status status = Call(&ctx, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(status.error_message(), "internal error: boom");
  }
  service_.mode = Mode::kThrowNonStd;
  {
    grpc::ClientContext ctx;
    VersionResponse response;
    grpc::Status status = Call(&ctx, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
    EXPECT_EQ(status.error_message(), "internal error: unknown exception");
  }
  // The server is still there.
  service_.mode = Mode::kEchoOptional;
  grpc::ClientContext ctx;
  VersionResponse response;
  EXPECT_TRUE(Call(&ctx, &response).ok());
}

}  // namespace
}  // namespace berth::server
