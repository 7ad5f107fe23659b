// The [image] section: defaults, overrides and the errors that name the key.
#include "services/image/config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "lib/testing/status_matchers.h"

namespace berth::image {
namespace {

absl::StatusOr<ImageConfig> Parse(const std::string& text) {
  absl::StatusOr<server::ConfigFile> file =
      server::ConfigFile::Parse(text, "/etc/berth/config.toml");
  if (!file.ok()) return file.status();
  absl::StatusOr<server::ConfigSection> section = file->Section("image");
  if (!section.ok()) return section.status();
  absl::StatusOr<ImageConfig> config = ParseImageConfig(*section);
  if (!config.ok()) return config.status();
  if (absl::Status s = section->CheckUnknownKeys(); !s.ok()) return s;
  return config;
}

TEST(ImageConfigTest, Defaults) {
  ASSERT_OK_AND_ASSIGN(ImageConfig c, Parse(""));
  EXPECT_EQ(c.server.address, "unix:///run/berth/image.sock");
  EXPECT_EQ(c.server.root, "/var/lib/berth/image");
  EXPECT_EQ(c.server.state, "/run/berth/image");
  EXPECT_EQ(c.nats_url, "nats://127.0.0.1:4222");
  EXPECT_EQ(c.content_address, "unix:///run/berth/content.sock");
  EXPECT_EQ(c.snapshot_address, "unix:///run/berth/snapshot.sock");
  EXPECT_EQ(c.gateway_address, "unix:///run/berth/berth.sock");
  EXPECT_EQ(c.hosts_dir, "/etc/berth/certs.d:/etc/containerd/certs.d");
  EXPECT_EQ(c.docker_config, "");
  EXPECT_EQ(c.default_snapshotter, "overlayfs");
  EXPECT_EQ(c.max_concurrent_downloads, 3);
  EXPECT_EQ(c.max_concurrent_downloads_total, 12);
}

TEST(ImageConfigTest, PullValues) {
  ASSERT_OK_AND_ASSIGN(ImageConfig c, Parse(R"([image]
content_address = "tcp://content.example:10400"
snapshot_address = "unix:///tmp/s.sock"
gateway_address = ""
hosts_dir = "/a:/b"
docker_config = "/root/.docker/config.json"
default_snapshotter = "native"
max_concurrent_downloads = 5
max_concurrent_downloads_total = 20
)"));
  EXPECT_EQ(c.content_address, "tcp://content.example:10400");
  EXPECT_EQ(c.snapshot_address, "unix:///tmp/s.sock");
  EXPECT_EQ(c.gateway_address, "");
  EXPECT_EQ(c.hosts_dir, "/a:/b");
  EXPECT_EQ(c.docker_config, "/root/.docker/config.json");
  EXPECT_EQ(c.default_snapshotter, "native");
  EXPECT_EQ(c.max_concurrent_downloads, 5);
  EXPECT_EQ(c.max_concurrent_downloads_total, 20);
}

TEST(ImageConfigTest, Values) {
  ASSERT_OK_AND_ASSIGN(ImageConfig c, Parse(R"([image]
address = "unix:///tmp/i.sock"
root = "/srv/image"
metrics_address = "127.0.0.1:9104"
log_level = "debug"
nats_url = ""
)"));
  EXPECT_EQ(c.server.address, "unix:///tmp/i.sock");
  EXPECT_EQ(c.server.root, "/srv/image");
  EXPECT_EQ(c.server.metrics_address, "127.0.0.1:9104");
  EXPECT_EQ(c.server.log_level, "debug");
  EXPECT_EQ(c.nats_url, "");
}

TEST(ImageConfigTest, BadValuesNameTheKey) {
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"[image]\nnats_url = \"http://x\"\n", "nats_url"},
           {"[image]\nnats_url = 4222\n", "nats_url"},
           {"[image]\nroot = \"relative\"\n", "root"},
           {"[image]\nroots = \"/x\"\n", "roots"},
           {"[image]\ncontent_address = \"\"\n", "content_address"},
           {"[image]\nsnapshot_address = \"http://x\"\n", "snapshot_address"},
           {"[image]\ngateway_address = \"berth.sock\"\n", "gateway_address"},
           {"[image]\ndocker_config = \"config.json\"\n", "docker_config"},
           {"[image]\ndefault_snapshotter = \"\"\n", "default_snapshotter"},
           {"[image]\nmax_concurrent_downloads = 0\n", "max_concurrent_downloads"},
           {"[image]\nmax_concurrent_downloads_total = 5000\n", "max_concurrent_downloads_total"},
           {"[image]\nhosts_dir = 1\n", "hosts_dir"}}) {
    absl::Status s = Parse(text).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << text << s;
    EXPECT_NE(s.message().find("[image] " + key), std::string::npos) << s;
  }
}

// deploy/config.toml's [image] section parses and has no key this parser does not know.
TEST(ImageConfigTest, DeployConfigParses) {
  const char* src = std::getenv("BERTH_SOURCE_DIR");
  if (src == nullptr) GTEST_SKIP() << "BERTH_SOURCE_DIR not set";
  std::function<absl::StatusOr<ImageConfig>(server::ConfigSection&)> parse = ParseImageConfig;
  ASSERT_OK_AND_ASSIGN(
      ImageConfig c, server::LoadSection(std::string(src) + "/deploy/config.toml", "image", parse));
  EXPECT_EQ(c.server.address, "unix:///run/berth/image.sock");
}

}  // namespace
}  // namespace berth::image
