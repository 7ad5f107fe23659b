// containerd's archive breakout table (pkg/archive/tar_test.go TestBreakouts), ported, plus
// berth's own hostile cases. Every case must either stay inside the root (and pass its
// validator) or be refused with InvalidArgument — and the host must be untouched: a sentinel
// directory beside the root and a few absolute host paths are checked after every case, in
// both whiteout modes.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/snapshot/diff/tar_apply.h"
#include "services/snapshot/diff/tar_builder.h"
#include "services/snapshot/fs.h"
#include "services/snapshot/testsuite/fstest.h"

namespace berth::snapshot::diff {
namespace {

namespace ft = fstest;
using Validator = std::function<absl::Status(const std::string& root)>;

// The inode `path` names when resolved inside `root` (symlinks followed as if root were /).
absl::StatusOr<struct stat> StatInRoot(const std::string& root, const std::string& path) {
  UniqueFd r(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct open_how how = {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT;
  std::string rel = path;
  while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  UniqueFd fd(static_cast<int>(
      syscall(SYS_openat2, r.get(), rel.empty() ? "." : rel.c_str(), &how, sizeof(how))));
  if (!fd.valid()) return ErrnoToStatus("resolve", path, errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoToStatus("stat", path, errno);
  return st;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Validator FileValue(std::string f, std::string content) {
  return [=](const std::string& root) -> absl::Status {
    struct stat st;
    if (lstat((root + "/" + f).c_str(), &st) != 0) return ErrnoToStatus("lstat", f, errno);
    std::string got = ReadFile(root + "/" + f);
    if (got != content) {
      return InvalidArgumentError(f + ": content " + Quote(got) + ", want " + Quote(content));
    }
    return absl::OkStatus();
  };
}

Validator Unbroken() { return FileValue("etc/unbroken", "unbroken"); }

Validator FileNotExists(std::string f) {
  return [=](const std::string& root) -> absl::Status {
    struct stat st;
    if (lstat((root + "/" + f).c_str(), &st) == 0) return InvalidArgumentError(f + " exists");
    return absl::OkStatus();
  };
}

Validator SameFile(std::string a, std::string b, bool want_same = true) {
  return [=](const std::string& root) -> absl::Status {
    ASSIGN_OR_RETURN(struct stat sa, StatInRoot(root, a));
    ASSIGN_OR_RETURN(struct stat sb, StatInRoot(root, b));
    bool same = sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (same != want_same) {
      return InvalidArgumentError(a + " and " + b + (same ? " are" : " are not") + " the same");
    }
    return absl::OkStatus();
  };
}

Validator SameSymlink(std::string a, std::string b) {
  return [=](const std::string& root) -> absl::Status {
    char ta[4096], tb[4096];
    ssize_t na = readlink((root + "/" + a).c_str(), ta, sizeof(ta));
    ssize_t nb = readlink((root + "/" + b).c_str(), tb, sizeof(tb));
    if (na < 0 || nb < 0) return InvalidArgumentError(a + " or " + b + " is not a symlink");
    if (std::string(ta, na) != std::string(tb, nb)) {
      return InvalidArgumentError(a + " and " + b + " point to different targets");
    }
    return absl::OkStatus();
  };
}

Validator All(std::vector<Validator> vs) {
  return [=](const std::string& root) -> absl::Status {
    for (const Validator& v : vs) RETURN_IF_ERROR(v(root));
    return absl::OkStatus();
  };
}

// The host around a case: <tmp>/outside (sentinel files) beside <tmp>/root.
struct Host {
  berth::testing::TempDir tmp{"breakout"};
  std::string root = tmp.Path("root");
  std::string outside = tmp.Path("outside");

  Host() {
    mkdir(root.c_str(), 0755);
    mkdir(outside.c_str(), 0755);
    EXPECT_OK(ft::Apply({ft::CreateFile("/passwd", "host secret", 0600),
                         ft::CreateFile("/perm400", "...", 0400),
                         ft::CreateFile("/also-exists-outside-root", "...", 0640),
                         ft::CreateDir("/etc", 0755)})(outside));
  }

  // Everything below <tmp> except root/, as text (paths, types, modes, contents).
  std::string Snapshot() const {
    std::string out;
    std::function<void(const std::string&, const std::string&)> walk = [&](const std::string& dir,
                                                                           const std::string& rel) {
      std::vector<std::string> names;
      if (DIR* d = opendir(dir.c_str())) {
        while (struct dirent* e = readdir(d)) {
          std::string n = e->d_name;
          if (n != "." && n != ".." && !(rel.empty() && n == "root")) names.push_back(n);
        }
        closedir(d);
      }
      std::sort(names.begin(), names.end());
      for (const std::string& n : names) {
        std::string p = dir + "/" + n;
        struct stat st;
        lstat(p.c_str(), &st);
        out += rel + "/" + n + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) +
               " " + std::to_string(st.st_nlink);
        if (S_ISREG(st.st_mode)) out += " " + ReadFile(p);
        out += "\n";
        if (S_ISDIR(st.st_mode)) walk(p, rel + "/" + n);
      }
    };
    walk(tmp.path(), "");
    return out;
  }
};

// Absolute host paths the cases name; none may appear.
const char* const kHostPaths[] = {"/etc/unbroken", "/localetc", "/localpasswd", "/breakouts",
                                  "/dummy",        "/dne",      "/sketchylink", "/passwdlink"};

struct Case {
  std::string name;
  std::function<std::string(const Host&)> tar;
  ft::Applier before;    // Applied to the root first, if set.
  Validator validator;   // kDelete mode; null: only "refused or inside".
  bool refused = false;  // Must fail with InvalidArgument.
};

std::vector<Case> Cases() {
  auto tb = [] { return TarBuilder(); };
  std::vector<Case> cases = {
      {"SymlinkAbsolute",
       [=](const Host&) {
         return tb().Dir("etc", 0755).Symlink("/etc", "localetc")
             .File("/localetc/unbroken", "unbroken", 0644).Build();
       },
       nullptr, Unbroken()},
      {"SymlinkUpAndOut",
       [=](const Host&) {
         return tb().Dir("etc", 0755).Dir("dummy", 0755).Symlink("/dummy/../etc", "localetc")
             .File("/localetc/unbroken", "unbroken", 0644).Build();
       },
       nullptr, Unbroken()},
      {"SymlinkMultipleAbsolute",
       [=](const Host&) {
         return tb().Dir("etc", 0755).Dir("dummy", 0755).Symlink("/etc", "/dummy/etc")
             .Symlink("/dummy/etc", "localetc").File("/dummy/etc/unbroken", "unbroken", 0644)
             .Build();
       },
       nullptr, Unbroken()},
      {"SymlinkMultipleRelative",
       [=](const Host&) {
         return tb().Dir("etc", 0755).Dir("dummy", 0755).Symlink("/etc", "/dummy/etc")
             .Symlink("./dummy/etc", "localetc").File("/dummy/etc/unbroken", "unbroken", 0644)
             .Build();
       },
       nullptr, Unbroken()},
      {"SymlinkEmptyFile",
       [=](const Host&) {
         return tb().Dir("etc", 0755).File("etc/emptied", "notempty", 0644)
             .Symlink("/etc", "localetc").File("/localetc/emptied", "", 0644).Build();
       },
       nullptr, FileValue("etc/emptied", "")},
      {"HardlinkRelative",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644).Dir("breakouts", 0755)
             .Symlink("../../etc", "breakouts/d1").Link("/breakouts/d1/passwd", "breakouts/mypasswd")
             .Build();
       },
       nullptr, SameFile("/breakouts/mypasswd", "/etc/passwd")},
      {"HardlinkDownAndOut",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644).Dir("breakouts", 0755)
             .Dir("downandout", 0755).Symlink("../downandout/../../etc", "breakouts/d1")
             .Link("/breakouts/d1/passwd", "breakouts/mypasswd").Build();
       },
       nullptr, SameFile("/breakouts/mypasswd", "/etc/passwd")},
      {"HardlinkAbsolute",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644)
             .Symlink("/etc", "localetc").Link("/localetc/passwd", "localpasswd").Build();
       },
       nullptr, SameFile("localpasswd", "/etc/passwd")},
      {"HardlinkRelativeLong",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644)
             .Symlink("../../../../../../../etc", "localetc")
             .Link("/localetc/passwd", "localpasswd").Build();
       },
       nullptr, SameFile("localpasswd", "/etc/passwd")},
      {"HardlinkRelativeUpAndOut",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644)
             .Symlink("upandout/../../../etc", "localetc")
             .Link("/localetc/passwd", "localpasswd").Build();
       },
       nullptr, SameFile("localpasswd", "/etc/passwd")},
      {"HardlinkDirectRelative",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644)
             .Link("../../../../../etc/passwd", "localpasswd").Build();
       },
       nullptr, SameFile("localpasswd", "/etc/passwd")},
      {"HardlinkDirectAbsolute",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644)
             .Link("/etc/passwd", "localpasswd").Build();
       },
       nullptr, SameFile("localpasswd", "/etc/passwd")},
      {"SymlinkParentDirectory",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644).Symlink("/etc/", "..")
             .Link("/etc/passwd", "localpasswd").Build();
       },
       nullptr, SameFile("/localpasswd", "/etc/passwd")},
      {"SymlinkEmptyFilename",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644).Symlink("/etc/", "")
             .Link("/etc/passwd", "localpasswd").Build();
       },
       nullptr, SameFile("/localpasswd", "/etc/passwd")},
      {"SymlinkParentRelative",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644)
             .Symlink("/etc/", "localetc/sub/..").Link("/etc/passwd", "/localetc/localpasswd")
             .Build();
       },
       nullptr, SameFile("/localetc/localpasswd", "/etc/passwd")},
      {"SymlinkSlashEnded",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644).Dir("localetc/", 0770)
             .Link("/etc/passwd", "/localetc/localpasswd").Build();
       },
       nullptr, SameFile("/localetc/localpasswd", "/etc/passwd")},
      {"SymlinkOverrideDirectory",
       [=](const Host&) {
         return tb().Symlink("/etc", "localetc").Link("/etc/passwd", "/localetc/localpasswd")
             .Build();
       },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "inside", 0644),
                  ft::CreateDir("/localetc/", 0755)}),
       SameFile("/localetc/localpasswd", "/etc/passwd")},
      {"SymlinkOverrideDirectoryRelative",
       [=](const Host&) {
         return tb().Symlink("../../etc", "localetc").Link("/etc/passwd", "/localetc/localpasswd")
             .Build();
       },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "inside", 0644),
                  ft::CreateDir("/localetc/", 0755)}),
       SameFile("/localetc/localpasswd", "/etc/passwd")},
      {"DirectoryOverrideSymlink",
       [=](const Host&) {
         return tb().Dir("/localetc/", 0755).Link("/etc/passwd", "/localetc/localpasswd").Build();
       },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "inside", 0644),
                  ft::Symlink("/etc", "localetc")}),
       SameFile("/localetc/localpasswd", "/etc/passwd")},
      {"DirectoryOverrideSymlinkAndHardlink",
       [=](const Host&) {
         return tb().Dir("/localetc/", 0755).File("/localetc/localpasswd", "different", 0644)
             .Build();
       },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "inside", 0644),
                  ft::Symlink("etc", "localetc"), ft::Link("/etc/passwd", "/etc/localpasswd")}),
       SameFile("/localetc/localpasswd", "/etc/passwd", /*want_same=*/false)},
      {"WhiteoutRootParent", [=](const Host&) { return tb().File(".wh...", "", 0644).Build(); },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "inside", 0644)}),
       nullptr, /*refused=*/true},
      {"WhiteoutParent", [=](const Host&) { return tb().File("etc/.wh...", "", 0644).Build(); },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "inside", 0644)}),
       nullptr, true},
      {"WhiteoutRoot", [=](const Host&) { return tb().File(".wh..", "", 0644).Build(); },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "inside", 0644)}),
       nullptr, true},
      {"WhiteoutCurrentDirectory",
       [=](const Host&) { return tb().File("etc/.wh..", "", 0644).Build(); },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "inside", 0644)}),
       nullptr, true},
      {"WhiteoutEmptyName", [=](const Host&) { return tb().File("etc/.wh.", "", 0644).Build(); },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "inside", 0644)}),
       nullptr, true},
      {"WhiteoutSymlink", [=](const Host&) { return tb().File(".wh.localetc", "", 0644).Build(); },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "all users", 0644),
                  ft::Symlink("/etc", "localetc")}),
       All({FileValue("etc/passwd", "all users"), FileNotExists("localetc")})},
      {"WhiteoutSymlinkPath",
       [=](const Host&) { return tb().File("localetc/.wh.whitedout", "", 0644).Build(); },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "all users", 0644),
                  ft::CreateFile("/etc/whitedout", "ahhhh whiteout", 0644),
                  ft::Symlink("/etc", "localetc")}),
       All({FileValue("etc/passwd", "all users"), FileNotExists("etc/whitedout")})},
      {"WhiteoutDirectoryName",
       [=](const Host&) { return tb().File(".wh.etc/somefile", "non-empty", 0644).Build(); },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "all users", 0644),
                  ft::CreateFile("/etc/whitedout", "ahhhh whiteout", 0644),
                  ft::Symlink("/etc", "localetc")}),
       All({FileValue("etc/passwd", "all users"), FileValue(".wh.etc/somefile", "non-empty")})},
      {"WhiteoutDeadSymlinkParent",
       [=](const Host&) { return tb().File("localetc/.wh.etc", "", 0644).Build(); },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "all users", 0644),
                  ft::Symlink("/dne", "localetc")}),
       FileValue("etc/passwd", "all users")},
      {"WhiteoutRelativePath",
       [=](const Host&) { return tb().File("dne/../.wh.etc", "", 0644).Build(); },
       ft::Apply({ft::CreateDir("/etc/", 0755), ft::CreateFile("/etc/passwd", "all users", 0644),
                  ft::Symlink("/dne", "localetc")}),
       FileNotExists("etc/passwd")},
      {"HardlinkSymlinkBeforeCreateTarget",
       [=](const Host&) {
         return tb().Dir("etc", 0770).Symlink("/etc/passwd", "localpasswd")
             .Link("localpasswd", "localpasswd-dup").File("/etc/passwd", "after", 0644).Build();
       },
       nullptr, SameFile("localpasswd-dup", "/etc/passwd")},
      {"HardlinkSymlinkRelative",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644)
             .Symlink("../../../../../etc/passwd", "passwdlink").Link("/passwdlink", "localpasswd")
             .Build();
       },
       nullptr,
       All({SameSymlink("/localpasswd", "/passwdlink"), SameFile("/localpasswd", "/etc/passwd")})},
      {"HardlinkSymlinkAbsolute",
       [=](const Host&) {
         return tb().Dir("etc", 0770).File("/etc/passwd", "inside", 0644)
             .Symlink("/etc/passwd", "passwdlink").Link("/passwdlink", "localpasswd").Build();
       },
       nullptr,
       All({SameSymlink("/localpasswd", "/passwdlink"), SameFile("/localpasswd", "/etc/passwd")})},
      // CVE-2021-32760: a hard link to a symlink that points at a host file, then a mode.
      {"HardlinkSymlinkChmod",
       [=](const Host& h) {
         std::string p = h.outside + "/perm400";
         std::string ep = h.outside + "/also-exists-outside-root";
         return tb().Symlink(p, ep).Link(ep, "sketchylink").Build();
       },
       nullptr, nullptr},
      // berth's own.
      {"DotDotFileName",
       [=](const Host&) { return tb().File("../../outside/passwd", "pwned", 0666).Build(); },
       nullptr, FileValue("outside/passwd", "pwned")},
      {"SymlinkDirectoryThenFile",
       [=](const Host& h) {
         return tb().Symlink(h.outside, "esc").File("esc/passwd", "pwned", 0666)
             .Symlink("../outside", "esc2").File("esc2/passwd", "pwned2", 0666).Build();
       },
       nullptr, nullptr},
      {"ChmodDirectoryOverSymlink",
       [=](const Host& h) {
         return tb().Symlink(h.outside + "/perm400", "s").Dir("s", 0777)
             .Symlink(h.outside, "t").Dir("t", 0777).Build();
       },
       nullptr, nullptr},
      {"FileOverSymlinkToHostFile",
       [=](const Host& h) {
         return tb().Symlink(h.outside + "/passwd", "s").File("s", "pwned", 0666).Build();
       },
       nullptr, FileValue("s", "pwned")},
      {"HardlinkToHostFile",
       [=](const Host& h) { return tb().Link(h.outside + "/passwd", "hl").Build(); }, nullptr,
       nullptr, /*refused=*/true},
      {"WhiteoutThroughSymlinkOut",
       [=](const Host& h) {
         return tb().Symlink(h.outside, "o").Whiteout("o/passwd").Whiteout("o/etc").Build();
       },
       nullptr, nullptr},
      {"OpaqueThroughSymlinkOut",
       [=](const Host& h) { return tb().Symlink(h.outside, "o").Opaque("o").Build(); }, nullptr,
       nullptr},
      {"SymlinkLoop",
       [=](const Host&) {
         return tb().Symlink("loop", "loop").File("loop/x", "x", 0644).Build();
       },
       nullptr, nullptr, /*refused=*/true},
      {"SymlinkToProcSelfRoot",
       [=](const Host&) {
         return tb().Symlink("/proc/self/root", "p").File("p/etc/unbroken", "unbroken", 0644)
             .Build();
       },
       nullptr, nullptr},
  };
  return cases;
}

