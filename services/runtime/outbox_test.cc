#include "services/runtime/outbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "lib/events/recording_publisher.h"
#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/events/task.pb.h"
#include "services/runtime/schema.h"

namespace berth::runtime {
namespace {

size_t Records(store::Store* db) {
  size_t n = 0;
  EXPECT_OK(db->Scan(schema::OutboxPrefix(), [&](std::string_view, std::string_view) {
    ++n;
    return true;
  }));
  return n;
}

containerd::events::TaskExit Exit(const std::string& id, uint32_t status) {
  containerd::events::TaskExit e;
  e.set_container_id(id);
  e.set_id(id);
  e.set_pid(42);
  e.set_exit_status(status);
  return e;
}

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Store::Open(dir_.Path("meta"));
    ASSERT_OK(db.status());
    db_ = std::move(*db);
  }
  OutboxOptions Fast() {
    OutboxOptions o;
    o.sweep_interval = std::chrono::milliseconds(5);
    return o;
  }
  testing::TempDir dir_{"brob"};
  std::unique_ptr<store::Store> db_;
};

TEST_F(OutboxTest, PersistsPublishesAndForgetsOnceSent) {
  events::RecordingPublisher publisher;
  std::atomic<bool> drained{false};
  Outbox outbox(
      db_.get(), &publisher, [&] { return drained.load(); }, Fast());
  ASSERT_OK(outbox.Start());
  ASSERT_OK(outbox.Add("default", "/tasks/exit", Exit("c1", 3), "containerd.events.TaskExit",
                       {{"v1/_runtime/exits/default/c1/init", "42 1"}}));
  // Durable with its extra key, and handed to the publisher with the bare type URL.
  EXPECT_EQ(Records(db_.get()), 1u);
  ASSERT_OK_AND_ASSIGN(std::string extra, db_->Get("v1/_runtime/exits/default/c1/init"));
  EXPECT_EQ(extra, "42 1");
  auto envelopes = publisher.Envelopes();
  ASSERT_EQ(envelopes.size(), 1u);
  EXPECT_EQ(envelopes[0].topic(), "/tasks/exit");
  EXPECT_EQ(envelopes[0].namespace_(), "default");
  EXPECT_EQ(envelopes[0].event().type_url(), "containerd.events.TaskExit");
  containerd::events::TaskExit got;
  ASSERT_TRUE(got.ParseFromString(envelopes[0].event().value()));
  EXPECT_EQ(got.exit_status(), 3u);
  // Not forgotten while the publisher has not sent it.
  EXPECT_EQ(outbox.pending(), 1u);
  EXPECT_EQ(Records(db_.get()), 1u);
  drained = true;
  ASSERT_TRUE(testing::WaitFor([&] { return outbox.pending() == 0; }));
  EXPECT_EQ(Records(db_.get()), 0u);
}

TEST_F(OutboxTest, ReplaysWhatAPreviousRunLeft) {
  {
    events::RecordingPublisher publisher;
    Outbox outbox(
        db_.get(), &publisher, [] { return false; }, Fast());
    ASSERT_OK(outbox.Start());
    ASSERT_OK(outbox.Add("default", "/tasks/exit", Exit("a", 1), "containerd.events.TaskExit"));
    ASSERT_OK(outbox.Add("ns2", "/tasks/exit", Exit("b", 2), "containerd.events.TaskExit"));
  }  // "crash": never confirmed sent
  EXPECT_EQ(Records(db_.get()), 2u);
  events::RecordingPublisher publisher;
  Outbox outbox(
      db_.get(), &publisher, [] { return true; }, Fast());
  ASSERT_OK(outbox.Start());
  auto envelopes = publisher.Envelopes();
  ASSERT_EQ(envelopes.size(), 2u);  // oldest first
  EXPECT_EQ(envelopes[0].namespace_(), "default");
  EXPECT_EQ(envelopes[1].namespace_(), "ns2");
  // New events get sequence numbers after the replayed ones.
  ASSERT_OK(outbox.Add("default", "/tasks/exit", Exit("c", 3), "containerd.events.TaskExit"));
  ASSERT_EQ(publisher.Envelopes().size(), 3u);
  ASSERT_TRUE(testing::WaitFor([&] { return Records(db_.get()) == 0; }));
}

TEST_F(OutboxTest, WithoutPublisherOrWithARefusingOne) {
  {
    Outbox outbox(db_.get(), nullptr, nullptr, Fast());
    ASSERT_OK(outbox.Start());
    ASSERT_OK(outbox.Add("default", "/tasks/exit", Exit("a", 1), "containerd.events.TaskExit"));
    ASSERT_TRUE(testing::WaitFor([&] { return Records(db_.get()) == 0; }));
  }
  // A publisher that is closed (Unavailable) keeps the record for the next start.
  events::RecordingPublisher closed;
  closed.FailWith(absl::UnavailableError("closed"));
  {
    Outbox outbox(
        db_.get(), &closed, [] { return true; }, Fast());
    ASSERT_OK(outbox.Start());
    ASSERT_OK(outbox.Add("default", "/tasks/exit", Exit("a", 1), "containerd.events.TaskExit"));
    EXPECT_EQ(outbox.pending(), 0u);
  }
  EXPECT_EQ(Records(db_.get()), 1u);
  // An event that can never be published (invalid topic) is not kept forever.
  events::RecordingPublisher ok;
  Outbox outbox(
      db_.get(), &ok, [] { return true; }, Fast());
  ASSERT_OK(outbox.Start());
  ASSERT_OK(outbox.Add("default", "not a topic", Exit("a", 1), "containerd.events.TaskExit"));
  ASSERT_TRUE(testing::WaitFor([&] { return Records(db_.get()) == 0; }));
}

}  // namespace
}  // namespace berth::runtime
