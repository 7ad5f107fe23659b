// FileSystemApplier and WalkingDiff over a real LocalStore and real snapshotters: the unpack
// sequence of `ctr images pull` (Prepare, Apply, Commit per layer) on overlayfs and native,
// Diff.Diff of a modified snapshot re-applied elsewhere, and the error paths (missing blob,
// corrupt blob, wrong size, read-only view, media types). Root: it mounts.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "lib/digest/digest.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/content/local_store.h"
#include "services/snapshot/diff/fs_applier.h"
#include "services/snapshot/diff/tar_builder.h"
#include "services/snapshot/diff/walking_diff.h"
#include "services/snapshot/metadata.h"
#include "services/snapshot/native_snapshotter.h"
#include "services/snapshot/overlay_snapshotter.h"
#include "services/snapshot/testsuite/fstest.h"
#include "services/snapshot/testsuite/testsuite.h"

namespace berth::snapshot::diff {
namespace {

namespace ft = fstest;

class DifferTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    content::LocalStoreOptions copts;
    copts.root = tmp_.Path("content");
    copts.verify_blobs = false;
    ASSERT_OK_AND_ASSIGN(content_, content::LocalStore::Open(copts));
    ASSERT_OK_AND_ASSIGN(meta_, MetaStore::Open(tmp_.Path("meta")));
    if (GetParam() == "overlayfs") {
      ASSERT_OK_AND_ASSIGN(sn_, OverlaySnapshotter::Create(tmp_.Path("overlayfs"), meta_.get()));
    } else {
      ASSERT_OK_AND_ASSIGN(sn_, NativeSnapshotter::Create(tmp_.Path("native"), meta_.get()));
    }
    applier_ = std::make_unique<FileSystemApplier>(
        content_.get(), FileSystemApplierOptions{tmp_.Path("tmpmounts"), true, false});
    differ_ =
        std::make_unique<WalkingDiff>(content_.get(), WalkingDiffOptions{tmp_.Path("tmpmounts")});
  }

  // Stores `blob` in the content store and returns its descriptor.
  Descriptor Put(const std::string& blob, const std::string& media_type) {
    digest::Digest d = digest::FromBytes(blob);
    content::WriterOptions w;
    w.ref = "layer-" + d.ToString();
    w.total = static_cast<std::int64_t>(blob.size());
    w.expected = d;
    auto writer = content_->OpenWriter(ctx_, w);
    if (writer.ok()) {
      EXPECT_OK((*writer)->Write(blob));
      EXPECT_OK((*writer)->Commit(static_cast<std::int64_t>(blob.size()), d, {}));
    } else {
      EXPECT_TRUE(IsAlreadyExists(writer.status())) << writer.status();
    }
    return Descriptor{media_type, d.ToString(), static_cast<std::int64_t>(blob.size()), {}};
  }

  std::string MountView(const std::string& key, const std::string& parent) {
    std::string dir = tmp_.Path(key);
    mkdir(dir.c_str(), 0755);
    auto mounts = sn_->View(ctx_, key, parent, {});
    EXPECT_OK(mounts.status());
    if (!mounts.ok()) return "";
    EXPECT_OK(recorder_.Mount(*mounts, dir));
    return dir;
  }

  berth::testing::TempDir tmp_{"differ"};
  CallContext ctx_ = CallContext::Background("default");
  std::unique_ptr<content::LocalStore> content_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<DirectorySnapshotter> sn_;
  std::unique_ptr<FileSystemApplier> applier_;
  std::unique_ptr<WalkingDiff> differ_;
  testsuite::MountRecorder recorder_;  // Destroyed first: unmounts before the rest goes.
};

