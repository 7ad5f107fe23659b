// Layer application correctness: known trees in, the same trees out (types, modes incl.
// setuid, owners, contents, symlinks, hard links, devices, fifos, xattrs, nanosecond
// mtimes), whiteouts and opaque directories in both modes, chains of layers, and an overlay
// upper that mounts to the expected tree. Root: it chowns, makes devices and mounts.
#include "services/snapshot/diff/tar_apply.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <string>

#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/snapshot/diff/tar_builder.h"
#include "services/snapshot/mount.h"
#include "services/snapshot/testsuite/fstest.h"
#include "services/snapshot/testsuite/testsuite.h"

namespace berth::snapshot::diff {
namespace {

namespace ft = fstest;

absl::StatusOr<ApplyStats> ApplyBytes(const std::string& tar, const std::string& root,
                                      const ApplyOptions& options = {}) {
  auto src = NewStringSource(tar, 4096);
  return ApplyTar(*src, root, options);
}

std::string MakeDir(const berth::testing::TempDir& tmp, const std::string& name) {
  std::string p = tmp.Path(name);
  EXPECT_EQ(mkdir(p.c_str(), 0755), 0);
  return p;
}

TEST(CleanComponentsTest, RootedCleaning) {
  using V = std::vector<std::string>;
  EXPECT_EQ(CleanComponents("a/b/c"), (V{"a", "b", "c"}));
  EXPECT_EQ(CleanComponents("/a//b/./c/"), (V{"a", "b", "c"}));
  EXPECT_EQ(CleanComponents("../../etc/passwd"), (V{"etc", "passwd"}));
  EXPECT_EQ(CleanComponents("a/../../b"), (V{"b"}));
  EXPECT_EQ(CleanComponents("a/.."), V{});
  EXPECT_EQ(CleanComponents(".."), V{});
  EXPECT_EQ(CleanComponents(""), V{});
  EXPECT_EQ(CleanComponents("./"), V{});
  EXPECT_EQ(CleanComponents("dne/../.wh.etc"), (V{".wh.etc"}));
  EXPECT_EQ(CleanComponents("etc/.wh.."), (V{"etc", ".wh.."}));
}

TEST(TarApplyTest, FullTreeIsReproduced) {
  berth::testing::TempDir tmp("apply");
  std::string root = MakeDir(tmp, "root");
  TarBuilder tb;
  tb.WithOwner(0, 0).WithMtime(1600000000, 123456789);
  tb.Dir("etc", 0755)
      .File("etc/hosts", "127.0.0.1 localhost\n", 0644)
      .Link("etc/hosts", "etc/hosts.allow")
      .Dir("usr", 0755)
      .Dir("usr/bin", 0755)
      .File("usr/bin/su", "binary", 04755)
      .File("usr/bin/wall", "binary", 02755)
      .Dir("tmp", 01777)
      .Symlink("../etc/hosts", "usr/hosts-link")
      .Symlink("/nonexistent/absolute", "dangling")
      .Fifo("usr/fifo", 0600)
      .CharDev("null", 1, 3, 0666);
  tb.WithOwner(1000, 1001).WithMtime(1700000000, 42);
  tb.Dir("home", 0755).Dir("home/derek", 0700).File("home/derek/.profile", "PATH=/x", 0600);
  tb.WithXattrs(
      {{"user.color", "blue"},
       {"security.capability",
        std::string(
            "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            20)}});
  tb.WithOwner(0, 0).File("usr/bin/ping", "ping", 0755);
  tb.WithXattrs({});
  // A sparse-ish file and an empty one.
  tb.File("zero", "", 0644).File("big", std::string(3 << 20, 'b'), 0640);
  ASSERT_OK_AND_ASSIGN(ApplyStats stats, ApplyBytes(tb.Build(), root));
  EXPECT_EQ(stats.entries, 18);

  ft::Applier expected = ft::Apply({
      ft::CreateDir("/etc", 0755),
      ft::CreateFile("/etc/hosts", "127.0.0.1 localhost\n", 0644),
      ft::Link("/etc/hosts", "/etc/hosts.allow"),
      ft::CreateDir("/usr", 0755),
      ft::CreateDir("/usr/bin", 0755),
      ft::CreateFile("/usr/bin/su", "binary", 04755),
      ft::CreateFile("/usr/bin/wall", "binary", 02755),
      ft::CreateDir("/tmp", 01777),
      ft::Symlink("../etc/hosts", "/usr/hosts-link"),
      ft::Symlink("/nonexistent/absolute", "/dangling"),
      ft::Mknod("/usr/fifo", S_IFIFO | 0600, 0),
      ft::Mknod("/null", S_IFCHR | 0666, makedev(1, 3)),
      ft::CreateDir("/home", 0755),
      ft::CreateDir("/home/derek", 0700),
      ft::CreateFile("/home/derek/.profile", "PATH=/x", 0600),
      ft::Chown("/home", 1000, 1001),
      ft::Chown("/home/derek", 1000, 1001),
      ft::Chown("/home/derek/.profile", 1000, 1001),
      ft::CreateFile("/usr/bin/ping", "ping", 0755),
      ft::SetXattr("/usr/bin/ping", "user.color", "blue"),
      ft::SetXattr("/usr/bin/ping", "security.capability",
                   std::string("\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                               "\x00\x00\x00\x00",
                               20)),
      ft::CreateFile("/zero", "", 0644),
      ft::CreateFile("/big", std::string(3 << 20, 'b'), 0640),
      // Times last, directories after their contents.
      ft::Chtimes("/etc/hosts", 1600000000, 123456789),
      ft::Chtimes("/usr/bin/su", 1600000000, 123456789),
      ft::Chtimes("/usr/bin/wall", 1600000000, 123456789),
      ft::Chtimes("/usr/hosts-link", 1600000000, 123456789),
      ft::Chtimes("/dangling", 1600000000, 123456789),
      ft::Chtimes("/usr/fifo", 1600000000, 123456789),
      ft::Chtimes("/null", 1600000000, 123456789),
      ft::Chtimes("/home/derek/.profile", 1700000000, 42),
      ft::Chtimes("/usr/bin/ping", 1700000000, 42),
      ft::Chtimes("/zero", 1700000000, 42),
      ft::Chtimes("/big", 1700000000, 42),
      ft::Chtimes("/home/derek", 1700000000, 42),
      ft::Chtimes("/home", 1700000000, 42),
      ft::Chtimes("/usr/bin", 1600000000, 123456789),
      ft::Chtimes("/usr", 1600000000, 123456789),
      ft::Chtimes("/tmp", 1600000000, 123456789),
      ft::Chtimes("/etc", 1600000000, 123456789),
  });
  ft::CompareOptions with_times;
  with_times.mtimes = true;
  EXPECT_OK(ft::CheckDirectoryEqualWithApplier(root, expected, with_times));
}

TEST(TarApplyTest, EntriesReplaceWhatIsInTheWay) {
  berth::testing::TempDir tmp("apply");
  std::string root = MakeDir(tmp, "root");
  ASSERT_OK(
      ft::Apply({ft::CreateDir("/d", 0755), ft::CreateFile("/d/f", "x", 0644),
                 ft::CreateFile("/f", "file", 0644), ft::Symlink("/etc", "/l"),
                 ft::CreateDir("/keep", 0700), ft::CreateFile("/keep/inside", "i", 0644)})(root));
  std::string tar = TarBuilder()
                        .File("d", "now a file", 0600)  // dir -> file
                        .Dir("f", 0711)                 // file -> dir
                        .Dir("l", 0755)                 // symlink -> dir
                        .Dir("keep", 0755)              // dir over dir: kept, updated
                        .Build();
  ASSERT_OK(ApplyBytes(tar, root).status());
  EXPECT_OK(ft::CheckDirectoryEqualWithApplier(
      root, ft::Apply({ft::CreateFile("/d", "now a file", 0600), ft::CreateDir("/f", 0711),
                       ft::CreateDir("/l", 0755), ft::CreateDir("/keep", 0755),
                       ft::CreateFile("/keep/inside", "i", 0644)})));
}

TEST(TarApplyTest, MissingParentsAreCreated) {
  berth::testing::TempDir tmp("apply");
  std::string root = MakeDir(tmp, "root");
  ASSERT_OK(ft::CreateDir("/etc", 0755)(root));
  std::string tar = TarBuilder()
                        .Dir("/etc/subdir", 0755)
                        .Dir("/etc/subdir2/", 0755)
                        .Dir("/etc/subdir2/more", 0755)
                        .Dir("/other/noparent-1/1", 0755)
                        .File("/other/noparent-2/2/file", "x", 0644)
                        .Build();
  ASSERT_OK(ApplyBytes(tar, root).status());
  for (const char* p : {"etc/subdir", "etc/subdir2", "etc/subdir2/more", "other/noparent-1/1",
                        "other/noparent-2/2/file"}) {
    struct stat st;
    EXPECT_EQ(stat((root + "/" + p).c_str(), &st), 0) << p;
  }
}

// The layer chain of containerd's DeletedFilesInChildSnapshot and friends, as tars.
TEST(TarApplyTest, WhiteoutsAndOpaqueDirectoriesDeleteNatively) {
  berth::testing::TempDir tmp("apply");
  std::string root = MakeDir(tmp, "root");
  std::string l1 = TarBuilder()
                       .Dir("a", 0755)
                       .File("a/1", "1", 0644)
                       .File("a/2", "2", 0644)
                       .Dir("a/sub", 0755)
                       .File("a/sub/deep", "d", 0644)
                       .Dir("b", 0755)
                       .File("b/x", "x", 0644)
                       .File("gone", "g", 0644)
                       .Symlink("/b", "blink")
                       .Build();
  std::string l2 = TarBuilder()
                       .Dir("a", 0755)
                       .Opaque("a")
                       .File("a/new", "n", 0644)
                       .Whiteout("gone")
                       .Whiteout("b/x")
                       .Whiteout("nothing-there")
                       .Whiteout("blink/x-again")  // through a symlink, inside the root
                       .Build();
  std::string l3 = TarBuilder().Dir("b", 0700).File("b/y", "y", 0644).Whiteout("blink").Build();
  ASSERT_OK(ApplyBytes(l1, root).status());
  ASSERT_OK(ApplyBytes(l2, root).status());
  ASSERT_OK(ApplyBytes(l3, root).status());
  EXPECT_OK(ft::CheckDirectoryEqualWithApplier(
      root, ft::Apply({ft::CreateDir("/a", 0755), ft::CreateFile("/a/new", "n", 0644),
                       ft::CreateDir("/b", 0700), ft::CreateFile("/b/y", "y", 0644)})));
}

TEST(TarApplyTest, OpaqueKeepsWhatTheLayerAddedBeforeIt) {
  berth::testing::TempDir tmp("apply");
  std::string root = MakeDir(tmp, "root");
  ASSERT_OK(ft::Apply({ft::CreateDir("/d", 0755), ft::CreateFile("/d/old", "o", 0644),
                       ft::CreateDir("/d/olddir", 0755)})(root));
  // Children before the marker, one with an implied parent directory.
  std::string tar =
      TarBuilder().File("d/x/y", "y", 0644).File("d/z", "z", 0644).Opaque("d").Build();
  ASSERT_OK(ApplyBytes(tar, root).status());
  EXPECT_OK(ft::CheckDirectoryEqualWithApplier(
      root, ft::Apply({ft::CreateDir("/d", 0755), ft::CreateDir("/d/x", 0755),
                       ft::CreateFile("/d/x/y", "y", 0644), ft::CreateFile("/d/z", "z", 0644)})));
}

// On an overlay upper, whiteouts are 0:0 character devices and opaque directories carry the
// overlay xattr; mounting lower + upper shows the same tree as deleting natively.
TEST(TarApplyTest, OverlayUpperMountsToTheSameTree) {
  berth::testing::TempDir tmp("apply");
  std::string lower = MakeDir(tmp, "lower");
  std::string upper = MakeDir(tmp, "upper");
  std::string work = MakeDir(tmp, "work");
  std::string merged = MakeDir(tmp, "merged");
  std::string native = MakeDir(tmp, "native");
  std::string l1 = TarBuilder()
                       .Dir("a", 0750)
                       .File("a/1", "1", 0644)
                       .Dir("a/sub", 0755)
                       .File("a/sub/deep", "d", 0644)
                       .Dir("deep", 0711)
                       .Dir("deep/er", 0701)
                       .File("deep/er/file", "f", 0644)
                       .File("gone", "g", 0644)
                       .Build();
  std::string l2 = TarBuilder()
                       .Opaque("a")
                       .File("a/new", "n", 0644)
                       .Whiteout("gone")
                       .Whiteout("deep/er/file")  // parents exist only in the lower
                       .File("deep/er/added", "a", 0644)
                       .Build();
  ASSERT_OK(ApplyBytes(l1, lower).status());
  ASSERT_OK(ApplyBytes(l1, native).status());
  ASSERT_OK(ApplyBytes(l2, native).status());
  ApplyOptions overlay;
  overlay.whiteouts = ApplyOptions::Whiteouts::kOverlay;
  overlay.parents = {lower};
  ASSERT_OK(ApplyBytes(l2, upper, overlay).status());

  struct stat st;
  ASSERT_EQ(lstat((upper + "/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  char value[8];
  ASSERT_EQ(lgetxattr((upper + "/a").c_str(), "trusted.overlay.opaque", value, sizeof(value)), 1);
  EXPECT_EQ(value[0], 'y');
  // Implied parents copied their attributes from the lower.
  ASSERT_EQ(lstat((upper + "/deep/er").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0701u);

  testsuite::MountRecorder mounts;
  ASSERT_OK(mounts.Mount(
      {Mount{"overlay",
             "overlay",
             "",
             {"index=off", "workdir=" + work, "upperdir=" + upper, "lowerdir=" + lower}}},
      merged));
  EXPECT_OK(ft::CheckDirectoryEqual(native, merged));
}

TEST(TarApplyTest, CompressedLayersApply) {
  std::string tar = TarBuilder().Dir("d", 0755).File("d/f", std::string(100000, 'q'), 0644).Build();
  for (const std::string& layer : {tar, GzipBytes(tar), ZstdBytes(tar)}) {
    berth::testing::TempDir tmp("apply");
    std::string root = MakeDir(tmp, "root");
    auto src = NewDecompressor(NewStringSource(layer, 3000));
    ASSERT_OK(ApplyTar(*src, root, {}).status());
    EXPECT_OK(ft::CheckDirectoryEqualWithApplier(
        root, ft::Apply({ft::CreateDir("/d", 0755),
                         ft::CreateFile("/d/f", std::string(100000, 'q'), 0644)})));
  }
}

TEST(TarApplyTest, BadArchivesAreRefused) {
  berth::testing::TempDir tmp("apply");
  std::string root = MakeDir(tmp, "root");
  std::string tar = TarBuilder().File("f", std::string(10000, 'x'), 0644).Build();
  absl::Status s = ApplyBytes(tar.substr(0, 3000), root).status();  // Cut inside the data.
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  std::string garbage(4096, 'G');
  s = ApplyBytes(garbage, root).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  // A hard link to nothing.
  s = ApplyBytes(TarBuilder().Link("missing", "l").Build(), root).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  // A read error of the stream is returned as it is.
  const std::string cut = GzipBytes(tar).substr(0, 100);
  auto failing = NewDecompressor(NewStringSource(cut));
  s = ApplyTar(*failing, root, {}).status();
  EXPECT_TRUE(IsDataLoss(s)) << s;
  // A parent that is a file.
  s = ApplyBytes(TarBuilder().File("p", "", 0644).File("p/child", "", 0644).Build(), root).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
}

TEST(TarApplyTest, OverlayXattrsFromTheArchiveAreDropped) {
  berth::testing::TempDir tmp("apply");
  std::string root = MakeDir(tmp, "root");
  std::string tar = TarBuilder()
                        .WithXattrs({{"trusted.overlay.redirect", "/etc"},
                                     {"trusted.overlay.opaque", "y"},
                                     {"user.keep", "1"}})
                        .Dir("d", 0755)
                        .Build();
  ASSERT_OK(ApplyBytes(tar, root).status());
  char v[64];
  EXPECT_LT(lgetxattr((root + "/d").c_str(), "trusted.overlay.redirect", v, sizeof(v)), 0);
  EXPECT_LT(lgetxattr((root + "/d").c_str(), "trusted.overlay.opaque", v, sizeof(v)), 0);
  EXPECT_EQ(lgetxattr((root + "/d").c_str(), "user.keep", v, sizeof(v)), 1);
}

TEST(TarApplyTest, CancelledStops) {
  berth::testing::TempDir tmp("apply");
  std::string root = MakeDir(tmp, "root");
  TarBuilder tb;
  for (int i = 0; i < 200; ++i) tb.File("f" + std::to_string(i), "x", 0644);
  ApplyOptions options;
  options.cancelled = [] { return true; };
  EXPECT_TRUE(IsCancelled(ApplyBytes(tb.Build(), root, options).status()));
}

TEST(TarApplyTest, NonAsciiNames) {
  berth::testing::TempDir tmp("apply");
  std::string root = MakeDir(tmp, "root");
  std::string name = "caf\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac";
  ASSERT_OK(ApplyBytes(TarBuilder().File(name, "u", 0644).Build(), root).status());
  struct stat st;
  EXPECT_EQ(lstat((root + "/" + name).c_str(), &st), 0);
}

}  // namespace
}  // namespace berth::snapshot::diff
