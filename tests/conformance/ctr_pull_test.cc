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

#include <cstdlib>
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
};

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

  RETURN_IF_ERROR(registry->Push("test/busybox", "1.0", images->busybox));
  RETURN_IF_ERROR(registry->Push("test/whiteouts", "1.0", images->whiteouts));
  RETURN_IF_ERROR(registry->Push("test/docker", "1.0", images->docker));
  RETURN_IF_ERROR(registry->Push("test/multi", "1.0", images->multi));
  RETURN_IF_ERROR(registry->Push("test/corrupt", "1.0", images->corrupt));
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
    for (const char* id : {"c1", "c2", "c3", "c4", "c5"}) {
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
  // ctr decoded the image events (it logs the ones it cannot; berth-content's own
  // berth.content.v1.ContentCommit is one of those, by design).
  EXPECT_EQ(CountLines(ReadFile(options.stderr_path), {"unmarshal", "images"}), 0)
      << ReadFile(options.stderr_path);
  EXPECT_TRUE(events.Running()) << ReadFile(options.stderr_path);
  EXPECT_OK(events.Terminate(std::chrono::seconds(10)).status());
}

}  // namespace
}  // namespace berth::conformance