const std::string& Layer1() {
  static const std::string* tar =
      new std::string(TarBuilder()
                          .WithOwner(0, 0)
                          .Dir("etc", 0755)
                          .File("etc/hosts", "127.0.0.1 localhost\n", 0644)
                          .File("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644)
                          .Dir("usr", 0755)
                          .Dir("usr/lib", 0755)
                          .File("usr/lib/libc.so", std::string(200000, 'c'), 0755)
                          .Symlink("libc.so", "usr/lib/libc.so.6")
                          .Dir("var", 0755)
                          .Dir("var/cache", 0755)
                          .File("var/cache/a", "a", 0644)
                          .File("var/cache/b", "b", 0644)
                          .Build());
  return *tar;
}

const std::string& Layer2() {
  static const std::string* tar = new std::string(
      TarBuilder()
          .WithOwner(0, 0)
          .File("etc/hosts", "127.0.0.1 localhost berth\n", 0644)  // Parent only in layer 1.
          .Whiteout("etc/passwd")
          .Dir("var/cache", 0700)
          .Opaque("var/cache")
          .File("var/cache/c", "c", 0600)
          .Link("usr/lib/libc.so", "usr/lib/libc-hard.so")
          .Build());
  return *tar;
}

ft::Applier Expected() {
  return ft::Apply({
      ft::CreateDir("/etc", 0755),
      ft::CreateFile("/etc/hosts", "127.0.0.1 localhost berth\n", 0644),
      ft::CreateDir("/usr", 0755),
      ft::CreateDir("/usr/lib", 0755),
      ft::CreateFile("/usr/lib/libc.so", std::string(200000, 'c'), 0755),
      ft::Symlink("libc.so", "/usr/lib/libc.so.6"),
      ft::Link("/usr/lib/libc.so", "/usr/lib/libc-hard.so"),
      ft::CreateDir("/var", 0755),
      ft::CreateDir("/var/cache", 0700),
      ft::CreateFile("/var/cache/c", "c", 0600),
  });
}

TEST_P(DifferTest, UnpackLikeCtrPull) {
  std::vector<Descriptor> layers = {Put(GzipBytes(Layer1()), kMediaTypeLayerGzip),
                                    Put(ZstdBytes(Layer2()), kMediaTypeLayerZstd)};
  std::vector<std::string> diff_ids = {digest::FromBytes(Layer1()).ToString(),
                                       digest::FromBytes(Layer2()).ToString()};
  std::string parent;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string key = "extract-" + std::to_string(i);
    ASSERT_OK_AND_ASSIGN(auto mounts, sn_->Prepare(ctx_, key, parent, {}));
    ASSERT_OK_AND_ASSIGN(Descriptor applied, applier_->Apply(ctx_, layers[i], mounts));
    EXPECT_EQ(applied.media_type, kMediaTypeLayer);
    EXPECT_EQ(applied.digest, diff_ids[i]);
    EXPECT_EQ(applied.size, static_cast<std::int64_t>(i == 0 ? Layer1().size() : Layer2().size()));
    parent = "chain-" + std::to_string(i);
    ASSERT_OK(sn_->Commit(ctx_, parent, key, {}));
  }
  std::string view = MountView("view", parent);
  ASSERT_FALSE(view.empty());
  EXPECT_OK(ft::CheckDirectoryEqualWithApplier(view, Expected()));
}

