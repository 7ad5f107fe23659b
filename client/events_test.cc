// DecodeEvent: the event types berth's client decodes, containerd's and berth's own.
#include "client/events.h"

#include <gtest/gtest.h>

#include "proto/berth/content/v1/events.pb.h"
#include "proto/containerd/events/task.pb.h"

namespace berth {
namespace {

google::protobuf::Any Pack(const google::protobuf::Message& m, const std::string& prefix) {
  google::protobuf::Any any;
  any.set_type_url(prefix + m.GetDescriptor()->full_name());
  any.set_value(m.SerializeAsString());
  return any;
}

TEST(DecodeEventTest, ContainerdAndBerthTypesBareOrPrefixed) {
  containerd::events::TaskExit exit;
  exit.set_container_id("c1");
  exit.set_exit_status(3);
  auto decoded = DecodeEvent(Pack(exit, ""));
  ASSERT_NE(decoded, nullptr);
  EXPECT_EQ(decoded->GetDescriptor()->full_name(), "containerd.events.TaskExit");
  EXPECT_EQ(static_cast<const containerd::events::TaskExit&>(*decoded).exit_status(), 3u);

  ::berth::content::v1::ContentCommit commit;
  commit.set_digest("sha256:" + std::string(64, 'a'));
  commit.set_size(42);
  decoded = DecodeEvent(Pack(commit, "types.berth.dev/"));
  ASSERT_NE(decoded, nullptr);
  EXPECT_EQ(static_cast<const ::berth::content::v1::ContentCommit&>(*decoded).size(), 42);
}

TEST(DecodeEventTest, UnknownOrCorruptIsNull) {
  google::protobuf::Any any;
  any.set_type_url("example.com/other.Event");
  any.set_value("x");
  EXPECT_EQ(DecodeEvent(any), nullptr);
  any.set_type_url("containerd.events.TaskExit");
  any.set_value(std::string("\xff\xff\xff", 3));  // not a valid message
  EXPECT_EQ(DecodeEvent(any), nullptr);
}

}  // namespace
}  // namespace berth
