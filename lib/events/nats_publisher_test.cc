// Integration tests against a real nats-server (lib/testing/nats_server.h).
#include "lib/events/nats_publisher.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "lib/events/envelope.h"
#include "lib/events/jetstream.h"
#include "lib/events/subscriber.h"
#include "lib/events/topics.h"
#include "lib/testing/nats_server.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/events/task.pb.h"

namespace berth::events {
namespace {

using ::berth::testing::NatsServer;
using ::berth::testing::WaitFor;

constexpr char kTaskExit[] = "containerd.events.TaskExit";

containerd::events::TaskExit Exit(const std::string& id, uint32_t pid) {
  containerd::events::TaskExit exit;
  exit.set_container_id(id);
  exit.set_id(id);
  exit.set_pid(pid);
  return exit;
}

uint32_t PidOf(const Envelope& envelope) {
  containerd::events::TaskExit exit;
  EXPECT_TRUE(exit.ParseFromString(envelope.event().value()));
  return exit.pid();
}

NatsPublisherOptions OptionsFor(const NatsServer& nats) {
  NatsPublisherOptions options;
  options.url = nats.Url();
  options.client_name = "berth-test";
  options.reconnect_wait = std::chrono::milliseconds(50);
  options.stream = StreamOptions();
  return options;
}

// Collects what a Subscriber delivers.
class Inbox {
 public:
  Subscriber::Callback Callback() {
    return [this](const ReceivedEvent& event) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(event);
    };
  }
  std::vector<ReceivedEvent> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  size_t Size() { return Events().size(); }

 private:
  std::mutex mu_;
  std::vector<ReceivedEvent> events_;
};

// The pids of the TaskExit events stored in the stream, in stream order.
std::vector<uint32_t> StoredPids(const NatsServer& nats) {
  absl::StatusOr<std::vector<StoredEvent>> stored =
      ReplayStream(nats.Url(), "berth-events", 1, 1000);
  EXPECT_TRUE(stored.ok()) << stored.status();
  std::vector<uint32_t> pids;
  if (stored.ok()) {
    for (const StoredEvent& e : *stored) pids.push_back(PidOf(e.event.envelope));
  }
  return pids;
}

uint64_t StoredCount(const NatsServer& nats) {
  absl::StatusOr<StreamState> state = GetStreamState(nats.Url());
  return state.ok() ? state->messages : 0;
}

TEST(NatsPublisher, PublishedEventArrivesWithSubjectHeadersAndEnvelope) {
  NatsServer nats;
  ASSERT_OK(nats.Start());
  Inbox inbox;
  SubscriberOptions sub_options;
  sub_options.url = nats.Url();
  ASSERT_OK_AND_ASSIGN(auto subscriber, Subscriber::Create(sub_options, inbox.Callback()));
  ASSERT_OK(subscriber->Sync(std::chrono::seconds(10)));
  ASSERT_OK_AND_ASSIGN(auto publisher, NatsPublisher::Create(OptionsFor(nats)));

  ASSERT_OK(publisher->Publish("default", "/tasks/exit", Exit("c1", 42), kTaskExit));
  ASSERT_OK(publisher->Publish("k8s.io", "/tasks/exec-added", Exit("c2", 7), kTaskExit));
  ASSERT_TRUE(WaitFor([&] { return inbox.Size() == 2; })) << inbox.Size();

  std::vector<ReceivedEvent> got = inbox.Events();
  EXPECT_EQ(got[0].subject, "berth.events.default.tasks.exit");
  EXPECT_EQ(got[0].headers[kTopicHeader], "/tasks/exit");
  EXPECT_EQ(got[0].headers[kNamespaceHeader], "default");
  EXPECT_EQ(got[0].envelope.namespace_(), "default");
  EXPECT_EQ(got[0].envelope.topic(), "/tasks/exit");
  EXPECT_GT(got[0].envelope.timestamp().seconds(), 0);
  EXPECT_EQ(got[0].envelope.event().type_url(), "containerd.events.TaskExit");  // Bare.
  containerd::events::TaskExit exit;
  ASSERT_TRUE(exit.ParseFromString(got[0].envelope.event().value()));
  EXPECT_EQ(exit.container_id(), "c1");
  EXPECT_EQ(exit.pid(), 42u);

  EXPECT_EQ(got[1].subject, "berth.events.k8s%2Eio.tasks.exec-added");
  EXPECT_EQ(got[1].headers[kNamespaceHeader], "k8s.io");
  EXPECT_EQ(got[1].headers[kTopicHeader], "/tasks/exec-added");
  EXPECT_EQ(publisher->published(), 2u);
  EXPECT_EQ(publisher->dropped(), 0u);
  EXPECT_EQ(subscriber->malformed(), 0u);
}

TEST(NatsPublisher, SubscriberNarrowedToOneNamespace) {
  NatsServer nats;
  ASSERT_OK(nats.Start());
  Inbox k8s;
  SubscriberOptions sub_options;
  sub_options.url = nats.Url();
  sub_options.subject = NamespaceSubject("k8s.io");
  ASSERT_OK_AND_ASSIGN(auto subscriber, Subscriber::Create(sub_options, k8s.Callback()));
  Inbox all;
  sub_options.subject = kAllEventsSubject;
  ASSERT_OK_AND_ASSIGN(auto everything, Subscriber::Create(sub_options, all.Callback()));
  ASSERT_OK(subscriber->Sync(std::chrono::seconds(10)));
  ASSERT_OK(everything->Sync(std::chrono::seconds(10)));
  ASSERT_OK_AND_ASSIGN(auto publisher, NatsPublisher::Create(OptionsFor(nats)));

  // "k8s" + "/io/..." must not reach a subscriber of namespace "k8s.io".
  ASSERT_OK(publisher->Publish("k8s", "/io/tasks/exit", Exit("c", 1), kTaskExit));
  ASSERT_OK(publisher->Publish("k8s.io", "/tasks/exit", Exit("c", 2), kTaskExit));
  ASSERT_TRUE(WaitFor([&] { return all.Size() == 2; }));
  // Same connection order as the catch-all: once that saw both, so did this one.
  ASSERT_TRUE(WaitFor([&] { return k8s.Size() >= 1; }));
  std::vector<ReceivedEvent> got = k8s.Events();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].envelope.namespace_(), "k8s.io");
}

