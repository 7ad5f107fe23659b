#include "services/snapshot/testsuite/testsuite.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <utility>

#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/snapshot/testsuite/fstest.h"

namespace berth::snapshot::testsuite {

MountRecorder::~MountRecorder() {
  for (auto it = targets_.rbegin(); it != targets_.rend(); ++it) {
    absl::Status s = UnmountAll(*it, /*detach=*/true);
    if (!s.ok()) std::fprintf(stderr, "MountRecorder: %s\n", s.ToString().c_str());
  }
}

absl::Status MountRecorder::Mount(const std::vector<snapshot::Mount>& mounts,
                                  const std::string& target) {
  RETURN_IF_ERROR(MountAll(mounts, target));
  targets_.push_back(target);
  return absl::OkStatus();
}

absl::Status MountRecorder::Unmount(const std::string& target) {
  RETURN_IF_ERROR(UnmountAll(target));
  targets_.erase(std::remove(targets_.begin(), targets_.end(), target), targets_.end());
  return absl::OkStatus();
}

namespace {

using fstest::Applier;
using std::chrono::system_clock;

// What every test gets.
struct Env {
  berth::testing::TempDir tmp{"sn-suite"};
  std::string root = tmp.Path("root");
  std::string work = tmp.Path("work");
  std::unique_ptr<Harness> harness;
  MountRecorder mounts;
  CallContext ctx = CallContext::Background("testsuite");

  Snapshotter& sn() { return *harness->snapshotter(); }
  // A fresh directory below work/ to mount on.
  std::string Dir(const std::string& name) {
    std::string p = work + "/" + name;
    mkdir(p.c_str(), 0777);
    return p;
  }
  // Members are destroyed in reverse order: `mounts` unmounts first, then the harness (and
  // its server) stops, then the TempDir goes.
};

const Labels& RootLabels() {
  static const Labels* labels = new Labels{{"containerd.io/gc.root", "2026-01-01T00:00:00Z"}};
  return *labels;
}

using TestFn = std::function<void(Env&)>;

class SuiteTest : public ::testing::Test {
 public:
  SuiteTest(HarnessFactory factory, TestFn fn) : factory_(std::move(factory)), fn_(std::move(fn)) {}

