#include "gateway/config.h"

#include <gtest/gtest.h>

#include <string>

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

TEST(GatewayConfigTest, Defaults) {
  ASSERT_OK_AND_ASSIGN(GatewayConfig c, Parse(""));
  EXPECT_EQ(c.server.address, "unix:///run/berth/berth.sock");
  EXPECT_EQ(c.server.root, "/var/lib/berth/gateway");
  EXPECT_EQ(c.nats_url, "nats://127.0.0.1:4222");
  EXPECT_EQ(c.health_interval, std::chrono::seconds(2));
  EXPECT_TRUE(c.unary_fast_path);
  ASSERT_EQ(c.backends.size(), 4u);
  const BackendConfig& content = c.backends[0];
  EXPECT_EQ(content.name, "content");
  EXPECT_EQ(content.services, std::vector<std::string>{"containerd.services.content.v1.Content"});
  EXPECT_EQ(content.addresses, std::vector<std::string>{"unix:///run/berth/content.sock"});
  EXPECT_EQ(content.internal_api, "content");
  EXPECT_EQ(content.lease_resources, (std::vector<std::string>{"content", "ingests"}));
  EXPECT_EQ(c.backends[1].name, "snapshot");
  EXPECT_EQ(c.backends[2].name, "image");
  EXPECT_EQ(c.backends[3].name, "runtime");
}

TEST(GatewayConfigTest, ExplicitBackendsReplaceDefaults) {
  ASSERT_OK_AND_ASSIGN(GatewayConfig c, Parse(R"(
[gateway]
address = "unix:///tmp/x/berth.sock"
nats_url = ""
health_interval = "100ms"
unary_fast_path = false
[gateway.backends.content]
addresses = ["unix:///tmp/x/content.sock", "tcp://10.0.0.2:7000"]
[gateway.backends.extra]
services = ["example.v1.Thing"]
addresses = ["tcp://127.0.0.1:9000"]
read_methods = ["Get", "example.v1.Thing/List"]
plugins = ["io.example.v1/thing"]
[gateway.backends.extra.tls]
ca = "/etc/ca.pem"
)"));
  EXPECT_EQ(c.server.address, "unix:///tmp/x/berth.sock");
  EXPECT_EQ(c.nats_url, "");
  EXPECT_EQ(c.health_interval, std::chrono::milliseconds(100));
  EXPECT_FALSE(c.unary_fast_path);
  ASSERT_EQ(c.backends.size(), 2u);
  EXPECT_EQ(c.backends[0].addresses.size(), 2u);
  // Unset keys of a known backend keep its defaults.
  EXPECT_EQ(c.backends[0].read_methods.size(), 5u);
  EXPECT_EQ(c.backends[1].name, "extra");
  ASSERT_TRUE(c.backends[1].tls.has_value());
  EXPECT_EQ(c.backends[1].tls->ca, "/etc/ca.pem");
  EXPECT_TRUE(c.backends[1].internal_api.empty());
}

TEST(GatewayConfigTest, BadValuesNameTheKey) {
  ExpectInvalid("[gateway.backends.x]\naddresses = [\"unix:///a.sock\"]\n",
                "config \"/etc/berth/config.toml\": [gateway.backends.x] services: required");
  ExpectInvalid("[gateway.backends.x]\nservices = [\"a.B\"]\n",
                "config \"/etc/berth/config.toml\": [gateway.backends.x] addresses: required");
  ExpectInvalid(
      "[gateway.backends.x]\nservices = [\"Content\"]\naddresses = [\"unix:///a.sock\"]\n",
      "config \"/etc/berth/config.toml\": [gateway.backends.x] services: \"Content\" is not a "
      "full gRPC service name (package.Service)");
  ExpectInvalid(
      "[gateway.backends.x]\nservices = [\"a.B\"]\naddresses = [\"tcp://h:0\"]\n",
      "config \"/etc/berth/config.toml\": [gateway.backends.x] addresses: \"tcp://h:0\": a "
      "backend needs a port");
  ExpectInvalid(
      "[gateway.backends.x]\nservices = [\"a.B\"]\naddresses = [\"unix:///a\"]\n"
      "lease_resources = [\"content\"]\n",
      "config \"/etc/berth/config.toml\": [gateway.backends.x] lease_resources: needs "
      "internal_api");
  ExpectInvalid(
      "[gateway.backends.x]\nservices = [\"a.B\"]\naddresses = [\"unix:///a\"]\n"
      "internal_api = \"tar\"\n",
      "config \"/etc/berth/config.toml\": [gateway.backends.x] internal_api: \"tar\": expected "
      "\"content\", \"snapshot\" or \"\"");
  ExpectInvalid(
      "[gateway.backends.x]\nservices = [\"a.B\"]\naddresses = [\"unix:///a\"]\n"
      "[gateway.backends.y]\nservices = [\"a.B\"]\naddresses = [\"unix:///b\"]\n",
      "config \"/etc/berth/config.toml\": [gateway.backends.y] services: \"a.B\" is already "
      "served by backend \"x\"");
  ExpectInvalid("[gateway]\nhealth_interval = \"1ms\"\n",
                "config \"/etc/berth/config.toml\": [gateway] health_interval: must be at least "
                "10ms");
  ExpectInvalid("[gateway]\nnats_url = \"http://x\"\n",
                "config \"/etc/berth/config.toml\": [gateway] nats_url: \"http://x\": expected "
                "nats://host:port or tls://host:port");
}

TEST(GatewayConfigTest, UnknownKeyRefused) {
  absl::StatusOr<GatewayConfig> c = Parse("[gateway.backends.content]\nadresses = []\n");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()),
            "config \"/etc/berth/config.toml\": [gateway.backends.content] adresses: unknown key");
}

}  // namespace
}  // namespace berth::gateway
