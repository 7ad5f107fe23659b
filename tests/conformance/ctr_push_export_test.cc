// Push, export and import end to end: a local suite (deploy/berth-up on a temporary root, via
// client/testing/suite.h), Debian's real docker-registry on loopback (lib/testing/registry.h)
// holding images built by the test (lib/testing/oci_image.h), Debian's unmodified `ctr`
// (containerd 1.6) and the `berth` command, both pointed at ROOT/berth.sock.
//
//   - `ctr images push --plain-http` through the gateway to a second repository, pulled back
//     into another namespace with the same digest;
//   - `ctr images export` then `ctr images import` into another namespace;
//   - `berth push` (server-side): a cross-repository mount (seen in the registry's own log),
//     plain uploads of an imported image, chunked uploads; an unknown image -> NotFound;
//   - `berth images export` -> `ctr images import` (and the archive's index.json annotations);
//   - `berth images import` of a `docker save` archive (manifest.json + repositories), unpacked;
//   - an archive with an oversized index.json refused with a clear error, no image made and,
//     after a collection, none of its blobs left.
// Needs root (overlay mounts), ctr, nats-server and docker-registry.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <map>
#include <string>
#include <vector>

#include "client/testing/suite.h"
#include "lib/status/status.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "nlohmann/json.hpp"

namespace berth::conformance {
namespace {

using ::berth::client_testing::LocalSuite;
using ::berth::client_testing::RunResult;
using ::berth::testing::OciImage;
using ::berth::testing::Registry;
using json = nlohmann::json;

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

absl::Status WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
  f.close();
  if (!f) return InternalError("write " + path);
  return absl::OkStatus();
}

std::string Hex(const std::string& digest) { return digest.substr(digest.find(':') + 1); }

class CtrPushExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    skip_ = new std::string();
    if (geteuid() != 0) {
      *skip_ = "needs root (overlay mounts)";
      return;
    }
    if (!Have("ctr")) {
      *skip_ = "ctr is not installed";
      return;
    }
    if (access("/usr/bin/docker-registry", X_OK) != 0 || access(testing::kBusyboxPath, X_OK) != 0) {
      *skip_ = "docker-registry or busybox-static is not installed";
      return;
    }
    image_ = new OciImage();
    absl::StatusOr<OciImage> image = testing::BusyboxImage();
    if (!image.ok()) {
      start_error_ = new std::string(image.status().ToString());
      return;
    }
    *image_ = *std::move(image);
    absl::StatusOr<std::unique_ptr<Registry>> registry = Registry::Start();
    if (!registry.ok()) {
      start_error_ = new std::string(registry.status().ToString());
      return;
    }
    registry_ = registry->release();
    if (absl::Status s = registry_->Push("test/busybox", "1.0", *image_); !s.ok()) {
      start_error_ = new std::string(s.ToString());
      return;
    }
    suite_ = new LocalSuite();
    if (absl::Status s = suite_->Start(); !s.ok()) start_error_ = new std::string(s.ToString());
  }

  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
    delete registry_;
    registry_ = nullptr;
    delete image_;
    image_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
    delete skip_;
    skip_ = nullptr;
  }

  void SetUp() override {
    if (!skip_->empty()) GTEST_SKIP() << *skip_;
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    const char* bin = std::getenv("BERTH_BIN");
    bin_ = bin != nullptr ? bin : "build/bin";
    ns_ = "bpush" + std::to_string(getpid()) + "-" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : ns_) {
      if (c == '_') c = '-';
    }
  }

  void TearDown() override {
    if (suite_ == nullptr || !skip_->empty()) return;
    if (HasFailure()) std::cerr << suite_->Logs() << "\n";
  }

  RunResult Ctr(const std::vector<std::string>& args, const std::string& ns = "") {
    std::vector<std::string> argv = {"ctr", "-a", suite_->socket(), "-n", ns.empty() ? ns_ : ns};
    argv.insert(argv.end(), args.begin(), args.end());
    return suite_->Run(argv);
  }

  RunResult Berth(const std::vector<std::string>& args, const std::string& ns = "") {
    std::vector<std::string> argv = {bin_ + "/berth", "-a", suite_->socket(), "-n",
                                     ns.empty() ? ns_ : ns};
    argv.insert(argv.end(), args.begin(), args.end());
    return suite_->Run(argv);
  }

  // The digest the registry serves for repo:tag ("" when none).
  static std::string RemoteDigest(const std::string& repo, const std::string& tag) {
    absl::StatusOr<testing::HttpReply> r =
        registry_->Request("HEAD", "/v2/" + repo + "/manifests/" + tag, "",
                           {"Accept: " + image_->manifest.media_type});
    if (!r.ok() || r->status != 200) return "";
    return r->headers["docker-content-digest"];
  }

  static std::string Ref(const std::string& repo, const std::string& tag = "1.0") {
    return registry_->Reference(repo, tag);
  }

  static LocalSuite* suite_;
  static Registry* registry_;
  static OciImage* image_;
  static std::string* start_error_;
  static std::string* skip_;
  std::string bin_;
  std::string ns_;
};

