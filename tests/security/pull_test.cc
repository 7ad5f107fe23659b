// Hostile registries and images through the server-side pull (berth.image.v1.Pull, through the
// gateway socket) from Debian's real docker-registry on loopback, with hand-made documents:
//   - oversize index and manifest (CVE-2023-25153 class: unbounded reads of documents) —
//     refused with a clear error, nothing recorded, the service keeps pulling;
//   - a document with both "manifests" and "layers" (GHSA-5j5w-g665-5m35) — refused;
//   - a foreign layer whose `urls` point at a listener of the test (CVE-2020-15157): the URL
//     is never contacted and the registry password never appears anywhere but the registry;
//   - reserved labels in the image config (CVE-2026-53488): not on the image record nor on a
//     container made from the image with the client's WithImageConfig;
//   - the image's USER: supplementary groups from its /etc/group applied (CVE-2023-25173), a
//     uid beyond int32 refused (CVE-2024-40635), through the client's WithImageConfig.
// Root (unpack mounts), nats-server, docker-registry.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "client/berth.h"
#include "client/testing/suite.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "nlohmann/json.hpp"
#include "services/snapshot/snapshotter.h"
#include "tests/security/security_testing.h"

namespace berth::security_testing {
namespace {

using json = nlohmann::ordered_json;
using testing::Blob;
using testing::MakeBlob;
using testing::OciImage;
using testing::Registry;
using testing::TarEntry;

constexpr char kNs[] = "sec-pull";
constexpr char kUser[] = "alice";
constexpr char kPassword[] = "pw-7f3c91-never-leak";

json DescriptorOf(const Blob& b) {
  return json{{"mediaType", b.media_type}, {"digest", b.digest}, {"size", b.size}};
}

// The image with its config JSON edited by `edit` (config and manifest rebuilt).
OciImage EditConfig(OciImage image, const std::function<void(json&)>& edit) {
  json config = json::parse(image.config.data);
  edit(config);
  image.config = MakeBlob(image.config.media_type, config.dump());
  json manifest = json::parse(image.manifest.data);
  manifest["config"] = DescriptorOf(image.config);
  image.manifest = MakeBlob(image.manifest.media_type, manifest.dump());
  return image;
}

// Puts `doc` into the registry's storage as `repo:tag` directly (distribution's filesystem
// layout), for documents the registry's own PUT would refuse (it caps manifest bodies).
absl::Status StoreDirectly(Registry& registry, const std::string& repo, const std::string& tag,
                           const Blob& doc) {
  namespace fs = std::filesystem;
  const std::string hex = doc.digest.substr(7);
  const fs::path v2 = fs::path(registry.storage()) / "docker/registry/v2";
  const fs::path blob = v2 / "blobs/sha256" / hex.substr(0, 2) / hex / "data";
  const fs::path manifests = v2 / "repositories" / repo / "_manifests";
  std::error_code ec;
  for (const fs::path& dir :
       {blob.parent_path(), manifests / "revisions/sha256" / hex,
        manifests / "tags" / tag / "current", manifests / "tags" / tag / "index/sha256" / hex}) {
    fs::create_directories(dir, ec);
    if (ec) return absl::InternalError("mkdir " + dir.string() + ": " + ec.message());
  }
  std::ofstream(blob, std::ios::binary) << doc.data;
  for (const fs::path& link :
       {manifests / "revisions/sha256" / hex / "link", manifests / "tags" / tag / "current/link",
        manifests / "tags" / tag / "index/sha256" / hex / "link"}) {
    std::ofstream(link, std::ios::binary) << doc.digest;
  }
  return absl::OkStatus();
}

// PUTs `doc` as repo:tag; when the registry refuses it, stores it directly.
absl::Status PushOrStore(Registry& registry, const std::string& repo, const std::string& tag,
                         const Blob& doc) {
  if (registry.PushManifest(repo, tag, doc).ok()) return absl::OkStatus();
  return StoreDirectly(registry, repo, tag, doc);
}

// A refusal of a hostile document: a clear client-side code, not Internal/Unknown.
void ExpectRefused(const absl::Status& s) {
  std::cout << "refused: " << s << "\n";
  EXPECT_TRUE(absl::IsInvalidArgument(s) || absl::IsResourceExhausted(s) ||
              absl::IsFailedPrecondition(s))
      << s;
}

class PullTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!client_testing::IsRoot()) return;
    suite_ = new client_testing::LocalSuite();
    absl::Status s = suite_->Start();
    if (!s.ok()) {
      start_error_ = new std::string(s.ToString());
      return;
    }
    testing::RegistryOptions options;
    options.users = {{kUser, kPassword}};
    absl::StatusOr<std::unique_ptr<Registry>> r = Registry::Start(options);
    if (!r.ok()) {
      start_error_ = new std::string(r.status().ToString());
      return;
    }
    registry_ = r->release();
  }
  static void TearDownTestSuite() {
    delete registry_;
    registry_ = nullptr;
    delete suite_;
    suite_ = nullptr;
  }
  void SetUp() override {
    if (!client_testing::IsRoot()) GTEST_SKIP() << "needs root (unpack mounts)";
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    client_ = std::make_unique<Client>(Client(suite_->socket()).WithNamespace(kNs));
  }

  absl::StatusOr<Image> Pull(const std::string& repo, const std::string& tag, bool unpack = false) {
    std::vector<PullOpt> opts = {WithPlainHTTP, WithCredentials(kUser, kPassword)};
    if (unpack) opts.push_back(WithPullUnpack);
    return client_->Pull(registry_->Reference(repo, tag), opts);
  }

  // A good image still pulls (the image service kept working).
  void ExpectStillPulls() {
    ASSERT_OK_AND_ASSIGN(OciImage good, testing::BusyboxImage());
    ASSERT_OK(registry_->Push("sec/good", "1", good));
    absl::StatusOr<Image> img = Pull("sec/good", "1");
    EXPECT_OK(img.status());
  }

  void ExpectNoImage(const std::string& repo, const std::string& tag) {
    absl::StatusOr<ImageRecord> rec = client_->Images().Get(registry_->Reference(repo, tag));
    EXPECT_TRUE(absl::IsNotFound(rec.status())) << rec.status();
  }

  static client_testing::LocalSuite* suite_;
  static Registry* registry_;
  static std::string* start_error_;
  std::unique_ptr<Client> client_;
};

