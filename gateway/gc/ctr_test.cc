// Garbage collection end to end: a local suite (deploy/berth-up: nats-server, berth-content,
// -snapshot, -image, -runtime, -gateway) on a temporary root, Debian's docker-registry on
// loopback with images built by the test (lib/testing/registry.h, oci_image.h), Debian's
// unmodified `ctr` and a gRPC client (Leases, Content, berth.gateway.v1.GatewayAdmin) through
// the gateway socket:
//
//   - `ctr images rm --sync` removes the image's blobs and snapshots from disk, except what
//     another image shares;
//   - a running container keeps its snapshot and its image's content after the image is
//     removed, until the container goes;
//   - a lease protects an ingest in progress and a blob written under it; an unleased idle
//     ingest is collected (the suite's config sets ingest_expiry = "0s");
//   - an expired lease is collected with what it held;
//   - pulls and removals while collections run in a loop lose nothing: every remaining image
//     is complete and runs.
//
// Needs root (overlay mounts, runc), ctr, runc, nats-server and docker-registry.
#include <dirent.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/status/status.h"
#include "lib/testing/child_process.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/wait_for.h"
#include "proto/berth/gateway/v1/admin.grpc.pb.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"
#include "proto/containerd/services/leases/v1/leases.grpc.pb.h"
#include "tests/conformance/suite.h"

