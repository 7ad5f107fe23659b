// Tar breakouts through the whole suite: hostile layers written into the content store and
// applied with Diff.Apply through the gateway socket onto a fresh native snapshot. The classes
// of containerd's TestBreakouts that matter on a real deployment ("../" names, an absolute
// symlink then a write through it, a hard link to a host file, chmod through a symlink —
// CVE-2021-32760, a hard link to a symlink then its mode) must leave a host directory beside
// the suite exactly as it was, and the service must answer with a clear InvalidArgument or
// FailedPrecondition (or apply the entry inside the snapshot), never crash, and keep serving.
// The applier's own table (services/snapshot/diff/breakout_test.cc) runs the full list
// in-process; this test proves the deployed path (gateway -> berth-snapshot -> content) uses
// it. Root (the Diff service mounts the snapshot), nats-server.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "client/testing/suite.h"
#include "lib/testing/status_matchers.h"
#include "proto/containerd/services/diff/v1/diff.grpc.pb.h"
#include "proto/containerd/services/snapshots/v1/snapshots.grpc.pb.h"
#include "services/snapshot/diff/tar_builder.h"
#include "tests/security/security_testing.h"

namespace berth::security_testing {
namespace {

namespace diffpb = containerd::services::diff::v1;
namespace snapb = containerd::services::snapshots::v1;
namespace contentpb = containerd::services::content::v1;
using snapshot::diff::TarBuilder;

constexpr char kNs[] = "sec-breakout";
constexpr char kSnapshotter[] = "native";

void WriteFile(const std::string& path, const std::string& data, mode_t mode) {
  std::ofstream(path, std::ios::binary) << data;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

std::string DotDots(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "../";
  return s;
}

struct Case {
  Case(std::string n, std::function<std::string(const std::string&)> t, bool r = false,
       std::string l = "")
      : name(std::move(n)), tar(std::move(t)), refused(r), landed(std::move(l)) {}
  std::string name;
  std::function<std::string(const std::string& outside)> tar;
  // Must be refused (InvalidArgument or FailedPrecondition); otherwise refusing or applying
  // inside the snapshot are both fine.
  bool refused = false;
  // When applied: where, relative to the snapshot (with "{o}" for the outside path without
  // its leading '/'), the file must have landed with content "pwned".
  std::string landed;
};

class BreakoutTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!client_testing::IsRoot()) return;
    suite_ = new client_testing::LocalSuite();
    absl::Status s = suite_->Start();
    if (!s.ok()) start_error_ = new std::string(s.ToString());
  }
  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
  }
  void SetUp() override {
    if (!client_testing::IsRoot()) GTEST_SKIP() << "needs root (the Diff service mounts)";
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    channel_ = Dial(suite_->socket());
    content_ = contentpb::Content::NewStub(channel_);
    snapshots_ = snapb::Snapshots::NewStub(channel_);
    diff_ = diffpb::Diff::NewStub(channel_);
    // The host directory the layers aim at: beside the suite's data, not inside any snapshot.
    outside_ = suite_->Path("outside");
    ASSERT_EQ(mkdir(outside_.c_str(), 0755), 0);
    WriteFile(outside_ + "/passwd", "root:x:0:0::/root:/bin/sh\n", 0644);
    WriteFile(outside_ + "/perm400", "secret\n", 0400);
    WriteFile(outside_ + "/also-exists-outside-root", "x\n", 0644);
    ASSERT_EQ(mkdir((outside_ + "/etc").c_str(), 0700), 0);
  }
  void TearDown() override {
    if (!outside_.empty()) (void)system(("rm -rf '" + outside_ + "'").c_str());
  }

  // Prepares snapshot `key`, applies `tar` onto it through the gateway; returns the Apply
  // status and (in *source) the snapshot's directory.
  absl::Status Apply(const std::string& key, const std::string& tar, std::string* source) {
    absl::StatusOr<std::string> dgst = WriteBlob(*content_, kNs, tar);
    if (!dgst.ok()) return dgst.status();
    snapb::PrepareSnapshotRequest prep;
    prep.set_snapshotter(kSnapshotter);
    prep.set_key(key);
    snapb::PrepareSnapshotResponse mounts;
    absl::Status s = FromGrpc(snapshots_->Prepare(Ctx(kNs).get(), prep, &mounts));
    if (!s.ok()) return s;
    if (mounts.mounts_size() > 0) *source = mounts.mounts(0).source();
    diffpb::ApplyRequest req;
    req.mutable_diff()->set_media_type("application/vnd.oci.image.layer.v1.tar");
    req.mutable_diff()->set_digest(*dgst);
    req.mutable_diff()->set_size(static_cast<int64_t>(tar.size()));
    *req.mutable_mounts() = mounts.mounts();
    diffpb::ApplyResponse resp;
    return FromGrpc(diff_->Apply(Ctx(kNs).get(), req, &resp));
  }

  void Remove(const std::string& key) {
    snapb::RemoveSnapshotRequest req;
    req.set_snapshotter(kSnapshotter);
    req.set_key(key);
    google::protobuf::Empty empty;
    (void)snapshots_->Remove(Ctx(kNs).get(), req, &empty);
  }

  static client_testing::LocalSuite* suite_;
  static std::string* start_error_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<contentpb::Content::Stub> content_;
  std::unique_ptr<snapb::Snapshots::Stub> snapshots_;
  std::unique_ptr<diffpb::Diff::Stub> diff_;
  std::string outside_;
};

