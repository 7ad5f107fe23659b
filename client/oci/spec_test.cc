#include "client/oci/spec.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"

namespace berth::oci {
namespace {

using ::berth::testing::TempDir;

SpecContext Ctx() {
  SpecContext ctx;
  ctx.ns = "testns";
  ctx.id = "c1";
  return ctx;
}

Spec Default() {
  absl::StatusOr<Spec> s = GenerateDefaultSpec(Ctx());
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : Spec::object();
}

std::vector<std::string> Strings(const Spec& j) { return j.get<std::vector<std::string>>(); }

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path);
  out << content;
}

TEST(DefaultSpecTest, IsContainerdsLinuxDefault) {
  Spec s = Default();
  EXPECT_EQ(s["root"]["path"], "rootfs");
  EXPECT_EQ(s["process"]["cwd"], "/");
  EXPECT_EQ(s["process"]["user"]["uid"], 0);
  EXPECT_EQ(s["process"]["noNewPrivileges"], true);
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/testns/c1");

  std::vector<std::string> ns;
  for (const auto& n : s["linux"]["namespaces"]) ns.push_back(n["type"]);
  EXPECT_EQ(ns, (std::vector<std::string>{"pid", "ipc", "uts", "mount", "network"}));

  std::vector<std::string> dests;
  for (const auto& m : s["mounts"]) dests.push_back(m["destination"]);
  EXPECT_EQ(dests, (std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue",
                                             "/sys", "/run", "/sys/fs/cgroup"}));
  // /sys and the cgroup mount are read-only.
  EXPECT_TRUE(Has(Strings(s["mounts"][5]["options"]), "ro"));
  EXPECT_TRUE(Has(Strings(s["mounts"][7]["options"]), "ro"));

  const Spec& caps = s["process"]["capabilities"];
  EXPECT_EQ(Strings(caps["bounding"]), DefaultCapabilities());
  EXPECT_EQ(Strings(caps["effective"]), DefaultCapabilities());
  EXPECT_EQ(Strings(caps["permitted"]), DefaultCapabilities());
  // CVE-2022-24769: nothing inheritable, nothing ambient.
  EXPECT_FALSE(caps.contains("inheritable"));
  EXPECT_FALSE(caps.contains("ambient"));
  EXPECT_EQ(DefaultCapabilities().size(), 14u);
  EXPECT_FALSE(Has(DefaultCapabilities(), "CAP_SYS_ADMIN"));

  std::vector<std::string> masked = Strings(s["linux"]["maskedPaths"]);
  EXPECT_TRUE(Has(masked, "/proc/kcore"));
  EXPECT_TRUE(Has(masked, "/sys/devices/virtual/powercap"));
  EXPECT_TRUE(Has(Strings(s["linux"]["readonlyPaths"]), "/proc/sysrq-trigger"));

  ASSERT_EQ(s["process"]["rlimits"].size(), 1u);
  EXPECT_EQ(s["process"]["rlimits"][0]["type"], "RLIMIT_NOFILE");
  EXPECT_EQ(s["process"]["rlimits"][0]["hard"], 1024);

  // Devices: deny everything first, then the standard character devices.
  const Spec& devices = s["linux"]["resources"]["devices"];
  ASSERT_GE(devices.size(), 2u);
  EXPECT_EQ(devices[0]["allow"], false);
  EXPECT_EQ(devices[0]["access"], "rwm");
  EXPECT_EQ(devices[1]["major"], 1);
  EXPECT_EQ(devices[1]["minor"], 3);  // /dev/null
  // No environment of its own: the image or WithDefaultPathEnv brings one.
  EXPECT_FALSE(s["process"].contains("env"));
}

TEST(DefaultSpecTest, NeedsNamespaceAndId) {
  SpecContext ctx = Ctx();
  ctx.ns.clear();
  EXPECT_TRUE(absl::IsFailedPrecondition(GenerateDefaultSpec(ctx).status()));
  ctx = Ctx();
  ctx.id.clear();
  EXPECT_TRUE(absl::IsInvalidArgument(GenerateDefaultSpec(ctx).status()));
}

