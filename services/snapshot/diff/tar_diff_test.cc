// WriteTarDiff: the diff of two trees, applied onto a copy of the lower one, reproduces the
// upper one exactly (mtimes included); the entries are the ones containerd's TestDiffTar
// expects (parents included, whiteouts for deletions, sockets left out). Root: chown, mknod.
#include "services/snapshot/diff/tar_diff.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/snapshot/diff/tar_apply.h"
#include "services/snapshot/fs.h"
#include "services/snapshot/testsuite/fstest.h"

namespace berth::snapshot::diff {
namespace {

namespace ft = fstest;

absl::StatusOr<std::string> Diff(const std::string& lower, const std::string& upper) {
  std::string out;
  ASSIGN_OR_RETURN(DiffStats stats, WriteTarDiff(lower, upper, [&](std::string_view d) {
                     out.append(d);
                     return absl::OkStatus();
                   }));
  EXPECT_EQ(stats.tar_bytes, static_cast<std::int64_t>(out.size()));
  return out;
}

// "name" for files, "name/" for directories, "name->target" for hard links.
std::vector<std::string> Entries(const std::string& tar) {
  std::vector<std::string> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_open_memory(a, tar.data(), tar.size());
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(e);
    if (archive_entry_hardlink(e)) {
      name += std::string("->") + archive_entry_hardlink(e);
    } else if (archive_entry_filetype(e) == AE_IFDIR && name.back() != '/') {
      name += "/";
    }
    out.push_back(name);
  }
  archive_read_free(a);
  return out;
}

struct Trees {
  berth::testing::TempDir tmp{"tardiff"};
  std::string lower = tmp.Path("lower");
  std::string upper = tmp.Path("upper");
  std::string result = tmp.Path("result");
  Trees() {
    mkdir(lower.c_str(), 0755);
    mkdir(upper.c_str(), 0755);
    mkdir(result.c_str(), 0755);
  }
  // lower := a; upper := copy of lower, then b.
  absl::Status Build(const ft::Applier& a, const ft::Applier& b) {
    RETURN_IF_ERROR(a(lower));
    RETURN_IF_ERROR(CopyDirectory(lower, upper));
    RETURN_IF_ERROR(b(upper));
    return CopyDirectory(lower, result);
  }
  absl::Status ApplyDiff(const std::string& tar) {
    auto src = NewStringSource(tar, 7000);
    return ApplyTar(*src, result, {}).status();
  }
};

ft::CompareOptions WithTimes() {
  ft::CompareOptions o;
  o.mtimes = true;
  return o;
}

TEST(TarDiffTest, EmptyDiff) {
  Trees t;
  ASSERT_OK(t.Build(ft::CreateDir("/etc", 0755), ft::Apply({})));
  ASSERT_OK_AND_ASSIGN(std::string tar, Diff(t.lower, t.upper));
  EXPECT_TRUE(Entries(tar).empty());
}

TEST(TarDiffTest, ParentInclusion) {
  Trees t;
  ASSERT_OK(
      t.Build(ft::Apply({ft::CreateDir("/d1", 0755), ft::CreateDir("/d2", 0770)}),
              ft::Apply({ft::CreateDir("/d1/d", 0700), ft::CreateFile("/d2/f", "ok", 0644)})));
  ASSERT_OK_AND_ASSIGN(std::string tar, Diff(t.lower, t.upper));
  EXPECT_EQ(Entries(tar), (std::vector<std::string>{"d1/", "d1/d/", "d2/", "d2/f"}));
  ASSERT_OK(t.ApplyDiff(tar));
  EXPECT_OK(ft::CheckDirectoryEqual(t.upper, t.result, WithTimes()));
}

TEST(TarDiffTest, WhiteoutIncludesParents) {
  Trees t;
  ASSERT_OK(
      t.Build(ft::Apply({ft::CreateDir("/d1", 0755), ft::CreateFile("/d1/f1", "content", 0644),
                         ft::CreateDir("/d2", 0755), ft::CreateFile("/d2/f1", "content", 0644),
                         ft::CreateFile("/d2/f2", "content", 0644), ft::CreateDir("/d5", 0755),
                         ft::CreateFile("/d5/f1", "content", 0644)}),
              ft::Apply({ft::RemoveAll("/d1/f1"), ft::RemoveAll("/d2/f1"),
                         ft::Chmod("/d2/f2", 0777), ft::RemoveAll("/d5")})));
  ASSERT_OK_AND_ASSIGN(std::string tar, Diff(t.lower, t.upper));
  EXPECT_EQ(Entries(tar),
            (std::vector<std::string>{"d1/", "d1/.wh.f1", "d2/", "d2/.wh.f1", "d2/f2", ".wh.d5"}));
  ASSERT_OK(t.ApplyDiff(tar));
  EXPECT_OK(ft::CheckDirectoryEqual(t.upper, t.result, WithTimes()));
}

TEST(TarDiffTest, EverythingRoundTrips) {
  Trees t;
  ft::Applier lower = ft::Apply({
      ft::CreateDir("/etc", 0755),
      ft::CreateFile("/etc/hosts", "old", 0644),
      ft::CreateFile("/etc/keep", "same", 0644),
      ft::CreateFile("/etc/mode", "m", 0644),
      ft::CreateFile("/etc/owner", "o", 0644),
      ft::CreateFile("/etc/xattr", "x", 0644),
      ft::SetXattr("/etc/xattr", "user.a", "1"),
      ft::Symlink("hosts", "/etc/link"),
      ft::CreateDir("/dir-to-file", 0755),
      ft::CreateFile("/dir-to-file/inner", "i", 0644),
      ft::CreateFile("/file-to-dir", "f", 0644),
      ft::CreateDir("/gone", 0755),
      ft::CreateDir("/gone/deep", 0755),
      ft::CreateFile("/gone/deep/file", "g", 0644),
      ft::CreateFile("/linked", "shared", 0644),
  });
  ft::Applier changes = ft::Apply({
      ft::CreateFile("/etc/hosts", "new content", 0644),
      ft::Chmod("/etc/mode", 04755),
      ft::Chown("/etc/owner", 123, 456),
      ft::SetXattr("/etc/xattr", "user.a", "2"),
      ft::SetXattr("/etc/xattr", "user.b", "new"),
      ft::RemoveAll("/etc/link"),
      ft::Symlink("/elsewhere", "/etc/link"),
      ft::RemoveAll("/dir-to-file"),
      ft::CreateFile("/dir-to-file", "now a file", 0600),
      ft::RemoveAll("/file-to-dir"),
      ft::CreateDir("/file-to-dir", 0711),
      ft::CreateFile("/file-to-dir/child", "c", 0644),
      ft::RemoveAll("/gone"),
      ft::CreateDir("/new", 0750),
      ft::CreateDir("/new/nested", 0755),
      ft::CreateFile("/new/nested/file", std::string(1 << 20, 'n'), 0644),
      ft::Link("/new/nested/file", "/new/hardlink"),
      ft::Link("/linked", "/new/link-to-unchanged"),
      ft::Mknod("/new/fifo", S_IFIFO | 0640, 0),
      ft::Mknod("/new/null", S_IFCHR | 0666, makedev(1, 3)),
      ft::Chown("/new/nested", 7, 8),
      ft::CreateFile("/new/caf\xc3\xa9-\xff-raw", "not utf-8", 0644),
  });
  ASSERT_OK(t.Build(lower, changes));
  // A socket in upper is left out.
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::string sock_path = t.upper + "/new/sock";
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path.c_str());
  ASSERT_EQ(bind(sock, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)), 0);
  close(sock);

  ASSERT_OK_AND_ASSIGN(std::string tar, Diff(t.lower, t.upper));
  std::vector<std::string> entries = Entries(tar);
  EXPECT_EQ(std::count(entries.begin(), entries.end(), "etc/keep"), 0) << "unchanged file";
  EXPECT_EQ(std::count(entries.begin(), entries.end(), "new/sock"), 0) << "socket";
  EXPECT_EQ(std::count(entries.begin(), entries.end(), ".wh.gone"), 1);
  EXPECT_EQ(std::count(entries.begin(), entries.end(), "new/nested/file->new/hardlink") +
                std::count(entries.begin(), entries.end(), "new/hardlink->new/nested/file"),
            1);
  ASSERT_OK(t.ApplyDiff(tar));
  // Drop the socket from upper for the comparison, keeping the directory's mtime.
  struct stat dir_st;
  ASSERT_EQ(stat((t.upper + "/new").c_str(), &dir_st), 0);
  ASSERT_EQ(unlink(sock_path.c_str()), 0);
  struct timespec times[2] = {dir_st.st_atim, dir_st.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, (t.upper + "/new").c_str(), times, 0), 0);
  EXPECT_OK(ft::CheckDirectoryEqual(t.upper, t.result, WithTimes()));
}