  void TestBody() override {
    Env env;
    ASSERT_EQ(mkdir(env.root.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(env.work.c_str(), 0755), 0);
    absl::StatusOr<std::unique_ptr<Harness>> harness = factory_(env.root);
    ASSERT_TRUE(harness.ok()) << harness.status();
    env.harness = std::move(*harness);
    fn_(env);
  }

 private:
  HarnessFactory factory_;
  TestFn fn_;
};

// Prepares `key` on `parent` and mounts it on work/<key>. Returns the mount point.
std::string PrepareMount(Env& env, const std::string& key, const std::string& parent) {
  std::string dir = env.Dir(key);
  absl::StatusOr<std::vector<Mount>> mounts = env.sn().Prepare(env.ctx, key, parent, RootLabels());
  EXPECT_TRUE(mounts.ok()) << mounts.status();
  if (!mounts.ok()) return "";
  EXPECT_FALSE(mounts->empty());
  absl::Status s = env.mounts.Mount(*mounts, dir);
  EXPECT_TRUE(s.ok()) << s;
  return s.ok() ? dir : "";
}

// containerd's checkSnapshots: apply each layer both to a flat directory and to a new
// snapshot on the previous one, compare, commit; then a view of the top equals flat.
void CheckSnapshots(Env& env, const std::vector<Applier>& layers) {
  std::string flat = env.Dir("flat");
  std::string parent;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string key = fmt::format("preparing-{}", i);
    std::string dir = PrepareMount(env, key, parent);
    ASSERT_FALSE(dir.empty());
    ASSERT_OK(layers[i](flat));
    ASSERT_OK(layers[i](dir));
    ASSERT_OK(fstest::CheckDirectoryEqual(flat, dir)) << "layer " << i;
    ASSERT_OK(env.mounts.Unmount(dir));
    std::string committed = fmt::format("committed-{}", i);
    ASSERT_OK(env.sn().Commit(env.ctx, committed, key, RootLabels()));
    parent = committed;

    std::string view_key = fmt::format("view-{}", i);
    std::string view = env.Dir(view_key);
    ASSERT_OK_AND_ASSIGN(auto mounts, env.sn().View(env.ctx, view_key, parent, RootLabels()));
    ASSERT_OK(env.mounts.Mount(mounts, view));
    ASSERT_OK(fstest::CheckDirectoryEqual(flat, view)) << "view of layer " << i;
    ASSERT_OK(env.mounts.Unmount(view));
  }
}

void Basic(Env& env) {
  Applier initial = fstest::Apply({
      fstest::CreateFile("/foo", "foo\n", 0777),
      fstest::CreateDir("/a", 0755),
      fstest::CreateDir("/a/b", 0755),
      fstest::CreateDir("/a/b/c", 0755),
  });
  Applier diff = fstest::Apply({
      fstest::CreateFile("/bar", "bar\n", 0777),
      fstest::CreateFile("/foo", "bar\n", 0777),
      fstest::RemoveAll("/a/b"),
  });
  std::string preparing = PrepareMount(env, "preparing", "");
  ASSERT_FALSE(preparing.empty());
  ASSERT_OK(initial(preparing));
  ASSERT_OK(env.mounts.Unmount(preparing));
  ASSERT_OK(env.sn().Commit(env.ctx, "committed", "preparing", RootLabels()));

  ASSERT_OK_AND_ASSIGN(Info si, env.sn().Stat(env.ctx, "committed"));
  EXPECT_EQ(si.parent, "");
  EXPECT_EQ(si.kind, Kind::kCommitted);
  EXPECT_TRUE(IsNotFound(env.sn().Stat(env.ctx, "preparing").status()));

  std::string next = PrepareMount(env, "nextlayer", "committed");
  ASSERT_FALSE(next.empty());
  ASSERT_OK(fstest::CheckDirectoryEqualWithApplier(next, initial));
  ASSERT_OK(diff(next));
  ASSERT_OK(env.mounts.Unmount(next));

  ASSERT_OK_AND_ASSIGN(Info ni, env.sn().Stat(env.ctx, "nextlayer"));
  EXPECT_EQ(ni.parent, "committed");
  EXPECT_EQ(ni.kind, Kind::kActive);

  ASSERT_OK(env.sn().Commit(env.ctx, "committed-next", "nextlayer", RootLabels()));
  ASSERT_OK_AND_ASSIGN(Info si2, env.sn().Stat(env.ctx, "committed-next"));
  EXPECT_EQ(si2.parent, "committed");
  EXPECT_EQ(si2.kind, Kind::kCommitted);
  EXPECT_TRUE(IsNotFound(env.sn().Stat(env.ctx, "nextlayer").status()));

  std::map<std::string, Info> walked;
  ASSERT_OK(env.sn().Walk(env.ctx, {}, [&](const Info& info) {
    walked[info.name] = info;
    return absl::OkStatus();
  }));
  ASSERT_EQ(walked.size(), 2u);
  EXPECT_EQ(walked["committed"].kind, Kind::kCommitted);
  EXPECT_EQ(walked["committed"].labels, si.labels);
  EXPECT_EQ(walked["committed"].created, si.created);
  EXPECT_EQ(walked["committed-next"].parent, "committed");

  std::string view = env.Dir("nextnextlayer");
  ASSERT_OK_AND_ASSIGN(auto mounts,
                       env.sn().View(env.ctx, "nextnextlayer", "committed-next", RootLabels()));
  ASSERT_OK(env.mounts.Mount(mounts, view));
  ASSERT_OK(fstest::CheckDirectoryEqualWithApplier(view, fstest::Apply({initial, diff})));
  ASSERT_OK(env.mounts.Unmount(view));
  ASSERT_OK(env.sn().Remove(env.ctx, "nextnextlayer"));

  absl::Status s = env.sn().Remove(env.ctx, "committed");
  EXPECT_TRUE(IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("remove"), absl::string_view::npos) << s;
  ASSERT_OK(env.sn().Remove(env.ctx, "committed-next"));
  ASSERT_OK(env.sn().Remove(env.ctx, "committed"));
}

void StatActive(Env& env) {
  std::string dir = PrepareMount(env, "preparing", "");
  ASSERT_FALSE(dir.empty());
  ASSERT_OK(fstest::CreateFile("/foo", "foo\n", 0777)(dir));
  ASSERT_OK_AND_ASSIGN(Info si, env.sn().Stat(env.ctx, "preparing"));
  EXPECT_EQ(si.name, "preparing");
  EXPECT_EQ(si.kind, Kind::kActive);
  EXPECT_EQ(si.parent, "");
}

void StatCommitted(Env& env) {
  std::string dir = PrepareMount(env, "preparing", "");
  ASSERT_FALSE(dir.empty());
  ASSERT_OK(fstest::CreateFile("/foo", "foo\n", 0777)(dir));
  ASSERT_OK(env.mounts.Unmount(dir));
  ASSERT_OK(env.sn().Commit(env.ctx, "committed", "preparing", RootLabels()));
  ASSERT_OK_AND_ASSIGN(Info si, env.sn().Stat(env.ctx, "committed"));
  EXPECT_EQ(si.name, "committed");
  EXPECT_EQ(si.kind, Kind::kCommitted);
  EXPECT_EQ(si.parent, "");
  EXPECT_EQ(si.labels, RootLabels());
}

void Transitivity(Env& env) {
  std::string dir = PrepareMount(env, "preparing", "");
  ASSERT_FALSE(dir.empty());
  ASSERT_OK(fstest::CreateFile("/foo", "foo\n", 0777)(dir));
  ASSERT_OK(env.mounts.Unmount(dir));
  ASSERT_OK(env.sn().Commit(env.ctx, "snapA", "preparing", RootLabels()));
  std::string next = PrepareMount(env, "next", "snapA");
  ASSERT_FALSE(next.empty());
  ASSERT_OK(fstest::CreateFile("/foo", "foo bar\n", 0777)(next));
  ASSERT_OK(env.mounts.Unmount(next));
  ASSERT_OK(env.sn().Commit(env.ctx, "snapB", "next", RootLabels()));
  ASSERT_OK_AND_ASSIGN(Info a, env.sn().Stat(env.ctx, "snapA"));
  ASSERT_OK_AND_ASSIGN(Info b, env.sn().Stat(env.ctx, "snapB"));
  ASSERT_OK_AND_ASSIGN(Info pb, env.sn().Stat(env.ctx, b.parent));
  EXPECT_EQ(a.parent, "");
  EXPECT_EQ(b.parent, "snapA");
  EXPECT_EQ(pb.parent, "");
}

void PrepareView(Env& env) {
  ASSERT_OK(env.sn().Prepare(env.ctx, "preparing", "", RootLabels()).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "snapA", "preparing", RootLabels()));
  ASSERT_OK(env.sn().Prepare(env.ctx, "newlayer", "snapA", RootLabels()).status());
  EXPECT_TRUE(IsAlreadyExists(env.sn().View(env.ctx, "newlayer", "snapA", RootLabels()).status()));
  ASSERT_OK(env.sn().Prepare(env.ctx, "prepLayer", "snapA", RootLabels()).status());
  EXPECT_TRUE(
      IsAlreadyExists(env.sn().Prepare(env.ctx, "prepLayer", "snapA", RootLabels()).status()));
  ASSERT_OK(env.sn().View(env.ctx, "viewLayer", "snapA", RootLabels()).status());
  EXPECT_TRUE(IsAlreadyExists(env.sn().View(env.ctx, "viewLayer", "snapA", RootLabels()).status()));
}

// containerd's baseTestSnapshots: c1 <- c2 committed, a1 on c2, a2 alone, v1 on c2, v2 alone.
void BaseSnapshots(Env& env) {
  ASSERT_OK(env.sn().Prepare(env.ctx, "c1-a", "", RootLabels()).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "c1", "c1-a", RootLabels()));
  ASSERT_OK(env.sn().Prepare(env.ctx, "c2-a", "c1", RootLabels()).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "c2", "c2-a", RootLabels()));
  ASSERT_OK(env.sn().Prepare(env.ctx, "a1", "c2", RootLabels()).status());
  ASSERT_OK(env.sn().Prepare(env.ctx, "a2", "", RootLabels()).status());
  ASSERT_OK(env.sn().View(env.ctx, "v1", "c2", RootLabels()).status());
  ASSERT_OK(env.sn().View(env.ctx, "v2", "", RootLabels()).status());
}

