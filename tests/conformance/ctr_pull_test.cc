// `ctr images pull` end to end, with containerd's own client: a local suite (deploy/berth-up:
// nats-server, berth-content, -snapshot, -image, -runtime, -gateway) on a temporary root,
// Debian's real docker-registry on loopback (lib/testing/registry.h) holding images built by
// the test from Debian's busybox-static (lib/testing/oci_image.h), and Debian's unmodified
// `ctr` (containerd 1.6) pointed at ROOT/berth.sock.
//
// ctr does the registry work itself and drives Leases, Content, Images, Snapshots and Diff
// through the gateway (reference/containerd-api.md §4), then the runtime for `ctr run`.
// Needs root (overlay mounts, runc), ctr, runc, nats-server and docker-registry.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "lib/status/status.h"
#include "lib/testing/child_process.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/wait_for.h"
#include "tests/conformance/suite.h"

namespace berth::conformance {
namespace {

using ::berth::testing::BusyboxImage;
using ::berth::testing::ChildProcess;
using ::berth::testing::ChildProcessOptions;
using ::berth::testing::ImageOptions;
using ::berth::testing::MakeImage;
using ::berth::testing::MakeLayer;
using ::berth::testing::MediaTypes;
using ::berth::testing::MultiPlatformIndex;
using ::berth::testing::OciImage;
using ::berth::testing::OciIndex;
using ::berth::testing::Registry;
using ::berth::testing::TarEntry;
using ::berth::testing::WaitFor;
using ::berth::testing::WhiteoutExpectation;
using ::berth::testing::WhiteoutImage;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool Have(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// Lines of `text` that contain every one of `parts`.
int CountLines(const std::string& text, const std::vector<std::string>& parts) {
  int n = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    bool all = true;
    for (const std::string& p : parts) all = all && Contains(line, p);
    if (all) ++n;
    start = end + 1;
  }
  return n;
}

// The line of `text` that starts with `prefix` ("" when none): a row of `ctr snapshots ls`.
std::string LineStartingWith(const std::string& text, const std::string& prefix) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (text.compare(start, prefix.size(), prefix) == 0) return text.substr(start, end - start);
    start = end + 1;
  }
  return "";
}

// Everything the tests pull, built once and pushed to one registry.
struct Images {
  OciImage busybox;    // test/busybox:1.0
  OciImage whiteouts;  // test/whiteouts:1.0 (OCI, last layer an uncompressed tar)
  OciImage docker;     // test/docker:1.0 (Docker schema 2 media types, whiteouts too)
  OciIndex multi;      // test/multi:1.0 (linux/amd64 + linux/arm64)
  OciImage corrupt;    // test/corrupt:1.0, its layer corrupted in the registry's storage
  OciImage users;      // test/users:1.0: busybox with user app (1000:1000, also in group extra)
};

