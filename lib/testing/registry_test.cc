// The registry fixture against Debian's real docker-registry: push, then read everything back
// over the registry's HTTP API and compare digests; OCI and Docker media types, an index; Basic
// auth; TLS with a certificate made by openssl; CorruptBlob; the process is gone after the
// destructor.
#include "lib/testing/registry.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "lib/digest/digest.h"
#include "lib/testing/child_process.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "nlohmann/json.hpp"

namespace berth::testing {
namespace {

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/docker-registry", X_OK) != 0) {
      GTEST_SKIP() << "docker-registry is not installed";
    }
  }

  // GETs a manifest by `reference` with its media type accepted and checks that the registry
  // serves exactly `blob`.
  static void ExpectManifest(Registry* registry, const std::string& repo,
                             const std::string& reference, const Blob& blob) {
    absl::StatusOr<HttpReply> r =
        registry->Get("/v2/" + repo + "/manifests/" + reference, blob.media_type);
    ASSERT_OK(r.status());
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->headers["content-type"], blob.media_type);
    EXPECT_EQ(r->headers["docker-content-digest"], blob.digest);
    EXPECT_EQ(digest::FromBytes(r->body).ToString(), blob.digest);
  }

  static void ExpectBlobServed(Registry* registry, const std::string& repo, const Blob& blob) {
    absl::StatusOr<HttpReply> r = registry->Get("/v2/" + repo + "/blobs/" + blob.digest);
    ASSERT_OK(r.status());
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(digest::FromBytes(r->body).ToString(), blob.digest);
  }
};

TEST_F(RegistryTest, PushImageThenReadItBack) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Registry> registry, Registry::Start());
  EXPECT_GT(registry->port(), 0);
  EXPECT_EQ(registry->url(), "http://127.0.0.1:" + std::to_string(registry->port()));
  EXPECT_EQ(registry->Reference("test/busybox", "1.0"),
            "127.0.0.1:" + std::to_string(registry->port()) + "/test/busybox:1.0");
  ASSERT_OK_AND_ASSIGN(OciImage image, BusyboxImage());
  ASSERT_OK(registry->Push("test/busybox", "1.0", image));
  ExpectManifest(registry.get(), "test/busybox", "1.0", image.manifest);
  ExpectManifest(registry.get(), "test/busybox", image.manifest.digest, image.manifest);
  for (const Blob* blob : image.ManifestBlobs()) {
    ExpectBlobServed(registry.get(), "test/busybox", *blob);
  }
  // Pushing again is fine (blobs are skipped, the tag is rewritten).
  ASSERT_OK(registry->Push("test/busybox", "1.0", image));
  absl::StatusOr<HttpReply> tags = registry->Get("/v2/test/busybox/tags/list");
  ASSERT_OK(tags.status());
  EXPECT_EQ(nlohmann::json::parse(tags->body).at("tags"), nlohmann::json::array({"1.0"}));
  // Unknown things are 404s, not errors of the fixture.
  absl::StatusOr<HttpReply> missing = registry->Get("/v2/test/busybox/manifests/nope");
  ASSERT_OK(missing.status());
  EXPECT_EQ(missing->status, 404);
}

TEST_F(RegistryTest, PushIndexAndDockerImages) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Registry> registry, Registry::Start());
  ASSERT_OK_AND_ASSIGN(OciIndex index, MultiPlatformIndex());
  ASSERT_OK(registry->Push("test/multi", "1.0", index));
  ExpectManifest(registry.get(), "test/multi", "1.0", index.index);
  for (const OciImage& image : index.images) {
    ExpectManifest(registry.get(), "test/multi", image.manifest.digest, image.manifest);
  }
  ImageOptions docker;
  docker.media_types = MediaTypes::kDocker;
  ASSERT_OK_AND_ASSIGN(OciImage whiteouts, WhiteoutImage(docker));
  ASSERT_OK(registry->Push("test/docker", "v2", whiteouts));
  ExpectManifest(registry.get(), "test/docker", "v2", whiteouts.manifest);
  ASSERT_OK_AND_ASSIGN(OciIndex list, MultiPlatformIndex(MediaTypes::kDocker));
  ASSERT_OK(registry->Push("test/docker-list", "1", list));
  ExpectManifest(registry.get(), "test/docker-list", "1", list.index);
  ASSERT_OK_AND_ASSIGN(OciImage oci_whiteouts, WhiteoutImage());
  ASSERT_OK(registry->Push("test/whiteouts", "1.0", oci_whiteouts));
  for (const Blob* blob : oci_whiteouts.ManifestBlobs()) {
    ExpectBlobServed(registry.get(), "test/whiteouts", *blob);
  }
}