void Update(Env& env) {
  auto t1 = system_clock::now();
  BaseSnapshots(env);
  if (::testing::Test::HasFatalFailure()) return;
  auto t2 = system_clock::now();
  struct Case {
    std::string name;
    Kind kind;
    std::string parent;
  };
  for (const Case& tc : std::vector<Case>{{"c1", Kind::kCommitted, ""},
                                          {"c2", Kind::kCommitted, "c1"},
                                          {"a1", Kind::kActive, "c2"},
                                          {"a2", Kind::kActive, ""},
                                          {"v1", Kind::kView, "c2"},
                                          {"v2", Kind::kView, ""}}) {
    SCOPED_TRACE(tc.name);
    ASSERT_OK_AND_ASSIGN(Info st, env.sn().Stat(env.ctx, tc.name));
    EXPECT_GE(st.created, t1);
    EXPECT_LE(st.created, t2);
    EXPECT_EQ(st.created, st.updated);
    EXPECT_EQ(st.kind, tc.kind);
    EXPECT_EQ(st.parent, tc.parent);
    EXPECT_EQ(st.name, tc.name);

    auto created = st.created;
    Labels expected = {{"l1", "v1"}, {"l2", "v2"}, {"l3", "v3"}, {"containerd.io/gc.root", "root"}};
    st.parent = "doesnotexist";
    st.labels = expected;
    auto u1 = system_clock::now();
    ASSERT_OK_AND_ASSIGN(st, env.sn().Update(env.ctx, st, {}));
    auto u2 = system_clock::now();
    EXPECT_EQ(st.created, created);
    EXPECT_GE(st.updated, u1);
    EXPECT_LE(st.updated, u2);
    EXPECT_EQ(st.kind, tc.kind);
    EXPECT_EQ(st.parent, tc.parent);
    EXPECT_EQ(st.labels, expected);

    st.labels = {{"l1", "updated"}, {"l4", "v4"}};
    ASSERT_OK_AND_ASSIGN(st, env.sn().Update(env.ctx, st, {"labels.l1", "labels.l2"}));
    EXPECT_EQ(st.labels,
              (Labels{{"l1", "updated"}, {"l3", "v3"}, {"containerd.io/gc.root", "root"}}));

    expected = {{"l4", "v4"}, {"containerd.io/gc.root", "root"}};
    st.labels = expected;
    ASSERT_OK_AND_ASSIGN(st, env.sn().Update(env.ctx, st, {"labels"}));
    EXPECT_EQ(st.labels, expected);

    st.parent = "doesnotexist";
    absl::Status s = env.sn().Update(env.ctx, st, {"parent"}).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << s;
  }
}