TEST_P(DifferTest, ApplyThroughTemporaryMounts) {
  // Two bind mounts: not writable in place, so the applier mounts them and writes through.
  std::string a = tmp_.Path("a"), b = tmp_.Path("b");
  ASSERT_EQ(mkdir(a.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(b.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((a + "/sub").c_str(), 0755), 0);
  Descriptor layer =
      Put(GzipBytes(TarBuilder().File("top", "t", 0644).File("sub/in-b", "b", 0644).Build()),
          kMediaTypeLayerGzip);
  std::vector<Mount> mounts = {Mount{"bind", a, "", {"rbind", "rw"}},
                               Mount{"bind", b, "sub", {"rbind", "rw"}}};
  ASSERT_OK(applier_->Apply(ctx_, layer, mounts).status());
  EXPECT_EQ(access((a + "/top").c_str(), F_OK), 0);
  EXPECT_EQ(access((b + "/in-b").c_str(), F_OK), 0);
  EXPECT_NE(access((a + "/sub/in-b").c_str(), F_OK), 0) << "written under the mount, not a/sub";
  DIR* d = opendir(tmp_.Path("tmpmounts").c_str());
  ASSERT_NE(d, nullptr);
  int entries = 0;
  while (struct dirent* e = readdir(d)) entries += e->d_name[0] != '.';
  closedir(d);
  EXPECT_EQ(entries, 0) << "temporary mount point left behind";
}

TEST_P(DifferTest, ApplyErrors) {
  ASSERT_OK_AND_ASSIGN(auto mounts, sn_->Prepare(ctx_, "target", "", {}));
  std::string tar = Layer1();
  Descriptor good = Put(GzipBytes(tar), kMediaTypeLayerGzip);

  Descriptor missing = good;
  missing.digest = digest::FromBytes("nothing").ToString();
  EXPECT_TRUE(IsNotFound(applier_->Apply(ctx_, missing, mounts).status()));

  Descriptor bad_digest = good;
  bad_digest.digest = "sha256:xyz";
  EXPECT_TRUE(IsInvalidArgument(applier_->Apply(ctx_, bad_digest, mounts).status()));

  Descriptor bad_type = good;
  bad_type.media_type = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted";
  EXPECT_TRUE(IsUnimplemented(applier_->Apply(ctx_, bad_type, mounts).status()));

  Descriptor short_size = good;
  short_size.size = good.size - 1;
  absl::Status s = applier_->Apply(ctx_, short_size, mounts).status();
  EXPECT_TRUE(IsFailedPrecondition(s) || IsDataLoss(s)) << s;

  EXPECT_TRUE(IsInvalidArgument(applier_->Apply(ctx_, good, {}).status()));
  CallContext no_ns;
  EXPECT_TRUE(IsFailedPrecondition(applier_->Apply(no_ns, good, mounts).status()));

  // A blob whose bytes changed on disk: the digest check fails.
  std::string blob_path = tmp_.Path("content") + "/blobs/sha256/" +
                          std::string(digest::Digest::Parse(good.digest)->hex());
  int fd = open(blob_path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, "XX", 2, 100), 2);
  close(fd);
  s = applier_->Apply(ctx_, good, mounts).status();
  EXPECT_TRUE(IsFailedPrecondition(s) || IsDataLoss(s)) << s;

  // A read-only view.
  Descriptor other = Put(GzipBytes(Layer2()), kMediaTypeLayerGzip);
  ASSERT_OK(sn_->Prepare(ctx_, "base", "", {}).status());
  ASSERT_OK(sn_->Commit(ctx_, "base-c", "base", {}));
  ASSERT_OK_AND_ASSIGN(auto view, sn_->View(ctx_, "ro", "base-c", {}));
  s = applier_->Apply(ctx_, other, view).status();
  EXPECT_FALSE(s.ok());
}

TEST_P(DifferTest, DiffThenApplyReproducesTheSnapshot) {
  // lower: layer 1; upper: an active snapshot on it, changed through its mount.
  Descriptor l1 = Put(GzipBytes(Layer1()), kMediaTypeLayerGzip);
  ASSERT_OK_AND_ASSIGN(auto m1, sn_->Prepare(ctx_, "l1", "", {}));
  ASSERT_OK(applier_->Apply(ctx_, l1, m1).status());
  ASSERT_OK(sn_->Commit(ctx_, "base", "l1", {}));
  ASSERT_OK_AND_ASSIGN(auto upper_mounts, sn_->Prepare(ctx_, "work", "base", {}));
  std::string upper = tmp_.Path("upper");
  ASSERT_EQ(mkdir(upper.c_str(), 0755), 0);
  ASSERT_OK(recorder_.Mount(upper_mounts, upper));
  ASSERT_OK(ft::Apply({ft::CreateFile("/etc/hosts", "changed\n", 0644), ft::RemoveAll("/var/cache"),
                       ft::CreateDir("/srv", 0750),
                       ft::CreateFile("/srv/data", std::string(300000, 'd'), 0600),
                       ft::Chown("/srv/data", 33, 33), ft::SetXattr("/srv", "user.k", "v"),
                       ft::Link("/srv/data", "/srv/data2"), ft::RemoveAll("/usr/lib/libc.so.6"),
                       ft::Symlink("/usr/lib/libc.so", "/usr/lib/libc.so.6")})(upper));

  ASSERT_OK_AND_ASSIGN(auto lower_mounts, sn_->View(ctx_, "lower-view", "base", {}));
  for (const std::string& media_type :
       {std::string(kMediaTypeLayerGzip), std::string(kMediaTypeLayerZstd),
        std::string(kMediaTypeLayer)}) {
    SCOPED_TRACE(media_type);
    CompareOptions options;
    options.media_type = media_type;
    options.labels = {{"made-by", "test"}};
    // While the upper is mounted (a running container's rootfs).
    ASSERT_OK_AND_ASSIGN(Descriptor layer,
                         differ_->Compare(ctx_, lower_mounts, upper_mounts, options));
    EXPECT_EQ(layer.media_type, media_type);
    ASSERT_OK_AND_ASSIGN(content::Info info,
                         content_->Info(ctx_, *digest::Digest::Parse(layer.digest)));
    EXPECT_EQ(info.size, layer.size);
    EXPECT_EQ(info.labels["made-by"], "test");
    ASSERT_TRUE(info.labels.count(kUncompressedLabel));

    std::string key = "reapply-" + std::to_string(layer.size);
    ASSERT_OK_AND_ASSIGN(auto m, sn_->Prepare(ctx_, key, "base", {}));
    ASSERT_OK_AND_ASSIGN(Descriptor applied, applier_->Apply(ctx_, layer, m));
    EXPECT_EQ(applied.digest, info.labels[kUncompressedLabel]);
    ASSERT_OK(sn_->Commit(ctx_, key + "-c", key, {}));
    std::string view = MountView(key + "-v", key + "-c");
    ASSERT_FALSE(view.empty());
    ft::CompareOptions with_times;
    with_times.mtimes = true;
    EXPECT_OK(ft::CheckDirectoryEqual(upper, view, with_times));
  }
  EXPECT_TRUE(IsUnimplemented(
      differ_->Compare(ctx_, lower_mounts, upper_mounts, {"application/json", "", {}}).status()));
  EXPECT_TRUE(IsInvalidArgument(differ_->Compare(ctx_, lower_mounts, {}, {}).status()));
  // No ingest is left behind by a failed or finished diff.
  ASSERT_OK_AND_ASSIGN(auto ingests, content_->ListStatuses(ctx_, {}));
  EXPECT_TRUE(ingests.empty());
}

INSTANTIATE_TEST_SUITE_P(Snapshotters, DifferTest, ::testing::Values("overlayfs", "native"));

}  // namespace
}  // namespace berth::snapshot::diff