TEST_F(RegistryTest, CorruptBlobChangesTheServedBytesButNotTheSize) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Registry> registry, Registry::Start());
  ASSERT_OK_AND_ASSIGN(OciImage image, BusyboxImage());
  ASSERT_OK(registry->Push("test/busybox", "1.0", image));
  const Blob& layer = image.layers[0].blob;
  ASSERT_OK(registry->CorruptBlob(layer.digest));
  absl::StatusOr<HttpReply> r = registry->Get("/v2/test/busybox/blobs/" + layer.digest);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(static_cast<int64_t>(r->body.size()), layer.size);
  EXPECT_NE(digest::FromBytes(r->body).ToString(), layer.digest);
  EXPECT_NE(r->body, layer.data);
  // The manifest is untouched.
  ExpectManifest(registry.get(), "test/busybox", "1.0", image.manifest);
  EXPECT_TRUE(IsNotFound(registry->CorruptBlob("sha256:" + std::string(64, '0'))));
  EXPECT_TRUE(IsInvalidArgument(registry->CorruptBlob("sha256:abc")));
}

TEST_F(RegistryTest, BasicAuth) {
  RegistryOptions options;
  options.users = {{"alice", "s3cret"}};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Registry> registry, Registry::Start(options));
  ASSERT_OK_AND_ASSIGN(OciImage image, BusyboxImage());
  ASSERT_OK(registry->Push("test/busybox", "1.0", image));
  ExpectManifest(registry.get(), "test/busybox", "1.0", image.manifest);
  // Without credentials: 401 with a Basic challenge.
  ChildProcessOptions curl;
  TempDir dir("bregt");
  curl.argv = {"curl",
               "-s",
               "--noproxy",
               "*",
               "-o",
               "/dev/null",
               "-D",
               dir.Path("headers"),
               "-w",
               "%{http_code}",
               registry->url() + "/v2/test/busybox/manifests/1.0"};
  curl.stdout_path = dir.Path("out");
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start(curl));
  ASSERT_OK_AND_ASSIGN(int status, child.Wait(std::chrono::seconds(30)));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(child.ReadStdout(), "401");
}

TEST_F(RegistryTest, Tls) {
  TempDir dir("bregtls");
  const std::string cert = dir.Path("cert.pem");
  const std::string key = dir.Path("key.pem");
  ChildProcessOptions openssl;
  openssl.argv = {"openssl",  "req",
                  "-x509",    "-newkey",
                  "rsa:2048", "-nodes",
                  "-keyout",  key,
                  "-out",     cert,
                  "-days",    "1",
                  "-subj",    "/CN=127.0.0.1",
                  "-addext",  "subjectAltName=IP:127.0.0.1"};
  openssl.stderr_path = dir.Path("openssl.err");
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start(openssl));
  ASSERT_OK_AND_ASSIGN(int status, child.Wait(std::chrono::seconds(60)));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << child.ReadStderr();

  RegistryOptions options;
  options.tls_cert = cert;
  options.tls_key = key;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Registry> registry, Registry::Start(options));
  EXPECT_EQ(registry->url().substr(0, 8), "https://");
  ASSERT_OK_AND_ASSIGN(OciImage image, BusyboxImage());
  ASSERT_OK(registry->Push("test/busybox", "1.0", image));
  ExpectManifest(registry.get(), "test/busybox", "1.0", image.manifest);

  RegistryOptions half;
  half.tls_cert = cert;
  EXPECT_TRUE(IsInvalidArgument(Registry::Start(half).status()));
}

TEST_F(RegistryTest, DestructorStopsTheRegistry) {
  pid_t pid;
  int port;
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Registry> registry, Registry::Start());
    pid = registry->pid();
    port = registry->port();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(kill(pid, 0), 0);
  }
  // Reaped, so the pid no longer names our child.
  EXPECT_NE(waitpid(pid, nullptr, WNOHANG), 0);
  // Nothing answers on its port any more.
  ChildProcessOptions curl;
  curl.argv = {"curl",
               "-s",
               "--noproxy",
               "*",
               "--max-time",
               "5",
               "http://127.0.0.1:" + std::to_string(port) + "/v2/"};
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start(curl));
  ASSERT_OK_AND_ASSIGN(int status, child.Wait(std::chrono::seconds(30)));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
}

TEST_F(RegistryTest, MissingBinaryIsNotFound) {
  RegistryOptions options;
  options.binary = "/nonexistent/docker-registry";
  EXPECT_TRUE(IsNotFound(Registry::Start(options).status()));
}

}  // namespace
}  // namespace berth::testing
