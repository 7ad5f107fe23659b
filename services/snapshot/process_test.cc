// berth-snapshot as a process (build/bin/berth-snapshot): a container's rootfs mounted from
// a snapshot survives kill -9 and SIGTERM of the service and its restarts untouched; start-up
// reconciles directories with the metadata (orphans go, live snapshots stay); Debian's
// `ctr snapshots ...` works against the socket. Root (mounts) and integration (processes).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "client/proxy/snapshot_proxy.h"
#include "lib/status/status.h"
#include "lib/testing/child_process.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "services/snapshot/testsuite/fstest.h"
#include "services/snapshot/testsuite/testsuite.h"

namespace berth::snapshot {
namespace {

std::string Bin(const std::string& name) {
  const char* dir = std::getenv("BERTH_BIN");
  return std::string(dir != nullptr ? dir : "build/bin") + "/" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(tmp_.Path("config.toml"))
        << "[snapshot]\n"
        << "address = \"unix://" << tmp_.Path("sn.sock") << "\"\nroot = \"" << tmp_.Path("root")
        << "\"\ncontent_address = \"unix://" << tmp_.Path("content.sock")
        << "\"\nnats_url = \"\"\n";
    Start();
  }

  void Start() {
    unlink(tmp_.Path("ready").c_str());
    berth::testing::ChildProcessOptions o;
    o.argv = {Bin("berth-snapshot"), "--config", tmp_.Path("config.toml"), "--ready-file",
              tmp_.Path("ready")};
    o.stdout_path = o.stderr_path = tmp_.Path("snapshot.log");
    auto child = berth::testing::ChildProcess::Start(o);
    ASSERT_OK(child.status());
    child_ = std::make_unique<berth::testing::ChildProcess>(std::move(*child));
    ASSERT_TRUE(berth::testing::WaitFor([&] {
      return access(tmp_.Path("ready").c_str(), F_OK) == 0;
    })) << ReadFile(tmp_.Path("snapshot.log"));
    proxy_ = std::make_unique<proxy::SnapshotProxy>(
        grpc::CreateChannel("unix:" + tmp_.Path("sn.sock"), grpc::InsecureChannelCredentials()),
        "overlayfs");
  }