TEST(NatsPublisher, JetStreamStreamHoldsPublishedEvents) {
  NatsServer nats;
  ASSERT_OK(nats.Start());
  ASSERT_OK_AND_ASSIGN(auto publisher, NatsPublisher::Create(OptionsFor(nats)));
  for (uint32_t pid = 1; pid <= 3; ++pid) {
    ASSERT_OK(publisher->Publish("default", "/tasks/exit", Exit("c", pid), kTaskExit));
  }
  ASSERT_TRUE(WaitFor([&] { return StoredCount(nats) == 3; })) << StoredCount(nats);
  ASSERT_OK_AND_ASSIGN(StreamState state, GetStreamState(nats.Url()));
  EXPECT_EQ(state.first_seq, 1u);
  EXPECT_EQ(state.last_seq, 3u);
  EXPECT_EQ(StoredPids(nats), (std::vector<uint32_t>{1, 2, 3}));

  ASSERT_OK_AND_ASSIGN(std::vector<StoredEvent> from2,
                       ReplayStream(nats.Url(), "berth-events", 2, 1));
  ASSERT_EQ(from2.size(), 1u);
  EXPECT_EQ(from2[0].seq, 2u);
  EXPECT_EQ(from2[0].event.subject, "berth.events.default.tasks.exit");
  EXPECT_EQ(from2[0].event.headers[kTopicHeader], "/tasks/exit");
  EXPECT_EQ(from2[0].event.envelope.event().type_url(), kTaskExit);

  // EnsureStream is idempotent and applies new limits to the existing stream.
  StreamOptions tighter;
  tighter.max_msgs = 2;
  ASSERT_OK(EnsureStream(nats.Url(), tighter));
  ASSERT_OK_AND_ASSIGN(state, GetStreamState(nats.Url()));
  EXPECT_EQ(state.messages, 2u);
  EXPECT_EQ(StoredPids(nats), (std::vector<uint32_t>{2, 3}));
}

TEST(NatsPublisher, JetStreamErrors) {
  NatsServer nats;
  ASSERT_OK(nats.Start());
  EXPECT_TRUE(IsNotFound(GetStreamState(nats.Url(), "no-such-stream").status()));
  EXPECT_TRUE(IsNotFound(ReplayStream(nats.Url(), "no-such-stream", 1, 10).status()));
  StreamOptions no_subjects;
  no_subjects.subjects.clear();
  EXPECT_TRUE(IsInvalidArgument(EnsureStream(nats.Url(), no_subjects)));
  StreamOptions bad_name;
  bad_name.name = "bad.name";
  EXPECT_FALSE(EnsureStream(nats.Url(), bad_name).ok());
  // Storage type cannot change on an existing stream: the server refuses.
  ASSERT_OK(EnsureStream(nats.Url()));
  StreamOptions memory;
  memory.memory_storage = true;
  absl::Status s = EnsureStream(nats.Url(), memory);
  EXPECT_TRUE(IsFailedPrecondition(s)) << s;
  ASSERT_OK(nats.Stop());
  absl::Status down = EnsureStream(nats.Url(), StreamOptions(), std::chrono::milliseconds(500));
  EXPECT_TRUE(IsUnavailable(down) || IsDeadlineExceeded(down)) << down;
}

