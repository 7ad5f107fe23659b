#include "lib/anytype/anytype.h"

#include <google/protobuf/any.pb.h>
#include <gtest/gtest.h>

#include "lib/status/status.h"
#include "proto/containerd/events/task.pb.h"
#include "proto/containerd/runtime/v2/runc/options/oci.pb.h"

namespace berth::anytype {
namespace {

TEST(Pack, UsesTheBareFullNameAsContainerdDoes) {
  containerd::events::TaskExit exit;
  exit.set_container_id("c1");
  exit.set_exit_status(137);
  google::protobuf::Any any = Pack(exit);
  EXPECT_EQ(any.type_url(), "containerd.events.TaskExit");

  containerd::events::TaskExit back;
  ASSERT_TRUE(Unpack(any, &back).ok());
  EXPECT_EQ(back.container_id(), "c1");
  EXPECT_EQ(back.exit_status(), 137u);
}

TEST(Unpack, AcceptsPrefixedUrlsFromOtherClients) {
  containerd::runc::v1::Options options;
  options.set_binary_name("crun");
  google::protobuf::Any any;
  any.set_type_url("type.googleapis.com/containerd.runc.v1.Options");
  options.SerializeToString(any.mutable_value());
  containerd::runc::v1::Options back;
  ASSERT_TRUE(Unpack(any, &back).ok());
  EXPECT_EQ(back.binary_name(), "crun");
  EXPECT_TRUE(Is(any, "containerd.runc.v1.Options"));
}

TEST(Unpack, RefusesAnotherType) {
  containerd::events::TaskStart start;
  google::protobuf::Any any = Pack(start);
  containerd::events::TaskExit exit;
  absl::Status s = Unpack(any, &exit);
  EXPECT_TRUE(IsInvalidArgument(s));
  EXPECT_NE(s.message().find("containerd.events.TaskStart"), absl::string_view::npos);
  EXPECT_NE(s.message().find("containerd.events.TaskExit"), absl::string_view::npos);
  // A suffix of the right name is not the right name.
  any.set_type_url("x.containerd.events.TaskExit");
  EXPECT_FALSE(Is(any, "containerd.events.TaskExit"));
}

TEST(Unpack, RefusesMalformedBytes) {
  google::protobuf::Any any;
  any.set_type_url("containerd.events.TaskExit");
  any.set_value(std::string("\xff\xff\xff\xff", 4));
  containerd::events::TaskExit exit;
  EXPECT_TRUE(IsInvalidArgument(Unpack(any, &exit)));
}

TEST(Json, SpecRoundTrip) {
  std::string spec = R"({"ociVersion":"1.0.2","process":{"args":["sh"]}})";
  auto any = PackJson(kSpecTypeURL, spec);
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(any->type_url(), "types.containerd.io/opencontainers/runtime-spec/1/Spec");
  EXPECT_EQ(any->value(), spec);  // raw JSON bytes, exactly as given
  auto back = UnpackJson(*any, kSpecTypeURL);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, spec);
}

TEST(Json, BadInput) {
  EXPECT_TRUE(IsInvalidArgument(PackJson(kSpecTypeURL, "{not json").status()));
  EXPECT_TRUE(IsInvalidArgument(PackJson(kSpecTypeURL, "[1,2]").status()));
  EXPECT_TRUE(IsInvalidArgument(PackJson(kSpecTypeURL, "").status()));
  google::protobuf::Any any;
  any.set_type_url(kProcessTypeURL);
  any.set_value("{}");
  EXPECT_TRUE(IsInvalidArgument(UnpackJson(any, kSpecTypeURL).status()));
  any.set_type_url(kSpecTypeURL);
  any.set_value("nope");
  EXPECT_TRUE(IsInvalidArgument(UnpackJson(any, kSpecTypeURL).status()));
}

}  // namespace
}  // namespace berth::anytype