// Busybox whose /etc/passwd and /etc/group name a user `app` (uid 1000, gid 1000) that is
// also a member of group `extra` (gid 2000): what `ctr run --user app` resolves.
absl::StatusOr<OciImage> UsersImage() {
  ASSIGN_OR_RETURN(std::vector<TarEntry> entries, testing::BusyboxEntries());
  for (TarEntry& e : entries) {
    if (e.path == "etc/passwd") {
      e = TarEntry::File("etc/passwd",
                         "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
    } else if (e.path == "etc/group") {
      e = TarEntry::File("etc/group", "root:x:0:\napp:x:1000:\nextra:x:2000:app\n");
    }
  }
  ASSIGN_OR_RETURN(testing::Layer layer, MakeLayer(entries, MediaTypes::kOci));
  std::vector<testing::Layer> layers;
  layers.push_back(std::move(layer));
  return MakeImage(std::move(layers));
}

absl::Status BuildAndPush(Registry* registry, Images* images) {
  ASSIGN_OR_RETURN(images->busybox, BusyboxImage());
  ASSIGN_OR_RETURN(images->whiteouts, WhiteoutImage());
  ImageOptions docker;
  docker.media_types = MediaTypes::kDocker;
  ASSIGN_OR_RETURN(images->docker, WhiteoutImage(docker));
  ASSIGN_OR_RETURN(images->multi, MultiPlatformIndex());
  // A layer no other image shares: the registry keeps one file per digest for all
  // repositories, and the corruption must not reach the other images.
  ASSIGN_OR_RETURN(
      testing::Layer layer,
      MakeLayer({TarEntry::File("corrupt-me", std::string(256 << 10, 'c'))}, MediaTypes::kOci));
  std::vector<testing::Layer> layers;
  layers.push_back(std::move(layer));
  ASSIGN_OR_RETURN(images->corrupt, MakeImage(std::move(layers)));
  ASSIGN_OR_RETURN(images->users, UsersImage());

  RETURN_IF_ERROR(registry->Push("test/busybox", "1.0", images->busybox));
  RETURN_IF_ERROR(registry->Push("test/whiteouts", "1.0", images->whiteouts));
  RETURN_IF_ERROR(registry->Push("test/docker", "1.0", images->docker));
  RETURN_IF_ERROR(registry->Push("test/multi", "1.0", images->multi));
  RETURN_IF_ERROR(registry->Push("test/corrupt", "1.0", images->corrupt));
  RETURN_IF_ERROR(registry->Push("test/users", "1.0", images->users));
  return registry->CorruptBlob(images->corrupt.layers[0].blob.digest);
}

class CtrPullTest : public ::testing::Test {
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
    if (absl::Status s = suite_->Start(); !s.ok()) start_error_ = new std::string(s.ToString());
  }

  static void TearDownTestSuite() {
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
    // Whatever a failed test left: tasks, containers, images of this test's namespace.
    for (const char* id : {"c1", "c2", "c3", "c4", "c5", "run-env", "run-mount", "run-net",
                           "run-net-host", "run-user", "run-user-name", "ev1", "survivor"}) {
      Ctr({"tasks", "kill", "-s", "KILL", id});
      Ctr({"tasks", "rm", "-f", id});
      Ctr({"containers", "rm", id});
    }
    CtrResult images = Ctr({"images", "ls", "-q"});
    std::vector<std::string> names;
    size_t start = 0;
    while (start < images.out.size()) {
      size_t end = images.out.find('\n', start);
      if (end == std::string::npos) end = images.out.size();
      if (end > start) names.push_back(images.out.substr(start, end - start));
      start = end + 1;
    }
    if (!names.empty()) {
      names.insert(names.begin(), {"images", "rm"});
      Ctr(names);
    }
    if (HasFailure()) {
      for (const char* name : {"content", "snapshot", "image", "runtime", "gateway"}) {
        std::string log = ReadFile(suite_->Path(std::string("log/") + name + ".log"));
        if (log.size() > 4000) log = log.substr(log.size() - 4000);
        std::cerr << "--- end of " << name << ".log:\n" << log << "\n";
      }
    }
    // The namespace's parent cgroups runc made (/<ns>/<id> per controller).
    for (const char* c : {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb",
                          "memory", "net_cls", "perf_event", "pids", "systemd", "unified"}) {
      rmdir(("/sys/fs/cgroup/" + std::string(c) + "/" + ns_).c_str());
    }
    rmdir(("/sys/fs/cgroup/" + ns_).c_str());
  }

  CtrResult Ctr(const std::vector<std::string>& args) { return suite_->Ctr(args, ns_); }

  // `ctr images pull --plain-http [extra...] ref`.
  CtrResult Pull(const std::string& ref, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"images", "pull", "--plain-http"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(ref);
    return Ctr(args);
  }

  // `ctr run --rm <ref> <id> args...`.
  CtrResult Run(const std::string& ref, const std::string& id,
                const std::vector<std::string>& command) {
    std::vector<std::string> args = {"run", "--rm", ref, id};
    args.insert(args.end(), command.begin(), command.end());
    return Ctr(args);
  }

  static std::string Ref(const std::string& repo) { return registry_->Reference(repo, "1.0"); }

  static Suite* suite_;
  static Registry* registry_;
  static Images* images_;
  static std::string* start_error_;
  static std::string* skip_;
  // A namespace of this test binary only (and so cgroups /<ns>/... of its own).
  std::string ns_ = "bpull" + std::to_string(getpid());
};