  berth::testing::TempDir tmp_{"snproc"};
  std::unique_ptr<berth::testing::ChildProcess> child_;
  std::unique_ptr<proxy::SnapshotProxy> proxy_;
  testsuite::MountRecorder mounts_;  // Destroyed first: unmounts before the TempDir goes.
  CallContext ctx_ = CallContext::Background("default");
};

TEST_F(ProcessTest, RestartsNeverDisturbARunningRootfs) {
  ASSERT_OK(proxy_->Prepare(ctx_, "base-a", "", {}).status());
  ASSERT_OK(proxy_->Commit(ctx_, "base", "base-a", {}));
  ASSERT_OK_AND_ASSIGN(auto rootfs_mounts, proxy_->Prepare(ctx_, "container", "base", {}));
  std::string rootfs = tmp_.Path("rootfs");
  ASSERT_EQ(mkdir(rootfs.c_str(), 0755), 0);
  ASSERT_OK(mounts_.Mount(rootfs_mounts, rootfs));
  ASSERT_OK(fstest::CreateFile("/before", "1", 0644)(rootfs));

  // Debris of an interrupted Prepare and Remove, to be reconciled at start.
  std::string snapshots = tmp_.Path("root") + "/overlayfs/snapshots";
  ASSERT_EQ(mkdir((snapshots + "/999").c_str(), 0700), 0);
  ASSERT_EQ(mkdir((snapshots + "/rm-77").c_str(), 0700), 0);

  ASSERT_OK(child_->Signal(SIGKILL));
  ASSERT_OK(child_->Wait(std::chrono::seconds(10)).status());
  EXPECT_TRUE(IsMountPoint(rootfs));
  ASSERT_OK(fstest::CreateFile("/while-down", "2", 0644)(rootfs));

  Start();
  ASSERT_OK_AND_ASSIGN(Info info, proxy_->Stat(ctx_, "container"));
  EXPECT_EQ(info.kind, Kind::kActive);
  EXPECT_NE(access((snapshots + "/999").c_str(), F_OK), 0) << "orphan directory kept";
  EXPECT_NE(access((snapshots + "/rm-77").c_str(), F_OK), 0) << "half-removed directory kept";
  ASSERT_OK_AND_ASSIGN(auto again, proxy_->Mounts(ctx_, "container"));
  EXPECT_EQ(again, rootfs_mounts);

  ASSERT_OK_AND_ASSIGN(int status, child_->Terminate());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(tmp_.Path("snapshot.log"));
  EXPECT_TRUE(IsMountPoint(rootfs));
  ASSERT_OK(fstest::CreateFile("/after", "3", 0644)(rootfs));
  Start();

  ASSERT_OK(mounts_.Unmount(rootfs));
  ASSERT_OK(proxy_->Commit(ctx_, "image+container", "container", {}));
  ASSERT_OK_AND_ASSIGN(auto view, proxy_->View(ctx_, "look", "image+container", {}));
  std::string look = tmp_.Path("look");
  ASSERT_EQ(mkdir(look.c_str(), 0755), 0);
  ASSERT_OK(mounts_.Mount(view, look));
  EXPECT_OK(fstest::CheckDirectoryEqualWithApplier(
      look, fstest::Apply({fstest::CreateFile("/before", "1", 0644),
                           fstest::CreateFile("/while-down", "2", 0644),
                           fstest::CreateFile("/after", "3", 0644)})));
}

TEST_F(ProcessTest, CtrSnapshotsCommands) {
  ASSERT_EQ(access("/usr/bin/ctr", X_OK), 0) << "Debian's ctr is not installed (scripts/install-deps.sh)";
  auto ctr = [&](const std::string& args) -> std::pair<int, std::string> {
    std::string out_path = tmp_.Path("ctr.out");
    std::string cmd =
        "/usr/bin/ctr -a " + tmp_.Path("sn.sock") + " " + args + " >" + out_path + " 2>&1";
    int rc = std::system(cmd.c_str());
    return {WEXITSTATUS(rc), ReadFile(out_path)};
  };
  EXPECT_EQ(ctr("snapshots prepare base").first, 0);
  auto [rc, mounts] = ctr("snapshots mounts /mnt base");
  EXPECT_EQ(rc, 0);
  EXPECT_NE(mounts.find("mount -t bind " + tmp_.Path("root") + "/overlayfs/snapshots/"),
            std::string::npos)
      << mounts;
  EXPECT_EQ(ctr("snapshots commit base-c base").first, 0);
  EXPECT_EQ(ctr("snapshots prepare child base-c").first, 0);
  EXPECT_EQ(ctr("snapshots view v base-c").first, 0);
  auto [ls_rc, ls] = ctr("snapshots ls");
  EXPECT_EQ(ls_rc, 0);
  EXPECT_NE(ls.find("child  base-c Active"), std::string::npos) << ls;
  EXPECT_NE(ls.find("v      base-c View"), std::string::npos) << ls;
  auto [tree_rc, tree] = ctr("snapshots tree");
  EXPECT_NE(tree.find("\\_ child"), std::string::npos) << tree;
  auto [info_rc, info] = ctr("snapshots info base-c");
  EXPECT_NE(info.find("\"Kind\": \"Committed\""), std::string::npos) << info;
  EXPECT_NE(info.find("containerd.io/gc.root"), std::string::npos) << info;
  EXPECT_EQ(ctr("snapshots label base-c color=blue").first, 0);
  EXPECT_NE(ctr("snapshots info base-c").second.find("\"color\": \"blue\""), std::string::npos);
  EXPECT_EQ(ctr("snapshots usage").first, 0);
  auto [rm_rc, rm] = ctr("snapshots rm base-c");
  EXPECT_NE(rm_rc, 0);
  EXPECT_NE(rm.find("failed precondition"), std::string::npos) << rm;
  auto [p_rc, p] = ctr("snapshots prepare x missing");
  EXPECT_NE(p.find("not found"), std::string::npos) << p;
  EXPECT_EQ(ctr("snapshots rm child v").first, 0);
  EXPECT_EQ(ctr("snapshots rm base-c").first, 0);
  EXPECT_EQ(ctr("snapshots --snapshotter native prepare n").first, 0);
  auto [zfs_rc, zfs] = ctr("snapshots --snapshotter zfs ls");
  EXPECT_NE(zfs.find("snapshotter not loaded: zfs"), std::string::npos) << zfs;
}

}  // namespace
}  // namespace berth::snapshot
