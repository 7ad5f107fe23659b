// The client library against a real local suite (deploy/berth-up: nats-server, berth-gateway,
// berth-content, berth-snapshot, berth-image, berth-runtime + berth-shim + runc): image import
// and unpack, containers from a snapshot of the image and from a plain rootfs directory,
// tasks with FIFO stdio, Wait before Start, exit codes, Kill, Exec, Metrics, Pids, events in
// order, leases and namespaces. Root (overlay mounts, runc) and nats-server are needed; each
// test works in a namespace of its own and removes what it made.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "client/berth.h"
#include "client/testing/suite.h"
#include "lib/digest/digest.h"
#include "lib/platforms/platforms.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/events/task.pb.h"
#include "services/content/store.h"
#include "services/snapshot/snapshotter.h"

namespace berth {
namespace {

using ::berth::testing::WaitFor;
using client_testing::LocalSuite;

constexpr char kImage[] = "docker.io/test/busybox:1";

// Collects a stream's output.
struct Captured {
  std::mutex mu;
  std::string data;
  cio::Sink sink() {
    return [this](std::string_view d) {
      std::lock_guard<std::mutex> lock(mu);
      data.append(d);
    };
  }
  std::string get() {
    std::lock_guard<std::mutex> lock(mu);
    return data;
  }
};

class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!client_testing::IsRoot() || !client_testing::MissingBinaries().empty()) return;
    suite_ = new LocalSuite();
    absl::Status s = suite_->Start();
    if (!s.ok()) {
      start_error_ = new std::string(s.ToString());
      return;
    }
    absl::StatusOr<std::string> chain =
        client_testing::WriteBusyboxArchive(suite_->Path("busybox.tar"), kImage);
    if (!chain.ok()) {
      start_error_ = new std::string(chain.status().ToString());
      return;
    }
    top_chain_ = new std::string(*chain);
  }

  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
    delete top_chain_;
    top_chain_ = nullptr;
  }

  void SetUp() override {
    if (!client_testing::IsRoot()) GTEST_SKIP() << "needs root (overlay mounts, runc)";
    ASSERT_EQ(client_testing::MissingBinaries(), "");
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    ns_ = "bct" + std::to_string(getpid()) + "-" + info->name();
    std::replace(ns_.begin(), ns_.end(), '_', '-');
    ClientOptions options;
    options.fifo_dir = suite_->Path("fifo");
    client_ = std::make_unique<Client>(suite_->socket(), options);
    *client_ = client_->WithNamespace(ns_);
  }

  void TearDown() override {
    if (client_ != nullptr) {
      // Whatever a failed test left: tasks, containers, images, snapshots.
      absl::StatusOr<std::vector<Container>> containers = client_->ListContainers();
      if (containers.ok()) {
        for (const Container& c : *containers) {
          absl::StatusOr<Task> t = c.GetTask();
          if (t.ok()) (void)t->Delete(/*force=*/true);
          (void)c.Delete(WithSnapshotCleanup);
        }
      }
      absl::StatusOr<std::vector<ImageRecord>> images = client_->Images().List();
      if (images.ok()) {
        for (const ImageRecord& i : *images) (void)client_->Images().Delete(i.name());
      }
      client_testing::RemoveNamespaceCgroups(ns_);
    }
  }

  // Imports the busybox archive into the test's namespace.
  absl::StatusOr<Image> ImportBusybox(bool unpack = false) {
    int fd = open(suite_->Path("busybox.tar").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::InternalError("open busybox.tar");
    ImportOptions options;
    options.unpack = unpack;
    absl::StatusOr<std::vector<Image>> images = client_->Import(fd, options);
    close(fd);
    if (!images.ok()) return images.status();
    if (images->size() != 1) return absl::InternalError("want one image");
    return (*images)[0];
  }

  // A container from the busybox image running `args`.
  absl::StatusOr<Container> NewBusybox(const std::string& id, std::vector<std::string> args,
                                       std::vector<oci::SpecOpt> more = {}) {
    ASSIGN_OR_RETURN(Image image, ImportBusybox());
    std::vector<oci::SpecOpt> spec = {WithImageConfig(image),
                                      oci::WithProcessArgs(std::move(args))};
    spec.insert(spec.end(), more.begin(), more.end());
    return client_->NewContainer(id, WithImage(image), WithNewSnapshot(id + "-rootfs", image),
                                 WithNewSpec(std::move(spec)));
  }

  static LocalSuite* suite_;
  static std::string* start_error_;
  static std::string* top_chain_;
  std::string ns_;
  std::unique_ptr<Client> client_;
};

LocalSuite* ClientTest::suite_ = nullptr;
std::string* ClientTest::start_error_ = nullptr;
std::string* ClientTest::top_chain_ = nullptr;