TEST(NatsPublisher, BuffersWhileTheServerIsDownAndDeliversInOrderAfterRestart) {
  NatsServer nats;
  ASSERT_OK(nats.Start());
  ASSERT_OK_AND_ASSIGN(auto publisher, NatsPublisher::Create(OptionsFor(nats)));
  ASSERT_OK(publisher->Publish("default", "/tasks/exit", Exit("c", 0), kTaskExit));
  ASSERT_TRUE(WaitFor([&] { return StoredCount(nats) == 1; }));

  ASSERT_OK(nats.Stop());
  ASSERT_TRUE(WaitFor([&] { return !publisher->connected(); }));
  for (uint32_t pid = 1; pid <= 5; ++pid) {
    ASSERT_OK(publisher->Publish("default", "/tasks/exit", Exit("c", pid), kTaskExit));
  }
  EXPECT_EQ(publisher->buffered(), 5u);
  EXPECT_EQ(publisher->published(), 1u);
  EXPECT_EQ(publisher->dropped(), 0u);

  // Same port, same JetStream store; the publisher reconnects on its own.
  ASSERT_OK(nats.Start());
  ASSERT_TRUE(WaitFor([&] { return StoredCount(nats) == 6; }, std::chrono::seconds(30)))
      << StoredCount(nats) << "\n"
      << nats.Log();
  EXPECT_EQ(StoredPids(nats), (std::vector<uint32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_TRUE(publisher->connected());
  EXPECT_EQ(publisher->buffered(), 0u);
  EXPECT_EQ(publisher->published(), 6u);
  EXPECT_EQ(publisher->dropped(), 0u);
}

TEST(NatsPublisher, OverflowWhileDownDropsTheOldest) {
  NatsServer nats;
  ASSERT_OK(nats.Start());
  NatsPublisherOptions options = OptionsFor(nats);
  options.max_buffered_events = 3;
  ASSERT_OK_AND_ASSIGN(auto publisher, NatsPublisher::Create(options));
  ASSERT_TRUE(WaitFor([&] { return GetStreamState(nats.Url()).ok(); }));

  ASSERT_OK(nats.Stop());
  ASSERT_TRUE(WaitFor([&] { return !publisher->connected(); }));
  for (uint32_t pid = 1; pid <= 5; ++pid) {
    ASSERT_OK(publisher->Publish("default", "/tasks/exit", Exit("c", pid), kTaskExit));
  }
  EXPECT_EQ(publisher->buffered(), 3u);
  EXPECT_EQ(publisher->dropped(), 2u);

  ASSERT_OK(nats.Start());
  ASSERT_TRUE(WaitFor([&] { return StoredCount(nats) == 3; }, std::chrono::seconds(30)))
      << StoredCount(nats);
  EXPECT_EQ(StoredPids(nats), (std::vector<uint32_t>{3, 4, 5}));
  EXPECT_EQ(publisher->published(), 3u);
  EXPECT_EQ(publisher->dropped(), 2u);
}

TEST(NatsPublisher, StartsWhileTheServerIsDown) {
  NatsServer nats;
  ASSERT_OK(nats.Start());  // Only to learn a port; then nothing listens there.
  ASSERT_OK(nats.Stop());
  ASSERT_OK_AND_ASSIGN(auto publisher, NatsPublisher::Create(OptionsFor(nats)));
  EXPECT_FALSE(publisher->connected());
  ASSERT_OK(publisher->Publish("default", "/tasks/exit", Exit("c", 1), kTaskExit));
  EXPECT_EQ(publisher->buffered(), 1u);

  ASSERT_OK(nats.Start());
  // The stream is created on connect, before the buffered event goes out.
  ASSERT_TRUE(WaitFor([&] { return StoredCount(nats) == 1; }, std::chrono::seconds(30)));
  EXPECT_EQ(StoredPids(nats), (std::vector<uint32_t>{1}));
  EXPECT_EQ(publisher->published(), 1u);
}

TEST(Subscriber, RefusesBadInputAndSyncsOnlyWhenConnected) {
  NatsServer nats;
  ASSERT_OK(nats.Start());
  SubscriberOptions options;
  options.url = nats.Url();
  EXPECT_TRUE(IsInvalidArgument(Subscriber::Create(options, nullptr).status()));
  SubscriberOptions no_subject = options;
  no_subject.subject = "";
  EXPECT_TRUE(
      IsInvalidArgument(Subscriber::Create(no_subject, [](const ReceivedEvent&) {}).status()));

  Inbox inbox;
  ASSERT_OK_AND_ASSIGN(auto subscriber, Subscriber::Create(options, inbox.Callback()));
  ASSERT_OK(subscriber->Sync(std::chrono::seconds(10)));
  ASSERT_OK(nats.Stop());
  ASSERT_TRUE(WaitFor([&] { return !subscriber->Connected(); }));
  EXPECT_TRUE(IsUnavailable(subscriber->Sync(std::chrono::seconds(1))));

  // It comes back by itself, re-subscribed.
  ASSERT_OK(nats.Start());
  ASSERT_TRUE(WaitFor([&] { return subscriber->Sync(std::chrono::seconds(1)).ok(); },
                      std::chrono::seconds(30)));
  ASSERT_OK_AND_ASSIGN(auto publisher, NatsPublisher::Create(OptionsFor(nats)));
  ASSERT_OK(publisher->Publish("default", "/tasks/exit", Exit("c", 9), kTaskExit));
  ASSERT_TRUE(WaitFor([&] { return inbox.Size() == 1; }));
  EXPECT_EQ(PidOf(inbox.Events()[0].envelope), 9u);
}

}  // namespace
}  // namespace berth::events