namespace berth::conformance {
namespace {

namespace content_api = ::containerd::services::content::v1;
namespace leases_api = ::containerd::services::leases::v1;
namespace admin_api = ::berth::gateway::v1;
using ::berth::testing::BusyboxEntries;
using ::berth::testing::ChildProcess;
using ::berth::testing::ChildProcessOptions;
using ::berth::testing::MakeImage;
using ::berth::testing::MakeLayer;
using ::berth::testing::MediaTypes;
using ::berth::testing::OciImage;
using ::berth::testing::Registry;
using ::berth::testing::TarEntry;
using ::berth::testing::WaitFor;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool Have(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The line of `text` that starts with `prefix` + ' ' ("" when none): a row of `ctr snapshots
// ls` or `ctr content ls`.
std::string Row(const std::string& text, const std::string& prefix) {
  for (const std::string& line : Lines(text)) {
    if (line.compare(0, prefix.size() + 1, prefix + " ") == 0 ||
        line.compare(0, prefix.size() + 1, prefix + "\t") == 0) {
      return line;
    }
  }
  return "";
}

// busybox plus a layer of its own: images that share the base layer blob and the base
// snapshot, and differ in everything else.
absl::StatusOr<OciImage> Layered(const std::string& name) {
  ASSIGN_OR_RETURN(std::vector<TarEntry> entries, BusyboxEntries());
  ASSIGN_OR_RETURN(testing::Layer base, MakeLayer(entries, MediaTypes::kOci));
  ASSIGN_OR_RETURN(
      testing::Layer own,
      MakeLayer({TarEntry::File(name + ".txt", "only in " + name + "\n")}, MediaTypes::kOci));
  std::vector<testing::Layer> layers;
  layers.push_back(std::move(base));
  layers.push_back(std::move(own));
  return MakeImage(std::move(layers));
}

struct Images {
  OciImage a;       // gc/a:1.0
  OciImage b;       // gc/b:1.0
  OciImage run;     // gc/run:1.0
  OciImage pull_a;  // gc/pull-a:1.0
  OciImage pull_b;  // gc/pull-b:1.0
};

absl::Status BuildAndPush(Registry* registry, Images* images) {
  ASSIGN_OR_RETURN(images->a, Layered("a"));
  ASSIGN_OR_RETURN(images->b, Layered("b"));
  ASSIGN_OR_RETURN(images->run, Layered("run"));
  ASSIGN_OR_RETURN(images->pull_a, Layered("pull-a"));
  ASSIGN_OR_RETURN(images->pull_b, Layered("pull-b"));
  RETURN_IF_ERROR(registry->Push("gc/a", "1.0", images->a));
  RETURN_IF_ERROR(registry->Push("gc/b", "1.0", images->b));
  RETURN_IF_ERROR(registry->Push("gc/run", "1.0", images->run));
  RETURN_IF_ERROR(registry->Push("gc/pull-a", "1.0", images->pull_a));
  return registry->Push("gc/pull-b", "1.0", images->pull_b);
}

// deploy/config.toml with ingest_expiry = "0s": an unleased ingest nobody writes is
// collectable at once (deterministic; 24 h in production).
absl::StatusOr<std::string> WriteConfig(const std::string& path) {
  const char* source = std::getenv("BERTH_SOURCE_DIR");
  const std::string dir = source != nullptr ? source : BERTH_SOURCE_DIR_FALLBACK;
  std::string text = ReadFile(dir + "/deploy/config.toml");
  if (text.empty()) return absl::NotFoundError("cannot read " + dir + "/deploy/config.toml");
  const std::string key = "ingest_expiry = \"24h\"";
  const size_t at = text.find(key);
  if (at != std::string::npos) {
    text.replace(at, key.size(), "ingest_expiry = \"0s\"");
  } else {
    text += "\n[gateway.gc]\ningest_expiry = \"0s\"\n";
  }
  std::ofstream out(path);
  out << text;
  out.close();
  if (!out) return absl::InternalError("cannot write " + path);
  return path;
}

class GcCtrTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = new std::string();
    if (geteuid() != 0) {
      *skip_ = "needs root (overlay mounts, runc)";
      return;
    }
    for (const char* bin : {"ctr", "runc"}) {
      if (!Have(bin)) {
        *skip_ = std::string(bin) + " is not installed";
        return;
      }
    }
    for (const char* path : {"/usr/bin/docker-registry", testing::kBusyboxPath}) {
      if (access(path, X_OK) != 0) {
        *skip_ = std::string(path) + " is not installed";
        return;
      }
    }
    if (!Have("nats-server") && access("/usr/sbin/nats-server", X_OK) != 0) {
      *skip_ = "nats-server is not installed";
      return;
    }
    images_ = new Images();
    absl::StatusOr<std::unique_ptr<Registry>> registry = Registry::Start();
    if (!registry.ok()) {
      start_error_ = new std::string(registry.status().ToString());
      return;
    }
    registry_ = registry->release();
    if (absl::Status s = BuildAndPush(registry_, images_); !s.ok()) {
      start_error_ = new std::string(s.ToString());
      return;
    }
    suite_ = new Suite();
    absl::StatusOr<std::string> config = WriteConfig(suite_->Path("config-template.toml"));
    if (!config.ok()) {
      start_error_ = new std::string(config.status().ToString());
      return;
    }
    suite_->SetEnv({"BERTH_CONFIG=" + *config});
    if (absl::Status s = suite_->Start(); !s.ok()) {
      start_error_ = new std::string(s.ToString());
      return;
    }
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel("unix:" + suite_->socket(), grpc::InsecureChannelCredentials()));
  }

  static void TearDownTestSuite() {
    delete channel_;
    channel_ = nullptr;
    delete suite_;  // berth-up stop
    suite_ = nullptr;
    delete registry_;
    registry_ = nullptr;
    delete images_;
    images_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
    delete skip_;
    skip_ = nullptr;
  }

  void SetUp() override {
    if (!skip_->empty()) GTEST_SKIP() << *skip_;
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
  }