TEST_F(ClientTest, ConnectsAndReportsTheServer) {
  ASSERT_OK_AND_ASSIGN(Client c, Client::Connect(suite_->socket()));
  ASSERT_OK_AND_ASSIGN(VersionInfo v, c.Version());
  EXPECT_FALSE(v.version.empty());
  ASSERT_OK_AND_ASSIGN(bool serving, c.IsServing());
  EXPECT_TRUE(serving);
  ASSERT_OK_AND_ASSIGN(std::string uuid, c.ServerUUID());
  EXPECT_FALSE(uuid.empty());
  ASSERT_OK_AND_ASSIGN(Client unix_form, Client::Connect("unix://" + suite_->socket()));
  EXPECT_OK(unix_form.Version().status());

  // Bad addresses fail every call with InvalidArgument; a missing server is Unavailable.
  Client bad("relative.sock");
  EXPECT_TRUE(absl::IsInvalidArgument(bad.Version().status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Connect("http://x").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Client::Connect("tcp://nohost").status()));
  ClientOptions quick;
  quick.connect_timeout = std::chrono::milliseconds(200);
  EXPECT_TRUE(absl::IsUnavailable(Client::Connect(suite_->Path("none.sock"), quick).status()));
}

TEST_F(ClientTest, Namespaces) {
  NamespaceService namespaces = client_->Namespaces();
  const std::string other = ns_ + "-x";
  ASSERT_OK(namespaces.Create(other, {{"team", "a"}}));
  EXPECT_TRUE(absl::IsAlreadyExists(namespaces.Create(other)));
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> names, namespaces.List());
  EXPECT_NE(std::find(names.begin(), names.end(), other), names.end());
  ASSERT_OK(namespaces.SetLabel(other, "containerd.io/defaults/snapshotter", "native"));
  ASSERT_OK_AND_ASSIGN(Labels labels, namespaces.GetLabels(other));
  EXPECT_EQ(labels["team"], "a");
  EXPECT_EQ(*client_->WithNamespace(other).DefaultSnapshotter(), "native");
  EXPECT_EQ(*client_->DefaultSnapshotter(), "overlayfs");
  ASSERT_OK(namespaces.Delete(other));
  EXPECT_TRUE(absl::IsNotFound(namespaces.Delete(other)));
  EXPECT_TRUE(absl::IsInvalidArgument(namespaces.Create("bad name!")));
}

TEST_F(ClientTest, LeasesAndScopedLease) {
  LeaseService leases = client_->Leases();
  ASSERT_OK_AND_ASSIGN(Lease lease,
                       leases.Create({"mylease", {{"k", "v"}}, std::chrono::hours(1)}));
  EXPECT_EQ(lease.id, "mylease");
  EXPECT_EQ(lease.labels.count("containerd.io/gc.expire"), 1u);
  // A blob written under the lease is one of its resources.
  Client leased = client_->UsingLease("mylease");
  ASSERT_OK(WriteBlob(leased, "blob-1", "leased bytes"));
  ASSERT_OK_AND_ASSIGN(std::vector<LeaseResource> resources, leases.ListResources("mylease"));
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources[0].type, "content");
  EXPECT_EQ(resources[0].id, digest::FromBytes("leased bytes").ToString());
  ASSERT_OK(leases.Delete("mylease"));
  EXPECT_TRUE(absl::IsNotFound(leases.Delete("mylease")));

  std::string id;
  {
    ASSERT_OK_AND_ASSIGN(ScopedLease scoped, client_->WithLease());
    id = scoped.ID();
    EXPECT_EQ(scoped.client().LeaseID(), id);
    ASSERT_OK_AND_ASSIGN(std::vector<Lease> all, leases.List());
    EXPECT_EQ(std::count_if(all.begin(), all.end(), [&](const Lease& l) { return l.id == id; }), 1);
  }
  // Deleted when it went out of scope.
  ASSERT_OK_AND_ASSIGN(std::vector<Lease> after, leases.List());
  EXPECT_EQ(std::count_if(after.begin(), after.end(), [&](const Lease& l) { return l.id == id; }),
            0);
}

