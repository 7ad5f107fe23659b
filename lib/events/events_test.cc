// Unit tests: topics and subjects, envelopes, RecordingPublisher, and NatsPublisher's
// validation and buffering with no server at all.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lib/events/envelope.h"
#include "lib/events/nats_publisher.h"
#include "lib/events/recording_publisher.h"
#include "lib/events/topics.h"
#include "lib/testing/status_matchers.h"
#include "proto/containerd/events/task.pb.h"

namespace berth::events {
namespace {

containerd::events::TaskExit Exit(const std::string& id, uint32_t pid) {
  containerd::events::TaskExit exit;
  exit.set_container_id(id);
  exit.set_id(id);
  exit.set_pid(pid);
  exit.set_exit_status(3);
  return exit;
}

TEST(Topics, ValidatesLikeContainerd) {
  EXPECT_OK(ValidateTopic("/tasks/exit"));
  EXPECT_OK(ValidateTopic("/tasks/exec-added"));
  EXPECT_OK(ValidateTopic("/snapshot/prepare"));
  EXPECT_OK(ValidateTopic("/a"));
  EXPECT_OK(ValidateTopic("/a.b/c_d/e-f/1"));
  for (const char* bad :
       {"", "/", "tasks/exit", "/tasks/", "//exit", "/tasks//exit", "/tasks/exit/", "/tasks/ex it",
        "/tasks/-exit", "/tasks/exit.", "/tasks/a..b", "/tasks/*", "/tasks/>", "/tasks/é"}) {
    absl::Status s = ValidateTopic(bad);
    EXPECT_TRUE(IsInvalidArgument(s)) << "topic \"" << bad << "\": " << s;
  }
  EXPECT_TRUE(IsInvalidArgument(ValidateTopic("/" + std::string(77, 'a'))));
}

TEST(Topics, ValidatesNamespaces) {
  EXPECT_OK(ValidateNamespace("default"));
  EXPECT_OK(ValidateNamespace("k8s.io"));
  for (const char* bad : {"", "a/b", ".a", "a.", "a b", "a..b", "*", ">"}) {
    EXPECT_TRUE(IsInvalidArgument(ValidateNamespace(bad))) << bad;
  }
}

TEST(Topics, Subjects) {
  EXPECT_EQ(SubjectFor("default", "/tasks/exit"), "berth.events.default.tasks.exit");
  EXPECT_EQ(SubjectFor("default", "/tasks/exec-added"), "berth.events.default.tasks.exec-added");
  EXPECT_EQ(SubjectFor("ns_1", "/a"), "berth.events.ns_1.a");
  // Dots inside a name must not split NATS tokens.
  EXPECT_EQ(SubjectFor("k8s.io", "/tasks/exit"), "berth.events.k8s%2Eio.tasks.exit");
  EXPECT_EQ(SubjectFor("k8s", "/io/tasks/exit"), "berth.events.k8s.io.tasks.exit");
  EXPECT_EQ(SubjectFor("a", "/b.c/d"), "berth.events.a.b%2Ec.d");
  EXPECT_EQ(NamespaceSubject("default"), "berth.events.default.>");
  EXPECT_EQ(NamespaceSubject("k8s.io"), "berth.events.k8s%2Eio.>");
}

TEST(Envelope, BareTypeUrlAndTimestamp) {
  ASSERT_OK_AND_ASSIGN(Envelope envelope, MakeEnvelope("default", "/tasks/exit", Exit("c1", 42),
                                                       "containerd.events.TaskExit"));
  EXPECT_EQ(envelope.namespace_(), "default");
  EXPECT_EQ(envelope.topic(), "/tasks/exit");
  EXPECT_EQ(envelope.event().type_url(), "containerd.events.TaskExit");
  EXPECT_GT(envelope.timestamp().seconds(), 1600000000);  // Stamped now, not left at 0.
  containerd::events::TaskExit decoded;
  ASSERT_TRUE(decoded.ParseFromString(envelope.event().value()));
  EXPECT_EQ(decoded.container_id(), "c1");
  EXPECT_EQ(decoded.pid(), 42u);
  EXPECT_OK(ValidateEnvelope(envelope));
}

TEST(Envelope, RefusesBadInput) {
  EXPECT_TRUE(IsInvalidArgument(
      MakeEnvelope("bad ns", "/tasks/exit", Exit("c", 1), "containerd.events.TaskExit").status()));
  EXPECT_TRUE(IsInvalidArgument(
      MakeEnvelope("default", "tasks/exit", Exit("c", 1), "containerd.events.TaskExit").status()));
  EXPECT_TRUE(IsInvalidArgument(MakeEnvelope("default", "/tasks/exit", Exit("c", 1), "").status()));

  ASSERT_OK_AND_ASSIGN(Envelope good, MakeEnvelope("default", "/tasks/exit", Exit("c", 1),
                                                   "containerd.events.TaskExit"));
  Envelope no_time = good;
  no_time.clear_timestamp();
  EXPECT_TRUE(IsInvalidArgument(ValidateEnvelope(no_time)));
  Envelope go_zero = good;
  go_zero.mutable_timestamp()->set_seconds(-62135596800);
  go_zero.mutable_timestamp()->set_nanos(0);
  EXPECT_TRUE(IsInvalidArgument(ValidateEnvelope(go_zero)));
  Envelope no_event = good;
  no_event.clear_event();
  EXPECT_TRUE(IsInvalidArgument(ValidateEnvelope(no_event)));
  Envelope bad_topic = good;
  bad_topic.set_topic("/tasks//exit");
  EXPECT_TRUE(IsInvalidArgument(ValidateEnvelope(bad_topic)));
  Envelope bad_ns = good;
  bad_ns.set_namespace_("");
  EXPECT_TRUE(IsInvalidArgument(ValidateEnvelope(bad_ns)));
}

TEST(RecordingPublisher, RecordsValidatesAndFails) {
  RecordingPublisher publisher;
  ASSERT_OK(
      publisher.Publish("default", "/tasks/exit", Exit("c1", 1), "containerd.events.TaskExit"));
  EXPECT_TRUE(IsInvalidArgument(
      publisher.Publish("default", "/bad topic", Exit("c1", 1), "containerd.events.TaskExit")));
  ASSERT_OK_AND_ASSIGN(Envelope forwarded, MakeEnvelope("other", "/tasks/start", Exit("c2", 2),
                                                        "containerd.events.TaskStart"));
  ASSERT_OK(publisher.Forward(forwarded));
  std::vector<Envelope> got = publisher.Envelopes();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].topic(), "/tasks/exit");
  EXPECT_EQ(got[1].namespace_(), "other");

