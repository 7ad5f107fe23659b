#include "services/snapshot/config.h"

#include <gtest/gtest.h>

#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"

namespace berth::snapshot {
namespace {

absl::StatusOr<SnapshotConfig> Parse(const std::string& text) {
  ASSIGN_OR_RETURN(server::ConfigFile file, server::ConfigFile::Parse(text, "test.toml"));
  ASSIGN_OR_RETURN(server::ConfigSection section, file.Section("snapshot"));
  ASSIGN_OR_RETURN(SnapshotConfig c, ParseSnapshotConfig(section));
  RETURN_IF_ERROR(section.CheckUnknownKeys());
  return c;
}

TEST(SnapshotConfigTest, Defaults) {
  ASSERT_OK_AND_ASSIGN(SnapshotConfig c, Parse(""));
  EXPECT_EQ(c.server.address, "unix:///run/berth/snapshot.sock");
  EXPECT_EQ(c.server.root, "/var/lib/berth/snapshot");
  EXPECT_EQ(c.content_address, "unix:///run/berth/content.sock");
  EXPECT_EQ(c.snapshotters, (std::vector<std::string>{"overlayfs", "native"}));
  EXPECT_FALSE(c.sync_fs);
  EXPECT_TRUE(c.prefetch);
}

TEST(SnapshotConfigTest, Keys) {
  ASSERT_OK_AND_ASSIGN(SnapshotConfig c, Parse(R"(
[snapshot]
root = "/srv/snap"
content_address = "tcp://10.0.0.1:7000"
nats_url = ""
snapshotters = ["native"]
sync_fs = true
prefetch = false
)"));
  EXPECT_EQ(c.server.root, "/srv/snap");
  EXPECT_EQ(c.content_address, "tcp://10.0.0.1:7000");
  EXPECT_EQ(c.nats_url, "");
  EXPECT_EQ(c.snapshotters, std::vector<std::string>{"native"});
  EXPECT_TRUE(c.sync_fs);
  EXPECT_FALSE(c.prefetch);
}

TEST(SnapshotConfigTest, BadValuesNameTheKey) {
  for (const char* text :
       {"[snapshot]\nsnapshotters = []\n", "[snapshot]\nsnapshotters = [\"zfs\"]\n",
        "[snapshot]\nsnapshotters = [\"native\", \"native\"]\n",
        "[snapshot]\ncontent_address = \"http://x\"\n", "[snapshot]\nnats_url = \"http://x\"\n",
        "[snapshot]\nsync_fs = \"yes\"\n", "[snapshot]\nsnapshoters = [\"native\"]\n"}) {
    absl::Status s = Parse(text).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << text << s;
    EXPECT_NE(s.message().find("[snapshot]"), absl::string_view::npos) << s;
  }
}

}  // namespace
}  // namespace berth::snapshot