client_testing::LocalSuite* PullTest::suite_ = nullptr;
Registry* PullTest::registry_ = nullptr;
std::string* PullTest::start_error_ = nullptr;

// Debian's docker-registry itself refuses to serve a manifest over 4 MiB ("storage: read
// exceeds limit"), so the oversize documents come from a minimal hostile registry of the test
// (security_testing.h Listener::Serve), the way a malicious registry would send them.
class HostilePullTest : public PullTest {
 protected:
  void SetUp() override {
    PullTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_OK_AND_ASSIGN(hostile_, Listener::Start());
  }
  absl::StatusOr<Image> PullHostile(const std::string& repo, const std::string& tag) {
    return client_->Pull(fmt::format("127.0.0.1:{}/{}:{}", hostile_->port(), repo, tag),
                         {WithPlainHTTP});
  }
  void ExpectNoHostileImage(const std::string& repo, const std::string& tag) {
    absl::StatusOr<ImageRecord> rec =
        client_->Images().Get(fmt::format("127.0.0.1:{}/{}:{}", hostile_->port(), repo, tag));
    EXPECT_TRUE(absl::IsNotFound(rec.status())) << rec.status();
  }
  // Serves a document under its tag and its digest (what registries answer).
  void ServeDoc(const std::string& repo, const std::string& tag, const std::string& type,
                const std::string& body, int64_t declared_length = -1) {
    const std::string dgst = MakeBlob(type, body).digest;
    hostile_->Serve("/v2/" + repo + "/manifests/" + tag, type, body, declared_length);
    hostile_->Serve("/v2/" + repo + "/manifests/" + dgst, type, body, declared_length);
  }
  std::unique_ptr<Listener> hostile_;
};

TEST_F(HostilePullTest, OversizeIndexIsRefused) {
  ASSERT_OK_AND_ASSIGN(OciImage image, testing::BusyboxImage());
  json index = {{"schemaVersion", 2},
                {"mediaType", testing::kOciIndexType},
                {"manifests", json::array({DescriptorOf(image.manifest)})},
                {"annotations", {{"pad", std::string(5 << 20, 'x')}}}};
  ServeDoc("sec/bigindex", "big", testing::kOciIndexType, index.dump());
  absl::StatusOr<Image> img = PullHostile("sec/bigindex", "big");
  ExpectRefused(img.status());
  ExpectNoHostileImage("sec/bigindex", "big");
  ExpectStillPulls();
}

