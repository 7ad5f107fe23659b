// Namespace isolation, permissions and sockets of a real running suite, with a task running
// (busybox `sleep` under runc through berth-shim) in namespace A:
//   - a client in namespace B cannot read, list, label or delete A's blobs, ingests,
//     snapshots, images, containers, tasks or leases — and A's objects are unchanged after;
//   - the gateway socket is mode 0660 (owner root), every service's state and data directory
//     is 0700 (CVE-2021-41103, CVE-2024-25621), and so are the task's bundle directories;
//   - no process of the suite (gateway, services, nats-server, shims, runc) holds an abstract
//     unix socket (CVE-2020-15257): /proc/net/unix entries starting with '@' are matched by
//     inode against /proc/<pid>/fd of every suite process, while the task runs.
// Root (mounts, runc), nats-server, busybox-static.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/berth.h"
#include "client/testing/suite.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "proto/containerd/services/containers/v1/containers.grpc.pb.h"
#include "proto/containerd/services/images/v1/images.grpc.pb.h"
#include "proto/containerd/services/leases/v1/leases.grpc.pb.h"
#include "proto/containerd/services/snapshots/v1/snapshots.grpc.pb.h"
#include "proto/containerd/services/tasks/v1/tasks.grpc.pb.h"
#include "tests/security/security_testing.h"