TEST_F(ClientTest, ImportUnpackAndCheck) {
  ASSERT_OK_AND_ASSIGN(Image image, ImportBusybox());
  EXPECT_EQ(image.Name(), kImage);
  ASSERT_OK_AND_ASSIGN(ImageSpec spec, image.Spec());
  EXPECT_EQ(spec.cmd, (std::vector<std::string>{"/bin/sh"}));
  ASSERT_EQ(spec.diff_ids.size(), 1u);
  ASSERT_OK_AND_ASSIGN(std::string top, image.TopChainID());
  EXPECT_EQ(top, *top_chain_);
  ASSERT_OK_AND_ASSIGN(int64_t size, image.Size());
  EXPECT_GT(size, 500000);
  ASSERT_OK_AND_ASSIGN(bool unpacked, image.IsUnpacked());
  EXPECT_FALSE(unpacked);
  ASSERT_OK_AND_ASSIGN(ImageAvailability before, image.Check());
  EXPECT_TRUE(before.complete);
  EXPECT_TRUE(before.missing.empty());
  EXPECT_FALSE(before.unpacked);

  ASSERT_OK(image.Unpack());
  ASSERT_OK_AND_ASSIGN(unpacked, image.IsUnpacked());
  EXPECT_TRUE(unpacked);
  ASSERT_OK_AND_ASSIGN(snapshot::Info info,
                       client_->SnapshotService()->Stat(client_->Context(), top));
  EXPECT_EQ(info.kind, snapshot::Kind::kCommitted);
  // The config blob keeps the snapshot alive, the layer names its diff ID.
  ASSERT_OK_AND_ASSIGN(Descriptor config, image.Config());
  ASSERT_OK_AND_ASSIGN(
      content::Info config_info,
      client_->ContentStore().Info(client_->Context(), *digest::Digest::Parse(config.digest)));
  EXPECT_EQ(config_info.labels["containerd.io/gc.ref.snapshot.overlayfs"], top);
  ASSERT_OK(image.Unpack());  // idempotent

  // Images are per namespace; a missing one is NotFound; a bad ref is refused before any call.
  EXPECT_TRUE(absl::IsNotFound(client_->WithNamespace(ns_ + "-empty").GetImage(kImage).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(client_->Pull("Not A Ref").status()));
  // Importing garbage fails cleanly.
  const std::string junk = suite_->Path("junk.tar");
  { std::ofstream(junk) << "not a tar archive at all"; }
  int fd = open(junk.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_FALSE(client_->Import(fd).ok());
  close(fd);
}

// Import and Export report every blob: a first copying step at 0, byte counts that only grow,
// and a last done (or, for import, exists) step with the digest and all the bytes.
TEST_F(ClientTest, ImportAndExportReportProgressPerBlob) {
  struct Seen {
    std::vector<ArchiveProgress> steps;
  };
  auto check = [](const std::map<std::string, Seen>& blobs, bool is_export) {
    for (const auto& [path, seen] : blobs) {
      const ArchiveProgress& last = seen.steps.back();
      EXPECT_TRUE(last.kind == ArchiveProgress::Kind::kDone ||
                  (!is_export && last.kind == ArchiveProgress::Kind::kExists))
          << path;
      EXPECT_EQ(last.offset, last.total) << path;
      EXPECT_GT(last.total, 0) << path;
      EXPECT_EQ(path, "blobs/sha256/" + last.digest.substr(7)) << path;
      if (is_export) {
        EXPECT_FALSE(last.role.empty()) << path;
      }
      int64_t offset = 0;
      for (size_t i = 0; i + 1 < seen.steps.size(); ++i) {
        const ArchiveProgress& step = seen.steps[i];
        EXPECT_EQ(step.kind, ArchiveProgress::Kind::kCopying) << path;
        if (i == 0) {
          EXPECT_EQ(step.offset, 0) << path;
        }
        EXPECT_GE(step.offset, offset) << path;
        EXPECT_LE(step.offset, step.total) << path;
        offset = step.offset;
      }
    }
  };

  std::map<std::string, Seen> imported;
  int fd = open(suite_->Path("busybox.tar").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ImportOptions import_options;
  import_options.progress = [&](const ArchiveProgress& p) { imported[p.path].steps.push_back(p); };
  absl::StatusOr<std::vector<Image>> images = client_->Import(fd, import_options);
  close(fd);
  ASSERT_OK(images.status());
  ASSERT_EQ(images->size(), 1u);
  EXPECT_EQ(imported.size(), 3u);  // layer, config, manifest
  check(imported, /*is_export=*/false);

  std::map<std::string, Seen> exported;
  std::map<std::string, std::string> roles;  // digest -> role
  const std::string tar = suite_->Path(ns_ + "-progress.tar");
  fd = open(tar.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ExportOptions export_options;
  export_options.progress = [&](const ArchiveProgress& p) {
    exported[p.path].steps.push_back(p);
    roles[p.digest] = p.role;
  };
  absl::Status s = client_->Export(fd, {kImage}, export_options);
  close(fd);
  ASSERT_OK(s);
  EXPECT_EQ(exported.size(), 3u);
  check(exported, /*is_export=*/true);
  EXPECT_EQ(roles[(*images)[0].Target().digest], "manifest");
  ASSERT_OK_AND_ASSIGN(std::vector<Descriptor> layers, (*images)[0].Layers());
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(roles[layers[0].digest], "layer");
  // The same blobs went out as came in.
  for (const auto& [path, seen] : imported) {
    ASSERT_TRUE(exported.count(path)) << path;
    EXPECT_EQ(exported[path].steps.back().total, seen.steps.back().total) << path;
  }
  unlink(tar.c_str());
}

TEST_F(ClientTest, PullsFromARegistryWithProgress) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<testing::Registry> registry, testing::Registry::Start());
  testing::ImageOptions options;
  options.architecture = platforms::DefaultPlatform().architecture;
  ASSERT_OK_AND_ASSIGN(testing::OciImage image, testing::BusyboxImage(options));
  ASSERT_OK(registry->Push("test/busybox", "1.0", image));
  const std::string ref = registry->Reference("test/busybox", "1.0");

  std::vector<PullProgress> steps;
  ASSERT_OK_AND_ASSIGN(
      Image pulled,
      client_->Pull(ref, WithPlainHTTP, WithPullUnpack,
                    WithPullProgress([&](const PullProgress& p) { steps.push_back(p); })));
  EXPECT_EQ(pulled.Name(), ref);
  EXPECT_EQ(pulled.Target().digest, image.manifest.digest);
  ASSERT_OK_AND_ASSIGN(bool unpacked, pulled.IsUnpacked());
  EXPECT_TRUE(unpacked);
  EXPECT_EQ(*pulled.TopChainID(), image.ChainIds().back());
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.front().kind, PullProgress::Kind::kResolving);
  EXPECT_EQ(steps.back().image, ref);
  EXPECT_TRUE(std::any_of(steps.begin(), steps.end(), [&](const PullProgress& p) {
    return p.kind == PullProgress::Kind::kUnpacked && p.snapshot == image.ChainIds().back();
  }));
  EXPECT_TRUE(std::any_of(steps.begin(), steps.end(), [&](const PullProgress& p) {
    return p.kind == PullProgress::Kind::kDone && p.digest == image.layers[0].blob.digest;
  }));
  // The pulled image runs.
  ASSERT_OK_AND_ASSIGN(
      Container c,
      client_->NewContainer("pulled", WithImage(pulled), WithNewSnapshot("pulled", pulled),
                            WithNewSpec(WithImageConfig(pulled), oci::WithProcessArgs({"true"}))));
  ASSERT_OK_AND_ASSIGN(Task task, c.NewTask());
  std::future<absl::StatusOr<ExitStatus>> exited = task.Wait();
  ASSERT_OK(task.Start());
  ASSERT_OK_AND_ASSIGN(ExitStatus st, exited.get());
  EXPECT_EQ(st.code, 0u);
  ASSERT_OK(task.Delete().status());
  ASSERT_OK(c.Delete(WithSnapshotCleanup));

  // Errors of the pull come back with their code.
  EXPECT_TRUE(absl::IsNotFound(
      client_->Pull(registry->Reference("test/busybox", "nosuchtag"), WithPlainHTTP).status()));
}

// A garbage collection between the snapshot an option prepares and the container record that
// names it (run here by an option placed between the two) removes nothing: NewContainer works
// under a lease, as containerd's client does.
TEST_F(ClientTest, ACollectionDuringNewContainerKeepsItsSnapshot) {
  ASSERT_OK_AND_ASSIGN(Image image, ImportBusybox());
  int collections = 0;
  NewContainerOpt collect = [&collections](const Client& c, ContainerRecord*) -> absl::Status {
    ASSIGN_OR_RETURN(GcReport report, c.GarbageCollect());
    if (!report.dry_run()) ++collections;
    return absl::OkStatus();
  };
  ASSERT_OK_AND_ASSIGN(
      Container c, client_->NewContainer(
                       "gcrace", WithImage(image), WithNewSnapshot("gcrace-rootfs", image), collect,
                       WithNewSpec(WithImageConfig(image), oci::WithProcessArgs({"true"}))));
  EXPECT_EQ(collections, 1);
  ASSERT_OK(client_->SnapshotService()->Stat(client_->Context(), "gcrace-rootfs").status());
  ASSERT_OK_AND_ASSIGN(Task task, c.NewTask());
  std::future<absl::StatusOr<ExitStatus>> exited = task.Wait();
  ASSERT_OK(task.Start());
  ASSERT_OK_AND_ASSIGN(ExitStatus status, exited.get());
  EXPECT_EQ(status.code, 0u);
  // The lease NewContainer took is gone again.
  ASSERT_OK_AND_ASSIGN(std::vector<Lease> leases, client_->Leases().List());
  EXPECT_TRUE(leases.empty());
}

TEST_F(ClientTest, TaskLifecycleWithFifosWaitBeforeStartAndExitCode) {
  ASSERT_OK_AND_ASSIGN(Container c,
                       NewBusybox("life", {"sh", "-c", "echo out; echo err >&2; exit 3"}));
  ASSERT_OK_AND_ASSIGN(ContainerRecord record, c.Info());
  EXPECT_EQ(record.image(), kImage);
  EXPECT_EQ(record.snapshotter(), "overlayfs");
  EXPECT_EQ(record.snapshot_key(), "life-rootfs");
  EXPECT_EQ(record.runtime().name(), "io.containerd.runc.v2");
  ASSERT_OK_AND_ASSIGN(oci::Spec spec, c.Spec());
  EXPECT_EQ(spec["process"]["env"][0], oci::kDefaultPathEnv);
  EXPECT_EQ(spec["linux"]["cgroupsPath"], "/" + ns_ + "/life");

  Captured out, err;
  cio::Streams streams;
  streams.stdout_sink = out.sink();
  streams.stderr_sink = err.sink();
  ASSERT_OK_AND_ASSIGN(Task task, c.NewTask(WithStreams(streams)));
  EXPECT_GT(task.Pid(), 0u);
  ASSERT_OK_AND_ASSIGN(ProcessStatus created, task.Status());
  EXPECT_EQ(created.state, ProcessState::kCreated);
  // Wait before Start: the exit cannot be missed however fast it comes.
  std::future<absl::StatusOr<ExitStatus>> exited = task.Wait();
  ASSERT_OK(task.Start());
  ASSERT_OK_AND_ASSIGN(ExitStatus status, exited.get());
  EXPECT_EQ(status.code, 3u);
  EXPECT_GT(status.exited_at.time_since_epoch().count(), 0);
  // A Wait after the exit answers from the recorded status.
  ASSERT_OK_AND_ASSIGN(ExitStatus again, task.Wait().get());
  EXPECT_EQ(again.code, 3u);
  EXPECT_TRUE(absl::IsAlreadyExists(c.NewTask().status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(c.Delete()));

  ASSERT_OK_AND_ASSIGN(ExitStatus deleted, task.Delete());
  EXPECT_EQ(deleted.code, 3u);
  EXPECT_EQ(out.get(), "out\n");
  EXPECT_EQ(err.get(), "err\n");
  EXPECT_TRUE(absl::IsNotFound(c.GetTask().status()));

  ASSERT_OK(c.Delete(WithSnapshotCleanup));
  EXPECT_TRUE(absl::IsNotFound(c.Info().status()));
  EXPECT_TRUE(absl::IsNotFound(
      client_->SnapshotService()->Stat(client_->Context(), "life-rootfs").status()));
  EXPECT_TRUE(absl::IsNotFound(client_->LoadContainer("life").status()));
}

TEST_F(ClientTest, KillExecPidsAndMetrics) {
  ASSERT_OK_AND_ASSIGN(Container c, NewBusybox("sleeper", {"sleep", "1000"}));
  ASSERT_OK_AND_ASSIGN(Task task, c.NewTask());
  std::future<absl::StatusOr<ExitStatus>> exited = task.Wait();
  ASSERT_OK(task.Start());
  ASSERT_OK_AND_ASSIGN(ProcessStatus running, task.Status());
  EXPECT_EQ(running.state, ProcessState::kRunning);

  // Exec with output captured, and its exit code.
  Captured out;
  cio::Streams streams;
  streams.stdout_sink = out.sink();
  cio::CreatorOptions co;
  co.fifo_dir = suite_->Path("fifo");
  ASSERT_OK_AND_ASSIGN(oci::Spec echo, task.ProcessSpec({"echo", "from exec"}));
  ASSERT_OK_AND_ASSIGN(Process e1, task.Exec("e1", echo, cio::NewCreator(streams, co)));
  std::future<absl::StatusOr<ExitStatus>> e1_exited = e1.Wait();
  ASSERT_OK(e1.Start());
  ASSERT_OK_AND_ASSIGN(ExitStatus e1_status, e1_exited.get());
  EXPECT_EQ(e1_status.code, 0u);
  ASSERT_OK(e1.Delete().status());
  EXPECT_EQ(out.get(), "from exec\n");

  ASSERT_OK_AND_ASSIGN(oci::Spec fail, task.ProcessSpec({"sh", "-c", "exit 7"}));
  ASSERT_OK_AND_ASSIGN(Process e2, task.Exec("e2", fail));
  std::future<absl::StatusOr<ExitStatus>> e2_exited = e2.Wait();
  ASSERT_OK(e2.Start());
  ASSERT_OK_AND_ASSIGN(ExitStatus e2_status, e2_exited.get());
  EXPECT_EQ(e2_status.code, 7u);
  ASSERT_OK(e2.Delete().status());
  EXPECT_TRUE(absl::IsInvalidArgument(task.Exec("", fail).status()));

  ASSERT_OK_AND_ASSIGN(std::vector<ProcessInfo> pids, task.Pids());
  EXPECT_TRUE(std::any_of(pids.begin(), pids.end(),
                          [&](const ProcessInfo& p) { return p.pid == task.Pid(); }));
  ASSERT_OK_AND_ASSIGN(TaskMetrics metrics, task.Metrics());
  EXPECT_EQ(metrics.id, "sleeper");
  ASSERT_TRUE(metrics.v1.has_value() || metrics.v2.has_value()) << metrics.type_url;
  if (metrics.v1) {
    EXPECT_GE(metrics.v1->pids().current(), 1u);
    EXPECT_GT(metrics.v1->memory().usage().usage(), 0u);
  } else {
    EXPECT_GE(metrics.v2->pids().current(), 1u);
  }

  // Running: deleting the task is refused; SIGKILL ends it with 137.
  EXPECT_FALSE(task.Delete().ok());
  ASSERT_OK(task.Kill(SIGKILL));
  ASSERT_OK_AND_ASSIGN(ExitStatus status, exited.get());
  EXPECT_EQ(status.code, 137u);
  EXPECT_TRUE(absl::IsInvalidArgument(task.Kill(0)));
  ASSERT_OK(task.Delete().status());
  ASSERT_OK(c.Delete(WithSnapshotCleanup));
}

TEST_F(ClientTest, SigtermAndStdinAreForwarded) {
  // stdin reaches the process and its end closes the process' stdin (CloseIO).
  ASSERT_OK_AND_ASSIGN(Container c, NewBusybox("cat", {"cat"}));
  int in[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  Captured out;
  cio::Streams streams;
  streams.stdin_fd = in[0];
  streams.stdout_sink = out.sink();
  ASSERT_OK_AND_ASSIGN(Task task, c.NewTask(WithStreams(streams)));
  std::future<absl::StatusOr<ExitStatus>> exited = task.Wait();
  ASSERT_OK(task.Start());
  ASSERT_EQ(write(in[1], "piped input\n", 12), 12);
  close(in[1]);
  ASSERT_OK_AND_ASSIGN(ExitStatus status, exited.get());
  EXPECT_EQ(status.code, 0u);
  ASSERT_OK(task.Delete().status());
  close(in[0]);
  EXPECT_EQ(out.get(), "piped input\n");
  ASSERT_OK(c.Delete(WithSnapshotCleanup));

  // SIGTERM to a shell that traps it.
  ASSERT_OK_AND_ASSIGN(Container t, NewBusybox("term", {"sh", "-c",
                                                        "trap 'exit 42' TERM; echo ready; "
                                                        "while true; do sleep 1; done"}));
  Captured ready;
  cio::Streams rs;
  rs.stdout_sink = ready.sink();
  ASSERT_OK_AND_ASSIGN(Task tt, t.NewTask(WithStreams(rs)));
  std::future<absl::StatusOr<ExitStatus>> t_exited = tt.Wait();
  ASSERT_OK(tt.Start());
  ASSERT_TRUE(WaitFor([&] { return ready.get() == "ready\n"; }, std::chrono::seconds(30)));
  ASSERT_OK(tt.Kill(SIGTERM));
  ASSERT_OK_AND_ASSIGN(ExitStatus t_status, t_exited.get());
  EXPECT_EQ(t_status.code, 42u);
  ASSERT_OK(tt.Delete().status());
  ASSERT_OK(t.Delete(WithSnapshotCleanup));
}

TEST_F(ClientTest, EventsArriveInOrder) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventStream> events,
                       client_->Subscribe({"namespace==" + ns_ + ",topic~=\"^/tasks/\""}));
  ASSERT_OK_AND_ASSIGN(Container c, NewBusybox("ev", {"sh", "-c", "exit 3"}));
  ASSERT_OK_AND_ASSIGN(Task task, c.NewTask());
  std::future<absl::StatusOr<ExitStatus>> exited = task.Wait();
  ASSERT_OK(task.Start());
  ASSERT_OK(exited.get().status());
  ASSERT_OK(task.Delete().status());

  std::vector<std::string> topics;
  const containerd::events::TaskExit* exit_event = nullptr;
  std::vector<Envelope> seen;
  while (topics.empty() || topics.back() != "/tasks/delete") {
    ASSERT_OK_AND_ASSIGN(Envelope e, events->Next());
    EXPECT_EQ(e.ns, ns_);
    ASSERT_NE(e.decoded, nullptr) << e.topic << " " << e.event.type_url();
    topics.push_back(e.topic);
    seen.push_back(std::move(e));
  }
  EXPECT_EQ(topics, (std::vector<std::string>{"/tasks/create", "/tasks/start", "/tasks/exit",
                                              "/tasks/delete"}));
  exit_event = seen[2].As<containerd::events::TaskExit>();
  ASSERT_NE(exit_event, nullptr);
  EXPECT_EQ(exit_event->container_id(), "ev");
  EXPECT_EQ(exit_event->exit_status(), 3u);
  EXPECT_NE(seen[2].EventJson().find("\"exit_status\":3"), std::string::npos)
      << seen[2].EventJson();
  EXPECT_EQ(seen[0].As<containerd::events::TaskExit>(), nullptr);
  events->Cancel();
  EXPECT_TRUE(absl::IsCancelled(events->Next().status()));
  ASSERT_OK(c.Delete(WithSnapshotCleanup));

  // A bad filter is refused by the server.
  absl::StatusOr<std::unique_ptr<EventStream>> bad = client_->Subscribe({"topic=="});
  if (bad.ok()) {
    EXPECT_TRUE(absl::IsInvalidArgument((*bad)->Next().status()));
  } else {
    EXPECT_TRUE(absl::IsInvalidArgument(bad.status()));
  }
}

// ReplayEvents: the gateway's JetStream stream from a sequence on, filtered, in order; follow
// goes on with new events until Cancel.
TEST_F(ClientTest, ReplayEventsFromASequence) {
  ASSERT_OK_AND_ASSIGN(Container c, NewBusybox("rp", {"sh", "-c", "exit 4"}));
  ASSERT_OK_AND_ASSIGN(Task task, c.NewTask());
  std::future<absl::StatusOr<ExitStatus>> exited = task.Wait();
  ASSERT_OK(task.Start());
  ASSERT_OK(exited.get().status());
  ASSERT_OK(task.Delete().status());
  ASSERT_OK(c.Delete(WithSnapshotCleanup));

  const std::vector<std::string> filter = {"namespace==" + ns_ + ",topic~=\"^/tasks/\""};
  // Following from the start waits for events still on their way into the stream.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventReplay> all,
                       client_->ReplayEvents(0, filter, /*follow=*/true));
  std::vector<std::string> topics;
  std::vector<uint64_t> seqs;
  while (topics.empty() || topics.back() != "/tasks/delete") {
    ASSERT_OK_AND_ASSIGN(ReplayedEvent e, all->Next());
    EXPECT_EQ(e.envelope.ns, ns_);
    topics.push_back(e.envelope.topic);
    seqs.push_back(e.sequence);
  }
  all->Cancel();
  EXPECT_TRUE(absl::IsCancelled(all->Next().status()));
  ASSERT_EQ(topics, (std::vector<std::string>{"/tasks/create", "/tasks/start", "/tasks/exit",
                                              "/tasks/delete"}));
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));

  // From the exit on, without follow: exit, delete, then the end.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventReplay> tail, client_->ReplayEvents(seqs[2], filter));
  ASSERT_OK_AND_ASSIGN(ReplayedEvent exit_event, tail->Next());
  EXPECT_EQ(exit_event.sequence, seqs[2]);
  const auto* exit = exit_event.envelope.As<containerd::events::TaskExit>();
  ASSERT_NE(exit, nullptr);
  EXPECT_EQ(exit->exit_status(), 4u);
  ASSERT_OK_AND_ASSIGN(ReplayedEvent delete_event, tail->Next());
  EXPECT_EQ(delete_event.sequence, seqs[3]);
  EXPECT_TRUE(absl::IsOutOfRange(tail->Next().status()));

  // Following past the end: the next event of the namespace, when it comes.
  const std::vector<std::string> updates = {"namespace==" + ns_ + ",topic==\"/namespaces/update\""};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventReplay> follow,
                       client_->ReplayEvents(seqs[3] + 1, updates, /*follow=*/true));
  ASSERT_OK(client_->Namespaces().SetLabel(ns_, "replayed", "yes"));
  ASSERT_OK_AND_ASSIGN(ReplayedEvent update, follow->Next());
  EXPECT_GT(update.sequence, seqs[3]);
  EXPECT_EQ(update.envelope.topic, "/namespaces/update");
  follow->Cancel();
  EXPECT_TRUE(absl::IsCancelled(follow->Next().status()));

  // A bad filter is refused.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<EventReplay> bad, client_->ReplayEvents(0, {"topic=="}));
  EXPECT_TRUE(absl::IsInvalidArgument(bad->Next().status()));
}