void Remove(Env& env) {
  ASSERT_OK(env.sn().Prepare(env.ctx, "committed-a", "", RootLabels()).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "committed-1", "committed-a", RootLabels()));
  ASSERT_OK(env.sn().Prepare(env.ctx, "reuse-1", "committed-1", RootLabels()).status());
  ASSERT_OK(env.sn().Remove(env.ctx, "reuse-1"));
  ASSERT_OK(env.sn().View(env.ctx, "reuse-1", "committed-1", RootLabels()).status());
  ASSERT_OK(env.sn().Remove(env.ctx, "reuse-1"));
  ASSERT_OK(env.sn().Prepare(env.ctx, "reuse-1", "", RootLabels()).status());
  ASSERT_OK(env.sn().Remove(env.ctx, "committed-1"));
  ASSERT_OK(env.sn().Commit(env.ctx, "committed-1", "reuse-1", RootLabels()));
}

void Walk(Env& env) {
  Labels root = {{"containerd.io/gc.root", "check-walk"}};
  auto with = [&](const std::string& l) {
    Labels out = root;
    out["l"] = l;
    return out;
  };
  ASSERT_OK(env.sn().Prepare(env.ctx, "a-np", "", root).status());
  ASSERT_OK(env.sn().Prepare(env.ctx, "p-tmp", "", root).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "p", "p-tmp", root));
  ASSERT_OK(env.sn().Prepare(env.ctx, "a", "p", root).status());
  ASSERT_OK(env.sn().View(env.ctx, "v", "p", root).status());
  ASSERT_OK(env.sn().Prepare(env.ctx, "p-wl-tmp", "", root).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "p-wl", "p-wl-tmp", with("1")));
  ASSERT_OK(env.sn().Prepare(env.ctx, "a-wl", "p-wl", with("2")).status());
  ASSERT_OK(env.sn().View(env.ctx, "v-wl", "p-wl", with("3")).status());
  ASSERT_OK(env.sn().Prepare(env.ctx, "a-np-wl", "", with("2")).status());

  struct Case {
    std::set<std::string> matches;
    std::vector<std::string> filters;
  };
  const std::string gc = "labels.\"containerd.io/gc.root\"==check-walk";
  std::vector<Case> cases = {
      {{"a-np", "p", "a", "v", "p-wl", "a-wl", "v-wl", "a-np-wl"}, {gc}},
      {{"a-np", "a", "a-wl", "a-np-wl"}, {"kind==active," + gc}},
      {{"v", "v-wl"}, {"kind==view," + gc}},
      {{"p", "p-wl"}, {"kind==committed," + gc}},
      {{"p", "a-np-wl"}, {"name==p", "name==a-np-wl"}},
      {{"a-wl"}, {"name==a-wl,labels.l"}},
      {{"a", "v"}, {"parent==p"}},
      {{"a", "v", "a-wl", "v-wl"}, {"parent!=\"\"," + gc}},
      {{"p-wl", "a-wl", "v-wl", "a-np-wl"}, {"labels.l"}},
      {{"a-wl", "a-np-wl"}, {"labels.l==2"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    std::set<std::string> actual;
    ASSERT_OK(env.sn().Walk(env.ctx, cases[i].filters, [&](const Info& info) {
      actual.insert(info.name);
      return absl::OkStatus();
    }));
    EXPECT_EQ(actual, cases[i].matches) << "case " << i;
  }
  EXPECT_TRUE(IsInvalidArgument(
      env.sn().Walk(env.ctx, {"name=="}, [](const Info&) { return absl::OkStatus(); })));
  // Walk stops at, and returns, the callback's error.
  int calls = 0;
  absl::Status s = env.sn().Walk(env.ctx, {}, [&](const Info&) {
    ++calls;
    return absl::CancelledError("stop");
  });
  EXPECT_TRUE(IsCancelled(s)) << s;
  EXPECT_EQ(calls, 1);
}

void LayerFileUpdate(Env& env) {
  CheckSnapshots(env, {
                          fstest::Apply({
                              fstest::CreateDir("/etc", 0700),
                              fstest::CreateFile("/etc/hosts", "mydomain 10.0.0.1", 0644),
                              fstest::CreateFile("/etc/profile", "PATH=/usr/bin", 0644),
                          }),
                          fstest::Apply({
                              fstest::CreateFile("/etc/hosts", "mydomain 10.0.0.2", 0644),
                              fstest::CreateFile("/etc/profile", "PATH=/usr/bin", 0666),
                              fstest::CreateDir("/root", 0700),
                              fstest::CreateFile("/root/.bashrc", "PATH=/usr/sbin:/usr/bin", 0644),
                          }),
                          fstest::Apply({
                              fstest::CreateFile("/etc/hosts", "mydomain 10.0.0.3", 0644),
                              fstest::CreateFile("/etc/profile", "PATH=/usr/bin", 0640),
                          }),
                      });
}

void RemoveDirectoryInLowerLayer(Env& env) {
  CheckSnapshots(env, {
                          fstest::Apply({
                              fstest::CreateDir("/lib", 0700),
                              fstest::CreateFile("/lib/hidden", "", 0644),
                          }),
                          fstest::RemoveAll("/lib"),
                          fstest::Apply({
                              fstest::CreateDir("/lib", 0755),
                              fstest::CreateFile("/lib/not-hidden", "", 0644),
                          }),
                          fstest::Apply({
                              fstest::RemoveAll("/lib/not-hidden"),
                              fstest::CreateFile("/lib/newfile", "", 0644),
                          }),
                      });
}

void Chown(Env& env) {
  CheckSnapshots(env, {
                          fstest::Apply({
                              fstest::CreateDir("/opt", 0711),
                              fstest::CreateDir("/opt/a", 0711),
                              fstest::CreateDir("/opt/a/b", 0711),
                              fstest::CreateFile("/opt/a/b/file.txt", "hello", 0644),
                          }),
                          fstest::Apply({
                              fstest::Chown("/opt", 1, 1),
                              fstest::Chown("/opt/a", 1, 1),
                              fstest::Chown("/opt/a/b", 1, 1),
                              fstest::Chown("/opt/a/b/file.txt", 1, 1),
                          }),
                          fstest::Apply({
                              fstest::Chown("/", 1000, 1000),
                              fstest::Chown("/opt", 2, 2),
                          }),
                      });
  // The root owner of a new snapshot follows its parent's.
  std::string dir = PrepareMount(env, "child-of-chowned", "committed-2");
  ASSERT_FALSE(dir.empty());
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1000u);
}

