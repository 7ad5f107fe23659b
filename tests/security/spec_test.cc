// The cases of the capability and user classes that client/oci's own tests do not cover:
// options that set or add capabilities never fill the inheritable or ambient sets
// (CVE-2022-24769), and ids just past int32 are refused on every path a user id takes
// (CVE-2024-40635). The default spec, privileged mode, supplementary groups and the passwd /
// group parsing are in client/oci/{spec,user}_test.cc; the image-config path and a running
// task are in pull_test.cc and isolation_test.cc.
#include "client/oci/spec.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"

namespace berth::oci {
namespace {

SpecContext Ctx() {
  SpecContext ctx;
  ctx.ns = "sec";
  ctx.id = "c1";
  return ctx;
}

TEST(CapabilitySpecTest, NeverInheritableOrAmbient) {
  ASSERT_OK_AND_ASSIGN(Spec s, GenerateDefaultSpec(Ctx()));
  ASSERT_OK(WithAddedCapabilities({"CAP_SYS_ADMIN", "CAP_NET_ADMIN"})(Ctx(), &s));
  EXPECT_FALSE(s["process"]["capabilities"].contains("inheritable")) << s["process"].dump();
  EXPECT_FALSE(s["process"]["capabilities"].contains("ambient")) << s["process"].dump();
  ASSERT_OK(WithCapabilities({"CAP_CHOWN", "CAP_KILL"})(Ctx(), &s));
  for (const char* set : {"inheritable", "ambient"}) {
    const bool empty =
        !s["process"]["capabilities"].contains(set) || s["process"]["capabilities"][set].empty();
    EXPECT_TRUE(empty) << set << ": " << s["process"].dump();
  }
  ASSERT_OK(WithPrivileged(Ctx(), &s));
  ASSERT_OK(WithDroppedCapabilities({"CAP_KILL"})(Ctx(), &s));
  for (const char* set : {"inheritable", "ambient"}) {
    const bool empty =
        !s["process"]["capabilities"].contains(set) || s["process"]["capabilities"][set].empty();
    EXPECT_TRUE(empty) << set << ": " << s["process"].dump();
  }
}

TEST(UserSpecTest, IdsPastInt32AreRefusedOnEveryPath) {
  testing::TempDir dir("bsecspec");
  const std::string root = dir.Path("rootfs");
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/etc").c_str(), 0755), 0);
  std::ofstream(root + "/etc/passwd") << "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n";
  std::ofstream(root + "/etc/group") << "root:x:0:\napp:x:1000:\n";
  ASSERT_OK_AND_ASSIGN(Spec s, GenerateDefaultSpec(Ctx()));
  s["root"]["path"] = root;
  EXPECT_TRUE(absl::IsInvalidArgument(WithUserID(2147483648LL)(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUserID(4294967296LL)(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUser("0:2147483648")(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUser("2147483648:0")(Ctx(), &s)));
  // A refused option leaves the user as it was, never root.
  ASSERT_OK(WithUserID(1000)(Ctx(), &s));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUserID(4294967296LL)(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUser("4294967296")(Ctx(), &s)));
  EXPECT_EQ(s["process"]["user"]["uid"], 1000);
  EXPECT_EQ(s["process"]["user"]["gid"], 1000);
  ASSERT_OK(WithUserID(2147483647LL)(Ctx(), &s));
  EXPECT_EQ(s["process"]["user"]["uid"], 2147483647LL);
}

}  // namespace
}  // namespace berth::oci
