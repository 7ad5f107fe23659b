// GatewayAdmin.ReplayEvents over a real nats-server (lib/testing/nats_server.h): events
// published by lib/events' NatsPublisher into the `berth-events` stream, replayed through
// JetStreamEventSource and a real gRPC server on a unix socket.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "gateway/server/gateway_admin_service.h"
#include "lib/events/jetstream.h"
#include "lib/events/nats_publisher.h"
#include "lib/testing/nats_server.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/events/task.pb.h"

namespace berth::gateway {
namespace {

namespace v1 = berth::gateway::v1;

const bool kGrpcInitialized = (grpc_init(), true);

constexpr char kTaskExit[] = "containerd.events.TaskExit";

class JetStreamReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(nats_.Start());
    ASSERT_OK(events::EnsureStream(nats_.Url()));
    events::NatsPublisherOptions options;
    options.url = nats_.Url();
    options.client_name = "berth-test";
    options.reconnect_wait = std::chrono::milliseconds(50);
    ASSERT_OK_AND_ASSIGN(publisher_, events::NatsPublisher::Create(options));
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
    publisher_.reset();
  }

  void StartServer(ReplayOptions options = {}, const std::string& stream = "berth-events") {
    service_ = std::make_unique<GatewayAdminService>(
        nullptr, JetStreamEventSource(nats_.Url(), stream), nullptr, options);
    const std::string addr = "unix://" + dir_.path() + "/admin.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ =
        v1::GatewayAdmin::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  }

  // Publishes TaskExit events with pids [from, to), namespace "a" for even pids, "b" for odd.
  void Publish(uint32_t from, uint32_t to) {
    for (uint32_t pid = from; pid < to; ++pid) {
      containerd::events::TaskExit exit;
      exit.set_container_id("c" + std::to_string(pid));
      exit.set_pid(pid);
      ASSERT_OK(publisher_->Publish(pid % 2 == 0 ? "a" : "b", "/tasks/exit", exit, kTaskExit));
    }
  }

  // Waits until the stream holds `n` events.
  bool Stored(uint64_t n) {
    return testing::WaitFor(
        [&] {
          absl::StatusOr<events::StreamState> state = events::GetStreamState(nats_.Url());
          return state.ok() && state->messages >= n;
        },
        std::chrono::seconds(30));
  }

  static uint32_t PidOf(const v1::ReplayedEvent& e) {
    containerd::events::TaskExit exit;
    EXPECT_TRUE(exit.ParseFromString(e.envelope().event().value()));
    return exit.pid();
  }

  // A non-following replay read to its end.
  std::vector<v1::ReplayedEvent> ReadAll(uint64_t since, std::vector<std::string> filters,
                                         grpc::Status* status) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::ReplayEventsRequest req;
    req.set_since_sequence(since);
    for (const auto& f : filters) req.add_filters(f);
    auto reader = stub_->ReplayEvents(&ctx, req);
    std::vector<v1::ReplayedEvent> out;
    v1::ReplayedEvent e;
    while (reader->Read(&e)) out.push_back(e);
    *status = reader->Finish();
    return out;
  }

  testing::NatsServer nats_;
  testing::TempDir dir_;
  std::unique_ptr<events::NatsPublisher> publisher_;
  std::unique_ptr<GatewayAdminService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::GatewayAdmin::Stub> stub_;
};

TEST_F(JetStreamReplayTest, ReplaysThousandsOfEventsInOrderNoneMissing) {
  constexpr uint32_t kEvents = 5000;
  Publish(0, kEvents);
  ASSERT_TRUE(Stored(kEvents));
  StartServer();

  grpc::Status st;
  std::vector<v1::ReplayedEvent> got = ReadAll(0, {}, &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(got.size(), kEvents);
  for (uint32_t i = 0; i < kEvents; ++i) {
    ASSERT_EQ(got[i].sequence(), i + 1) << i;
    ASSERT_EQ(PidOf(got[i]), i) << i;
    ASSERT_EQ(got[i].envelope().namespace_(), i % 2 == 0 ? "a" : "b") << i;
    ASSERT_EQ(got[i].envelope().topic(), "/tasks/exit") << i;
  }

  // From a sequence on, and filtered.
  got = ReadAll(4001, {}, &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(got.size(), kEvents - 4000);
  EXPECT_EQ(got.front().sequence(), 4001u);
  EXPECT_EQ(got.back().sequence(), kEvents);
  got = ReadAll(0, {"namespace==b"}, &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(got.size(), kEvents / 2);
  for (uint32_t i = 0; i < got.size(); ++i) ASSERT_EQ(PidOf(got[i]), 2 * i + 1) << i;

  // Past the end: nothing, and the replay ends.
  EXPECT_TRUE(ReadAll(kEvents + 1, {}, &st).empty());
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(JetStreamReplayTest, FollowDeliversANewEventAsItIsStored) {
  Publish(0, 3);
  ASSERT_TRUE(Stored(3));
  ReplayOptions options;
  options.follow_wait = std::chrono::hours(1);  // no re-reading: a new event must be pushed
  StartServer(options);

  grpc::ClientContext ctx;
  // The ceiling for a broken replay: the reads below fail when it passes.
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::ReplayEventsRequest req;
  req.set_since_sequence(2);
  req.set_follow(true);
  req.add_filters("namespace==a");
  auto reader = stub_->ReplayEvents(&ctx, req);
  v1::ReplayedEvent e;
  ASSERT_TRUE(reader->Read(&e));  // the stored one: the replay is running
  EXPECT_EQ(e.sequence(), 3u);
  EXPECT_EQ(PidOf(e), 2u);

  Publish(3, 5);  // pid 3 in "b" (filtered out), pid 4 in "a"
  ASSERT_TRUE(reader->Read(&e)) << reader->Finish().error_message();
  EXPECT_EQ(e.sequence(), 5u);
  EXPECT_EQ(PidOf(e), 4u);
  Publish(5, 7);
  ASSERT_TRUE(reader->Read(&e)) << reader->Finish().error_message();
  EXPECT_EQ(e.sequence(), 7u);

  ctx.TryCancel();
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(JetStreamReplayTest, MissingStreamIsNotFoundAndNoServerIsUnavailable) {
  StartServer({}, "no-such-stream");
  grpc::Status st;
  EXPECT_TRUE(ReadAll(0, {}, &st).empty());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();

  // The cursor of a source whose server is gone.
  EventSource source = JetStreamEventSource(nats_.Url(), "berth-events");
  ASSERT_OK(nats_.Stop());
  absl::StatusOr<std::unique_ptr<EventCursor>> cursor = source(1);
  EXPECT_TRUE(absl::IsUnavailable(cursor.status())) << cursor.status();
}

}  // namespace
}  // namespace berth::gateway
