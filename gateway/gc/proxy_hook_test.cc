// The garbage collector's hooks: which calls trigger a collection and which wait for one
// (NewForwardHook, NewLeaseDeletedHook over a Scheduler), and ProxyOptions::on_forward in the
// gateway's forwarding proxy — called after the backend answered OK, holding the client's
// answer until the hook replies — on every forwarding path (unary fast path, registered
// bidi, generic).
#include "gateway/gc/proxy_hook.h"

#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/config.h"
#include "gateway/router.h"
#include "gateway/server/proxy_service.h"
#include "gateway/testing/fake_content.h"
#include "lib/server/health_service.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"
#include "proto/containerd/services/images/v1/images.pb.h"

namespace berth::gateway::gc {
namespace {

namespace pb = ::berth::gc::v1;
namespace content = ::containerd::services::content::v1;
using ::berth::testing::WaitFor;

const bool kGrpcInitialized = (grpc_init(), true);

grpc::ByteBuffer Serialize(const google::protobuf::Message& m) {
  const std::string bytes = m.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// A scheduler whose collections only count.
struct Counting {
  std::mutex mu;
  std::vector<std::vector<std::string>> runs;  // reasons of each
  Scheduler::RunFn Fn() {
    return [this](const CollectRequest& r) -> absl::StatusOr<pb::Report> {
      std::lock_guard<std::mutex> lock(mu);
      runs.push_back(r.reasons);
      return pb::Report();
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return runs.size();
  }
};

SchedulerOptions Immediate() {
  SchedulerOptions o;
  o.deletion_threshold = 1;
  o.interval = std::chrono::nanoseconds(0);
  o.trigger_delay = std::chrono::nanoseconds(0);
  o.startup_delay = std::chrono::nanoseconds(-1);
  o.max_time_share = 1.0;
  return o;
}

TEST(ForwardHookTest, DeletionsTriggerOthersDoNot) {
  Counting counting;
  Scheduler scheduler(counting.Fn(), Immediate());
  scheduler.Start();
  ForwardHook hook = NewForwardHook(&scheduler, nullptr);
  for (const char* method : {"/containerd.services.containers.v1.Containers/Delete",
                             "/containerd.services.snapshots.v1.Snapshots/Remove",
                             "/containerd.services.content.v1.Content/Delete"}) {
    AfterForward after = hook(method, "ns", nullptr);
    ASSERT_TRUE(after) << method;
    absl::Status replied = absl::UnknownError("not replied");
    after([&](absl::Status s) { replied = s; });
    EXPECT_OK(replied) << method;  // at once: not sync
  }
  EXPECT_TRUE(WaitFor([&] { return counting.size() >= 1; }));
  // Other writes count towards mutation_threshold, and are answered at once.
  for (const char* method : {"/containerd.services.content.v1.Content/Write",
                             "/containerd.services.images.v1.Images/Create",
                             "/containerd.services.snapshots.v1.Snapshots/Prepare"}) {
    AfterForward after = hook(method, "ns", nullptr);
    ASSERT_TRUE(after) << method;
    bool replied = false;
    after([&](absl::Status s) { replied = s.ok(); });
    EXPECT_TRUE(replied) << method;
  }
}

TEST(ForwardHookTest, WritesReachTheMutationThreshold) {
  Counting counting;
  SchedulerOptions options = Immediate();
  options.deletion_threshold = 0;
  options.mutation_threshold = 3;
  Scheduler scheduler(counting.Fn(), options);
  scheduler.Start();
  ForwardHook hook = NewForwardHook(&scheduler, nullptr);
  hook("/containerd.services.content.v1.Content/Delete", "ns", nullptr)([](absl::Status) {});
  hook("/containerd.services.content.v1.Content/Write", "ns", nullptr)([](absl::Status) {});
  hook("/containerd.services.images.v1.Images/Update", "ns", nullptr)([](absl::Status) {});
  ASSERT_TRUE(WaitFor([&] { return counting.size() == 1; }));
  EXPECT_EQ(counting.runs[0], std::vector<std::string>{"Content.Delete"});
}

TEST(ForwardHookTest, SyncImageDeleteRepliesAfterACollection) {
  Counting counting;
  Scheduler scheduler(counting.Fn(), Immediate());  // not started yet
  ForwardHook hook = NewForwardHook(&scheduler, nullptr);
  containerd::services::images::v1::DeleteImageRequest req;
  req.set_name("docker.io/library/busybox:latest");
  req.set_sync(true);
  grpc::ByteBuffer buffer = Serialize(req);
  AfterForward after = hook("/containerd.services.images.v1.Images/Delete", "ns", &buffer);
  ASSERT_TRUE(after);
  std::mutex mu;
  bool replied = false;
  absl::Status status;
  after([&](absl::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    replied = true;
    status = s;
  });
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_FALSE(replied);  // no collection has run
  }
  scheduler.Start();
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return replied;
  }));
  EXPECT_OK(status);
  ASSERT_EQ(counting.size(), 1u);
  EXPECT_EQ(counting.runs[0], std::vector<std::string>{"Images.Delete sync"});