// A user-written option, as containerd's WithHtop example: the host's pid namespace.
absl::Status WithHostPids(const oci::SpecContext& ctx, oci::Spec* s) {
  RETURN_IF_ERROR(oci::WithHostNamespace(oci::kPIDNamespace)(ctx, s));
  (*s)["process"]["args"] = {"readlink", "/proc/self/ns/pid"};
  return absl::OkStatus();
}

TEST_F(ClientTest, UserOptionJoinsTheHostPidNamespace) {
  char host_ns[256] = {0};
  ASSERT_GT(readlink("/proc/self/ns/pid", host_ns, sizeof(host_ns) - 1), 0);
  auto run = [&](const std::string& id, std::vector<oci::SpecOpt> opts) -> std::string {
    absl::StatusOr<Container> c = NewBusybox(id, {"readlink", "/proc/self/ns/pid"}, opts);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return "";
    Captured out;
    cio::Streams s;
    s.stdout_sink = out.sink();
    absl::StatusOr<Task> t = c->NewTask(WithStreams(s));
    EXPECT_TRUE(t.ok()) << t.status();
    if (!t.ok()) return "";
    std::future<absl::StatusOr<ExitStatus>> exited = t->Wait();
    EXPECT_OK(t->Start());
    absl::StatusOr<ExitStatus> st = exited.get();
    EXPECT_TRUE(st.ok() && st->code == 0) << st.status();
    EXPECT_OK(t->Delete().status());
    EXPECT_OK(c->Delete(WithSnapshotCleanup));
    return out.get();
  };
  EXPECT_EQ(run("hostpid", {WithHostPids}), std::string(host_ns) + "\n");
  std::string own = run("ownpid", {});
  EXPECT_FALSE(own.empty());
  EXPECT_NE(own, std::string(host_ns) + "\n");
}

