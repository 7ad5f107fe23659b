#include "gateway/event_filter.h"

#include <gtest/gtest.h>

#include "lib/anytype/anytype.h"
#include "proto/containerd/events/container.pb.h"
#include "proto/containerd/events/task.pb.h"

namespace berth::gateway {
namespace {

using containerd::services::events::v1::Envelope;

Envelope TaskExitEnvelope() {
  containerd::events::TaskExit exit;
  exit.set_container_id("c1");
  exit.set_id("c1");
  exit.set_pid(42);
  Envelope e;
  e.set_namespace_("default");
  e.set_topic("/tasks/exit");
  *e.mutable_event() = anytype::Pack(exit);
  return e;
}

bool Matches(const Envelope& e, const std::string& filter) {
  absl::StatusOr<filters::Filter> f = filters::Parse(filter);
  EXPECT_TRUE(f.ok()) << f.status();
  EnvelopeAdaptor adaptor(e);
  return f->Match(adaptor);
}

TEST(EventFilterTest, TopicAndNamespace) {
  const Envelope e = TaskExitEnvelope();
  EXPECT_TRUE(Matches(e, ""));
  EXPECT_TRUE(Matches(e, "topic==\"/tasks/exit\""));
  EXPECT_TRUE(Matches(e, "topic~=|/tasks/.*|"));
  EXPECT_TRUE(Matches(e, "topic~=\"^/tasks/\""));
  EXPECT_FALSE(Matches(e, "topic==\"/tasks/start\""));
  EXPECT_TRUE(Matches(e, "namespace==default,topic==\"/tasks/exit\""));
  EXPECT_FALSE(Matches(e, "namespace==other"));
  EXPECT_TRUE(Matches(e, "namespace"));
}

TEST(EventFilterTest, EventFieldsOfKnownTypes) {
  const Envelope e = TaskExitEnvelope();
  EXPECT_TRUE(Matches(e, "event.container_id==c1"));
  EXPECT_FALSE(Matches(e, "event.container_id==c2"));
  EXPECT_TRUE(Matches(e, "event.container_id!=c2"));
  // Like containerd's generated Field(): numbers are not fields.
  EXPECT_FALSE(Matches(e, "event.pid==42"));
  EXPECT_FALSE(Matches(e, "event.nope==x"));
  EXPECT_FALSE(Matches(e, "event"));
}

TEST(EventFilterTest, NestedMessagesAndMaps) {
  containerd::events::ContainerCreate create;
  create.set_id("c9");
  create.mutable_runtime()->set_name("io.containerd.runc.v2");
  Envelope e;
  e.set_namespace_("ns");
  e.set_topic("/containers/create");
  *e.mutable_event() = anytype::Pack(create);
  EXPECT_TRUE(Matches(e, "event.runtime.name==io.containerd.runc.v2"));
  EXPECT_TRUE(Matches(e, "event.id==c9,namespace==ns"));

  containerd::events::ContainerUpdate update;
  update.set_id("c9");
  (*update.mutable_labels())["a.b"] = "v";
  *e.mutable_event() = anytype::Pack(update);
  EXPECT_TRUE(Matches(e, "event.labels.a.b==v"));
  EXPECT_TRUE(Matches(e, "event.labels.\"a.b\"==v"));
  EXPECT_FALSE(Matches(e, "event.labels.a==v"));
}

TEST(EventFilterTest, UnknownOrBrokenEventsHaveNoFields) {
  Envelope e = TaskExitEnvelope();
  e.mutable_event()->set_type_url("example.Unknown");
  EXPECT_FALSE(Matches(e, "event.container_id==c1"));
  EXPECT_TRUE(Matches(e, "topic==\"/tasks/exit\""));
  e = TaskExitEnvelope();
  e.mutable_event()->set_value("\xff\xff\xff");
  EXPECT_FALSE(Matches(e, "event.container_id==c1"));
  // A prefixed type URL decodes too.
  e = TaskExitEnvelope();
  e.mutable_event()->set_type_url("type.googleapis.com/containerd.events.TaskExit");
  EXPECT_TRUE(Matches(e, "event.container_id==c1"));
  EXPECT_TRUE(KnownEventType("containerd.services.images.v1.ImageCreate"));
  EXPECT_FALSE(KnownEventType("containerd.services.images.v1.Image"));
}

}  // namespace
}  // namespace berth::gateway