  publisher.FailWith(absl::UnavailableError("bus down"));
  EXPECT_TRUE(IsUnavailable(
      publisher.Publish("default", "/tasks/exit", Exit("c1", 1), "containerd.events.TaskExit")));
  publisher.FailWith(absl::OkStatus());
  publisher.Clear();
  EXPECT_TRUE(publisher.Envelopes().empty());
}

// A URL where nothing listens: the publisher keeps trying in the background and buffers.
NatsPublisherOptions Unreachable() {
  NatsPublisherOptions options;
  options.url = "nats://127.0.0.1:1";
  options.reconnect_wait = std::chrono::milliseconds(50);
  return options;
}

TEST(NatsPublisher, RefusesBadOptions) {
  NatsPublisherOptions zero = Unreachable();
  zero.max_buffered_events = 0;
  EXPECT_TRUE(IsInvalidArgument(NatsPublisher::Create(zero).status()));
  NatsPublisherOptions no_stream_name = Unreachable();
  no_stream_name.stream = StreamOptions();
  no_stream_name.stream->name = "";
  EXPECT_TRUE(IsInvalidArgument(NatsPublisher::Create(no_stream_name).status()));
}

TEST(NatsPublisher, ValidatesWithoutAServer) {
  ASSERT_OK_AND_ASSIGN(auto publisher, NatsPublisher::Create(Unreachable()));
  EXPECT_FALSE(publisher->connected());
  const auto exit = Exit("c1", 1);
  EXPECT_TRUE(IsInvalidArgument(
      publisher->Publish("default", "tasks/exit", exit, "containerd.events.TaskExit")));
  EXPECT_TRUE(IsInvalidArgument(
      publisher->Publish("default", "/tasks//exit", exit, "containerd.events.TaskExit")));
  EXPECT_TRUE(
      IsInvalidArgument(publisher->Publish("", "/tasks/exit", exit, "containerd.events.TaskExit")));
  EXPECT_TRUE(IsInvalidArgument(
      publisher->Publish("a/b", "/tasks/exit", exit, "containerd.events.TaskExit")));
  EXPECT_TRUE(IsInvalidArgument(publisher->Publish("default", "/tasks/exit", exit, "")));
  Envelope unstamped;
  unstamped.set_namespace_("default");
  unstamped.set_topic("/tasks/exit");
  EXPECT_TRUE(IsInvalidArgument(publisher->Forward(unstamped)));
  EXPECT_EQ(publisher->buffered(), 0u);
  EXPECT_EQ(publisher->published(), 0u);
}

TEST(NatsPublisher, BuffersBoundedAndDropsTheOldest) {
  NatsPublisherOptions options = Unreachable();
  options.max_buffered_events = 3;
  ASSERT_OK_AND_ASSIGN(auto publisher, NatsPublisher::Create(options));
  for (uint32_t i = 0; i < 5; ++i) {
    ASSERT_OK(
        publisher->Publish("default", "/tasks/exit", Exit("c", i), "containerd.events.TaskExit"));
  }
  EXPECT_EQ(publisher->buffered(), 3u);
  EXPECT_EQ(publisher->dropped(), 2u);
  EXPECT_EQ(publisher->published(), 0u);

  // An event bigger than max_event_bytes is refused up front, not dropped later.
  NatsPublisherOptions small = Unreachable();
  small.max_event_bytes = 64;
  ASSERT_OK_AND_ASSIGN(auto limited, NatsPublisher::Create(small));
  EXPECT_TRUE(IsInvalidArgument(limited->Publish(
      "default", "/tasks/exit", Exit(std::string(100, 'x'), 1), "containerd.events.TaskExit")));
  EXPECT_EQ(limited->dropped(), 0u);

  // Close counts what could not be delivered, and the publisher refuses new events.
  publisher->Close();
  EXPECT_EQ(publisher->dropped(), 5u);
  EXPECT_EQ(publisher->buffered(), 0u);
  EXPECT_TRUE(IsUnavailable(
      publisher->Publish("default", "/tasks/exit", Exit("c", 9), "containerd.events.TaskExit")));
  publisher->Close();  // Idempotent.
}

}  // namespace
}  // namespace berth::events
