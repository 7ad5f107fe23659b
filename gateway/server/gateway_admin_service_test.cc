// GatewayAdminService over a real gRPC server on a unix socket, with a scripted event source
// (the stream's contents) and an EventHub fed by hand.
#include "gateway/server/gateway_admin_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lib/testing/temp_dir.h"

namespace berth::gateway {
namespace {

namespace v1 = berth::gateway::v1;
namespace evpb = containerd::services::events::v1;

const bool kGrpcInitialized = (grpc_init(), true);

// A stream's contents: sequence -> event; its cursors read it as JetStreamEventSource's do,
// and a waiting cursor wakes when an event is added.
class FakeStream {
 public:
  void Add(uint64_t seq, const std::string& ns, const std::string& topic) {
    std::lock_guard<std::mutex> lock(mu_);
    events::StoredEvent e;
    e.seq = seq;
    e.event.envelope.set_namespace_(ns);
    e.event.envelope.set_topic(topic);
    events_[seq] = e;
    cv_.notify_all();
  }
  void Fail(absl::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = std::move(s);
  }

  EventSource Source() {
    return [this](uint64_t first) -> absl::StatusOr<std::unique_ptr<EventCursor>> {
      std::lock_guard<std::mutex> lock(mu_);
      if (!fail_.ok()) return fail_;
      return std::unique_ptr<EventCursor>(new Cursor(this, first));
    };
  }

 private:
  class Cursor final : public EventCursor {
   public:
    Cursor(FakeStream* stream, uint64_t first) : stream_(stream), next_(first) {}

    absl::StatusOr<Batch> Next(size_t max, std::chrono::milliseconds wait) override {
      std::unique_lock<std::mutex> lock(stream_->mu_);
      auto ready = [&] {
        return interrupted_ || stream_->events_.lower_bound(next_) != stream_->events_.end();
      };
      stream_->cv_.wait_for(lock, wait, ready);
      if (interrupted_) return absl::CancelledError("interrupted");
      Batch batch;
      auto it = stream_->events_.lower_bound(next_);
      for (; it != stream_->events_.end() && batch.events.size() < max; ++it) {
        batch.events.push_back(it->second);
        next_ = it->first + 1;
      }
      batch.caught_up = it == stream_->events_.end();
      return batch;
    }

    void Interrupt() override {
      std::lock_guard<std::mutex> lock(stream_->mu_);
      interrupted_ = true;
      stream_->cv_.notify_all();
    }

   private:
    FakeStream* stream_;
    uint64_t next_;             // guarded by stream_->mu_
    bool interrupted_ = false;  // guarded by stream_->mu_
  };

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, events::StoredEvent> events_;  // guarded by mu_
  absl::Status fail_;                               // guarded by mu_
};

class GatewayAdminServiceTest : public ::testing::Test {
 protected:
  void Start(bool with_source = true) {
    ReplayOptions options;
    options.batch = 2;                            // several batches
    options.follow_wait = std::chrono::hours(1);  // following wakes only for a new event
    service_ = std::make_unique<GatewayAdminService>(
        nullptr, with_source ? stream_.Source() : EventSource(), hub_.get(), options);
    const std::string addr = "unix://" + dir_.path() + "/admin.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ =
        v1::GatewayAdmin::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    hub_->Shutdown();
    if (server_) server_->Shutdown();
  }

  // Reads a non-following replay to its end: "seq:ns:topic" per event, and the status.
  std::vector<std::string> ReadAll(uint64_t since, std::vector<std::string> filters,
                                   grpc::Status* status) {
    grpc::ClientContext ctx;
    v1::ReplayEventsRequest req;
    req.set_since_sequence(since);
    for (const auto& f : filters) req.add_filters(f);
    auto reader = stub_->ReplayEvents(&ctx, req);
    std::vector<std::string> out;
    v1::ReplayedEvent e;
    while (reader->Read(&e)) {
      out.push_back(std::to_string(e.sequence()) + ":" + e.envelope().namespace_() + ":" +
                    e.envelope().topic());
    }
    *status = reader->Finish();
    return out;
  }