LocalSuite* CtrPushExportTest::suite_ = nullptr;
Registry* CtrPushExportTest::registry_ = nullptr;
OciImage* CtrPushExportTest::image_ = nullptr;
std::string* CtrPushExportTest::start_error_ = nullptr;
std::string* CtrPushExportTest::skip_ = nullptr;

TEST_F(CtrPushExportTest, CtrPushToASecondRepositoryAndPullBack) {
  const std::string src = Ref("test/busybox");
  RunResult r = Ctr({"images", "pull", "--plain-http", src});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string dst = Ref("ctrcopy/busybox", "2.0");
  r = Ctr({"images", "push", "--plain-http", dst, src});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(RemoteDigest("ctrcopy/busybox", "2.0"), image_->manifest.digest);

  // Pulled back into another namespace: the same manifest.
  const std::string other = ns_ + "-back";
  r = Ctr({"images", "pull", "--plain-http", dst}, other);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"images", "ls"}, other);
  EXPECT_EQ(CountLines(r.out, {dst, image_->manifest.digest}), 1) << r.out;
}

TEST_F(CtrPushExportTest, CtrExportThenImportIntoAnotherNamespace) {
  const std::string src = Ref("test/busybox");
  RunResult r = Ctr({"images", "pull", "--plain-http", src});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string tar = suite_->Path(ns_ + ".tar");
  r = Ctr({"images", "export", tar, src});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string other = ns_ + "-imp";
  r = Ctr({"images", "import", tar}, other);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"images", "ls"}, other);
  EXPECT_EQ(CountLines(r.out, {src, image_->manifest.digest}), 1) << r.out;
  r = Ctr({"images", "check"}, other);
  EXPECT_EQ(CountLines(r.out, {src, "complete"}), 1) << r.out;
}

TEST_F(CtrPushExportTest, BerthPushMountsFromTheRepositoryItWasPulledFrom) {
  const std::string src = Ref("test/busybox");
  RunResult r = Berth({"pull", "--plain-http", src});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string dst = Ref("mounted/busybox", "3");
  r = Berth({"push", "--plain-http", src, "--to", dst});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // Layer and config came from test/busybox by mount: nothing uploaded but the manifest.
  EXPECT_EQ(
      CountLines(r.out, {"mounted layer", image_->layers[0].blob.digest, "from=test/busybox"}), 1)
      << r.out;
  EXPECT_EQ(CountLines(r.out, {"mounted config", image_->config.digest}), 1) << r.out;
  EXPECT_EQ(CountLines(r.out, {"uploaded manifest", image_->manifest.digest}), 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "pushed " + dst + " digest=" + image_->manifest.digest)) << r.out;
  EXPECT_EQ(RemoteDigest("mounted/busybox", "3"), image_->manifest.digest);
  // The registry's own account of it.
  const std::string logs = registry_->Logs();
  EXPECT_TRUE(Contains(logs, "/v2/mounted/busybox/blobs/uploads/?mount=sha256")) << logs;
  EXPECT_TRUE(Contains(logs, "from=test")) << logs;
}

TEST_F(CtrPushExportTest, BerthPushUploadsAnImportedImageInChunks) {
  // Imported, so nothing says which repository holds its blobs: plain uploads.
  const std::string archive = suite_->Path(ns_ + "-bb.tar");
  ASSERT_OK(client_testing::WriteBusyboxArchive(archive, "docker.io/test/imported:1").status());
  RunResult r = Berth({"images", "import", "--no-unpack", archive});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string dst = Ref("chunked/imported", "1");
  r = Berth(
      {"push", "--plain-http", "--chunk-size", "65536", "docker.io/test/imported:1", "--to", dst});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(CountLines(r.out, {"uploaded layer"}), 1) << r.out;
  EXPECT_EQ(CountLines(r.out, {"mounted"}), 0) << r.out;
  EXPECT_TRUE(Contains(registry_->Logs(), "\"PATCH /v2/chunked/imported/blobs/uploads/"))
      << registry_->Logs();
  // Pulled back by ctr into another namespace and checked complete.
  const std::string other = ns_ + "-back";
  r = Ctr({"images", "pull", "--plain-http", dst}, other);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"images", "check"}, other);
  EXPECT_EQ(CountLines(r.out, {dst, "complete"}), 1) << r.out;
}