Suite* CtrPullTest::suite_ = nullptr;
Registry* CtrPullTest::registry_ = nullptr;
Images* CtrPullTest::images_ = nullptr;
std::string* CtrPullTest::start_error_ = nullptr;
std::string* CtrPullTest::skip_ = nullptr;

TEST_F(CtrPullTest, PullListCheckRunRemove) {
  const std::string ref = Ref("test/busybox");
  const OciImage& image = images_->busybox;
  CtrResult r = Pull(ref);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "unpacking linux/amd64 " + image.manifest.digest)) << r.out;
  EXPECT_TRUE(Contains(r.out, "done")) << r.out;

  // The record: name, target, platform.
  r = Ctr({"images", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(
      CountLines(r.out, {ref, testing::kOciManifestType, image.manifest.digest, "linux/amd64"}), 1)
      << r.out;
  r = Ctr({"images", "ls", "-q"});
  EXPECT_EQ(r.out, ref + "\n");
  r = Ctr({"images", "ls", "-q", "name~=busybox"});
  EXPECT_EQ(r.out, ref + "\n");
  r = Ctr({"images", "ls", "-q", "name==nothing"});
  EXPECT_EQ(r.out, "");

  // Every blob is there.
  r = Ctr({"images", "check"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountLines(r.out, {ref, "complete", "2/2"}), 1) << r.out;
  EXPECT_FALSE(Contains(r.out, "incomplete")) << r.out;

  // The blobs carry containerd's labels: the manifest its GC references, the layer its diffID,
  // the config the unpacked snapshot.
  r = Ctr({"content", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountLines(r.out, {image.manifest.digest,
                               "containerd.io/gc.ref.content.config=" + image.config.digest}),
            1)
      << r.out;
  EXPECT_EQ(CountLines(r.out, {image.layers[0].blob.digest,
                               "containerd.io/uncompressed=" + image.layers[0].diff_id}),
            1)
      << r.out;
  EXPECT_EQ(CountLines(r.out, {image.config.digest, "containerd.io/gc.ref.snapshot.overlayfs=" +
                                                        image.ChainIds().back()}),
            1)
      << r.out;

  // The committed chain.
  r = Ctr({"snapshots", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(LineStartingWith(r.out, image.ChainIds()[0]), "Committed")) << r.out;

  // It runs.
  r = Run(ref, "c1", {"echo", "hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  r = Run(ref, "c2", {"sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  // --rm removed the container and its snapshot; the image's chain stays.
  r = Ctr({"containers", "ls", "-q"});
  EXPECT_EQ(r.out, "");
  r = Ctr({"snapshots", "ls"});
  EXPECT_EQ(LineStartingWith(r.out, "c1"), "") << r.out;
  EXPECT_TRUE(Contains(LineStartingWith(r.out, image.ChainIds()[0]), "Committed")) << r.out;

  // A second pull of the same image finds everything (Images.Create -> ALREADY_EXISTS ->
  // Update) and is no error.
  r = Pull(ref);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"images", "ls", "-q"});
  EXPECT_EQ(r.out, ref + "\n");

  // Removed (--sync: containerd collects garbage before replying; berth accepts it).
  r = Ctr({"images", "rm", "--sync", ref});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Ctr({"images", "ls", "-q"}).out, "");
  // Removing it again is a warning, not a failure (NOT_FOUND).
  r = Ctr({"images", "rm", ref});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "not found")) << r.err;
}

// The unpacked rootfs of an image whose layers delete files, a whole directory, replace a
// directory's contents (opaque) and overwrite a file; as OCI (with an uncompressed last layer)
// and as Docker schema 2.
TEST_F(CtrPullTest, WhiteoutsAndOpaqueDirectoriesAreApplied) {
  struct Case {
    std::string repo;
    const OciImage* image;
  };
  for (const Case& c :
       {Case{"test/whiteouts", &images_->whiteouts}, Case{"test/docker", &images_->docker}}) {
    SCOPED_TRACE(c.repo);
    const std::string ref = Ref(c.repo);
    CtrResult r = Pull(ref);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = Ctr({"images", "check"});
    EXPECT_EQ(CountLines(r.out, {ref, "complete", "4/4"}), 1) << r.out;
    EXPECT_FALSE(Contains(r.out, "incomplete")) << r.out;
    // The committed chain, each layer on its parent.
    r = Ctr({"snapshots", "ls"});
    const std::vector<std::string> chain = c.image->ChainIds();
    for (size_t i = 0; i < chain.size(); ++i) {
      const std::string line = LineStartingWith(r.out, chain[i]);
      EXPECT_TRUE(Contains(line, "Committed")) << chain[i] << "\n" << r.out;
      if (i > 0) {
        EXPECT_TRUE(Contains(line, chain[i - 1])) << line;
      }
    }

    r = Run(ref, "c3", {"ls", "/etc"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, WhiteoutExpectation::kEtcListing);
    r = Run(ref, "c3", {"ls", "/opaque"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, WhiteoutExpectation::kOpaqueListing);
    r = Run(ref, "c3", {"cat", "/etc/keep"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, WhiteoutExpectation::kKeepContent);
    r = Run(ref, "c3", {"ls", WhiteoutExpectation::kRemovedDir});
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_TRUE(Contains(r.err, "No such file or directory")) << r.err;

    r = Ctr({"images", "rm", ref});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
}

TEST_F(CtrPullTest, PlatformSelectionFromAnIndex) {
  const std::string ref = Ref("test/multi");
  const OciImage* amd64 = images_->multi.Find("linux", "amd64");
  const OciImage* arm64 = images_->multi.Find("linux", "arm64");
  ASSERT_NE(amd64, nullptr);
  ASSERT_NE(arm64, nullptr);

  CtrResult r = Pull(ref, {"--platform", "linux/arm64"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "unpacking linux/arm64 " + images_->multi.index.digest)) << r.out;
  r = Ctr({"images", "ls"});
  EXPECT_EQ(CountLines(r.out, {ref, testing::kOciIndexType, images_->multi.index.digest,
                               "linux/amd64,linux/arm64"}),
            1)
      << r.out;
  // Only the arm64 manifest and config were fetched; the index still references both.
  r = Ctr({"content", "ls", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, images_->multi.index.digest)) << r.out;
  EXPECT_TRUE(Contains(r.out, arm64->manifest.digest)) << r.out;
  EXPECT_TRUE(Contains(r.out, arm64->config.digest)) << r.out;
  EXPECT_FALSE(Contains(r.out, amd64->manifest.digest)) << r.out;
  EXPECT_FALSE(Contains(r.out, amd64->config.digest)) << r.out;
  r = Ctr({"content", "ls"});
  EXPECT_EQ(CountLines(r.out, {images_->multi.index.digest,
                               "containerd.io/gc.ref.content.m.0=" + amd64->manifest.digest,
                               "containerd.io/gc.ref.content.m.1=" + arm64->manifest.digest}),
            1)
      << r.out;

  // The host's platform by default.
  ASSERT_EQ(Ctr({"images", "rm", ref}).exit_code, 0);
  r = Pull(ref);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "unpacking linux/amd64 " + images_->multi.index.digest)) << r.out;
  r = Ctr({"content", "ls", "-q"});
  EXPECT_TRUE(Contains(r.out, amd64->manifest.digest)) << r.out;
  r = Run(ref, "c4", {"echo", "multi"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "multi\n");
  EXPECT_EQ(Ctr({"images", "rm", ref}).exit_code, 0);
}

TEST_F(CtrPullTest, CorruptBlobFailsNamingTheDigestAndCreatesNoImage) {
  const std::string ref = Ref("test/corrupt");
  const std::string layer = images_->corrupt.layers[0].blob.digest;
  CtrResult r = Pull(ref);
  EXPECT_NE(r.exit_code, 0) << r.out;
  // The content service refused the commit: `unexpected commit digest sha256:<what came>,
  // expected sha256:<layer>: failed precondition`.
  EXPECT_TRUE(Contains(r.err, "unexpected commit digest")) << r.err;
  EXPECT_TRUE(Contains(r.err, "expected " + layer)) << r.err;
  // No image record, no blob under the layer's digest.
  r = Ctr({"images", "ls", "-q"});
  EXPECT_FALSE(Contains(r.out, ref)) << r.out;
  r = Ctr({"images", "check"});
  EXPECT_FALSE(Contains(r.out, ref)) << r.out;
  r = Ctr({"content", "ls", "-q"});
  EXPECT_FALSE(Contains(r.out, layer)) << r.out;
}

// berth-image's events reach `ctr events` through NATS and the gateway, with the message
// types (containerd.services.images.v1.ImageCreate, ...) ctr decodes.
TEST_F(CtrPullTest, ImageEventsReachCtrEvents) {
  ChildProcessOptions options;
  options.argv = {"ctr", "-a", suite_->socket(), "events", "namespace==" + ns_};
  options.stdout_path = suite_->Path("pull-events.out");
  options.stderr_path = suite_->Path("pull-events.err");
  ASSERT_OK_AND_ASSIGN(ChildProcess events, ChildProcess::Start(options));
  auto seen = [&] { return ReadFile(options.stdout_path); };
  // Subscribed once one of our own namespace's events comes through (namespace events carry
  // the caller's namespace).
  Ctr({"namespaces", "create", ns_});  // AlreadyExists when an earlier test wrote in it
  int probe = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string value = "p" + std::to_string(++probe);
        Ctr({"namespaces", "label", ns_, "probe=" + value});
        return Contains(seen(), "\"probe\":\"" + value + "\"");
      },
      std::chrono::seconds(30)))
      << seen() << ReadFile(options.stderr_path);

  const std::string ref = Ref("test/busybox");
  CtrResult r = Pull(ref);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"images", "rm", ref});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string name = "{\"name\":\"" + ref + "\"";
  EXPECT_TRUE(WaitFor([&] {
    const std::string out = seen();
    return CountLines(out, {" " + ns_ + " /images/create ", name}) == 1 &&
           CountLines(out, {" " + ns_ + " /images/delete ", name}) == 1;
  })) << seen()
      << ReadFile(options.stderr_path);
  // ctr decoded every event it got (it logs the ones it cannot): the pull's
  // /content/commit events, berth-content's own type, are not sent to containerd clients.
  EXPECT_EQ(CountLines(ReadFile(options.stderr_path), {"unmarshal"}), 0)
      << ReadFile(options.stderr_path);
  EXPECT_TRUE(events.Running()) << ReadFile(options.stderr_path);
  EXPECT_OK(events.Terminate(std::chrono::seconds(10)).status());
}

