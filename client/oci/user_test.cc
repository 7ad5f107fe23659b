#include "client/oci/user.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"

namespace berth::oci {
namespace {

TEST(ParsePasswdTest, ReadsEntries) {
  ASSERT_OK_AND_ASSIGN(std::vector<PasswdEntry> users,
                       ParsePasswd("# header\n"
                                   "root:x:0:0:root:/root:/bin/sh\r\n"
                                   "\n"
                                   "   \n"
                                   "daemon:*:1:1\n"
                                   "app:x:1000:1001:App,,,:/home/app:/bin/bash"));
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users[0].name, "root");
  EXPECT_EQ(users[0].shell, "/bin/sh");
  EXPECT_EQ(users[1].uid, 1);
  EXPECT_EQ(users[1].home, "");
  EXPECT_EQ(users[2].uid, 1000);
  EXPECT_EQ(users[2].gid, 1001);
  EXPECT_EQ(users[2].home, "/home/app");
}

TEST(ParsePasswdTest, RefusesBadLines) {
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePasswd("root:x:0\n").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePasswd("root:x:abc:0\n").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePasswd("root:x:-1:0\n").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePasswd("root:x:0:2147483648\n").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePasswd("root:x: 1:0\n").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      ParsePasswd("a:x:1:1\n" + std::string(kMaxUserLineBytes + 1, 'a') + "\n").status()));
  // The error names the line.
  absl::Status s = ParsePasswd("ok:x:1:1\nbad:x:y:1\n").status();
  EXPECT_NE(std::string(s.message()).find("line 2"), std::string::npos) << s;
}

TEST(ParseGroupTest, ReadsMembers) {
  ASSERT_OK_AND_ASSIGN(std::vector<GroupEntry> groups,
                       ParseGroup("root:x:0:\nwheel:x:10:root, app ,\nnomembers:x:20\n"));
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_TRUE(groups[0].members.empty());
  EXPECT_EQ(groups[1].members, (std::vector<std::string>{"root", "app"}));
  EXPECT_EQ(groups[2].gid, 20);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseGroup("g:x\n").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseGroup("g:x:4294967295:\n").status()));
}

TEST(ParseIDTest, Range) {
  EXPECT_EQ(*ParseID("0", "uid"), 0);
  EXPECT_EQ(*ParseID("2147483647", "uid"), 2147483647);
  EXPECT_TRUE(absl::IsInvalidArgument(ParseID("2147483648", "uid").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseID("", "uid").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseID("12a", "uid").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseID("+1", "uid").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ParseID("99999999999999999999999", "uid").status()));
}

TEST(ReadFileInRootTest, StaysInsideAndRefusesOddFiles) {
  testing::TempDir dir("buser");
  const std::string root = dir.Path("root");
  ASSERT_EQ(mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((root + "/etc").c_str(), 0755), 0);
  std::ofstream(root + "/etc/passwd") << "inside";
  std::ofstream(dir.Path("secret")) << "outside";
  ASSERT_OK_AND_ASSIGN(std::string text, ReadFileInRoot(root, "/etc/passwd"));
  EXPECT_EQ(text, "inside");
  ASSERT_EQ(symlink("../../../secret", (root + "/etc/up").c_str()), 0);
  EXPECT_TRUE(absl::IsNotFound(ReadFileInRoot(root, "/etc/up").status()));
  EXPECT_TRUE(absl::IsNotFound(ReadFileInRoot(root, "/../secret").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(ReadFileInRoot(root, "/etc").status()));
  ASSERT_EQ(mkfifo((root + "/etc/fifo").c_str(), 0644), 0);
  // A FIFO would block a reader forever: refused without blocking.
  EXPECT_TRUE(absl::IsInvalidArgument(ReadFileInRoot(root, "/etc/fifo").status()));
  EXPECT_TRUE(absl::IsNotFound(ReadFileInRoot(dir.Path("nope"), "/etc/passwd").status()));
}

}  // namespace
}  // namespace berth::oci