void DirectoryPermissionOnCommit(Env& env) {
  CheckSnapshots(env, {
                          fstest::Apply({
                              fstest::CreateDir("/dir1", 0700),
                              fstest::CreateDir("/dir2", 0750),
                              fstest::CreateDir("/dir3", 0701),
                              fstest::Chown("/dir1", 1, 1),
                              fstest::Chown("/dir2", 1, 1),
                              fstest::Chown("/dir3", 1, 1),
                          }),
                          fstest::Apply({
                              fstest::CreateDir("/dir4", 0700),
                              fstest::Chown("/dir4", 1, 1),
                              fstest::Chmod("/dir1", 0777),
                              fstest::CreateFile("/dir3/file", "x", 04755),
                          }),
                      });
}

void RemoveIntermediateSnapshot(Env& env) {
  std::string base = PrepareMount(env, "base", "");
  ASSERT_FALSE(base.empty());
  ASSERT_OK(env.mounts.Unmount(base));
  ASSERT_OK(env.sn().Commit(env.ctx, "committed-base", "base", RootLabels()));
  ASSERT_OK(env.sn().Prepare(env.ctx, "intermediate", "committed-base", RootLabels()).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "committed-inter", "intermediate", RootLabels()));
  ASSERT_OK(env.sn().Prepare(env.ctx, "toplayer", "committed-inter", RootLabels()).status());
  absl::Status s = env.sn().Remove(env.ctx, "committed-inter");
  EXPECT_TRUE(IsFailedPrecondition(s)) << s;
  ASSERT_OK(env.sn().Remove(env.ctx, "toplayer"));
  ASSERT_OK(env.sn().Remove(env.ctx, "committed-inter"));
  ASSERT_OK(env.sn().Remove(env.ctx, "committed-base"));
}

void DeletedFilesInChildSnapshot(Env& env) {
  CheckSnapshots(env, {
                          fstest::Apply({
                              fstest::CreateFile("/foo", "foo\n", 0777),
                              fstest::CreateFile("/foobar", "foobar\n", 0777),
                          }),
                          fstest::RemoveAll("/foobar"),
                          fstest::Apply({}),
                      });
}