client_testing::LocalSuite* BreakoutTest::suite_ = nullptr;
std::string* BreakoutTest::start_error_ = nullptr;

std::vector<Case> Cases() {
  return {
      {"DotDotFileName",
       [](const std::string& o) {
         return TarBuilder().File(DotDots(40) + o.substr(1) + "/passwd", "pwned", 0666).Build();
       },
       false, "{o}/passwd"},
      {"DotDotDirectoryThenFile",
       [](const std::string& o) {
         return TarBuilder()
             .Dir("a", 0755)
             .File("a/" + DotDots(40) + o.substr(1) + "/etc/x", "pwned", 0666)
             .Build();
       }},
      {"AbsoluteFileName",
       [](const std::string& o) { return TarBuilder().File(o + "/passwd", "pwned", 0666).Build(); },
       false, "{o}/passwd"},
      {"AbsoluteSymlinkThenWriteThroughIt",
       [](const std::string& o) {
         return TarBuilder().Symlink(o, "esc").File("esc/passwd", "pwned", 0666).Build();
       }},
      {"RelativeSymlinkUpAndOutThenWrite",
       [](const std::string& o) {
         return TarBuilder()
             .Symlink(DotDots(40) + o.substr(1), "esc2")
             .File("esc2/passwd", "pwned", 0666)
             .Dir("esc2/etc", 0777)
             .Build();
       }},
      {"FileOverSymlinkToHostFile",
       [](const std::string& o) {
         return TarBuilder().Symlink(o + "/passwd", "s").File("s", "pwned", 0666).Build();
       }},
      {"HardlinkToHostFile",
       [](const std::string& o) { return TarBuilder().Link(o + "/passwd", "hl").Build(); },
       /*refused=*/true},
      {"HardlinkDotDotToHostFile",
       [](const std::string& o) {
         return TarBuilder().Link(DotDots(40) + o.substr(1) + "/passwd", "hl").Build();
       },
       /*refused=*/true},
      // CVE-2021-32760: chmod applied through a symlink to a host file.
      {"ChmodThroughSymlink",
       [](const std::string& o) {
         return TarBuilder()
             .Symlink(o + "/perm400", "s")
             .Dir("s", 0777)
             .Symlink(o + "/etc", "t")
             .Dir("t", 0777)
             .Build();
       }},
      {"HardlinkToSymlinkThenChmod",
       [](const std::string& o) {
         return TarBuilder()
             .Symlink(o + "/perm400", "ep")
             .Link("ep", "sketchylink")
             .File("sketchylink", "", 0777)
             .Build();
       }},
      {"WhiteoutThroughSymlinkOut",
       [](const std::string& o) {
         return TarBuilder().Symlink(o, "w").Whiteout("w/passwd").Opaque("w").Build();
       }},
  };
}

TEST_F(BreakoutTest, NothingIsWrittenOutsideTheSnapshot) {
  int n = 0;
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const std::string before = TreeFingerprint(outside_);
    ASSERT_NE(before.find("perm400 mode=100400"), std::string::npos) << before;
    const std::string key = "breakout-" + std::to_string(n++);
    std::string source;
    absl::Status s = Apply(key, c.tar(outside_), &source);
    std::cout << c.name << ": " << s << "\n";
    EXPECT_EQ(TreeFingerprint(outside_), before) << "the host directory changed: " << s;
    struct stat st;
    ASSERT_EQ(stat((outside_ + "/perm400").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0400u) << "CVE-2021-32760: mode changed through a symlink";
    if (c.refused) {
      EXPECT_TRUE(absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s)) << s;
    } else {
      EXPECT_TRUE(s.ok() || absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s)) << s;
    }
    if (!s.ok()) {
      EXPECT_FALSE(s.message().empty());
    } else if (!c.landed.empty()) {
      std::string rel = c.landed;
      rel.replace(rel.find("{o}"), 3, outside_.substr(1));
      std::ifstream in(source + "/" + rel);
      std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      EXPECT_EQ(data, "pwned") << "not inside the snapshot at " << source << "/" << rel;
    }
    Remove(key);
  }
  // The services still serve: a harmless layer applies.
  std::string source;
  EXPECT_OK(Apply("breakout-ok", TarBuilder().Dir("etc", 0755).File("etc/ok", "ok", 0644).Build(),
                  &source));
  Remove("breakout-ok");
}

// The checks above can fail: a host-side write and a chmod through a symlink (what a naive
// untar does) change the fingerprint and the mode.
TEST_F(BreakoutTest, FingerprintSeesHostChanges) {
  const std::string before = TreeFingerprint(outside_);
  WriteFile(outside_ + "/passwd", "pwned", 0644);
  EXPECT_NE(TreeFingerprint(outside_), before);
  const std::string again = TreeFingerprint(outside_);
  ASSERT_EQ(symlink((outside_ + "/perm400").c_str(), (outside_ + "/link").c_str()), 0);
  const std::string with_link = TreeFingerprint(outside_);
  ASSERT_EQ(chmod((outside_ + "/link").c_str(), 0777), 0);
  EXPECT_NE(TreeFingerprint(outside_), with_link);
  EXPECT_NE(again, with_link);
}

}  // namespace
}  // namespace berth::security_testing
