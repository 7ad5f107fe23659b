// The [content] section: defaults, overrides and the errors that name the key.
#include "services/content/config.h"

#include <gtest/gtest.h>

#include <functional>

#include "lib/testing/status_matchers.h"

namespace berth::content {
namespace {

absl::StatusOr<ContentConfig> Parse(const std::string& text) {
  absl::StatusOr<server::ConfigFile> file =
      server::ConfigFile::Parse(text, "/etc/berth/config.toml");
  if (!file.ok()) return file.status();
  absl::StatusOr<server::ConfigSection> section = file->Section("content");
  if (!section.ok()) return section.status();
  absl::StatusOr<ContentConfig> config = ParseContentConfig(*section);
  if (!config.ok()) return config.status();
  if (absl::Status s = section->CheckUnknownKeys(); !s.ok()) return s;
  return config;
}

TEST(ContentConfigTest, Defaults) {
  ASSERT_OK_AND_ASSIGN(ContentConfig c, Parse(""));
  EXPECT_EQ(c.server.address, "unix:///run/berth/content.sock");
  EXPECT_EQ(c.server.root, "/var/lib/berth/content");
  EXPECT_EQ(c.nats_url, "nats://127.0.0.1:4222");
  EXPECT_TRUE(c.preallocate);
}

TEST(ContentConfigTest, Values) {
  ASSERT_OK_AND_ASSIGN(ContentConfig c, Parse(R"([content]
address = "unix:///tmp/c.sock"
root = "/srv/content"
metrics_address = "127.0.0.1:9102"
log_level = "debug"
nats_url = ""
preallocate = false
)"));
  EXPECT_EQ(c.server.address, "unix:///tmp/c.sock");
  EXPECT_EQ(c.server.root, "/srv/content");
  EXPECT_EQ(c.server.metrics_address, "127.0.0.1:9102");
  EXPECT_EQ(c.server.log_level, "debug");
  EXPECT_EQ(c.nats_url, "");
  EXPECT_FALSE(c.preallocate);
}

TEST(ContentConfigTest, BadValuesNameTheKey) {
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"[content]\nnats_url = \"http://x\"\n", "nats_url"},
           {"[content]\npreallocate = \"yes\"\n", "preallocate"},
           {"[content]\nroot = \"relative\"\n", "root"},
           {"[content]\nroots = \"/x\"\n", "roots"}}) {
    absl::Status s = Parse(text).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << text << s;
    EXPECT_NE(s.message().find("[content] " + key), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace berth::content