TEST_F(CtrPushExportTest, BerthPushOfAnUnknownImageIsNotFound) {
  RunResult r = Berth({"push", "--plain-http", "example.com/nope:1", "--to", Ref("x/nope", "1")});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "\"example.com/nope:1\"")) << r.err;
  EXPECT_TRUE(Contains(r.err, "not found")) << r.err;
  EXPECT_EQ(RemoteDigest("x/nope", "1"), "");
}

TEST_F(CtrPushExportTest, BerthExportCtrImport) {
  const std::string src = Ref("test/busybox");
  RunResult r = Berth({"pull", "--plain-http", "--no-unpack", src});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string tar = suite_->Path(ns_ + ".tar");
  r = Berth({"images", "export", tar, src});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // The layout ctr writes: oci-layout, index.json naming the image both ways, the blobs.
  const std::string dir = suite_->Path(ns_ + "-x");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  r = suite_->Run({"tar", "-xf", tar, "-C", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json index = json::parse(client_testing::ReadFile(dir + "/index.json"), nullptr, false);
  ASSERT_TRUE(index.is_object());
  ASSERT_EQ(index["manifests"].size(), 1u) << index.dump();
  const json& entry = index["manifests"][0];
  EXPECT_EQ(entry["digest"], image_->manifest.digest);
  EXPECT_EQ(entry["annotations"]["io.containerd.image.name"], src);
  EXPECT_EQ(entry["annotations"]["org.opencontainers.image.ref.name"], "1.0");
  EXPECT_TRUE(Contains(client_testing::ReadFile(dir + "/oci-layout"), "imageLayoutVersion"));
  for (const testing::Blob* b : image_->ManifestBlobs()) {
    EXPECT_EQ(client_testing::ReadFile(dir + "/blobs/sha256/" + Hex(b->digest)), b->data);
  }
  // Docker's manifest.json, for `docker load`: config and layers by path, the name as a tag.
  json docker = json::parse(client_testing::ReadFile(dir + "/manifest.json"), nullptr, false);
  ASSERT_TRUE(docker.is_array() && docker.size() == 1u) << docker.dump();
  EXPECT_EQ(docker[0]["Config"], "blobs/sha256/" + Hex(image_->config.digest));
  ASSERT_EQ(docker[0]["Layers"].size(), image_->layers.size()) << docker.dump();
  for (size_t i = 0; i < image_->layers.size(); ++i) {
    EXPECT_EQ(docker[0]["Layers"][i], "blobs/sha256/" + Hex(image_->layers[i].blob.digest));
  }
  EXPECT_EQ(docker[0]["RepoTags"], json::array({src})) << docker.dump();
  // ctr's own export of the same image through the gateway writes the same manifest.json.
  const std::string ctr_tar = suite_->Path(ns_ + "-by-ctr.tar");
  const std::string ctr_dir = suite_->Path(ns_ + "-by-ctr");
  r = Ctr({"images", "export", ctr_tar, src});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(mkdir(ctr_dir.c_str(), 0755), 0);
  r = suite_->Run({"tar", "-xf", ctr_tar, "-C", ctr_dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(client_testing::ReadFile(ctr_dir + "/manifest.json"), nullptr, false),
            docker);
  // --skip-manifest-json leaves it out, as ctr's flag does.
  const std::string bare = suite_->Path(ns_ + "-bare.tar");
  r = Berth({"images", "export", "--skip-manifest-json", bare, src});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = suite_->Run({"tar", "-tf", bare});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "index.json")) << r.out;
  EXPECT_FALSE(Contains(r.out, "manifest.json")) << r.out;

  const std::string other = ns_ + "-ctr";
  r = Ctr({"images", "import", tar}, other);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"images", "ls"}, other);
  EXPECT_EQ(CountLines(r.out, {src, image_->manifest.digest}), 1) << r.out;
  r = Ctr({"images", "check"}, other);
  EXPECT_EQ(CountLines(r.out, {src, "complete"}), 1) << r.out;

  // Bad input: an unknown image, and no half archive left behind.
  const std::string bad = suite_->Path(ns_ + "-bad.tar");
  r = Berth({"images", "export", bad, src, "example.com/nope:1"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "\"example.com/nope:1\"")) << r.err;
  EXPECT_NE(access(bad.c_str(), F_OK), 0);
  EXPECT_NE(access((bad + ".partial").c_str(), F_OK), 0);
}