TEST_F(HostilePullTest, OversizeManifestIsRefused) {
  ASSERT_OK_AND_ASSIGN(OciImage image, testing::BusyboxImage());
  json manifest = json::parse(image.manifest.data);
  manifest["annotations"] = {{"pad", std::string(5 << 20, 'y')}};
  const Blob big = MakeBlob(testing::kOciManifestType, manifest.dump());
  ServeDoc("sec/bigmanifest", "big", big.media_type, big.data);
  absl::StatusOr<Image> img = PullHostile("sec/bigmanifest", "big");
  ExpectRefused(img.status());
  ExpectNoHostileImage("sec/bigmanifest", "big");

  // The same through an index: the child manifest is the oversize one.
  json index = {{"schemaVersion", 2},
                {"mediaType", testing::kOciIndexType},
                {"manifests",
                 json::array({json{{"mediaType", big.media_type},
                                   {"digest", big.digest},
                                   {"size", big.size},
                                   {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}}})}};
  ServeDoc("sec/bigmanifest", "viaindex", testing::kOciIndexType, index.dump());
  img = PullHostile("sec/bigmanifest", "viaindex");
  ExpectRefused(img.status());
  ExpectNoHostileImage("sec/bigmanifest", "viaindex");
  ExpectStillPulls();
}

// A registry that announces a small document and then sends 8 MiB: berth reads no more than
// it was told (and than its cap) and refuses the document.
TEST_F(HostilePullTest, LyingContentLengthIsBounded) {
  ASSERT_OK_AND_ASSIGN(OciImage image, testing::BusyboxImage());
  json index = {{"schemaVersion", 2},
                {"mediaType", testing::kOciIndexType},
                {"manifests", json::array({DescriptorOf(image.manifest)})},
                {"annotations", {{"pad", std::string(8 << 20, 'z')}}}};
  ServeDoc("sec/liar", "1", testing::kOciIndexType, index.dump(), /*declared_length=*/1024);
  absl::StatusOr<Image> img = PullHostile("sec/liar", "1");
  EXPECT_FALSE(img.ok());
  EXPECT_FALSE(absl::IsInternal(img.status()) || absl::IsUnknown(img.status())) << img.status();
  ExpectNoHostileImage("sec/liar", "1");
  ExpectStillPulls();
}

TEST_F(PullTest, AmbiguousManifestAndIndexIsRefused) {
  ASSERT_OK_AND_ASSIGN(OciImage image, testing::BusyboxImage());
  ASSERT_OK(registry_->Push("sec/both", "base", image));
  json manifest = json::parse(image.manifest.data);
  // Both shapes in one document, once declared as an index and once as a manifest.
  for (const char* type : {testing::kOciIndexType, testing::kOciManifestType}) {
    SCOPED_TRACE(type);
    json doc = manifest;
    doc["mediaType"] = type;
    doc["manifests"] = json::array({DescriptorOf(image.manifest)});
    const std::string tag =
        std::string(type) == testing::kOciIndexType ? "as-index" : "as-manifest";
    ASSERT_OK(PushOrStore(*registry_, "sec/both", tag, MakeBlob(type, doc.dump())));
    absl::StatusOr<Image> img = Pull("sec/both", tag);
    ExpectRefused(img.status());
    EXPECT_NE(img.status().message().find("ambiguous"), std::string::npos) << img.status();
    ExpectNoImage("sec/both", tag);
  }
  ExpectStillPulls();
}