void MoveFileFromLowerLayer(Env& env) {
  CheckSnapshots(env, {
                          fstest::Apply({
                              fstest::CreateDir("/dir1", 0700),
                              fstest::CreateFile("/dir1/f1", "Hello", 0644),
                              fstest::CreateDir("dir2", 0700),
                              fstest::CreateFile("dir2/f2", "...", 0644),
                          }),
                          fstest::Apply({
                              fstest::CreateDir("/dir3", 0700),
                              fstest::CreateFile("/dir3/f1", "Hello", 0644),
                              fstest::RemoveAll("/dir1"),
                              fstest::Link("dir2/f2", "dir3/f2"),
                              fstest::RemoveAll("dir2/f2"),
                          }),
                      });
}

void ViewReadonly(Env& env) {
  ASSERT_OK(env.sn().Prepare(env.ctx, "preparing", "", RootLabels()).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "committed", "preparing", RootLabels()));
  ASSERT_OK_AND_ASSIGN(auto m, env.sn().View(env.ctx, "view", "committed", RootLabels()));
  std::string dir = env.Dir("view-mount");
  ASSERT_OK(env.mounts.Mount(m, dir));
  std::string file = dir + "/testfile";
  int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  int err = errno;
  if (fd >= 0) close(fd);
  EXPECT_LT(fd, 0) << "writing into a view must fail";
  EXPECT_EQ(err, EROFS);
  ASSERT_OK(env.mounts.Unmount(dir));
  ASSERT_OK(env.sn().Remove(env.ctx, "view"));
  ASSERT_OK(env.sn().Remove(env.ctx, "committed"));

  // A view of two layers (an overlay without upper) is read-only too.
  ASSERT_OK(env.sn().Prepare(env.ctx, "p1", "", RootLabels()).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "c1", "p1", RootLabels()));
  ASSERT_OK(env.sn().Prepare(env.ctx, "p2", "c1", RootLabels()).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "c2", "p2", RootLabels()));
  ASSERT_OK_AND_ASSIGN(m, env.sn().View(env.ctx, "view2", "c2", RootLabels()));
  std::string dir2 = env.Dir("view2-mount");
  ASSERT_OK(env.mounts.Mount(m, dir2));
  EXPECT_NE(mkdir((dir2 + "/newdir").c_str(), 0755), 0);
  EXPECT_EQ(errno, EROFS);
}

void StatInWalk(Env& env) {
  BaseSnapshots(env);
  if (::testing::Test::HasFatalFailure()) return;
  int seen = 0;
  ASSERT_OK(env.sn().Walk(env.ctx, {}, [&](const Info& info) -> absl::Status {
    ++seen;
    ASSIGN_OR_RETURN(Info st, env.sn().Stat(env.ctx, info.name));
    EXPECT_EQ(st.name, info.name);
    EXPECT_EQ(st.kind, info.kind);
    EXPECT_EQ(st.parent, info.parent);
    return absl::OkStatus();
  }));
  EXPECT_EQ(seen, 6);
}

void RootPermission(Env& env) {
  std::string dir = PrepareMount(env, "preparing", "");
  ASSERT_FALSE(dir.empty());
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
}

void Layers128Mount(Env& env) {
  std::vector<Applier> layers = {fstest::Apply({
      fstest::CreateFile("/bottom", "way at the bottom\n", 0777),
      fstest::CreateFile("/overwriteme", "FIRST!\n", 0777),
      fstest::CreateDir("/addhere", 0755),
      fstest::CreateDir("/onlyme", 0755),
      fstest::CreateFile("/onlyme/bottom", "bye!\n", 0777),
  })};
  for (int i = 1; i <= 127; ++i) {
    layers.push_back(fstest::Apply({
        fstest::CreateFile("/overwriteme", fmt::format("{} WAS HERE!\n", i), 0777),
        fstest::CreateFile(fmt::format("/addhere/file-{}", i), "same\n", 0755),
        fstest::RemoveAll("/onlyme"),
        fstest::CreateDir("/onlyme", 0755),
        fstest::CreateFile(fmt::format("/onlyme/file-{}", i), "only me!\n", 0777),
    }));
  }
  std::string flat = env.Dir("flat");
  std::string parent;
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string key = fmt::format("prepare-layer-{}", i);
    std::string dir = PrepareMount(env, key, parent);
    ASSERT_FALSE(dir.empty()) << "layer " << i;
    ASSERT_OK(fstest::CheckDirectoryEqual(flat, dir)) << "layer " << i << " before apply";
    ASSERT_OK(layers[i](flat));
    ASSERT_OK(layers[i](dir));
    ASSERT_OK(fstest::CheckDirectoryEqual(flat, dir)) << "layer " << i << " after apply";
    ASSERT_OK(env.mounts.Unmount(dir));
    parent = fmt::format("committed-{}", i);
    ASSERT_OK(env.sn().Commit(env.ctx, parent, key, RootLabels()));
  }
  ASSERT_OK_AND_ASSIGN(auto mounts, env.sn().View(env.ctx, "fullview", parent, RootLabels()));
  std::string view = env.Dir("fullview");
  ASSERT_OK(env.mounts.Mount(mounts, view));
  ASSERT_OK(fstest::CheckDirectoryEqual(flat, view));
}

