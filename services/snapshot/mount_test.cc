// Mounting what snapshotters return: bind (rw, ro), overlay through the new mount API and
// through mount(2) with lowerdir lists far longer than a page (containerd's chdir fallback),
// and unmounting. Root: it mounts.
#include "services/snapshot/mount.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/snapshot/testsuite/fstest.h"

namespace berth::snapshot {
namespace {

std::string MakeDir(const std::string& p) {
  EXPECT_EQ(mkdir(p.c_str(), 0755), 0) << p;
  return p;
}

TEST(MountTest, MountToString) {
  EXPECT_EQ(MountToString(Mount{"bind", "/a", "", {"ro", "rbind"}}, "/mnt"),
            "mount -t bind /a /mnt -o ro,rbind");
  EXPECT_EQ(MountToString(Mount{"tmpfs", "tmpfs", "", {}}, "/mnt"), "mount -t tmpfs tmpfs /mnt");
}

TEST(MountTest, BindReadWriteAndReadOnly) {
  berth::testing::TempDir tmp("mount");
  std::string src = MakeDir(tmp.Path("src")), rw = MakeDir(tmp.Path("rw")),
              ro = MakeDir(tmp.Path("ro"));
  ASSERT_OK(MountAll({Mount{"bind", src, "", {"rw", "rbind"}}}, rw));
  EXPECT_TRUE(IsMountPoint(rw));
  ASSERT_OK(fstest::CreateFile("/f", "x", 0644)(rw));
  EXPECT_EQ(access((src + "/f").c_str(), F_OK), 0);
  ASSERT_OK(MountAll({Mount{"bind", src, "", {"ro", "rbind"}}}, ro));
  EXPECT_LT(open((ro + "/g").c_str(), O_CREAT | O_WRONLY, 0644), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_OK(UnmountAll(ro));
  EXPECT_OK(UnmountAll(rw));
  EXPECT_FALSE(IsMountPoint(rw));
  EXPECT_OK(UnmountAll(rw));  // Nothing mounted: fine.
  EXPECT_OK(UnmountAll(tmp.Path("does-not-exist")));
}

TEST(MountTest, FailureNamesTheMountAndUndoesEarlierOnes) {
  berth::testing::TempDir tmp("mount");
  std::string src = MakeDir(tmp.Path("src")), target = MakeDir(tmp.Path("t"));
  absl::Status s = MountAll({Mount{"bind", src, "", {"rbind"}},
                             Mount{"overlay", "overlay", "", {"lowerdir=" + tmp.Path("missing")}}},
                            target);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("mount -t overlay"), absl::string_view::npos) << s;
  EXPECT_FALSE(IsMountPoint(target));
}

// 128 lower layers whose absolute paths add up to well over a page.
class LongLowerdirTest : public ::testing::TestWithParam<bool> {};

TEST_P(LongLowerdirTest, MountsAndShowsTheTopmostFirst) {
  berth::testing::TempDir tmp("mount");
  std::string base = MakeDir(tmp.Path(std::string(60, 'l')));
  std::vector<std::string> lowers;
  for (int i = 0; i < 128; ++i) {
    std::string d = MakeDir(fmt::format("{}/layer-{:03}", base, i));
    ASSERT_OK(fstest::CreateFile("/which", std::to_string(i), 0644)(d));
    ASSERT_OK(fstest::CreateFile(fmt::format("/only-{}", i), "", 0644)(d));
    lowers.push_back(d);
  }
  std::string lowerdir = "lowerdir=";
  for (int i = 127; i >= 0; --i) {  // Nearest (topmost) first.
    lowerdir += lowers[i];
    if (i > 0) lowerdir += ':';
  }
  ASSERT_GT(lowerdir.size(), 8192u);
  std::string target = MakeDir(tmp.Path("merged"));
  Mount m{"overlay", "overlay", "", {"index=off", "ro", lowerdir}};
  const bool legacy = GetParam();
  ASSERT_OK(legacy ? internal::MountAllLegacy({m}, target) : MountAll({m}, target));
  EXPECT_OK(fstest::CheckDirectoryEqualWithApplier(target, [](const std::string& root) {
    RETURN_IF_ERROR(fstest::CreateFile("/which", "127", 0644)(root));
    for (int i = 0; i < 128; ++i) {
      RETURN_IF_ERROR(fstest::CreateFile(fmt::format("/only-{}", i), "", 0644)(root));
    }
    return absl::OkStatus();
  }));
  EXPECT_OK(UnmountAll(target));
}

INSTANTIATE_TEST_SUITE_P(Api, LongLowerdirTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Legacy" : "NewApi"; });

}  // namespace
}  // namespace berth::snapshot