TEST_F(PullTest, ForeignLayerURLsAreNeverFetchedAndCredentialsStay) {
  ASSERT_OK_AND_ASSIGN(auto listener, Listener::Start());
  testing::ImageOptions docker;
  docker.media_types = testing::MediaTypes::kDocker;
  ASSERT_OK_AND_ASSIGN(OciImage image, testing::BusyboxImage(docker));
  for (const Blob* b : image.ManifestBlobs()) ASSERT_OK(registry_->PushBlob("sec/foreign", *b));
  json manifest = json::parse(image.manifest.data);
  const std::string url = fmt::format("http://127.0.0.1:{}/layer.tar.gz", listener->port());
  for (json& layer : manifest["layers"]) {
    layer["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    layer["urls"] = json::array({url});
  }
  ASSERT_OK(PushOrStore(*registry_, "sec/foreign", "1",
                        MakeBlob(testing::kDockerManifestType, manifest.dump())));
  absl::StatusOr<Image> img = Pull("sec/foreign", "1", /*unpack=*/true);
  // Fetching the layer from the registry (by digest) or refusing it are both fine; asking
  // the URL is not.
  if (!img.ok()) {
    ExpectRefused(img.status());
  }
  EXPECT_EQ(listener->connections(), 0) << "the foreign URL was fetched:\n" << listener->received();
  EXPECT_EQ(listener->received().find(kPassword), std::string::npos);
  EXPECT_EQ(listener->received().find("Authorization"), std::string::npos);
  // Nor does the password show up in errors or in any service's log.
  EXPECT_EQ(img.status().ToString().find(kPassword), std::string::npos);
  EXPECT_EQ(suite_->Logs().find(kPassword), std::string::npos);
}

TEST_F(PullTest, ReservedLabelsAndUsersFromTheImageConfig) {
  std::vector<TarEntry> entries = {
      TarEntry::Directory("etc"),
      TarEntry::File("etc/passwd",
                     "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
      TarEntry::File("etc/group", "root:x:0:\napp:x:1000:\nwheel:x:10:app\naudio:x:29:app\n"),
  };
  ASSERT_OK_AND_ASSIGN(testing::Layer layer,
                       testing::MakeLayer(entries, testing::MediaTypes::kOci));
  ASSERT_OK_AND_ASSIGN(OciImage base, testing::MakeImage({layer}));
  auto with_user = [&](const std::string& user) {
    return EditConfig(base, [&](json& c) {
      c["config"]["User"] = user;
      c["config"]["Labels"] = {{"containerd.io/restart.loguri", "binary:///bin/sh?-c=touch+/pwned"},
                               {"containerd.io/restart.status", "running"},
                               {"containerd.io/gc.root", "x"},
                               {"io.example.label", "kept-or-not"}};
    });
  };
  ASSERT_OK(registry_->Push("sec/labels", "app", with_user("app")));
  ASSERT_OK(registry_->Push("sec/labels", "overflow", with_user("4294967296")));

  ASSERT_OK_AND_ASSIGN(Image img, Pull("sec/labels", "app", /*unpack=*/true));
  for (const auto& [k, v] : img.GetLabels()) {
    EXPECT_NE(k.rfind("containerd.io/restart", 0), 0u) << k << "=" << v;
    EXPECT_NE(k, "containerd.io/gc.root");
  }

  // A container from it: no reserved label arrives from the image; the USER's supplementary
  // groups are in the spec.
  const std::string id = "sec-labels";
  absl::StatusOr<Container> c = client_->NewContainer(
      id, WithImage(img), WithNewSnapshot(id + "-rootfs", img), WithNewSpec(WithImageConfig(img)));
  ASSERT_OK(c.status());
  ASSERT_OK_AND_ASSIGN(ContainerRecord rec, client_->Containers().Get(id));
  for (const auto& [k, v] : rec.labels()) {
    EXPECT_NE(k.rfind("containerd.io/restart", 0), 0u) << k << "=" << v;
  }
  json spec = json::parse(rec.spec().value());
  EXPECT_EQ(spec["process"]["user"]["uid"], 1000);
  EXPECT_EQ(spec["process"]["user"]["gid"], 1000);
  ASSERT_TRUE(spec["process"]["user"].contains("additionalGids")) << spec["process"].dump();
  EXPECT_EQ(spec["process"]["user"]["additionalGids"].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{10, 29}));
  EXPECT_FALSE(spec["process"]["capabilities"].contains("inheritable"));
  EXPECT_OK(c->Delete(WithSnapshotCleanup));

  // USER beyond int32: refused, never wrapped to root.
  ASSERT_OK_AND_ASSIGN(Image over, Pull("sec/labels", "overflow", /*unpack=*/true));
  absl::StatusOr<Container> bad = client_->NewContainer(
      "sec-overflow", WithImage(over), WithNewSnapshot("sec-overflow-rootfs", over),
      WithNewSpec(WithImageConfig(over)));
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  EXPECT_TRUE(absl::IsNotFound(client_->Containers().Get("sec-overflow").status()));
  auto sn = client_->SnapshotService("overlayfs");
  (void)sn->Remove(client_->Context(), "sec-overflow-rootfs");
}

}  // namespace
}  // namespace berth::security_testing