// berth: the codes clients branch on (reference/containerd-api.md §1.3).
void ErrorCodes(Env& env) {
  Snapshotter& sn = env.sn();
  ASSERT_OK(sn.Prepare(env.ctx, "a", "", {}).status());
  EXPECT_TRUE(IsAlreadyExists(sn.Prepare(env.ctx, "a", "", {}).status()));
  EXPECT_TRUE(IsNotFound(sn.Prepare(env.ctx, "b", "missing", {}).status()));
  // An active snapshot can not be a parent.
  EXPECT_TRUE(IsInvalidArgument(sn.Prepare(env.ctx, "b", "a", {}).status()));
  EXPECT_TRUE(IsInvalidArgument(sn.Prepare(env.ctx, "", "", {}).status()));
  EXPECT_TRUE(IsInvalidArgument(sn.Prepare(env.ctx, "b", "", {{"", "x"}}).status()));
  EXPECT_TRUE(
      IsInvalidArgument(sn.Prepare(env.ctx, "b", "", {{"k", std::string(5000, 'v')}}).status()));
  EXPECT_TRUE(IsNotFound(sn.Stat(env.ctx, "b").status()));  // Nothing was left behind.
  EXPECT_TRUE(IsNotFound(sn.Stat(env.ctx, "missing").status()));
  EXPECT_TRUE(IsNotFound(sn.Mounts(env.ctx, "missing").status()));
  EXPECT_TRUE(IsNotFound(sn.Usage(env.ctx, "missing").status()));
  EXPECT_TRUE(IsNotFound(sn.Remove(env.ctx, "missing")));
  EXPECT_TRUE(IsNotFound(sn.Commit(env.ctx, "c", "missing", {})));
  Info missing;
  missing.name = "missing";
  EXPECT_TRUE(IsNotFound(sn.Update(env.ctx, missing, {}).status()));

  ASSERT_OK(sn.Commit(env.ctx, "c", "a", {}));
  EXPECT_TRUE(IsFailedPrecondition(sn.Mounts(env.ctx, "c").status()));
  ASSERT_OK(sn.Prepare(env.ctx, "a2", "c", {}).status());
  EXPECT_TRUE(IsAlreadyExists(sn.Commit(env.ctx, "c", "a2", {})));
  EXPECT_TRUE(IsAlreadyExists(sn.Commit(env.ctx, "a2", "a2", {})));
  EXPECT_TRUE(IsInvalidArgument(sn.Commit(env.ctx, "", "a2", {})));
  EXPECT_TRUE(IsFailedPrecondition(sn.Remove(env.ctx, "c")));
  ASSERT_OK(sn.View(env.ctx, "v", "c", {}).status());
  EXPECT_TRUE(IsFailedPrecondition(sn.Commit(env.ctx, "cv", "v", {})));
  EXPECT_TRUE(IsFailedPrecondition(sn.Commit(env.ctx, "cc", "c", {})));

  CallContext no_ns;
  EXPECT_TRUE(IsFailedPrecondition(sn.Prepare(no_ns, "x", "", {}).status()));
  EXPECT_TRUE(IsFailedPrecondition(sn.Stat(no_ns, "a2").status()));
  EXPECT_TRUE(
      IsFailedPrecondition(sn.Walk(no_ns, {}, [](const Info&) { return absl::OkStatus(); })));

  // Mounts returns what Prepare returned.
  ASSERT_OK_AND_ASSIGN(auto prepared, sn.Prepare(env.ctx, "m", "c", {}));
  ASSERT_OK_AND_ASSIGN(auto again, sn.Mounts(env.ctx, "m"));
  EXPECT_EQ(prepared, again);
}

// berth: the same key in two namespaces names two snapshots.
void NamespaceIsolation(Env& env) {
  CallContext other = CallContext::Background("other");
  ASSERT_OK(env.sn().Prepare(env.ctx, "k", "", {{"ns", "testsuite"}}).status());
  ASSERT_OK(env.sn().Prepare(other, "k", "", {{"ns", "other"}}).status());
  ASSERT_OK(env.sn().Commit(other, "c", "k", {}));
  EXPECT_TRUE(IsNotFound(env.sn().Stat(env.ctx, "c").status()));
  EXPECT_TRUE(IsNotFound(env.sn().Prepare(env.ctx, "x", "c", {}).status()));
  ASSERT_OK_AND_ASSIGN(Info mine, env.sn().Stat(env.ctx, "k"));
  EXPECT_EQ(mine.labels.at("ns"), "testsuite");
  std::vector<std::string> names;
  ASSERT_OK(env.sn().Walk(other, {}, [&](const Info& info) {
    names.push_back(info.name);
    return absl::OkStatus();
  }));
  EXPECT_EQ(names, std::vector<std::string>{"c"});
  ASSERT_OK(env.sn().Remove(env.ctx, "k"));
  ASSERT_OK(env.sn().Stat(other, "c").status());
}