  // Without sync (or when the request cannot be read): a trigger, and the reply at once.
  req.set_sync(false);
  buffer = Serialize(req);
  bool at_once = false;
  hook("/containerd.services.images.v1.Images/Delete", "ns",
       &buffer)([&](absl::Status s) { at_once = s.ok(); });
  EXPECT_TRUE(at_once);
  at_once = false;
  hook("/containerd.services.images.v1.Images/Delete", "ns",
       nullptr)([&](absl::Status s) { at_once = s.ok(); });
  EXPECT_TRUE(at_once);
}

TEST(ForwardHookTest, SyncDeleteReturnsTheCollectionsError) {
  Scheduler scheduler(
      [](const CollectRequest&) -> absl::StatusOr<pb::Report> {
        return absl::InternalError("lease store broken");
      },
      Immediate());
  scheduler.Start();
  LeaseDeletedHook hook = NewLeaseDeletedHook(&scheduler);
  std::mutex mu;
  absl::Status status;
  bool replied = false;
  hook(/*sync=*/true, [&](absl::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = s;
    replied = true;
  });
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return replied;
  }));
  EXPECT_TRUE(absl::IsInternal(status)) << status;
  bool at_once = false;
  hook(/*sync=*/false, [&](absl::Status s) { at_once = s.ok(); });
  EXPECT_TRUE(at_once);
}

// --- on_forward in the proxy ------------------------------------------------------------

enum class Mode { kGeneric, kRegistered, kRegisteredBidi };

server::HealthService* BackendHealth() {
  static server::HealthService* health = [] {
    auto* h = new server::HealthService();
    h->SetServingStatus("", true);
    return h;
  }();
  return health;
}

