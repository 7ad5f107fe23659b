#include "services/runtime/config.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "lib/server/config.h"
#include "lib/testing/status_matchers.h"

namespace berth::runtime {
namespace {

absl::StatusOr<RuntimeConfig> ParseText(const std::string& text) {
  ASSIGN_OR_RETURN(server::ConfigFile file, server::ConfigFile::Parse(text, "/etc/berth/x.toml"));
  ASSIGN_OR_RETURN(server::ConfigSection section, file.Section("runtime"));
  ASSIGN_OR_RETURN(RuntimeConfig config, ParseRuntimeConfig(section));
  RETURN_IF_ERROR(section.CheckUnknownKeys());
  return config;
}

TEST(RuntimeConfigTest, Defaults) {
  ASSERT_OK_AND_ASSIGN(RuntimeConfig c, ParseText(""));
  EXPECT_EQ(c.server.address, "unix:///run/berth/runtime.sock");
  EXPECT_EQ(c.server.root, "/var/lib/berth/runtime");
  EXPECT_EQ(c.server.state, "/run/berth/runtime");
  EXPECT_EQ(c.nats_url, "nats://127.0.0.1:4222");
  EXPECT_EQ(c.default_runtime, "runc");
  EXPECT_EQ(c.shim_binary, "");
}

TEST(RuntimeConfigTest, AllKeys) {
  ASSERT_OK_AND_ASSIGN(RuntimeConfig c, ParseText(R"(
[runtime]
address = "unix:///tmp/r.sock"
root = "/tmp/root"
state = "/tmp/state"
metrics_address = "127.0.0.1:9105"
log_level = "debug"
nats_url = ""
default_runtime = "crun"
shim_binary = "/usr/local/bin/berth-shim"
)"));
  EXPECT_EQ(c.server.state, "/tmp/state");
  EXPECT_EQ(c.server.metrics_address, "127.0.0.1:9105");
  EXPECT_EQ(c.nats_url, "");
  EXPECT_EQ(c.default_runtime, "crun");
  EXPECT_EQ(c.shim_binary, "/usr/local/bin/berth-shim");
}

TEST(RuntimeConfigTest, TheShippedSectionParses) {
  // deploy/config.toml's [runtime] table as it is today.
  EXPECT_OK(ParseText(R"(
[runtime]
address = "unix:///run/berth/runtime.sock"
root = "/var/lib/berth/runtime"
state = "/run/berth/runtime"
log_level = "info"
)")
                .status());
}

TEST(RuntimeConfigTest, BadValuesNameTheKey) {
  auto bad = [](const std::string& text, const std::string& key) {
    absl::Status s = ParseText("[runtime]\n" + text + "\n").status();
    EXPECT_TRUE(IsInvalidArgument(s)) << s;
    EXPECT_NE(std::string(s.message()).find(key), std::string::npos) << s;
  };
  bad("nats_url = \"http://x:1\"", "nats_url");
  bad("default_runtime = \"\"", "default_runtime");
  bad("default_runtime = \"run c\"", "default_runtime");
  bad("shim_binary = \"berth-shim\"", "shim_binary");
  bad("state = \"relative\"", "state");
  bad("shim_binry = \"/x\"", "shim_binry");  // unknown (misspelt) key
}

}  // namespace
}  // namespace berth::runtime