class BreakoutTest : public ::testing::TestWithParam<std::tuple<Case, ApplyOptions::Whiteouts>> {};

TEST_P(BreakoutTest, StaysInsideOrIsRefused) {
  const auto& [c, mode] = GetParam();
  std::map<std::string, bool> host_before;
  for (const char* p : kHostPaths) host_before[p] = access(p, F_OK) == 0;
  Host host;
  if (c.before) {
    ASSERT_OK(c.before(host.root));
  }
  const std::string before = host.Snapshot();
  std::string tar = c.tar(host);
  ApplyOptions options;
  options.whiteouts = mode;
  auto src = NewStringSource(tar, 512);
  absl::StatusOr<ApplyStats> result = ApplyTar(*src, host.root, options);

  EXPECT_EQ(host.Snapshot(), before) << "the host beside the root changed";
  for (const char* p : kHostPaths) {
    if (!host_before[p]) {
      EXPECT_NE(access(p, F_OK), 0) << p << " appeared on the host";
    }
  }
  struct stat st;
  ASSERT_EQ(stat((host.outside + "/perm400").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0400u) << "CVE-2021-32760: mode changed through a symlink";

  if (c.refused) {
    EXPECT_TRUE(IsInvalidArgument(result.status())) << result.status();
    return;
  }
  if (!result.ok()) {
    EXPECT_TRUE(IsInvalidArgument(result.status())) << result.status();
    return;
  }
  if (c.validator && mode == ApplyOptions::Whiteouts::kDelete) {
    EXPECT_OK(c.validator(host.root));
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BreakoutTest,
                         ::testing::Combine(::testing::ValuesIn(Cases()),
                                            ::testing::Values(ApplyOptions::Whiteouts::kDelete,
                                                              ApplyOptions::Whiteouts::kOverlay)),
                         [](const ::testing::TestParamInfo<BreakoutTest::ParamType>& info) {
                           return std::get<0>(info.param).name +
                                  (std::get<1>(info.param) == ApplyOptions::Whiteouts::kDelete
                                       ? "_Delete"
                                       : "_Overlay");
                         });

// The validators must be able to fail: a naive extraction that follows symlinks writes to the
// host (here: into the sentinel), which the snapshot comparison catches.
TEST(BreakoutSelfTest, SnapshotSeesHostChanges) {
  Host host;
  std::string before = host.Snapshot();
  ASSERT_OK(ft::CreateFile("/passwd", "changed", 0600)(host.outside));
  EXPECT_NE(host.Snapshot(), before);
  ASSERT_OK(ft::Chmod("/perm400", 0644)(host.outside));
  EXPECT_NE(host.Snapshot(), before);
  EXPECT_FALSE(Unbroken()(host.root).ok());
  EXPECT_FALSE(SameFile("/a", "/b")(host.root).ok());
}

}  // namespace
}  // namespace berth::snapshot::diff
