// A task's rootfs mounts as the snapshot service returns them: an overlay of more layers than
// fit in one page of mount(2) options (containerd's chdir fallback, or the new mount API), a
// read-only bind mount, and malformed mounts refused. Root (mounts).
#include "services/runtime/mount.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"

namespace berth::runtime {
namespace {

containerd::types::Mount MakeMount(std::string type, std::string source,
                                   std::vector<std::string> options) {
  containerd::types::Mount m;
  m.set_type(std::move(type));
  m.set_source(std::move(source));
  for (std::string& o : options) m.add_options(std::move(o));
  return m;
}

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (mounts)";
    target_ = dir_.Path("rootfs");
    ASSERT_EQ(mkdir(target_.c_str(), 0755), 0);
  }
  void TearDown() override {
    if (!target_.empty()) {
      EXPECT_OK(UnmountAll(target_));
    }
  }

  testing::TempDir dir_{"bmount"};
  std::string target_;
};

TEST_F(MountTest, OverlayWithMoreLayersThanFitInAPage) {
  std::string lowerdir;
  constexpr int kLayers = 128;
  for (int i = 0; i < kLayers; ++i) {
    const std::string layer = dir_.Path("snapshots/" + std::to_string(1000 + i) + "/fs");
    ASSERT_EQ(system(("mkdir -p " + layer).c_str()), 0);
    std::ofstream(layer + "/layer-" + std::to_string(i)) << i;
    // The first lowerdir is the top layer.
    lowerdir = i == 0 ? layer : layer + ":" + lowerdir;
  }
  ASSERT_GT(lowerdir.size(), 4096u);
  const std::string upper = dir_.Path("upper");
  const std::string work = dir_.Path("work");
  ASSERT_EQ(mkdir(upper.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(work.c_str(), 0755), 0);
  ASSERT_OK(MountAll({MakeMount("overlay", "overlay",
                                {"index=off", "workdir=" + work, "upperdir=" + upper,
                                 "lowerdir=" + lowerdir})},
                     target_));
  EXPECT_TRUE(IsMountPoint(target_));
  for (int i : {0, 63, kLayers - 1}) {
    EXPECT_EQ(access((target_ + "/layer-" + std::to_string(i)).c_str(), F_OK), 0) << i;
  }
  std::ofstream(target_ + "/written") << "x";
  EXPECT_EQ(access((upper + "/written").c_str(), F_OK), 0);
  ASSERT_OK(UnmountAll(target_));
  EXPECT_FALSE(IsMountPoint(target_));
}

TEST_F(MountTest, ReadOnlyBindMountIsReadOnly) {
  const std::string source = dir_.Path("source");
  ASSERT_EQ(mkdir(source.c_str(), 0755), 0);
  std::ofstream(source + "/file") << "hello";
  ASSERT_OK(MountAll({MakeMount("bind", source, {"rbind", "ro"})}, target_));
  EXPECT_EQ(access((target_ + "/file").c_str(), R_OK), 0);
  int fd = open((target_ + "/new").c_str(), O_CREAT | O_WRONLY, 0644);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) close(fd);
}

TEST_F(MountTest, MalformedMountsAreRefusedAndNothingStaysMounted) {
  EXPECT_TRUE(absl::IsInvalidArgument(MountAll({MakeMount("overlay", "", {})}, target_)));
  EXPECT_TRUE(absl::IsInvalidArgument(MountAll({MakeMount("", "/x", {})}, target_)));
  // A mount that fails after another succeeded: the first is taken down again.
  const std::string source = dir_.Path("source");
  ASSERT_EQ(mkdir(source.c_str(), 0755), 0);
  absl::Status s = MountAll({MakeMount("bind", source, {"rbind"}),
                             MakeMount("overlay", "overlay", {"lowerdir=" + dir_.Path("none")})},
                            target_);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(IsMountPoint(target_)) << s;
}

TEST_F(MountTest, UnmountOfNothingIsOk) {
  EXPECT_OK(UnmountAll(target_));
  EXPECT_OK(UnmountAll(dir_.Path("does-not-exist")));
}

}  // namespace
}  // namespace berth::runtime