// An index: manifest.json names the manifest of this host's platform, the only one a pull
// fetched, exactly as ctr's export of the same image does.
TEST_F(CtrPushExportTest, ExportOfAnIndexNamesThisPlatformsManifestInManifestJson) {
  ASSERT_OK_AND_ASSIGN(testing::OciIndex index, testing::MultiPlatformIndex());
  ASSERT_OK(registry_->Push("test/multi", "1.0", index));
  const std::string src = Ref("test/multi");
  RunResult r = Berth({"pull", "--plain-http", "--no-unpack", src});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::map<std::string, json> by;
  for (const char* who : {"berth", "ctr"}) {
    const std::string tar = suite_->Path(ns_ + "-" + who + ".tar");
    const std::string dir = suite_->Path(ns_ + "-" + who);
    r = std::string(who) == "berth" ? Berth({"images", "export", tar, src})
                                    : Ctr({"images", "export", tar, src});
    ASSERT_EQ(r.exit_code, 0) << who << ": " << r.out << r.err;
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
    r = suite_->Run({"tar", "-xf", tar, "-C", dir});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    by[who] = json::parse(client_testing::ReadFile(dir + "/manifest.json"), nullptr, false);
  }
  const json& docker = by["berth"];
  ASSERT_TRUE(docker.is_array() && docker.size() == 1u) << docker.dump();
  const testing::OciImage* amd64 = index.Find("linux", "amd64");
  ASSERT_NE(amd64, nullptr);
  EXPECT_EQ(docker[0]["Config"], "blobs/sha256/" + Hex(amd64->config.digest)) << docker.dump();
  EXPECT_EQ(docker[0]["RepoTags"], json::array({src})) << docker.dump();
  EXPECT_EQ(by["ctr"], docker);
}

TEST_F(CtrPushExportTest, BerthImportsADockerSaveArchive) {
  // docker save's layout: <config hex>.json, <layer id>/layer.tar (uncompressed),
  // manifest.json, repositories.
  ASSERT_OK_AND_ASSIGN(std::string layer_tar, testing::Gunzip(image_->layers[0].blob.data));
  const std::string dir = suite_->Path(ns_ + "-save");
  const std::string layer_id = std::string(64, 'a');
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir + "/" + layer_id).c_str(), 0755), 0);
  ASSERT_OK(WriteFile(dir + "/" + layer_id + "/layer.tar", layer_tar));
  const std::string config = Hex(image_->config.digest) + ".json";
  ASSERT_OK(WriteFile(dir + "/" + config, image_->config.data));
  json manifest = json::array({{{"Config", config},
                                {"RepoTags", {"example.com/saved/busybox:1"}},
                                {"Layers", {layer_id + "/layer.tar"}}}});
  ASSERT_OK(WriteFile(dir + "/manifest.json", manifest.dump()));
  ASSERT_OK(WriteFile(dir + "/repositories",
                      json{{"example.com/saved/busybox", {{"1", layer_id}}}}.dump()));
  const std::string tar = suite_->Path(ns_ + "-save.tar");
  RunResult r = suite_->Run(
      {"tar", "-cf", tar, "-C", dir, config, layer_id, "manifest.json", "repositories"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = Berth({"images", "import", tar});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "imported example.com/saved/busybox:1")) << r.out;
  r = Ctr({"images", "check"});
  EXPECT_EQ(CountLines(r.out, {"example.com/saved/busybox:1", "complete"}), 1) << r.out;
  // Unpacked: the layer's snapshot is committed under its chain ID.
  r = Ctr({"snapshots", "ls"});
  EXPECT_TRUE(Contains(r.out, image_->ChainIds()[0])) << r.out;
}

TEST_F(CtrPushExportTest, OversizedIndexIsRefusedAndNothingIsKept) {
  // A blob first (so the importer has stored something), then a 5 MiB index.json.
  const std::string dir = suite_->Path(ns_ + "-big");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir + "/blobs").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir + "/blobs/sha256").c_str(), 0755), 0);
  const testing::Blob blob =
      testing::MakeBlob("application/octet-stream", "only in the oversized archive " + ns_);
  ASSERT_OK(WriteFile(dir + "/blobs/sha256/" + Hex(blob.digest), blob.data));
  ASSERT_OK(WriteFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  std::string big = R"({"schemaVersion":2,"manifests":[)" + std::string(5 << 20, ' ') + "]}";
  ASSERT_OK(WriteFile(dir + "/index.json", big));
  const std::string tar = suite_->Path(ns_ + "-big.tar");
  RunResult r = suite_->Run({"tar", "-cf", tar, "-C", dir, "blobs", "oci-layout", "index.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = Berth({"images", "import", tar});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "index.json is 5242")) << r.err;
  EXPECT_TRUE(Contains(r.err, "more than the 4194304 allowed")) << r.err;
  r = Ctr({"images", "ls", "-q"});
  EXPECT_EQ(r.out, "");
  // The import's lease is gone: a collection removes what it had stored.
  r = Berth({"gc"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Ctr({"content", "ls", "-q"});
  EXPECT_FALSE(Contains(r.out, blob.digest)) << r.out;
}

}  // namespace
}  // namespace berth::conformance