namespace berth::security_testing {
namespace {

namespace contentpb = containerd::services::content::v1;
namespace containerspb = containerd::services::containers::v1;
namespace imagespb = containerd::services::images::v1;
namespace leasespb = containerd::services::leases::v1;
namespace snapb = containerd::services::snapshots::v1;
namespace taskspb = containerd::services::tasks::v1;

constexpr char kA[] = "sec-tenant-a";
constexpr char kB[] = "sec-tenant-b";
constexpr char kImage[] = "docker.io/sec/busybox:1";
constexpr char kContainer[] = "victim";
constexpr const char* kServices[] = {"gateway", "content", "snapshot", "image", "runtime"};

class IsolationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!client_testing::IsRoot() || !client_testing::MissingBinaries().empty()) return;
    suite_ = new client_testing::LocalSuite();
    // The data and state directories exist before the services start, group- and
    // world-traversable, as systemd's StateDirectory=/RuntimeDirectory= with mode 0711 or an
    // older installation leave them: the services must tighten them to 0700.
    mkdir(suite_->Path("lib").c_str(), 0755);
    mkdir(suite_->Path("run").c_str(), 0700);
    std::vector<std::string> loose = {suite_->Path("run/runtime")};
    for (const char* name : kServices) loose.push_back(suite_->Path("lib") + "/" + name);
    for (const std::string& dir : loose) {
      mkdir(dir.c_str(), 0711);
      chmod(dir.c_str(), 0711);
    }
    absl::Status s = suite_->Start();
    if (s.ok()) s = StartVictim();
    if (!s.ok()) start_error_ = new std::string(s.ToString() + "\n" + suite_->Logs());
  }

  // Namespace A: the busybox image imported and unpacked, a container `victim` from it
  // running `sleep`, a labelled blob, a committed snapshot, an open ingest and a lease.
  static absl::Status StartVictim() {
    RETURN_IF_ERROR(
        client_testing::WriteBusyboxArchive(suite_->Path("busybox.tar"), kImage).status());
    ClientOptions options;
    options.fifo_dir = suite_->Path("fifo");
    Client a = Client(suite_->socket(), options).WithNamespace(kA);
    int fd = open(suite_->Path("busybox.tar").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::InternalError("open busybox.tar");
    ImportOptions import;
    import.unpack = true;
    absl::StatusOr<std::vector<Image>> images = a.Import(fd, import);
    close(fd);
    RETURN_IF_ERROR(images.status());
    if (images->size() != 1) return absl::InternalError("want one image");
    const Image& image = (*images)[0];
    ASSIGN_OR_RETURN(Container c,
                     a.NewContainer(kContainer, WithImage(image),
                                    WithNewSnapshot(std::string(kContainer) + "-rootfs", image),
                                    WithNewSpec(WithImageConfig(image),
                                                oci::WithProcessArgs({"sleep", "600"}))));
    ASSIGN_OR_RETURN(Task t, c.NewTask(WithIO(cio::NullIO())));
    RETURN_IF_ERROR(t.Start());

    auto channel = Dial(suite_->socket());
    auto content = contentpb::Content::NewStub(channel);
    ASSIGN_OR_RETURN(std::string dgst,
                     WriteBlob(*content, kA, "tenant A secret", {{"owner", "a"}}));
    blob_ = new std::string(dgst);
    // An open ingest.
    {
      auto ctx = Ctx(kA);
      auto stream = content->Write(ctx.get());
      contentpb::WriteContentRequest req;
      req.set_action(contentpb::WRITE);
      req.set_ref("a-ingest");
      req.set_data("partial");
      stream->Write(req);
      contentpb::WriteContentResponse resp;
      stream->Read(&resp);
      ctx->TryCancel();
      (void)stream->Finish();
    }
    // A committed native snapshot and a lease.
    auto snapshots = snapb::Snapshots::NewStub(channel);
    snapb::PrepareSnapshotRequest prep;
    prep.set_snapshotter("native");
    prep.set_key("a-active");
    snapb::PrepareSnapshotResponse mounts;
    RETURN_IF_ERROR(FromGrpc(snapshots->Prepare(Ctx(kA).get(), prep, &mounts)));
    snapb::CommitSnapshotRequest commit;
    commit.set_snapshotter("native");
    commit.set_key("a-active");
    commit.set_name("a-committed");
    (*commit.mutable_labels())["owner"] = "a";
    // A root, like the blob: otherwise a collection scheduled by the import rightly removes it.
    (*commit.mutable_labels())["containerd.io/gc.root"] = "isolation-test";
    google::protobuf::Empty empty;
    RETURN_IF_ERROR(FromGrpc(snapshots->Commit(Ctx(kA).get(), commit, &empty)));
    auto leases = leasespb::Leases::NewStub(channel);
    leasespb::CreateRequest lease;
    lease.set_id("a-lease");
    leasespb::CreateResponse created;
    return FromGrpc(leases->Create(Ctx(kA).get(), lease, &created));
  }

  static void TearDownTestSuite() {
    if (suite_ != nullptr) {
      Client a = Client(suite_->socket()).WithNamespace(kA);
      absl::StatusOr<Container> c = a.LoadContainer(kContainer);
      if (c.ok()) {
        absl::StatusOr<Task> t = c->GetTask();
        if (t.ok()) (void)t->Delete(/*force=*/true);
        (void)c->Delete(WithSnapshotCleanup);
      }
      client_testing::RemoveNamespaceCgroups(kA);
    }
    delete suite_;
    suite_ = nullptr;
    delete blob_;
    blob_ = nullptr;
  }

  void SetUp() override {
    if (!client_testing::IsRoot()) GTEST_SKIP() << "needs root (mounts, runc)";
    ASSERT_EQ(client_testing::MissingBinaries(), "");
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    channel_ = Dial(suite_->socket());
  }

  static client_testing::LocalSuite* suite_;
  static std::string* start_error_;
  static std::string* blob_;
  std::shared_ptr<grpc::Channel> channel_;
};

client_testing::LocalSuite* IsolationTest::suite_ = nullptr;
std::string* IsolationTest::start_error_ = nullptr;
std::string* IsolationTest::blob_ = nullptr;

// Not found (or, for a write, refused) — never a success that touched A's object.
void ExpectDenied(const std::string& what, const absl::Status& s) {
  EXPECT_TRUE(absl::IsNotFound(s) || absl::IsFailedPrecondition(s) || absl::IsInvalidArgument(s))
      << what << ": " << s;
}