TEST(SpecOptsTest, ProcessOptions) {
  Spec s = Default();
  ASSERT_OK(ApplyOpts(
      Ctx(), &s,
      {WithProcessArgs({"/bin/sh", "-c", "exit 3"}), WithProcessCwd("/tmp"), WithDefaultPathEnv,
       WithEnv({"A=1", "B=2"}), WithEnv({"A=3", "B"}), WithTTY, WithHostname("box")}));
  EXPECT_EQ(Strings(s["process"]["args"]), (std::vector<std::string>{"/bin/sh", "-c", "exit 3"}));
  EXPECT_EQ(s["process"]["cwd"], "/tmp");
  EXPECT_EQ(Strings(s["process"]["env"]),
            (std::vector<std::string>{kDefaultPathEnv, "A=3", "TERM=xterm"}));
  EXPECT_EQ(s["process"]["terminal"], true);
  EXPECT_EQ(s["hostname"], "box");
  // WithDefaultPathEnv keeps a PATH that is there.
  ASSERT_OK(ApplyOpts(Ctx(), &s, {WithEnv({"PATH=/x"}), WithDefaultPathEnv}));
  EXPECT_EQ(s["process"]["env"][0], "PATH=/x");
}

TEST(SpecOptsTest, BadInput) {
  Spec s = Default();
  EXPECT_TRUE(absl::IsInvalidArgument(WithProcessCwd("relative")(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithEnv({"=x"})(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithEnv({""})(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithMounts({{"relative", "bind", "/x", {}}})(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithHostNamespace("bogus")(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithCapabilities({"SYS_ADMIN"})(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithRlimit("NOFILE", 1, 1)(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUIDGID(-1, 0)(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUIDGID(0, int64_t{1} << 31)(Ctx(), &s)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithSpecFromBytes("[1]")(Ctx(), &s)));
  // Errors stop ApplyOpts before later options run.
  Spec t = Default();
  EXPECT_FALSE(ApplyOpts(Ctx(), &t, {WithProcessCwd("x"), WithHostname("later")}).ok());
  EXPECT_FALSE(t.contains("hostname"));
}

TEST(SpecOptsTest, NamespacesAndMounts) {
  Spec s = Default();
  ASSERT_OK(WithHostNamespace(kPIDNamespace)(Ctx(), &s));
  ASSERT_OK(WithHostNamespace(kNetworkNamespace)(Ctx(), &s));
  std::vector<std::string> ns;
  for (const auto& n : s["linux"]["namespaces"]) ns.push_back(n["type"]);
  EXPECT_EQ(ns, (std::vector<std::string>{"ipc", "uts", "mount"}));
  ASSERT_OK(WithLinuxNamespace(kNetworkNamespace, "/proc/1/ns/net")(Ctx(), &s));
  EXPECT_EQ(s["linux"]["namespaces"].back()["path"], "/proc/1/ns/net");

  ASSERT_OK(WithMounts({{"/data", "bind", "/srv/data", {"rbind", "ro"}}})(Ctx(), &s));
  EXPECT_EQ(s["mounts"].back()["destination"], "/data");
  ASSERT_OK(WithoutMounts({"/data", "/run"})(Ctx(), &s));
  for (const auto& m : s["mounts"]) {
    EXPECT_NE(m["destination"], "/data");
    EXPECT_NE(m["destination"], "/run");
  }
}

TEST(SpecOptsTest, CapabilitiesAndPrivileged) {
  Spec s = Default();
  ASSERT_OK(WithAddedCapabilities({"CAP_SYS_ADMIN"})(Ctx(), &s));
  EXPECT_TRUE(Has(Strings(s["process"]["capabilities"]["bounding"]), "CAP_SYS_ADMIN"));
  ASSERT_OK(WithDroppedCapabilities({"CAP_SYS_ADMIN", "CAP_KILL"})(Ctx(), &s));
  EXPECT_FALSE(Has(Strings(s["process"]["capabilities"]["effective"]), "CAP_KILL"));
  ASSERT_OK(WithPrivileged(Ctx(), &s));
  EXPECT_TRUE(Has(Strings(s["process"]["capabilities"]["permitted"]), "CAP_SYS_ADMIN"));
  EXPECT_TRUE(s["linux"]["maskedPaths"].empty());
  EXPECT_TRUE(Has(Strings(s["mounts"][5]["options"]), "rw"));
  EXPECT_EQ(s["linux"]["resources"]["devices"][0]["allow"], true);
  EXPECT_FALSE(s["process"]["capabilities"].contains("inheritable"));
}

TEST(SpecOptsTest, Resources) {
  Spec s = Default();
  ASSERT_OK(ApplyOpts(Ctx(), &s,
                      {WithMemoryLimit(64 << 20), WithCPUShares(512), WithPidsLimit(100),
                       WithAnnotations({{"a", "b"}}), WithRlimit("RLIMIT_NOFILE", 10, 5),
                       WithCgroup("/custom"), WithRootFSPath("/abs/rootfs"), WithRootFSReadonly}));
  EXPECT_EQ(s["linux"]["resources"]["memory"]["limit"], 64 << 20);
  EXPECT_EQ(s["linux"]["resources"]["cpu"]["shares"], 512);
  EXPECT_EQ(s["linux"]["resources"]["pids"]["limit"], 100);
  EXPECT_EQ(s["annotations"]["a"], "b");
  EXPECT_EQ(s["process"]["rlimits"].size(), 1u);
  EXPECT_EQ(s["process"]["rlimits"][0]["hard"], 10);
  EXPECT_EQ(s["linux"]["cgroupsPath"], "/custom");
  EXPECT_EQ(s["root"]["path"], "/abs/rootfs");
  EXPECT_EQ(s["root"]["readonly"], true);
}

class UserOptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.Path("rootfs");
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/etc").c_str(), 0755), 0);
    WriteFile(root_ + "/etc/passwd",
              "# comment\n"
              "root:x:0:0:root:/root:/bin/sh\n"
              "app:x:1000:1001::/home/app:/bin/sh\n"
              "\n");
    WriteFile(root_ + "/etc/group",
              "root:x:0:\n"
              "wheel:x:10:root,app\n"
              "staff:x:50:app\n"
              "appgrp:x:1001:\n");
    spec_ = Default();
    spec_["root"]["path"] = root_;
  }

  TempDir dir_{"bspec"};
  std::string root_;
  Spec spec_;
};

TEST_F(UserOptsTest, ResolvesNamesAndIds) {
  ASSERT_OK(WithUser("app")(Ctx(), &spec_));
  EXPECT_EQ(spec_["process"]["user"]["uid"], 1000);
  EXPECT_EQ(spec_["process"]["user"]["gid"], 1001);
  ASSERT_OK(WithUser("app:staff")(Ctx(), &spec_));
  EXPECT_EQ(spec_["process"]["user"]["gid"], 50);
  ASSERT_OK(WithUser("1000")(Ctx(), &spec_));
  EXPECT_EQ(spec_["process"]["user"]["gid"], 1001);
  // A uid that /etc/passwd does not know gets gid 0.
  ASSERT_OK(WithUser("4242")(Ctx(), &spec_));
  EXPECT_EQ(spec_["process"]["user"]["uid"], 4242);
  EXPECT_EQ(spec_["process"]["user"]["gid"], 0);
  ASSERT_OK(WithUser("7:8")(Ctx(), &spec_));
  EXPECT_EQ(spec_["process"]["user"]["uid"], 7);
  EXPECT_EQ(spec_["process"]["user"]["gid"], 8);
  ASSERT_OK(WithUser("0:wheel")(Ctx(), &spec_));
  EXPECT_EQ(spec_["process"]["user"]["gid"], 10);
}

TEST_F(UserOptsTest, RefusesBadUsers) {
  EXPECT_TRUE(absl::IsNotFound(WithUser("nosuch")(Ctx(), &spec_)));
  EXPECT_TRUE(absl::IsNotFound(WithUser("app:nosuch")(Ctx(), &spec_)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUser("a:b:c")(Ctx(), &spec_)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUser("")(Ctx(), &spec_)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUser(":5")(Ctx(), &spec_)));
  // CVE-2024-40635: ids beyond int32 are refused, not wrapped.
  EXPECT_TRUE(absl::IsInvalidArgument(WithUser("4294967296")(Ctx(), &spec_)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUser("2147483648:0")(Ctx(), &spec_)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUser("0:99999999999999999999")(Ctx(), &spec_)));
  EXPECT_TRUE(absl::IsInvalidArgument(WithUserID(-5)(Ctx(), &spec_)));
}

TEST_F(UserOptsTest, SupplementaryGroups) {
  ASSERT_OK(WithAdditionalGIDs("app")(Ctx(), &spec_));
  EXPECT_EQ(spec_["process"]["user"]["additionalGids"].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{10, 50}));
  // CVE-2023-25173: root's supplementary groups are applied too.
  ASSERT_OK(WithAdditionalGIDs("root")(Ctx(), &spec_));
  EXPECT_EQ(spec_["process"]["user"]["additionalGids"].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{10}));
  ASSERT_OK(WithAdditionalGIDs("1000")(Ctx(), &spec_));
  EXPECT_EQ(spec_["process"]["user"]["additionalGids"].size(), 2u);
  ASSERT_OK(WithAppendAdditionalGroups({"appgrp", "77"})(Ctx(), &spec_));
  EXPECT_EQ(spec_["process"]["user"]["additionalGids"].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{10, 50, 1001, 77}));
  EXPECT_TRUE(absl::IsNotFound(WithAppendAdditionalGroups({"nosuch"})(Ctx(), &spec_)));
}

TEST_F(UserOptsTest, NeverReadsOutsideTheRoot) {
  // /etc/passwd is a symlink that points out of the rootfs; it must resolve inside it.
  WriteFile(dir_.Path("outside_passwd"), "evil:x:666:666::/:/bin/sh\n");
  ASSERT_EQ(unlink((root_ + "/etc/passwd").c_str()), 0);
  ASSERT_EQ(symlink("../../outside_passwd", (root_ + "/etc/passwd").c_str()), 0);
  EXPECT_TRUE(absl::IsNotFound(WithUser("evil")(Ctx(), &spec_)));
  ASSERT_EQ(unlink((root_ + "/etc/passwd").c_str()), 0);
  ASSERT_EQ(symlink(dir_.Path("outside_passwd").c_str(), (root_ + "/etc/passwd").c_str()), 0);
  EXPECT_TRUE(absl::IsNotFound(WithUser("evil")(Ctx(), &spec_)));
}

TEST_F(UserOptsTest, RefusesHugeFilesAndNeedsARoot) {
  WriteFile(root_ + "/etc/passwd", std::string(5 << 20, '#'));
  EXPECT_TRUE(absl::IsResourceExhausted(WithUser("app")(Ctx(), &spec_)));
  Spec relative = Default();
  EXPECT_TRUE(absl::IsFailedPrecondition(WithUser("app")(Ctx(), &relative)));
}

TEST_F(UserOptsTest, UsesTheContextRootfs) {
  Spec s = Default();  // root.path "rootfs": only the context knows where it is
  SpecContext ctx = Ctx();
  int calls = 0;
  ctx.with_rootfs = [&](const RootfsFn& fn) {
    ++calls;
    return fn(root_);
  };
  ASSERT_OK(WithUser("app")(ctx, &s));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(s["process"]["user"]["uid"], 1000);
}

}  // namespace
}  // namespace berth::oci
