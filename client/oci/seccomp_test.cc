#include "client/oci/seccomp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "lib/testing/status_matchers.h"

namespace berth::oci {
namespace {

using json = nlohmann::json;

SpecContext Ctx() {
  SpecContext ctx;
  ctx.ns = "testns";
  ctx.id = "c1";
  return ctx;
}

Spec DefaultWithSeccomp() {
  absl::StatusOr<Spec> spec = GenerateDefaultSpec(Ctx());
  EXPECT_TRUE(spec.ok()) << spec.status();
  Spec s = spec.ok() ? *spec : Spec::object();
  EXPECT_TRUE(WithDefaultSeccomp(Ctx(), &s).ok());
  return s;
}

// The rules naming `syscall`.
std::vector<json> Rules(const json& profile, const std::string& syscall) {
  std::vector<json> out;
  for (const json& rule : profile["syscalls"]) {
    for (const json& name : rule["names"]) {
      if (name == syscall) out.push_back(rule);
    }
  }
  return out;
}

// Allowed with no argument condition.
bool AllowedOutright(const json& profile, const std::string& syscall) {
  for (const json& rule : Rules(profile, syscall)) {
    if (rule["action"] == "SCMP_ACT_ALLOW" && !rule.contains("args")) return true;
  }
  return false;
}

TEST(SeccompTest, DefaultSpecHasNoProfile) {
  absl::StatusOr<Spec> spec = GenerateDefaultSpec(Ctx());
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE((*spec)["linux"].contains("seccomp"));
}

TEST(SeccompTest, ProfileStructure) {
  Spec s = DefaultWithSeccomp();
  const json& p = s["linux"]["seccomp"];
  ASSERT_TRUE(p.is_object()) << s.dump();
  EXPECT_EQ(p["defaultAction"], "SCMP_ACT_ERRNO");
  ASSERT_TRUE(p["syscalls"].is_array());
  for (const json& rule : p["syscalls"]) {
    ASSERT_TRUE(rule["names"].is_array()) << rule.dump();
    EXPECT_FALSE(rule["names"].empty()) << rule.dump();
    EXPECT_TRUE(rule["action"] == "SCMP_ACT_ALLOW" || rule["action"] == "SCMP_ACT_ERRNO")
        << rule.dump();
  }
#if defined(__x86_64__)
  EXPECT_EQ(p["architectures"],
            json::array({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  EXPECT_TRUE(AllowedOutright(p, "arch_prctl"));
  EXPECT_TRUE(AllowedOutright(p, "modify_ldt"));
  EXPECT_FALSE(AllowedOutright(p, "set_tls"));
#elif defined(__aarch64__)
  EXPECT_EQ(p["architectures"], json::array({"SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64"}));
  EXPECT_TRUE(AllowedOutright(p, "set_tls"));
  EXPECT_FALSE(AllowedOutright(p, "arch_prctl"));
#endif
  // The rest of the spec is untouched.
  EXPECT_EQ(s["process"]["capabilities"]["bounding"], DefaultCapabilities());
}

TEST(SeccompTest, OrdinarySyscallsAllowedDangerousOnesNot) {
  const json p = DefaultWithSeccomp()["linux"]["seccomp"];
  for (const char* ok : {"read", "write", "openat", "execve", "exit_group", "futex", "mmap",
                         "socket", "wait4", "rt_sigaction", "io_uring_setup", "ptrace"}) {
    EXPECT_TRUE(AllowedOutright(p, ok)) << ok;
  }
  // The default capabilities lack CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_TIME, ...
  for (const char* blocked : {"mount",
                              "umount2",
                              "unshare",
                              "setns",
                              "bpf",
                              "init_module",
                              "finit_module",
                              "reboot",
                              "settimeofday",
                              "clock_settime",
                              "kexec_load",
                              "keyctl",
                              "add_key",
                              "acct",
                              "syslog",
                              "open_by_handle_at",
                              "perf_event_open",
                              "iopl",
                              "vhangup",
                              "process_vm_readv",
                              "userfaultfd"}) {
    EXPECT_TRUE(Rules(p, blocked).empty()) << blocked;
  }
  // CAP_SYS_CHROOT is a default capability.
  EXPECT_TRUE(AllowedOutright(p, "chroot"));
}

TEST(SeccompTest, PersonalityOnlyWithKnownValues) {
  const json p = DefaultWithSeccomp()["linux"]["seccomp"];
  std::vector<uint64_t> values;
  for (const json& rule : Rules(p, "personality")) {
    ASSERT_EQ(rule["args"].size(), 1u) << rule.dump();
    EXPECT_EQ(rule["args"][0]["index"], 0);
    EXPECT_EQ(rule["args"][0]["op"], "SCMP_CMP_EQ");
    values.push_back(rule["args"][0]["value"].get<uint64_t>());
  }
  EXPECT_EQ(values, (std::vector<uint64_t>{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}));
}

TEST(SeccompTest, WithoutSysAdminCloneIsRestrictedAndClone3IsENOSYS) {
  const json p = DefaultWithSeccomp()["linux"]["seccomp"];
  std::vector<json> clone = Rules(p, "clone");
  ASSERT_EQ(clone.size(), 1u);
  EXPECT_EQ(clone[0]["action"], "SCMP_ACT_ALLOW");
  ASSERT_EQ(clone[0]["args"].size(), 1u);
  const json& arg = clone[0]["args"][0];
  EXPECT_EQ(arg["op"], "SCMP_CMP_MASKED_EQ");
  EXPECT_EQ(arg["valueTwo"], 0);
  // CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP.
  EXPECT_EQ(arg["value"].get<uint64_t>(), 0x7E020000u);
  std::vector<json> clone3 = Rules(p, "clone3");
  ASSERT_EQ(clone3.size(), 1u);
  EXPECT_EQ(clone3[0]["action"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(clone3[0]["errnoRet"], ENOSYS);
}

TEST(SeccompTest, CapabilitiesBringTheirSyscalls) {
  absl::StatusOr<Spec> spec = GenerateDefaultSpec(Ctx());
  ASSERT_TRUE(spec.ok());
  Spec s = *spec;
  ASSERT_TRUE(WithAddedCapabilities({"CAP_SYS_ADMIN", "CAP_SYS_TIME", "CAP_SYS_PTRACE",
                                     "CAP_SYSLOG", "CAP_DAC_READ_SEARCH"})(Ctx(), &s)
                  .ok());
  ASSERT_TRUE(WithDefaultSeccomp(Ctx(), &s).ok());
  const json& p = s["linux"]["seccomp"];
  for (const char* ok :
       {"mount", "umount2", "unshare", "setns", "clone", "clone3", "bpf", "settimeofday",
        "clock_settime", "process_vm_readv", "syslog", "open_by_handle_at"}) {
    EXPECT_TRUE(AllowedOutright(p, ok)) << ok;
  }
  // With CAP_SYS_ADMIN neither the clone flag restriction nor the clone3 ENOSYS rule.
  for (const json& rule : p["syscalls"]) {
    EXPECT_EQ(rule["action"], "SCMP_ACT_ALLOW") << rule.dump();
  }
  EXPECT_TRUE(Rules(p, "reboot").empty());
}

TEST(SeccompTest, PrivilegedGetsEverythingItsCapabilitiesAllow) {
  absl::StatusOr<Spec> spec = GenerateDefaultSpec(Ctx());
  ASSERT_TRUE(spec.ok());
  Spec s = *spec;
  ASSERT_TRUE(WithPrivileged(Ctx(), &s).ok());
  ASSERT_TRUE(WithDefaultSeccomp(Ctx(), &s).ok());
  const json& p = s["linux"]["seccomp"];
  for (const char* ok : {"reboot", "init_module", "acct", "iopl", "vhangup", "mount"}) {
    EXPECT_TRUE(AllowedOutright(p, ok)) << ok;
  }
}

TEST(SeccompTest, NoCapabilitiesAndBadInput) {
  Spec empty = Spec::object();
  ASSERT_TRUE(WithDefaultSeccomp(Ctx(), &empty).ok());
  const json& p = empty["linux"]["seccomp"];
  EXPECT_TRUE(AllowedOutright(p, "read"));
  EXPECT_TRUE(Rules(p, "chroot").empty());
  EXPECT_EQ(Rules(p, "clone").size(), 1u);

  Spec bad = {{"process", {{"capabilities", {{"bounding", "CAP_SYS_ADMIN"}}}}}};
  EXPECT_EQ(WithDefaultSeccomp(Ctx(), &bad).code(), absl::StatusCode::kInvalidArgument);
  Spec bad2 = {{"process", {{"capabilities", {{"bounding", {1, 2}}}}}}};
  EXPECT_EQ(WithDefaultSeccomp(Ctx(), &bad2).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(bad2["linux"].contains("seccomp"));
}

TEST(SeccompTest, WithoutSeccompRemovesTheProfile) {
  Spec s = DefaultWithSeccomp();
  ASSERT_TRUE(s["linux"].contains("seccomp"));
  ASSERT_TRUE(WithoutSeccomp(Ctx(), &s).ok());
  EXPECT_FALSE(s["linux"].contains("seccomp"));
  EXPECT_TRUE(s["linux"].contains("namespaces"));
}

}  // namespace
}  // namespace berth::oci