  void TearDown() override {
    if (suite_ == nullptr || !skip_->empty()) return;
    for (const char* id : {"c1", "c2", "c3", "c4", "c5"}) {
      Ctr({"tasks", "kill", "-s", "KILL", id});
      Ctr({"tasks", "rm", "-f", id});
      Ctr({"containers", "rm", id});
    }
    std::vector<std::string> names = Lines(Ctr({"images", "ls", "-q"}).out);
    if (!names.empty()) {
      names.insert(names.begin(), {"images", "rm"});
      Ctr(names);
    }
    for (const char* c : {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb",
                          "memory", "net_cls", "perf_event", "pids", "systemd", "unified"}) {
      rmdir(("/sys/fs/cgroup/" + std::string(c) + "/" + ns_).c_str());
    }
    rmdir(("/sys/fs/cgroup/" + ns_).c_str());
    if (HasFailure()) {
      for (const char* name : {"content", "snapshot", "image", "runtime", "gateway"}) {
        std::string log = ReadFile(suite_->Path(std::string("log/") + name + ".log"));
        if (log.size() > 6000) log = log.substr(log.size() - 6000);
        std::cerr << "--- end of " << name << ".log:\n" << log << "\n";
      }
    }
  }

  CtrResult Ctr(const std::vector<std::string>& args) { return suite_->Ctr(args, ns_); }

  CtrResult Pull(const std::string& ref) { return Ctr({"images", "pull", "--plain-http", ref}); }

  static std::string Ref(const std::string& repo) { return registry_->Reference(repo, "1.0"); }