  testing::TempDir dir_;
  FakeStream stream_;
  std::unique_ptr<EventHub> hub_ = EventHub::ForTesting();
  std::unique_ptr<GatewayAdminService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::GatewayAdmin::Stub> stub_;
};

TEST_F(GatewayAdminServiceTest, ReplaysFromTheSequenceInOrderFiltered) {
  stream_.Add(1, "a", "/tasks/create");
  stream_.Add(2, "b", "/tasks/exit");
  stream_.Add(3, "a", "/tasks/exit");
  stream_.Add(5, "a", "/tasks/delete");  // 4 was removed by the limits
  stream_.Add(6, "b", "/tasks/exit");
  Start();
  grpc::Status st;
  EXPECT_EQ(ReadAll(0, {}, &st),
            (std::vector<std::string>{"1:a:/tasks/create", "2:b:/tasks/exit", "3:a:/tasks/exit",
                                      "5:a:/tasks/delete", "6:b:/tasks/exit"}));
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(ReadAll(3, {}, &st),
            (std::vector<std::string>{"3:a:/tasks/exit", "5:a:/tasks/delete", "6:b:/tasks/exit"}));
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(ReadAll(2, {"topic==\"/tasks/exit\""}, &st),
            (std::vector<std::string>{"2:b:/tasks/exit", "3:a:/tasks/exit", "6:b:/tasks/exit"}));
  EXPECT_EQ(
      ReadAll(1, {"namespace==a", "namespace==x"}, &st),
      (std::vector<std::string>{"1:a:/tasks/create", "3:a:/tasks/exit", "5:a:/tasks/delete"}));
  EXPECT_TRUE(ReadAll(7, {}, &st).empty());
  EXPECT_TRUE(st.ok());
}

TEST_F(GatewayAdminServiceTest, Errors) {
  Start();
  grpc::Status st;
  EXPECT_TRUE(ReadAll(0, {"topic=="}, &st).empty());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  stream_.Fail(absl::NotFoundError("stream \"berth-events\" not found"));
  ReadAll(0, {}, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  // GarbageCollect goes to the GC's service: none here.
  grpc::ClientContext ctx;
  v1::GarbageCollectResponse resp;
  EXPECT_EQ(stub_->GarbageCollect(&ctx, v1::GarbageCollectRequest(), &resp).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(GatewayAdminServiceTest, NoEventBusIsUnavailable) {
  Start(/*with_source=*/false);
  grpc::Status st;
  ReadAll(0, {}, &st);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(GatewayAdminServiceTest, FollowStreamsNewEventsUntilCancelled) {
  stream_.Add(1, "a", "/x/old");
  Start();
  grpc::ClientContext ctx;
  v1::ReplayEventsRequest req;
  req.set_since_sequence(1);
  req.set_follow(true);
  req.add_filters("namespace==a");
  auto reader = stub_->ReplayEvents(&ctx, req);
  v1::ReplayedEvent e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.sequence(), 1u);
  EXPECT_EQ(e.envelope().topic(), "/x/old");

  // New events: stored, then seen by the hub (which wakes the replay).
  stream_.Add(2, "b", "/x/other");
  stream_.Add(3, "a", "/x/new");
  evpb::Envelope any;
  hub_->Dispatch(any);
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.sequence(), 3u);
  EXPECT_EQ(e.envelope().topic(), "/x/new");

  ctx.TryCancel();
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(GatewayAdminServiceTest, FollowEndsUnavailableWhenTheHubShutsDown) {
  Start();
  grpc::ClientContext ctx;
  v1::ReplayEventsRequest req;
  req.set_follow(true);
  auto reader = stub_->ReplayEvents(&ctx, req);
  stream_.Add(1, "a", "/x/one");
  hub_->Dispatch(evpb::Envelope());
  v1::ReplayedEvent e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.sequence(), 1u);
  hub_->Shutdown();
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace berth::gateway