TEST_F(IsolationTest, NamespaceBCannotTouchA) {
  auto content = contentpb::Content::NewStub(channel_);
  auto snapshots = snapb::Snapshots::NewStub(channel_);
  auto images = imagespb::Images::NewStub(channel_);
  auto containers = containerspb::Containers::NewStub(channel_);
  auto tasks = taskspb::Tasks::NewStub(channel_);
  auto leases = leasespb::Leases::NewStub(channel_);
  google::protobuf::Empty empty;

  // --- blobs and ingests
  {
    contentpb::InfoRequest r;
    r.set_digest(*blob_);
    contentpb::InfoResponse out;
    ExpectDenied("Content.Info", FromGrpc(content->Info(Ctx(kB).get(), r, &out)));
    auto ctx = Ctx(kB);
    contentpb::ReadContentRequest read;
    read.set_digest(*blob_);
    auto reader = content->Read(ctx.get(), read);
    contentpb::ReadContentResponse chunk;
    std::string got;
    while (reader->Read(&chunk)) got += chunk.data();
    ExpectDenied("Content.Read", FromGrpc(reader->Finish()));
    EXPECT_EQ(got, "");
    contentpb::UpdateRequest update;
    update.mutable_info()->set_digest(*blob_);
    (*update.mutable_info()->mutable_labels())["owner"] = "b";
    update.mutable_update_mask()->add_paths("labels.owner");
    contentpb::UpdateResponse updated;
    ExpectDenied("Content.Update", FromGrpc(content->Update(Ctx(kB).get(), update, &updated)));
    contentpb::DeleteContentRequest del;
    del.set_digest(*blob_);
    ExpectDenied("Content.Delete", FromGrpc(content->Delete(Ctx(kB).get(), del, &empty)));
    auto lctx = Ctx(kB);
    auto list = content->List(lctx.get(), contentpb::ListContentRequest());
    contentpb::ListContentResponse page;
    while (list->Read(&page)) {
      for (const auto& i : page.info()) EXPECT_NE(i.digest(), *blob_) << "listed in B";
    }
    EXPECT_OK(FromGrpc(list->Finish()));
    contentpb::StatusRequest st;
    st.set_ref("a-ingest");
    contentpb::StatusResponse st_out;
    ExpectDenied("Content.Status", FromGrpc(content->Status(Ctx(kB).get(), st, &st_out)));
    contentpb::ListStatusesResponse statuses;
    EXPECT_OK(FromGrpc(
        content->ListStatuses(Ctx(kB).get(), contentpb::ListStatusesRequest(), &statuses)));
    for (const auto& s : statuses.statuses()) EXPECT_NE(s.ref(), "a-ingest");
    contentpb::AbortRequest abort;
    abort.set_ref("a-ingest");
    ExpectDenied("Content.Abort", FromGrpc(content->Abort(Ctx(kB).get(), abort, &empty)));
    // Writing the same bytes in B does not give B A's labels or ownership.
    ASSERT_OK(WriteBlob(*content, kB, "tenant A secret").status());
    contentpb::InfoResponse b_info;
    ASSERT_OK(FromGrpc(content->Info(Ctx(kB).get(), r, &b_info)));
    EXPECT_EQ(b_info.info().labels().count("owner"), 0u);
    contentpb::DeleteContentRequest b_del;
    b_del.set_digest(*blob_);
    EXPECT_OK(FromGrpc(content->Delete(Ctx(kB).get(), b_del, &empty)));
  }
  // --- snapshots
  for (const std::string& key :
       {std::string("a-committed"), std::string("a-active"), std::string(kContainer) + "-rootfs"}) {
    SCOPED_TRACE(key);
    const std::string sn = key == "a-committed" || key == "a-active" ? "native" : "overlayfs";
    snapb::StatSnapshotRequest stat;
    stat.set_snapshotter(sn);
    stat.set_key(key);
    snapb::StatSnapshotResponse info;
    ExpectDenied("Snapshots.Stat", FromGrpc(snapshots->Stat(Ctx(kB).get(), stat, &info)));
    snapb::MountsRequest m;
    m.set_snapshotter(sn);
    m.set_key(key);
    snapb::MountsResponse mounts;
    ExpectDenied("Snapshots.Mounts", FromGrpc(snapshots->Mounts(Ctx(kB).get(), m, &mounts)));
    snapb::UpdateSnapshotRequest upd;
    upd.set_snapshotter(sn);
    upd.mutable_info()->set_name(key);
    (*upd.mutable_info()->mutable_labels())["owner"] = "b";
    upd.mutable_update_mask()->add_paths("labels.owner");
    snapb::UpdateSnapshotResponse upd_out;
    ExpectDenied("Snapshots.Update", FromGrpc(snapshots->Update(Ctx(kB).get(), upd, &upd_out)));
    snapb::RemoveSnapshotRequest rm;
    rm.set_snapshotter(sn);
    rm.set_key(key);
    ExpectDenied("Snapshots.Remove", FromGrpc(snapshots->Remove(Ctx(kB).get(), rm, &empty)));
    // A child of A's committed snapshot cannot be made from B.
    snapb::PrepareSnapshotRequest child;
    child.set_snapshotter(sn);
    child.set_key("b-child-" + key);
    child.set_parent(key);
    snapb::PrepareSnapshotResponse child_mounts;
    ExpectDenied("Snapshots.Prepare(parent)",
                 FromGrpc(snapshots->Prepare(Ctx(kB).get(), child, &child_mounts)));
    auto lctx = Ctx(kB);
    snapb::ListSnapshotsRequest list_req;
    list_req.set_snapshotter(sn);
    auto list = snapshots->List(lctx.get(), list_req);
    snapb::ListSnapshotsResponse page;
    while (list->Read(&page)) {
      for (const auto& i : page.info()) EXPECT_NE(i.name(), key) << "listed in B";
    }
    EXPECT_OK(FromGrpc(list->Finish()));
  }
  // --- images
  {
    imagespb::GetImageRequest get;
    get.set_name(kImage);
    imagespb::GetImageResponse got;
    ExpectDenied("Images.Get", FromGrpc(images->Get(Ctx(kB).get(), get, &got)));
    imagespb::ListImagesResponse list;
    ASSERT_OK(FromGrpc(images->List(Ctx(kB).get(), imagespb::ListImagesRequest(), &list)));
    for (const auto& i : list.images()) EXPECT_NE(i.name(), kImage);
    imagespb::UpdateImageRequest upd;
    upd.mutable_image()->set_name(kImage);
    (*upd.mutable_image()->mutable_labels())["owner"] = "b";
    upd.mutable_update_mask()->add_paths("labels.owner");
    imagespb::UpdateImageResponse upd_out;
    ExpectDenied("Images.Update", FromGrpc(images->Update(Ctx(kB).get(), upd, &upd_out)));
    imagespb::DeleteImageRequest del;
    del.set_name(kImage);
    ExpectDenied("Images.Delete", FromGrpc(images->Delete(Ctx(kB).get(), del, &empty)));
  }
  // --- containers
  {
    containerspb::GetContainerRequest get;
    get.set_id(kContainer);
    containerspb::GetContainerResponse got;
    ExpectDenied("Containers.Get", FromGrpc(containers->Get(Ctx(kB).get(), get, &got)));
    containerspb::ListContainersResponse list;
    ASSERT_OK(
        FromGrpc(containers->List(Ctx(kB).get(), containerspb::ListContainersRequest(), &list)));
    EXPECT_EQ(list.containers_size(), 0);
    containerspb::UpdateContainerRequest upd;
    upd.mutable_container()->set_id(kContainer);
    (*upd.mutable_container()->mutable_labels())["owner"] = "b";
    upd.mutable_update_mask()->add_paths("labels.owner");
    containerspb::UpdateContainerResponse upd_out;
    ExpectDenied("Containers.Update", FromGrpc(containers->Update(Ctx(kB).get(), upd, &upd_out)));
    containerspb::DeleteContainerRequest del;
    del.set_id(kContainer);
    ExpectDenied("Containers.Delete", FromGrpc(containers->Delete(Ctx(kB).get(), del, &empty)));
  }
  // --- tasks
  {
    taskspb::GetRequest get;
    get.set_container_id(kContainer);
    taskspb::GetResponse got;
    ExpectDenied("Tasks.Get", FromGrpc(tasks->Get(Ctx(kB).get(), get, &got)));
    taskspb::ListTasksResponse list;
    ASSERT_OK(FromGrpc(tasks->List(Ctx(kB).get(), taskspb::ListTasksRequest(), &list)));
    EXPECT_EQ(list.tasks_size(), 0);
    taskspb::KillRequest kill;
    kill.set_container_id(kContainer);
    kill.set_signal(SIGKILL);
    ExpectDenied("Tasks.Kill", FromGrpc(tasks->Kill(Ctx(kB).get(), kill, &empty)));
    taskspb::ListPidsRequest pids;
    pids.set_container_id(kContainer);
    taskspb::ListPidsResponse pids_out;
    ExpectDenied("Tasks.ListPids", FromGrpc(tasks->ListPids(Ctx(kB).get(), pids, &pids_out)));
    taskspb::DeleteTaskRequest del;
    del.set_container_id(kContainer);
    taskspb::DeleteResponse del_out;
    ExpectDenied("Tasks.Delete", FromGrpc(tasks->Delete(Ctx(kB).get(), del, &del_out)));
    // Creating a task for A's container id from B fails (B has no such container).
    taskspb::CreateTaskRequest create;
    create.set_container_id(kContainer);
    taskspb::CreateTaskResponse created;
    ExpectDenied("Tasks.Create", FromGrpc(tasks->Create(Ctx(kB).get(), create, &created)));
  }
  // --- leases
  {
    leasespb::ListResponse list;
    ASSERT_OK(FromGrpc(leases->List(Ctx(kB).get(), leasespb::ListRequest(), &list)));
    for (const auto& l : list.leases()) EXPECT_NE(l.id(), "a-lease");
    leasespb::DeleteRequest del;
    del.set_id("a-lease");
    ExpectDenied("Leases.Delete", FromGrpc(leases->Delete(Ctx(kB).get(), del, &empty)));
  }

  // A still has everything, unchanged.
  {
    contentpb::InfoRequest r;
    r.set_digest(*blob_);
    contentpb::InfoResponse out;
    ASSERT_OK(FromGrpc(content->Info(Ctx(kA).get(), r, &out)));
    EXPECT_EQ(out.info().labels().at("owner"), "a");
    contentpb::StatusRequest st;
    st.set_ref("a-ingest");
    contentpb::StatusResponse st_out;
    EXPECT_OK(FromGrpc(content->Status(Ctx(kA).get(), st, &st_out)));
    snapb::StatSnapshotRequest stat;
    stat.set_snapshotter("native");
    stat.set_key("a-committed");
    snapb::StatSnapshotResponse info;
    ASSERT_OK(FromGrpc(snapshots->Stat(Ctx(kA).get(), stat, &info)));
    EXPECT_EQ(info.info().labels().at("owner"), "a");
    imagespb::GetImageRequest get;
    get.set_name(kImage);
    imagespb::GetImageResponse got;
    ASSERT_OK(FromGrpc(images->Get(Ctx(kA).get(), get, &got)));
    EXPECT_EQ(got.image().labels().count("owner"), 0u);
    containerspb::GetContainerRequest cget;
    cget.set_id(kContainer);
    containerspb::GetContainerResponse cgot;
    ASSERT_OK(FromGrpc(containers->Get(Ctx(kA).get(), cget, &cgot)));
    EXPECT_EQ(cgot.container().labels().count("owner"), 0u);
    taskspb::GetRequest tget;
    tget.set_container_id(kContainer);
    taskspb::GetResponse tgot;
    ASSERT_OK(FromGrpc(tasks->Get(Ctx(kA).get(), tget, &tgot)));
    EXPECT_EQ(tgot.process().status(), containerd::v1::types::RUNNING);
    leasespb::ListResponse list;
    ASSERT_OK(FromGrpc(leases->List(Ctx(kA).get(), leasespb::ListRequest(), &list)));
    bool found = false;
    for (const auto& l : list.leases()) found = found || l.id() == "a-lease";
    EXPECT_TRUE(found);
  }
}