// berth: Usage reports size and inodes; committed usage is kept; views use nothing.
void UsageTest(Env& env) {
  std::string dir = PrepareMount(env, "u", "");
  ASSERT_FALSE(dir.empty());
  ASSERT_OK(fstest::CreateDir("/d", 0755)(dir));
  ASSERT_OK(fstest::CreateFile("/d/big", std::string(256 << 10, 'x'), 0644)(dir));
  ASSERT_OK(fstest::Link("/d/big", "/d/big-link")(dir));
  ASSERT_OK(env.mounts.Unmount(dir));
  ASSERT_OK_AND_ASSIGN(Usage active, env.sn().Usage(env.ctx, "u"));
  EXPECT_GE(active.size, 256 << 10);
  EXPECT_LT(active.size, 512 << 10) << "a hard link must be counted once";
  EXPECT_GE(active.inodes, 3);  // root, d, big (once)
  ASSERT_OK(env.sn().Commit(env.ctx, "uc", "u", {}));
  ASSERT_OK_AND_ASSIGN(Usage committed, env.sn().Usage(env.ctx, "uc"));
  EXPECT_EQ(committed.size, active.size);
  EXPECT_EQ(committed.inodes, active.inodes);
}

// berth: a restart keeps records and mounted snapshots working, and never unmounts.
void Restart(Env& env) {
  std::string dir = PrepareMount(env, "running", "");
  ASSERT_FALSE(dir.empty());
  ASSERT_OK(fstest::CreateFile("/before", "1", 0644)(dir));
  ASSERT_OK(env.sn().Prepare(env.ctx, "base-a", "", {}).status());
  ASSERT_OK(env.sn().Commit(env.ctx, "base", "base-a", {}));
  absl::Status s = env.harness->Restart();
  if (IsUnimplemented(s)) GTEST_SKIP() << s;
  ASSERT_OK(s);
  ASSERT_OK(fstest::CreateFile("/after", "2", 0644)(dir));  // Still mounted and writable.
  ASSERT_OK_AND_ASSIGN(Info info, env.sn().Stat(env.ctx, "running"));
  EXPECT_EQ(info.kind, Kind::kActive);
  ASSERT_OK(env.mounts.Unmount(dir));
  std::string child = PrepareMount(env, "child", "base");
  ASSERT_FALSE(child.empty());
  ASSERT_OK(env.sn().Commit(env.ctx, "running-c", "running", {}));
}

struct Case {
  const char* name;
  void (*fn)(Env&);
};

constexpr Case kCases[] = {
    {"Basic", Basic},
    {"StatActive", StatActive},
    {"StatCommitted", StatCommitted},
    {"Transitivity", Transitivity},
    {"PrepareView", PrepareView},
    {"Update", Update},
    {"Remove", Remove},
    {"Walk", Walk},
    {"LayerFileUpdate", LayerFileUpdate},
    {"RemoveDirectoryInLowerLayer", RemoveDirectoryInLowerLayer},
    {"Chown", Chown},
    {"DirectoryPermissionOnCommit", DirectoryPermissionOnCommit},
    {"RemoveIntermediateSnapshot", RemoveIntermediateSnapshot},
    {"DeletedFilesInChildSnapshot", DeletedFilesInChildSnapshot},
    {"MoveFileFromLowerLayer", MoveFileFromLowerLayer},
    {"ViewReadonly", ViewReadonly},
    {"StatInWalk", StatInWalk},
    {"RootPermission", RootPermission},
    {"128LayersMount", Layers128Mount},
    {"ErrorCodes", ErrorCodes},
    {"NamespaceIsolation", NamespaceIsolation},
    {"Usage", UsageTest},
    {"Restart", Restart},
};

}  // namespace

void RegisterSnapshotterSuite(const std::string& name, HarnessFactory factory) {
  const std::string suite = name + "Conformance";
  for (const Case& c : kCases) {
    auto fn = c.fn;
    ::testing::RegisterTest(suite.c_str(), c.name, nullptr, nullptr, __FILE__, __LINE__,
                            [factory, fn]() -> ::testing::Test* {
                              return new SuiteTest(factory, [fn](Env& env) { fn(env); });
                            });
  }
}

}  // namespace berth::snapshot::testsuite