TEST(TarDiffTest, SameSizeSameSecondContentChange) {
  Trees t;
  ASSERT_OK(t.Build(ft::Apply({ft::CreateFile("/f", "aaaa", 0644), ft::Chtimes("/f", 1000, 0)}),
                    ft::Apply({ft::CreateFile("/f", "bbbb", 0644), ft::Chtimes("/f", 1000, 0)})));
  ASSERT_OK_AND_ASSIGN(std::string tar, Diff(t.lower, t.upper));
  EXPECT_EQ(Entries(tar), std::vector<std::string>{"f"});
}

TEST(TarDiffTest, DiffAgainstNothingIsTheWholeTree) {
  Trees t;
  ASSERT_OK(ft::Apply({ft::CreateDir("/a", 0755), ft::CreateFile("/a/b", "b", 0644),
                       ft::Symlink("a/b", "/c")})(t.upper));
  ASSERT_OK_AND_ASSIGN(std::string tar, Diff("", t.upper));
  EXPECT_EQ(Entries(tar), (std::vector<std::string>{"a/", "a/b", "c"}));
  ASSERT_OK(t.ApplyDiff(tar));
  EXPECT_OK(ft::CheckDirectoryEqual(t.upper, t.result));
}

TEST(TarDiffTest, SinkErrorsStopTheDiff) {
  Trees t;
  ASSERT_OK(ft::CreateFile("/big", std::string(1 << 20, 'x'), 0644)(t.upper));
  absl::Status s = WriteTarDiff("", t.upper, [](std::string_view) {
                     return absl::ResourceExhaustedError("disk full");
                   }).status();
  EXPECT_TRUE(IsResourceExhausted(s)) << s;
  EXPECT_TRUE(IsNotFound(WriteTarDiff("", t.tmp.Path("missing"), [](std::string_view) {
                           return absl::OkStatus();
                         }).status()));
}

}  // namespace
}  // namespace berth::snapshot::diff
