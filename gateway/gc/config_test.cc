// [gateway.gc] and the per-backend `collectable` key, through the gateway's config parser.
#include "gateway/gc/config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "gateway/config.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"

namespace berth::gateway {
namespace {

constexpr char kFile[] = "/etc/berth/config.toml";

absl::StatusOr<GatewayConfig> Parse(std::string_view text) {
  ASSIGN_OR_RETURN(server::ConfigFile file, server::ConfigFile::Parse(text, kFile));
  ASSIGN_OR_RETURN(server::ConfigSection s, file.Section("gateway"));
  ASSIGN_OR_RETURN(GatewayConfig c, ParseGatewayConfig(s));
  RETURN_IF_ERROR(s.CheckUnknownKeys());
  return c;
}

void ExpectInvalid(std::string_view text, std::string_view message) {
  absl::StatusOr<GatewayConfig> c = Parse(text);
  ASSERT_FALSE(c.ok()) << text;
  EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
  EXPECT_EQ(std::string(c.status().message()), message);
}

TEST(GcConfigTest, Defaults) {
  ASSERT_OK_AND_ASSIGN(GatewayConfig c, Parse(""));
  EXPECT_TRUE(c.gc.automatic);
  EXPECT_EQ(c.gc.deletion_threshold, 0);
  EXPECT_EQ(c.gc.mutation_threshold, 100);
  EXPECT_EQ(c.gc.interval, std::chrono::hours(1));
  EXPECT_EQ(c.gc.max_time_percent, 2);
  EXPECT_EQ(c.gc.trigger_delay, std::chrono::milliseconds(100));
  EXPECT_EQ(c.gc.startup_delay, std::chrono::seconds(1));
  EXPECT_EQ(c.gc.ingest_expiry, std::chrono::hours(24));
  EXPECT_EQ(c.gc.timeout, std::chrono::minutes(2));
  // The four known backends take part; others do not unless they say so.
  ASSERT_EQ(c.backends.size(), 4u);
  for (const BackendConfig& b : c.backends) EXPECT_TRUE(b.collectable) << b.name;
}

TEST(GcConfigTest, AllKeys) {
  ASSERT_OK_AND_ASSIGN(GatewayConfig c, Parse(R"(
[gateway.gc]
automatic = false
deletion_threshold = 1
mutation_threshold = 0
interval = "0s"
max_time_percent = 10
trigger_delay = "0s"
startup_delay = "5s"
ingest_expiry = "1h"
timeout = "30s"
[gateway.backends.snapshot]
[gateway.backends.extra]
services = ["example.v1.Thing"]
addresses = ["tcp://127.0.0.1:9000"]
[gateway.backends.other]
services = ["example.v1.Other"]
addresses = ["tcp://127.0.0.1:9001"]
collectable = true
)"));
  EXPECT_FALSE(c.gc.automatic);
  EXPECT_EQ(c.gc.deletion_threshold, 1);
  EXPECT_EQ(c.gc.mutation_threshold, 0);
  EXPECT_EQ(c.gc.interval, std::chrono::nanoseconds(0));
  EXPECT_EQ(c.gc.max_time_percent, 10);
  EXPECT_EQ(c.gc.trigger_delay, std::chrono::nanoseconds(0));
  EXPECT_EQ(c.gc.startup_delay, std::chrono::seconds(5));
  EXPECT_EQ(c.gc.ingest_expiry, std::chrono::hours(1));
  EXPECT_EQ(c.gc.timeout, std::chrono::seconds(30));
  ASSERT_EQ(c.backends.size(), 3u);
  std::map<std::string, bool> collectable;
  for (const BackendConfig& b : c.backends) collectable[b.name] = b.collectable;
  EXPECT_TRUE(collectable["snapshot"]);  // by default
  EXPECT_FALSE(collectable["extra"]);    // not a known backend
  EXPECT_TRUE(collectable["other"]);
}

TEST(GcConfigTest, BadValues) {
  ExpectInvalid("[gateway.gc]\nmax_time_percent = 0\n",
                "config \"/etc/berth/config.toml\": [gateway.gc] max_time_percent: 0 is out of "
                "range [1, 100]");
  ExpectInvalid("[gateway.gc]\ninterval = \"10ms\"\n",
                "config \"/etc/berth/config.toml\": [gateway.gc] interval: must be 0 (none) or "
                "at least 1s");
  ExpectInvalid("[gateway.gc]\ntimeout = \"0s\"\n",
                "config \"/etc/berth/config.toml\": [gateway.gc] timeout: must be at least 1s");
  EXPECT_FALSE(Parse("[gateway.gc]\nautomatic = \"yes\"\n").ok());
  EXPECT_FALSE(Parse("[gateway.gc]\ndeletion_threshold = -1\n").ok());
  EXPECT_FALSE(Parse("[gateway.gc]\nmutation_threshold = \"100\"\n").ok());
  EXPECT_FALSE(Parse("[gateway.gc]\ninterval = \"-1s\"\n").ok());
  ExpectInvalid("[gateway.gc]\nschedule = \"1h\"\n",
                "config \"/etc/berth/config.toml\": [gateway.gc] schedule: unknown key");
  EXPECT_FALSE(Parse("[gateway.backends.content]\ncollectable = 1\n").ok());
}

TEST(GcConfigTest, BackendsHoldingGcObjectsMustTakePart) {
  // The image backend left out while others collect: its images would not protect anything.
  ExpectInvalid(R"(
[gateway.backends.content]
[gateway.backends.image]
collectable = false
)",
                "config \"/etc/berth/config.toml\": [gateway.backends.image] collectable: false, "
                "but it serves containerd.services.images.v1.Images and garbage collection must "
                "see its objects (or no backend may be collectable)");
  // No backend collectable: garbage collection sees nothing and deletes nothing.
  ASSERT_OK_AND_ASSIGN(GatewayConfig c, Parse(R"(
[gateway.backends.content]
collectable = false
[gateway.backends.image]
collectable = false
)"));
  for (const BackendConfig& b : c.backends) EXPECT_FALSE(b.collectable);
}

}  // namespace
}  // namespace berth::gateway