class ProxyForwardHookTest : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    grpc::ServerBuilder backend;
    backend.RegisterService(BackendHealth());
    backend.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::CQ_TIMEOUT_MSEC, 50);
    backend.AddListeningPort("unix:" + dir_.Path("b.sock"), grpc::InsecureServerCredentials());
    backend.RegisterService(&fake_);
    backend_ = backend.BuildAndStart();
    ASSERT_NE(backend_, nullptr);

    GatewayConfig config;
    BackendConfig b;
    b.name = "content";
    b.services = {"containerd.services.content.v1.Content"};
    b.addresses = {"unix://" + dir_.Path("b.sock")};
    b.read_methods = {"Info"};
    config.backends.push_back(b);
    ASSERT_OK_AND_ASSIGN(router_, Router::Create(config));
    ProxyOptions options;
    options.on_forward = [this](const std::string& method, const std::string& ns,
                                const grpc::ByteBuffer* request) -> ProxyOptions::AfterForward {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(method + " " + ns + (request != nullptr ? " +request" : ""));
      if (method != "/containerd.services.content.v1.Content/Abort" &&
          method != "/containerd.services.content.v1.Content/Delete") {
        return nullptr;
      }
      return [this](ProxyOptions::Reply reply) {
        std::lock_guard<std::mutex> lock(mu_);
        pending_ = std::move(reply);
      };
    };
    proxy_ = std::make_unique<ProxyService>(router_.get(), options);
    grpc::ServerBuilder gateway;
    gateway.AddListeningPort("unix:" + dir_.Path("g.sock"), grpc::InsecureServerCredentials());
    if (GetParam() == Mode::kGeneric) {
      gateway.RegisterCallbackGenericService(proxy_.get());
    } else {
      ASSERT_OK_AND_ASSIGN(registered_,
                           proxy_->RegisteredService({}, GetParam() == Mode::kRegistered));
      gateway.RegisterService(registered_.get());
    }
    gateway_ = gateway.BuildAndStart();
    ASSERT_NE(gateway_, nullptr);
    stub_ = content::Content::NewStub(
        grpc::CreateChannel("unix:" + dir_.Path("g.sock"), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (gateway_ != nullptr) gateway_->Shutdown();
    if (backend_ != nullptr) backend_->Shutdown();
  }

  grpc::Status Abort(const std::string& ref) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("containerd-namespace", "ns1");
    content::AbortRequest req;
    req.set_ref(ref);
    google::protobuf::Empty resp;
    return stub_->Abort(&ctx, req, &resp);
  }

  // The reply the hook holds, once the backend answered.
  ProxyOptions::Reply TakePending() {
    ProxyOptions::Reply reply;
    EXPECT_TRUE(WaitFor([&] {
      std::lock_guard<std::mutex> lock(mu_);
      return static_cast<bool>(pending_);
    }));
    std::lock_guard<std::mutex> lock(mu_);
    std::swap(reply, pending_);
    return reply;
  }

  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

  ::berth::testing::TempDir dir_{"gchook"};
  gateway::testing::FakeContent fake_;
  std::unique_ptr<grpc::Server> backend_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<ProxyService> proxy_;
  std::unique_ptr<grpc::Service> registered_;
  std::unique_ptr<grpc::Server> gateway_;
  std::unique_ptr<content::Content::Stub> stub_;
  std::mutex mu_;
  std::vector<std::string> seen_;
  ProxyOptions::Reply pending_;
};

TEST_P(ProxyForwardHookTest, TheClientsAnswerWaitsForTheHook) {
  // The hook's reply decides the answer: an error it gives is what the client gets.
  grpc::Status first;
  std::thread client([&] { first = Abort("r1"); });
  TakePending()(absl::AbortedError("collection failed"));
  client.join();
  EXPECT_EQ(first.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(first.error_message(), "collection failed");

  grpc::Status second;
  std::thread client2([&] { second = Abort("r2"); });
  TakePending()(absl::OkStatus());
  client2.join();
  EXPECT_TRUE(second.ok()) << second.error_message();

  // The unary fast path hands the request over; the other paths do not have it yet.
  std::vector<std::string> s = seen();
  ASSERT_EQ(s.size(), 2u);
  const std::string expected = std::string("/containerd.services.content.v1.Content/Abort ns1") +
                               (GetParam() == Mode::kRegistered ? " +request" : "");
  EXPECT_EQ(s[0], expected);
}

TEST_P(ProxyForwardHookTest, FailedCallsAndReadsSkipTheContinuation) {
  // FakeContent's Delete fails: the continuation is not run, the error passes.
  grpc::ClientContext ctx;
  content::DeleteContentRequest req;
  google::protobuf::Empty resp;
  grpc::Status s = stub_->Delete(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_FALSE(static_cast<bool>(pending_));
  }
  // A read is not a write: the hook is not asked.
  grpc::ClientContext info_ctx;
  content::InfoRequest info;
  info.set_digest("sha256:abc");
  content::InfoResponse info_resp;
  ASSERT_TRUE(stub_->Info(&info_ctx, info, &info_resp).ok());
  std::vector<std::string> all = seen();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].rfind("/containerd.services.content.v1.Content/Delete", 0), 0u);
}

INSTANTIATE_TEST_SUITE_P(Generic, ProxyForwardHookTest, ::testing::Values(Mode::kGeneric));
INSTANTIATE_TEST_SUITE_P(Registered, ProxyForwardHookTest, ::testing::Values(Mode::kRegistered));
INSTANTIATE_TEST_SUITE_P(RegisteredBidi, ProxyForwardHookTest,
                         ::testing::Values(Mode::kRegisteredBidi));

}  // namespace
}  // namespace berth::gateway::gc