// Namespaces.Delete asks every service what the namespace still holds: images (berth-image)
// and containers (berth-runtime) keep it, as blobs and snapshots do.
TEST_F(CtrPullTest, ANamespaceWithImagesOrContainersIsNotDeleted) {
  const std::string ref = Ref("test/busybox");
  CtrResult r = Pull(ref);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"containers", "create", ref, "c3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctr({"namespaces", "rm", ns_});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "must be empty")) << r.err;
  EXPECT_TRUE(Contains(r.err, "images")) << r.err;
  EXPECT_TRUE(Contains(r.err, "containers")) << r.err;

  r = Ctr({"containers", "rm", "c3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctr({"namespaces", "rm", ns_});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "images")) << r.err;
  EXPECT_FALSE(Contains(r.err, "containers")) << r.err;
  r = Ctr({"images", "rm", "--sync", ref});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Now only what the collector has not removed may keep it; images and containers do not.
  r = Ctr({"namespaces", "rm", ns_});
  if (r.exit_code != 0) {
    EXPECT_FALSE(Contains(r.err, "images")) << r.err;
    EXPECT_FALSE(Contains(r.err, "containers")) << r.err;
  }
}

// `ctr run` options with an image, as with containerd: --env adds to the image's environment,
// --mount binds a host directory (read-write), --net-host shares the host's network
// namespace, --user sets uid/gid (numeric, or a name resolved from the image's /etc/passwd,
// with its supplementary groups from /etc/group — through `berth run`, as ctr 1.6 has no
// --user).
TEST_F(CtrPullTest, RunWithEnvMountNetHostAndUser) {
  const std::string ref = Ref("test/users");
  CtrResult r = Pull(ref);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  r = Ctr({"run", "--rm", "--env", "GREETING=hello", "--env", "EMPTY=", ref, "run-env", "sh",
           "-c", "echo \"$GREETING|$EMPTY|$PATH\""});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("hello||", 0), 0u) << r.out;  // image PATH follows
  EXPECT_TRUE(Contains(r.out, "/bin")) << r.out;

  const std::string host_dir = suite_->Path("bind-" + ns_);
  ASSERT_EQ(mkdir(host_dir.c_str(), 0755), 0);
  { std::ofstream(host_dir + "/from-host") << "host says hi"; }
  r = Ctr({"run", "--rm", "--mount",
           "type=bind,src=" + host_dir + ",dst=/data,options=rbind:rw", ref, "run-mount", "sh",
           "-c", "cat /data/from-host && echo written > /data/from-container"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "host says hi");
  EXPECT_EQ(ReadFile(host_dir + "/from-container"), "written\n");

  char host_net[256] = {0};
  ASSERT_GT(readlink("/proc/self/ns/net", host_net, sizeof(host_net) - 1), 0);
  r = Ctr({"run", "--rm", "--net-host", ref, "run-net-host", "/bin/busybox", "readlink",
           "/proc/self/ns/net"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string(host_net) + "\n");
  r = Ctr({"run", "--rm", ref, "run-net", "/bin/busybox", "readlink", "/proc/self/ns/net"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out, std::string(host_net) + "\n");  // a namespace of its own
  EXPECT_TRUE(Contains(r.out, "net:[")) << r.out;

  // ctr 1.6 has no `run --user` (ctr 1.7 added it): berth's CLI, ctr's flags, same socket.
  const char* bin_env = std::getenv("BERTH_BIN");
  const std::string berth = std::string(bin_env != nullptr ? bin_env : "build/bin") + "/berth";
  auto berth_run = [&](const std::vector<std::string>& args) {
    ChildProcessOptions o;
    o.argv = {berth, "-a", suite_->socket(), "-n", ns_, "--fifo-dir", suite_->Path("fifo"),
              "run", "--rm"};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.stdout_path = suite_->Path("berth-run.out");
    o.stderr_path = suite_->Path("berth-run.err");
    CtrResult result;
    absl::StatusOr<ChildProcess> child = ChildProcess::Start(o);
    if (!child.ok()) return CtrResult{-1, "", child.status().ToString()};
    absl::StatusOr<int> code = child->Wait(std::chrono::seconds(120));
    result.exit_code = code.ok() ? *code : -1;
    result.out = ReadFile(o.stdout_path);
    result.err = ReadFile(o.stderr_path);
    return result;
  };
  r = berth_run({"--user", "1234:5678", ref, "run-user", "/bin/busybox", "id"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("uid=1234 gid=5678", 0), 0u) << r.out;
  r = berth_run({"--user", "app", ref, "run-user-name", "/bin/busybox", "id"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("uid=1000(app) gid=1000(app)", 0), 0u) << r.out;
  EXPECT_TRUE(Contains(r.out, "2000(extra)")) << r.out;  // supplementary group applied
}

// `ctr events` shows a container's life in order: container and task created, started,
// exited, deleted — with the exit status in /tasks/exit.
TEST_F(CtrPullTest, EventsOfARunComeInOrder) {
  const std::string ref = Ref("test/busybox");
  CtrResult r = Pull(ref);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ChildProcessOptions options;
  options.argv = {"ctr", "-a", suite_->socket(), "events", "namespace==" + ns_};
  options.stdout_path = suite_->Path("run-events.out");
  options.stderr_path = suite_->Path("run-events.err");
  ASSERT_OK_AND_ASSIGN(ChildProcess events, ChildProcess::Start(options));
  auto seen = [&] { return ReadFile(options.stdout_path); };
  int probe = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string value = "r" + std::to_string(++probe);
        Ctr({"namespaces", "label", ns_, "probe=" + value});
        return Contains(seen(), "\"probe\":\"" + value + "\"");
      },
      std::chrono::seconds(30)))
      << seen() << ReadFile(options.stderr_path);

  r = Run(ref, "ev1", {"sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  ASSERT_TRUE(WaitFor([&] { return Contains(seen(), " " + ns_ + " /containers/delete "); },
                      std::chrono::seconds(30)))
      << seen();
  // The container's and task's topics, in the order ctr printed them.
  std::vector<std::string> topics;
  std::string exit_line;
  const std::string out = seen();
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    const std::string line = out.substr(start, end - start);
    start = end + 1;
    const size_t at = line.find(" " + ns_ + " /");
    if (at == std::string::npos) continue;
    const size_t topic_start = at + ns_.size() + 2;
    const std::string topic = line.substr(topic_start, line.find(' ', topic_start) - topic_start);
    if (topic.rfind("/tasks/", 0) == 0 || topic.rfind("/containers/", 0) == 0) {
      topics.push_back(topic);
    }
    if (topic == "/tasks/exit") exit_line = line;
  }
  EXPECT_EQ(topics, (std::vector<std::string>{"/containers/create", "/tasks/create",
                                              "/tasks/start", "/tasks/exit", "/tasks/delete",
                                              "/containers/delete"}))
      << out;
  EXPECT_TRUE(Contains(exit_line, "\"container_id\":\"ev1\"")) << exit_line;
  EXPECT_TRUE(Contains(exit_line, "\"exit_status\":7")) << exit_line;
  EXPECT_TRUE(events.Running()) << ReadFile(options.stderr_path);
  EXPECT_OK(events.Terminate(std::chrono::seconds(10)).status());
}

// A running container survives kill -9 of berth-snapshot and of the gateway (and of
// berth-runtime, as services/runtime's own tests also check); after `berth-up start` brings
// them back, ctr still lists, execs in, kills and removes it.
TEST_F(CtrPullTest, ARunningContainerSurvivesRestartsOfSnapshotRuntimeAndGateway) {
  const std::string ref = Ref("test/busybox");
  CtrResult r = Pull(ref);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"run", "-d", ref, "survivor", "sleep", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"snapshot", "gateway", "runtime"}) {
    SCOPED_TRACE(name);
    const int pid = suite_->Pid(name);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_TRUE(WaitFor([&] { return kill(pid, 0) != 0; }, std::chrono::seconds(10)));
    ASSERT_OK(suite_->Start());  // berth-up start: starts what is not running
    ASSERT_NE(suite_->Pid(name), pid);

    r = Ctr({"tasks", "ls"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(CountLines(r.out, {"survivor", "RUNNING"}), 1) << r.out;
    r = Ctr({"tasks", "exec", "--exec-id", std::string("probe-") + name, "survivor", "cat",
             "/etc/passwd"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(Contains(r.out, "root:x:0:0")) << r.out;
    r = Ctr({"snapshots", "ls"});
    EXPECT_TRUE(Contains(LineStartingWith(r.out, "survivor"), "Active")) << r.out;
  }
  r = Ctr({"tasks", "kill", "-s", "KILL", "survivor"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(WaitFor([&] {
    return CountLines(Ctr({"tasks", "ls"}).out, {"survivor", "STOPPED"}) == 1;
  }, std::chrono::seconds(30)));
  r = Ctr({"tasks", "rm", "survivor"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Ctr({"containers", "rm", "survivor"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(LineStartingWith(Ctr({"snapshots", "ls"}).out, "survivor"), "");
}

}  // namespace
}  // namespace berth::conformance