  // GatewayAdmin.GarbageCollect: a collection that starts now, with its report.
  static absl::StatusOr<berth::gc::v1::Report> Collect(bool dry_run = false) {
    auto stub = admin_api::GatewayAdmin::NewStub(*channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    admin_api::GarbageCollectRequest req;
    req.set_dry_run(dry_run);
    admin_api::GarbageCollectResponse resp;
    grpc::Status s = stub->GarbageCollect(&ctx, req, &resp);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
    return resp.report();
  }

  void Prepare(grpc::ClientContext* ctx, const std::string& lease = "") const {
    ctx->AddMetadata("containerd-namespace", ns_);
    if (!lease.empty()) ctx->AddMetadata("containerd-lease", lease);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  }

  grpc::Status CreateLease(const std::string& id,
                           const std::map<std::string, std::string>& labels) {
    auto stub = leases_api::Leases::NewStub(*channel_);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    leases_api::CreateRequest req;
    req.set_id(id);
    for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
    leases_api::CreateResponse resp;
    return stub->Create(&ctx, req, &resp);
  }

  grpc::Status DeleteLease(const std::string& id, bool sync) {
    auto stub = leases_api::Leases::NewStub(*channel_);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    leases_api::DeleteRequest req;
    req.set_id(id);
    req.set_sync(sync);
    google::protobuf::Empty resp;
    return stub->Delete(&ctx, req, &resp);
  }

  std::vector<std::string> LeaseIds() {
    auto stub = leases_api::Leases::NewStub(*channel_);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    leases_api::ListRequest req;
    leases_api::ListResponse resp;
    std::vector<std::string> out;
    if (!stub->List(&ctx, req, &resp).ok()) return {"<list failed>"};
    for (const auto& l : resp.leases()) out.push_back(l.id());
    return out;
  }

  // Writes `data` under `ref` (with `lease` when not empty) and, with `commit`, commits it;
  // without, leaves the ingest half written. Returns the blob's digest.
  std::string Write(const std::string& ref, const std::string& data, const std::string& lease,
                    bool commit) {
    const std::string digest = testing::MakeBlob("application/octet-stream", data).digest;
    auto stub = content_api::Content::NewStub(*channel_);
    grpc::ClientContext ctx;
    Prepare(&ctx, lease);
    auto stream = stub->Write(&ctx);
    content_api::WriteContentRequest req;
    content_api::WriteContentResponse resp;
    req.set_action(content_api::STAT);
    req.set_ref(ref);
    req.set_total(static_cast<int64_t>(data.size()));
    req.set_expected(digest);
    EXPECT_TRUE(stream->Write(req) && stream->Read(&resp)) << ref;
    req.Clear();
    if (commit) {
      req.set_action(content_api::COMMIT);
      req.set_total(static_cast<int64_t>(data.size()));
      req.set_expected(digest);
      req.set_data(data);
    } else {
      req.set_action(content_api::WRITE);
      req.set_data(data.substr(0, data.size() / 2));
    }
    EXPECT_TRUE(stream->Write(req) && stream->Read(&resp)) << ref;
    // The ingest exists (half written) or the blob is committed.
    EXPECT_EQ(resp.offset(), static_cast<int64_t>(commit ? data.size() : data.size() / 2)) << ref;
    stream->WritesDone();
    grpc::Status s = stream->Finish();
    if (commit) {
      EXPECT_TRUE(s.ok()) << ref << ": " << s.error_message();
    }
    return digest;
  }

  bool BlobInNamespace(const std::string& digest) {
    auto stub = content_api::Content::NewStub(*channel_);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    content_api::InfoRequest req;
    req.set_digest(digest);
    content_api::InfoResponse resp;
    return stub->Info(&ctx, req, &resp).ok();
  }

  std::vector<std::string> Ingests() {
    auto stub = content_api::Content::NewStub(*channel_);
    grpc::ClientContext ctx;
    Prepare(&ctx);
    content_api::ListStatusesRequest req;
    content_api::ListStatusesResponse resp;
    std::vector<std::string> out;
    if (!stub->ListStatuses(&ctx, req, &resp).ok()) return {"<list failed>"};
    for (const auto& s : resp.statuses()) out.push_back(s.ref());
    return out;
  }

  // The blob file of `digest` in berth-content's store (shared by all namespaces).
  static bool BlobOnDisk(const std::string& digest) {
    struct stat st;
    return stat(suite_->Path("lib/content/blobs/sha256/" + digest.substr(7)).c_str(), &st) == 0;
  }

  // Snapshot directories of the overlayfs snapshotter (all namespaces).
  static int SnapshotDirs() {
    DIR* d = opendir(suite_->Path("lib/snapshot/overlayfs/snapshots").c_str());
    if (d == nullptr) return -1;
    int n = 0;
    while (struct dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    return n;
  }

  static Suite* suite_;
  static Registry* registry_;
  static Images* images_;
  static std::string* start_error_;
  static std::string* skip_;
  static std::shared_ptr<grpc::Channel>* channel_;
  // A namespace per test binary and test (cgroups /<ns>/... of its own).
  std::string ns_ = "bgc" + std::to_string(getpid()) + "-" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name();
};

Suite* GcCtrTest::suite_ = nullptr;
Registry* GcCtrTest::registry_ = nullptr;
Images* GcCtrTest::images_ = nullptr;
std::string* GcCtrTest::start_error_ = nullptr;
std::string* GcCtrTest::skip_ = nullptr;
std::shared_ptr<grpc::Channel>* GcCtrTest::channel_ = nullptr;

TEST_F(GcCtrTest, RemoveSyncDeletesWhatNoOtherImageShares) {
  const OciImage& a = images_->a;
  const OciImage& b = images_->b;
  ASSERT_OK(Collect().status());  // nothing left over from the suite's start
  const int dirs_before = SnapshotDirs();
  CtrResult r = Pull(Ref("gc/a"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Pull(Ref("gc/b"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // base + a's top + b's top.
  EXPECT_EQ(SnapshotDirs(), dirs_before + 3);
  for (const std::string& d : {a.manifest.digest, a.config.digest, a.layers[1].blob.digest,
                               a.layers[0].blob.digest, b.manifest.digest}) {
    EXPECT_TRUE(BlobOnDisk(d)) << d;
  }

  r = Ctr({"images", "rm", "--sync", Ref("gc/a")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // a's own blobs and snapshot are gone, from the namespace and from disk.
  for (const std::string& d : {a.manifest.digest, a.config.digest, a.layers[1].blob.digest}) {
    EXPECT_FALSE(BlobInNamespace(d)) << d;
    EXPECT_FALSE(BlobOnDisk(d)) << d;
  }
  r = Ctr({"snapshots", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Row(r.out, a.ChainIds()[1]), "") << r.out;
  EXPECT_NE(Row(r.out, a.ChainIds()[0]), "") << r.out;  // shared base
  EXPECT_NE(Row(r.out, b.ChainIds()[1]), "") << r.out;
  EXPECT_EQ(SnapshotDirs(), dirs_before + 2);
  // What b shares with a stays, and b is whole.
  EXPECT_TRUE(BlobInNamespace(a.layers[0].blob.digest));
  EXPECT_TRUE(BlobOnDisk(a.layers[0].blob.digest));
  r = Ctr({"images", "check"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "complete")) << r.out;
  EXPECT_FALSE(Contains(r.out, "incomplete")) << r.out;

  // The last image goes: everything of this namespace goes.
  r = Ctr({"images", "rm", "--sync", Ref("gc/b")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"content", "ls", "-q"});
  EXPECT_EQ(r.out, "") << r.out;
  r = Ctr({"snapshots", "ls"});
  EXPECT_EQ(Lines(r.out).size(), 1u) << r.out;  // the header
  EXPECT_EQ(SnapshotDirs(), dirs_before);
  EXPECT_FALSE(BlobOnDisk(b.layers[1].blob.digest));
}

TEST_F(GcCtrTest, ARunningContainerKeepsItsSnapshotAndImageContent) {
  const OciImage& image = images_->run;
  const std::string ref = Ref("gc/run");
  CtrResult r = Pull(ref);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"run", "-d", ref, "c1", "sleep", "600"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  r = Ctr({"images", "rm", "--sync", ref});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_OK(Collect().status());
  // The container's snapshot and its parents stay, and so does the image's content.
  r = Ctr({"snapshots", "ls"});
  EXPECT_NE(Row(r.out, "c1"), "") << r.out;
  EXPECT_NE(Row(r.out, image.ChainIds()[0]), "") << r.out;
  EXPECT_NE(Row(r.out, image.ChainIds()[1]), "") << r.out;
  for (const std::string& d : {image.manifest.digest, image.config.digest,
                               image.layers[0].blob.digest, image.layers[1].blob.digest}) {
    EXPECT_TRUE(BlobInNamespace(d)) << d;
  }
  r = Ctr({"tasks", "ls"});
  EXPECT_TRUE(Contains(r.out, "RUNNING")) << r.out;
  r = Ctr({"tasks", "exec", "--exec-id", "e1", "c1", "cat", "/run.txt"});
  EXPECT_EQ(r.out, "only in run\n") << r.err;

  // The container goes: so does everything it kept.
  r = Ctr({"tasks", "kill", "-s", "KILL", "c1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(WaitFor(
      [&] {
        return !Contains(Ctr({"tasks", "ls"}).out, "RUNNING");
      },
      std::chrono::seconds(30)));
  r = Ctr({"tasks", "rm", "c1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctr({"containers", "rm", "c1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_OK_AND_ASSIGN(berth::gc::v1::Report report, Collect());
  for (const std::string& d :
       {image.manifest.digest, image.config.digest, image.layers[1].blob.digest}) {
    EXPECT_FALSE(BlobInNamespace(d)) << d;
    EXPECT_FALSE(BlobOnDisk(d)) << d;
  }
  r = Ctr({"snapshots", "ls"});
  EXPECT_EQ(Lines(r.out).size(), 1u) << r.out;
}

TEST_F(GcCtrTest, ALeaseProtectsAnIngestInProgress) {
  ASSERT_TRUE(CreateLease("hold", {}).ok());
  const std::string leased_blob = Write("leased-blob", "written under the lease", "hold", true);
  Write("leased-ingest", std::string(1 << 20, 'l'), "hold", false);
  Write("loose-ingest", std::string(1 << 20, 'u'), "", false);
  const std::string loose_blob = Write("loose-blob", "nobody holds me", "", true);

  // (Automatic collections run too, triggered by other tests' deletions: the state after
  // this one is what counts.)
  ASSERT_OK_AND_ASSIGN(berth::gc::v1::Report report, Collect());
  // The lease holds its blob and its ingest; the idle unleased ingest (ingest_expiry 0s in
  // this suite) and the unreferenced blob are collected.
  EXPECT_TRUE(BlobInNamespace(leased_blob));
  EXPECT_FALSE(BlobInNamespace(loose_blob));
  EXPECT_EQ(Ingests(), std::vector<std::string>{"leased-ingest"});

  // Deleting the lease with sync collects before it replies.
  ASSERT_TRUE(DeleteLease("hold", /*sync=*/true).ok());
  EXPECT_FALSE(BlobInNamespace(leased_blob));
  EXPECT_TRUE(Ingests().empty());
}

TEST_F(GcCtrTest, AnExpiredLeaseIsCollected) {
  const auto rfc3339 = [](absl::Time t) {
    return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
  };
  // Expired already: the next collection deletes the lease and what it held.
  ASSERT_TRUE(
      CreateLease("old", {{"containerd.io/gc.expire", rfc3339(absl::Now() - absl::Hours(1))}})
          .ok());
  const std::string old_blob = Write("old-blob", "held by an expired lease", "old", true);
  // Expires in 2 s: protects until then.
  ASSERT_TRUE(
      CreateLease("soon", {{"containerd.io/gc.expire", rfc3339(absl::Now() + absl::Seconds(2))}})
          .ok());
  const std::string soon_blob = Write("soon-blob", "held for two seconds", "soon", true);

  ASSERT_OK_AND_ASSIGN(berth::gc::v1::Report report, Collect());
  EXPECT_FALSE(BlobInNamespace(old_blob));
  EXPECT_TRUE(BlobInNamespace(soon_blob));
  EXPECT_EQ(LeaseIds(), std::vector<std::string>{"soon"});

  // Once its time has passed, a collection takes it.
  EXPECT_TRUE(WaitFor(
      [&] {
        if (!Collect().ok()) return false;
        return !BlobInNamespace(soon_blob);
      },
      std::chrono::seconds(60)));
  EXPECT_TRUE(LeaseIds().empty());
}

// One `ctr` run from any thread (Suite::Ctr is for the test's own thread).
CtrResult RunCtr(const std::string& socket, const std::string& ns,
                 const std::vector<std::string>& args, const std::string& out_prefix) {
  static std::atomic<int> counter{0};
  const int n = counter++;
  ChildProcessOptions options;
  options.argv = {"ctr", "-a", socket, "-n", ns};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.stdout_path = out_prefix + std::to_string(n) + ".out";
  options.stderr_path = out_prefix + std::to_string(n) + ".err";
  CtrResult result;
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(options);
  if (!child.ok()) {
    result.err = child.status().ToString();
    return result;
  }
  absl::StatusOr<int> status = child->Wait(std::chrono::seconds(300));
  result.out = child->ReadStdout();
  result.err = child->ReadStderr();
  if (status.ok() && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  unlink(options.stdout_path.c_str());
  unlink(options.stderr_path.c_str());
  return result;
}

TEST_F(GcCtrTest, PullsAndRemovalsWhileCollectionsRunLoseNothing) {
  // The figure is 60 s; BERTH_GC_STRESS_SECONDS changes it (at least two rounds of
  // each worker run whatever the time).
  const char* env = std::getenv("BERTH_GC_STRESS_SECONDS");
  const auto duration = std::chrono::seconds(env != nullptr ? std::max(1, std::atoi(env)) : 60);
  const std::string a = Ref("gc/pull-a");
  const std::string b = Ref("gc/pull-b");
  const std::string socket = suite_->socket();
  const std::string prefix = suite_->Path("stress-");

  // A container of image b runs through it all, while b is removed and pulled again.
  CtrResult r = Ctr({"images", "pull", "--plain-http", b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctr({"run", "-d", b, "stress-runner", "sleep", "600"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  std::atomic<bool> stop{false};
  std::atomic<int> collections{0};
  std::atomic<int> rounds_a{0};
  std::atomic<int> rounds_b{0};
  const auto deadline = std::chrono::steady_clock::now() + duration;
  auto more = [&](const std::atomic<int>& rounds) {
    return rounds < 2 || std::chrono::steady_clock::now() < deadline;
  };
  std::mutex mu;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& what, const CtrResult& r) {
    std::lock_guard<std::mutex> lock(mu);
    failures.push_back(what + " exit " + std::to_string(r.exit_code) + ": " + r.out + r.err);
  };
  // Collections back to back, all the time.
  std::thread collector([&] {
    while (!stop) {
      if (Collect().ok()) ++collections;
    }
  });
  // Two workers pulling and removing, the same image among them at once. Each round ends with
  // its images present, so that the last round leaves them.
  std::thread worker_a([&] {
    while (more(rounds_a)) {
      CtrResult r = RunCtr(socket, ns_, {"images", "rm", "--sync", a}, prefix);
      if (r.exit_code != 0) fail("rm a", r);
      r = RunCtr(socket, ns_, {"images", "pull", "--plain-http", a}, prefix);
      if (r.exit_code != 0) fail("pull a", r);
      ++rounds_a;
    }
  });
  std::thread worker_b([&] {
    while (more(rounds_b)) {
      CtrResult r = RunCtr(socket, ns_, {"images", "rm", b}, prefix);
      if (r.exit_code != 0) fail("rm b", r);
      r = RunCtr(socket, ns_, {"images", "pull", "--plain-http", b}, prefix);
      if (r.exit_code != 0) fail("pull b", r);
      r = RunCtr(socket, ns_, {"images", "pull", "--plain-http", a}, prefix);
      if (r.exit_code != 0) fail("pull a (b)", r);
      ++rounds_b;
    }
  });
  worker_a.join();
  worker_b.join();
  stop = true;
  collector.join();
  for (const std::string& f : failures) ADD_FAILURE() << f;
  EXPECT_GT(collections.load(), 0);
  RecordProperty("rounds_a", rounds_a.load());
  RecordProperty("rounds_b", rounds_b.load());
  RecordProperty("collections", collections.load());

  // The container ran through it all: still running, its rootfs whole.
  r = Ctr({"tasks", "exec", "--exec-id", "probe", "stress-runner", "cat", "/pull-b.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "only in pull-b\n");
  r = Ctr({"tasks", "kill", "-s", "SIGKILL", "stress-runner"});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // One more collection with nothing else going on, then every image left must be whole and
  // run.
  ASSERT_OK(Collect().status());
  std::vector<std::string> names = Lines(Ctr({"images", "ls", "-q"}).out);
  EXPECT_NE(std::find(names.begin(), names.end(), a), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), b), names.end());
  r = Ctr({"images", "check"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(Contains(r.out, "incomplete")) << r.out;
  for (const std::string& line : Lines(r.out)) {
    if (line.rfind("REF", 0) == 0) continue;
    EXPECT_TRUE(Contains(line, "complete")) << line;
  }
  int n = 1;
  for (const std::string& name : names) {
    r = Ctr({"run", "--rm", name, "c" + std::to_string(n++), "cat",
             "/pull-" + std::string(name == a ? "a" : "b") + ".txt"});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_EQ(r.out, std::string("only in pull-") + (name == a ? "a" : "b") + "\n") << name;
  }
}

}  // namespace
}  // namespace berth::conformance