TEST_F(IsolationTest, SocketAndDirectoryPermissions) {
  struct stat st;
  ASSERT_EQ(stat(suite_->socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u) << "gateway socket mode " << std::oct << st.st_mode;
  EXPECT_EQ(st.st_uid, 0u);

  // Each service's data directory (lib/<name>) and the runtime's state directory (bundles,
  // shim sockets, runc state): no group or world access.
  namespace fs = std::filesystem;
  int checked = 0;
  std::vector<std::string> dirs = {suite_->root() + "/run/runtime"};
  for (const char* name : kServices) dirs.push_back(suite_->root() + "/lib/" + name);
  for (const std::string& dir : dirs) {
    SCOPED_TRACE(dir);
    ASSERT_EQ(stat(dir.c_str(), &st), 0) << strerror(errno);
    EXPECT_EQ(st.st_mode & 0077, 0u) << dir << " mode " << std::oct << (st.st_mode & 07777);
    ++checked;
  }
  // Below the runtime's state directory nothing may be reachable by others: a directory is
  // reachable when it and every directory above it (up to run/runtime) let others search.
  std::error_code ec;
  int bundles = 0;
  std::map<std::string, bool> reachable;
  const std::string state = suite_->root() + "/run/runtime";
  ASSERT_EQ(stat(state.c_str(), &st), 0);
  reachable[state] = (st.st_mode & 0011) != 0;
  for (auto it = fs::recursive_directory_iterator(state, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_symlink() || !it->is_directory()) continue;
    const std::string p = it->path().string();
    if (p.find(kContainer) != std::string::npos) ++bundles;
    ASSERT_EQ(stat(p.c_str(), &st), 0);
    const bool open = reachable[it->path().parent_path().string()] && (st.st_mode & 0011) != 0;
    reachable[p] = open;
    EXPECT_FALSE(open) << p << " is reachable by other users (mode " << std::oct
                       << (st.st_mode & 07777) << " and every parent searchable)";
  }
  EXPECT_GT(bundles, 0) << "no bundle directory of the running task under run/runtime";
  EXPECT_EQ(checked, 6);
}

TEST_F(IsolationTest, NoAbstractUnixSockets) {
  const std::vector<pid_t> pids = SuitePids(suite_->root());
  // Gateway, four services, nats-server and at least one shim.
  ASSERT_GE(pids.size(), 7u);
  bool shim = false;
  for (pid_t pid : pids) {
    char comm[64] = {};
    int fd = open(("/proc/" + std::to_string(pid) + "/comm").c_str(), O_RDONLY);
    if (fd >= 0) {
      (void)!read(fd, comm, sizeof(comm) - 1);
      close(fd);
    }
    shim = shim || std::string(comm).rfind("berth-shim", 0) == 0;
  }
  EXPECT_TRUE(shim) << "no berth-shim among the suite's processes";
  int sockets = 0;
  for (pid_t pid : pids) sockets += static_cast<int>(SocketInodes(pid).size());
  EXPECT_GT(sockets, 0);
  const std::vector<std::string> abstract = AbstractSocketsOf(pids);
  EXPECT_TRUE(abstract.empty()) << "abstract unix sockets held by the suite:\n"
                                << [&] {
                                     std::string s;
                                     for (const auto& a : abstract) s += a + "\n";
                                     return s;
                                   }();
}

// CVE-2022-24769: the running container's init process has no inheritable and no ambient
// capabilities (read from the kernel, /proc/<pid>/status of the task's pid).
TEST_F(IsolationTest, RunningTaskHasNoInheritableCapabilities) {
  auto tasks = taskspb::Tasks::NewStub(channel_);
  taskspb::GetRequest get;
  get.set_container_id(kContainer);
  taskspb::GetResponse got;
  ASSERT_OK(FromGrpc(tasks->Get(Ctx(kA).get(), get, &got)));
  ASSERT_GT(got.process().pid(), 0u);
  std::ifstream in("/proc/" + std::to_string(got.process().pid()) + "/status");
  std::map<std::string, std::string> fields;
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t value = line.find_first_not_of(" \t", colon + 1);
    fields[line.substr(0, colon)] = value == std::string::npos ? "" : line.substr(value);
  }
  ASSERT_TRUE(fields.count("CapInh")) << "no status for pid " << got.process().pid();
  EXPECT_EQ(fields["CapInh"], "0000000000000000");
  EXPECT_EQ(fields["CapAmb"], "0000000000000000");
  // And the bounding set is the default, not everything.
  EXPECT_NE(fields["CapBnd"], "000001ffffffffff");
}

// The scan can fail: an abstract socket this test process binds is found by inode.
TEST(AbstractSocketScanTest, FindsAnAbstractSocket) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string name = "berth-sec-selftest-" + std::to_string(getpid());
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr),
                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())),
            0);
  ASSERT_EQ(listen(fd, 1), 0);
  const std::vector<std::string> found = AbstractSocketsOf({getpid()});
  close(fd);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].find("@" + name), std::string::npos) << found[0];
}

}  // namespace
}  // namespace berth::security_testing