TEST_F(ClientTest, RootfsDirectoryContainerAndUserLookup) {
  const std::string rootfs = suite_->Path("rootfs-" + ns_);
  ASSERT_OK(client_testing::MakeBusyboxRootfs(rootfs));
  ASSERT_OK_AND_ASSIGN(
      Container c,
      client_->NewContainer("dir", WithNewSpec(oci::WithRootFSPath(rootfs), oci::WithDefaultPathEnv,
                                               oci::WithUser("app"), oci::WithAdditionalGIDs("app"),
                                               oci::WithProcessArgs({"id"}))));
  ASSERT_OK_AND_ASSIGN(oci::Spec spec, c.Spec());
  EXPECT_EQ(spec["process"]["user"]["uid"], 1000);
  EXPECT_EQ(spec["process"]["user"]["additionalGids"][0], 2000);
  Captured out;
  cio::Streams s;
  s.stdout_sink = out.sink();
  ASSERT_OK_AND_ASSIGN(Task task, c.NewTask(WithStreams(s)));
  std::future<absl::StatusOr<ExitStatus>> exited = task.Wait();
  ASSERT_OK(task.Start());
  ASSERT_OK_AND_ASSIGN(ExitStatus st, exited.get());
  EXPECT_EQ(st.code, 0u);
  ASSERT_OK(task.Delete().status());
  EXPECT_NE(out.get().find("uid=1000"), std::string::npos) << out.get();
  EXPECT_NE(out.get().find("2000"), std::string::npos) << out.get();
  ASSERT_OK(c.Delete());

  // Spec options fail the container, which is then not created.
  EXPECT_TRUE(absl::IsNotFound(client_
                                   ->NewContainer("nouser", WithNewSpec(oci::WithRootFSPath(rootfs),
                                                                        oci::WithUser("nosuch")))
                                   .status()));
  EXPECT_TRUE(absl::IsNotFound(client_->LoadContainer("nouser").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(client_->NewContainer("nospec").status()));
}

TEST_F(ClientTest, NamespacesIsolateContainers) {
  ASSERT_OK_AND_ASSIGN(Container c, NewBusybox("mine", {"true"}));
  Client other = client_->WithNamespace(ns_ + "-other");
  EXPECT_TRUE(absl::IsNotFound(other.LoadContainer("mine").status()));
  ASSERT_OK_AND_ASSIGN(std::vector<Container> listed, client_->ListContainers());
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].ID(), "mine");
  ASSERT_OK_AND_ASSIGN(std::vector<Container> none, other.ListContainers());
  EXPECT_TRUE(none.empty());
  ASSERT_OK_AND_ASSIGN(Labels labels, c.SetLabels({{"app", "x"}}));
  EXPECT_EQ(labels["app"], "x");
  ASSERT_OK(c.Delete(WithSnapshotCleanup));
  (void)client_->Namespaces().Delete(ns_ + "-other");
}

}  // namespace
}  // namespace berth
