// RegistryResolver against Debian's real docker-registry (lib/testing/registry.h): resolve and
// fetch pushed images (OCI, Docker, an index), a corrupted blob, Range resume (asked for, and
// after a connection cut mid-blob), push to a second repository and back, Basic auth with
// htpasswd, TLS with a CA made by openssl (and HTTP/2 over it), mirrors from hosts.toml with
// a dead mirror and ?ns=, a registry redirecting blobs to storage on another origin
// (CVE-2020-15157: no credentials there), and Bearer tokens from a test token issuer for a
// registry configured with `auth: token`; registry faults through a loopback front that
// injects them (500s retried then served, a persistent 503, 429 with Retry-After honoured or
// too long, a 200 with the wrong Content-Length). Covered elsewhere: a connection reset
// mid-blob (ResumesAfterConnectionCutMidBlob here), a stalled server (http_client_test
// StalledServerIsUnavailable), a corrupt blob (CorruptBlobFailsNamingTheDigest).
#include "services/image/remotes/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/status/status.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "nlohmann/json.hpp"
#include "services/image/remotes/http_client.h"
#include "services/image/remotes/manifest.h"
#include "services/image/remotes/media_types.h"
#include "services/image/remotes/test_servers.h"

namespace berth::remotes {
namespace {

using berth::testing::BusyboxImage;
using berth::testing::OciImage;
using berth::testing::OciIndex;
using berth::testing::Registry;
using berth::testing::TempDir;
using ::testing::HasSubstr;

Descriptor DescOf(const berth::testing::Blob& blob) {
  Descriptor d;
  d.media_type = blob.media_type;
  d.digest = *digest::Digest::Parse(blob.digest);
  d.size = blob.size;
  return d;
}

// Options that keep failing paths quick: short backoff, few attempts.
RegistryOptions FastOptions() {
  RegistryOptions o;
  o.initial_backoff = std::chrono::milliseconds(10);
  o.max_backoff = std::chrono::milliseconds(50);
  o.max_attempts = 3;
  o.connect_timeout = std::chrono::seconds(10);
  return o;
}

// Reads a stream to its end in small chunks, or returns its error.
absl::StatusOr<std::string> ReadStreamAll(ReadStream& stream, std::size_t chunk = 7000) {
  std::string out;
  absl::Status st = CopyStream(
      stream,
      [&](std::string_view piece) {
        out.append(piece.data(), piece.size());
        return absl::OkStatus();
      },
      chunk);
  if (!st.ok()) return st;
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// The client addresses (ip:port) of berth's requests (by User-Agent) the registry logged for
// URIs containing `needle`, in order: equal addresses mean one connection.
std::vector<std::string> RemoteAddrs(const std::string& logs, const std::string& needle) {
  std::vector<std::string> out;
  std::istringstream lines(logs);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("msg=\"response completed") == std::string::npos) continue;
    if (line.find("http.request.useragent=berth/") == std::string::npos) continue;
    std::size_t uri = line.find("http.request.uri=");
    if (uri == std::string::npos || line.find(needle, uri) == std::string::npos) continue;
    constexpr char kAddr[] = "http.request.remoteaddr=\"";
    std::size_t at = line.find(kAddr);
    if (at == std::string::npos) continue;
    at += sizeof(kAddr) - 1;
    out.push_back(line.substr(at, line.find('"', at) - at));
  }
  return out;
}

class RemotesRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/usr/bin/docker-registry", X_OK) != 0) {
      GTEST_SKIP() << "docker-registry is not installed";
    }
  }

  // Starts a registry with the busybox image at test/busybox:1.0.
  void StartWithBusybox(berth::testing::RegistryOptions options = {}) {
    ASSERT_OK_AND_ASSIGN(registry_, Registry::Start(options));
    ASSERT_OK_AND_ASSIGN(image_, BusyboxImage());
    ASSERT_OK(registry_->Push("test/busybox", "1.0", image_));
  }

  std::string Ref(const std::string& repo_tag) const { return registry_->host() + "/" + repo_tag; }

  const berth::testing::Blob& Layer() const { return image_.layers[0].blob; }

  std::unique_ptr<Registry> registry_;
  OciImage image_;
};

TEST_F(RemotesRegistryTest, ResolveAndFetchImage) {
  StartWithBusybox();
  RegistryResolver resolver(FastOptions());
  CallContext ctx = CallContext::Background();

  ASSERT_OK_AND_ASSIGN(Resolved r, resolver.Resolve(ctx, Ref("test/busybox:1.0")));
  EXPECT_EQ(r.name, Ref("test/busybox:1.0"));
  EXPECT_EQ(r.descriptor.digest.ToString(), image_.manifest.digest);
  EXPECT_EQ(r.descriptor.media_type, kOciManifest);
  EXPECT_EQ(r.descriptor.size, image_.manifest.size);

  // By digest too.
  ASSERT_OK_AND_ASSIGN(Resolved by_digest,
                       resolver.Resolve(ctx, Ref("test/busybox@" + image_.manifest.digest)));
  EXPECT_EQ(by_digest.descriptor.digest, r.descriptor.digest);
  EXPECT_EQ(by_digest.descriptor.size, r.descriptor.size);

  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, r.name));
  ASSERT_OK_AND_ASSIGN(std::string manifest_bytes,
                       FetchAll(ctx, *fetcher, r.descriptor, kMaxManifestSize));
  EXPECT_EQ(manifest_bytes, image_.manifest.data);
  ASSERT_OK_AND_ASSIGN(std::string config_bytes,
                       FetchAll(ctx, *fetcher, DescOf(image_.config), 1 << 20));
  EXPECT_EQ(config_bytes, image_.config.data);
  // One kept-alive connection served the resolves and both fetches, one after the other.
  const std::string logs =
      registry_->LogsWith("\"GET /v2/test/busybox/blobs/" + image_.config.digest);
  std::vector<std::string> manifest_peers =
      RemoteAddrs(logs, "/manifests/" + image_.manifest.digest);
  std::vector<std::string> config_peers = RemoteAddrs(logs, "/blobs/" + image_.config.digest);
  ASSERT_EQ(manifest_peers.size(), 2u);  // HEAD (resolve by digest) and GET
  ASSERT_EQ(config_peers.size(), 1u);
  EXPECT_EQ(manifest_peers[0], manifest_peers[1]);
  EXPECT_EQ(manifest_peers[1], config_peers[0]);
  ASSERT_OK_AND_ASSIGN(Manifest m, ParseManifest(manifest_bytes, r.descriptor.media_type));
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].digest.ToString(), Layer().digest);

  // Config and layer, streamed in small chunks; several in parallel share the pools.
  std::vector<std::thread> threads;
  std::vector<absl::StatusOr<std::string>> got(4, std::string());
  std::vector<Descriptor> wanted = {m.config, m.layers[0], m.layers[0], m.config};
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    threads.emplace_back([&, i] {
      auto stream = fetcher->Fetch(ctx, wanted[i]);
      got[i] = stream.ok() ? ReadStreamAll(**stream) : stream.status();
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_OK(got[0].status());
  EXPECT_EQ(*got[0], image_.config.data);
  ASSERT_OK(got[1].status());
  EXPECT_EQ(*got[1], Layer().data);
  ASSERT_OK(got[2].status());
  ASSERT_OK(got[3].status());

  // What is not there.
  auto missing_tag = resolver.Resolve(ctx, Ref("test/busybox:nope"));
  EXPECT_TRUE(IsNotFound(missing_tag.status())) << missing_tag.status();
  EXPECT_THAT(std::string(missing_tag.status().message()), HasSubstr("HTTP 404 (not found)"));
  EXPECT_THAT(std::string(missing_tag.status().message()), HasSubstr("/manifests/nope"));
  auto missing_repo = resolver.Resolve(ctx, Ref("test/nothing:1.0"));
  EXPECT_TRUE(IsNotFound(missing_repo.status())) << missing_repo.status();
  Descriptor ghost = DescOf(Layer());
  ghost.digest = digest::FromBytes("not in the registry");
  auto missing_blob = fetcher->Fetch(ctx, ghost);
  EXPECT_TRUE(IsNotFound(missing_blob.status())) << missing_blob.status();
  EXPECT_THAT(std::string(missing_blob.status().message()), HasSubstr(ghost.digest.ToString()));
  // Bad input.
  EXPECT_TRUE(IsInvalidArgument(resolver.Resolve(ctx, "Not A Reference").status()));
  Descriptor negative = DescOf(Layer());
  negative.size = -1;
  EXPECT_TRUE(IsInvalidArgument(fetcher->Fetch(ctx, negative).status()));
  EXPECT_TRUE(IsInvalidArgument(fetcher->Fetch(ctx, DescOf(Layer()), Layer().size + 1).status()));
}

TEST_F(RemotesRegistryTest, DockerMediaTypesAndIndex) {
  ASSERT_OK_AND_ASSIGN(registry_, Registry::Start());
  berth::testing::ImageOptions docker;
  docker.media_types = berth::testing::MediaTypes::kDocker;
  ASSERT_OK_AND_ASSIGN(OciImage image, BusyboxImage(docker));
  ASSERT_OK(registry_->Push("test/docker", "1", image));
  ASSERT_OK_AND_ASSIGN(OciIndex index, berth::testing::MultiPlatformIndex());
  ASSERT_OK(registry_->Push("test/multi", "1", index));

  RegistryResolver resolver(FastOptions());
  CallContext ctx = CallContext::Background();
  ASSERT_OK_AND_ASSIGN(Resolved d, resolver.Resolve(ctx, Ref("test/docker:1")));
  EXPECT_EQ(d.descriptor.media_type, kDockerManifest);
  EXPECT_EQ(d.descriptor.digest.ToString(), image.manifest.digest);

  ASSERT_OK_AND_ASSIGN(Resolved r, resolver.Resolve(ctx, Ref("test/multi:1")));
  EXPECT_EQ(r.descriptor.media_type, kOciIndex);
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, r.name));
  ASSERT_OK_AND_ASSIGN(std::string index_bytes,
                       FetchAll(ctx, *fetcher, r.descriptor, kMaxManifestSize));
  ASSERT_OK_AND_ASSIGN(Index parsed, ParseIndex(index_bytes, r.descriptor.media_type));
  ASSERT_OK_AND_ASSIGN(platforms::Matcher arm64, MatcherFor({"linux/arm64"}));
  std::vector<Descriptor> chosen = SelectManifests(parsed, arm64, 1);
  ASSERT_EQ(chosen.size(), 1u);
  const OciImage* want = index.Find("linux", "arm64");
  ASSERT_NE(want, nullptr);
  EXPECT_EQ(chosen[0].digest.ToString(), want->manifest.digest);
  // A child manifest is fetched by digest from /manifests/.
  ASSERT_OK_AND_ASSIGN(std::string child, FetchAll(ctx, *fetcher, chosen[0], kMaxManifestSize));
  ASSERT_OK_AND_ASSIGN(Manifest m, ParseManifest(child, chosen[0].media_type));
  ASSERT_OK_AND_ASSIGN(std::string config, FetchAll(ctx, *fetcher, m.config, 1 << 20));
  EXPECT_EQ(nlohmann::json::parse(config)["architecture"], "arm64");
}

TEST_F(RemotesRegistryTest, CorruptBlobFailsNamingTheDigest) {
  StartWithBusybox();
  ASSERT_OK(registry_->CorruptBlob(Layer().digest));
  RegistryResolver resolver(FastOptions());
  CallContext ctx = CallContext::Background();
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, Ref("test/busybox:1.0")));
  ASSERT_OK_AND_ASSIGN(auto stream, fetcher->Fetch(ctx, DescOf(Layer())));
  std::int64_t delivered = 0;
  absl::Status st = CopyStream(*stream, [&](std::string_view piece) {
    delivered += static_cast<std::int64_t>(piece.size());
    return absl::OkStatus();
  });
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(IsDataLoss(st)) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("digest mismatch for " + Layer().digest));
  EXPECT_THAT(std::string(st.message()),
              HasSubstr(registry_->host() + "/v2/test/busybox/blobs/" + Layer().digest));
  // The end of a corrupt blob is never handed out, and the error sticks.
  EXPECT_LT(delivered, Layer().size);
  char c;
  EXPECT_TRUE(IsDataLoss(stream->Read(&c, 1).status()));
  // The other blobs are fine.
  auto config = fetcher->Fetch(ctx, DescOf(image_.config));
  ASSERT_OK(config.status());
  EXPECT_OK(ReadStreamAll(**config).status());
}

TEST_F(RemotesRegistryTest, ResumeFromOffset) {
  StartWithBusybox();
  RegistryResolver resolver(FastOptions());
  CallContext ctx = CallContext::Background();
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, Ref("test/busybox:1.0")));
  const std::int64_t offset = Layer().size / 3;
  ASSERT_OK_AND_ASSIGN(auto stream, fetcher->Fetch(ctx, DescOf(Layer()), offset));
  EXPECT_EQ(stream->offset(), offset);
  ASSERT_OK_AND_ASSIGN(std::string rest, ReadStreamAll(*stream));
  EXPECT_EQ(rest, Layer().data.substr(static_cast<std::size_t>(offset)));
  EXPECT_EQ(stream->offset(), Layer().size);
  // At the very end there is nothing to read.
  ASSERT_OK_AND_ASSIGN(auto at_end, fetcher->Fetch(ctx, DescOf(Layer()), Layer().size));
  ASSERT_OK_AND_ASSIGN(std::string nothing, ReadStreamAll(*at_end));
  EXPECT_TRUE(nothing.empty());
  // A resumed stream still checks the size: a descriptor claiming more fails.
  Descriptor longer = DescOf(Layer());
  longer.size += 10;
  auto bad = fetcher->Fetch(ctx, longer, offset);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(IsDataLoss(bad.status())) << bad.status();
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("size mismatch"));
}

TEST_F(RemotesRegistryTest, ResumesAfterConnectionCutMidBlob) {
  StartWithBusybox();
  ASSERT_GT(Layer().size, 300 << 10) << "the busybox layer should be large enough to cut";
  testing::CuttingRelay relay(registry_->port(), 256 << 10);
  ASSERT_GT(relay.port(), 0);
  RegistryResolver resolver(FastOptions());
  CallContext ctx = CallContext::Background();
  std::string ref = fmt::format("127.0.0.1:{}/test/busybox:1.0", relay.port());
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, ref));
  ASSERT_OK_AND_ASSIGN(auto stream, fetcher->Fetch(ctx, DescOf(Layer())));
  ASSERT_OK_AND_ASSIGN(std::string bytes, ReadStreamAll(*stream, 64 << 10));
  EXPECT_EQ(relay.cuts(), 1);
  EXPECT_GE(relay.connections(), 2);
  EXPECT_EQ(bytes.size(), Layer().data.size());
  EXPECT_TRUE(bytes == Layer().data);
  // The registry saw the resumed request.
  EXPECT_THAT(registry_->Logs(), HasSubstr("blobs/" + Layer().digest));
}

TEST_F(RemotesRegistryTest, PushToSecondRepositoryAndResolveBack) {
  StartWithBusybox();
  RegistryResolver resolver(FastOptions());
  CallContext ctx = CallContext::Background();
  ASSERT_OK_AND_ASSIGN(auto pusher, resolver.NewPusher(ctx, Ref("test/copy:2.0")));

  // Blobs the registry has in test/busybox are mounted, the manifest is uploaded last.
  PushOptions mount;
  mount.mount_from = "test/busybox";
  for (const berth::testing::Blob* blob : image_.ManifestBlobs()) {
    auto reader = BytesReader(blob->data);
    ASSERT_OK_AND_ASSIGN(PushResult result, pusher->Push(ctx, DescOf(*blob), *reader, mount));
    EXPECT_EQ(result, PushResult::kMounted) << blob->digest;
  }
  PushOptions tag;
  tag.tag = "2.0";
  auto manifest_reader = BytesReader(image_.manifest.data);
  ASSERT_OK_AND_ASSIGN(PushResult result,
                       pusher->Push(ctx, DescOf(image_.manifest), *manifest_reader, tag));
  EXPECT_EQ(result, PushResult::kUploaded);
  ASSERT_OK_AND_ASSIGN(Resolved back, resolver.Resolve(ctx, Ref("test/copy:2.0")));
  EXPECT_EQ(back.descriptor.digest.ToString(), image_.manifest.digest);
  // Pushing again finds everything there.
  auto layer_reader = BytesReader(Layer().data);
  ASSERT_OK_AND_ASSIGN(result, pusher->Push(ctx, DescOf(Layer()), *layer_reader, mount));
  EXPECT_EQ(result, PushResult::kAlreadyExists);
  ASSERT_OK_AND_ASSIGN(result, pusher->Push(ctx, DescOf(image_.manifest), *manifest_reader, {}));
  EXPECT_EQ(result, PushResult::kAlreadyExists);

  // Without a mount source: a monolithic upload to one repository, a chunked one to another.
  for (std::int64_t chunk : {std::int64_t{0}, std::int64_t{100 << 10}}) {
    std::string repo = chunk == 0 ? "test/mono" : "test/chunked";
    ASSERT_OK_AND_ASSIGN(auto p, resolver.NewPusher(ctx, Ref(repo + ":1")));
    PushOptions upload;
    upload.chunk_size = chunk;
    for (const berth::testing::Blob* blob : image_.ManifestBlobs()) {
      auto reader = BytesReader(blob->data);
      ASSERT_OK_AND_ASSIGN(PushResult r, p->Push(ctx, DescOf(*blob), *reader, upload));
      EXPECT_EQ(r, PushResult::kUploaded) << repo << " " << blob->digest;
    }
    upload.tag = "1";
    ASSERT_OK_AND_ASSIGN(PushResult r,
                         p->Push(ctx, DescOf(image_.manifest), *manifest_reader, upload));
    EXPECT_EQ(r, PushResult::kUploaded);
    ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, Ref(repo + ":1")));
    ASSERT_OK_AND_ASSIGN(std::string layer, FetchAll(ctx, *fetcher, DescOf(Layer()), 64 << 20));
    EXPECT_TRUE(layer == Layer().data) << repo;
  }

  // Bytes that do not match their descriptor are refused by the registry.
  Descriptor fresh;
  fresh.media_type = std::string(kOciLayer);
  fresh.digest = digest::FromBytes("the real bytes");
  fresh.size = static_cast<std::int64_t>(std::string("the fake bytes").size());
  auto fake = BytesReader("the fake bytes");
  auto refused = pusher->Push(ctx, fresh, *fake, PushOptions{});
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(IsDataLoss(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(fresh.digest.ToString()));
  // A manifest whose bytes do not match is refused before anything is sent.
  auto wrong_manifest = BytesReader(image_.config.data);
  Descriptor m = DescOf(image_.manifest);
  m.size = image_.config.size;
  EXPECT_TRUE(IsDataLoss(pusher->Push(ctx, m, *wrong_manifest, tag).status()));
  EXPECT_TRUE(IsInvalidArgument(
      pusher->Push(ctx, DescOf(image_.manifest), *manifest_reader, PushOptions{"-bad", "", 0})
          .status()));
}

TEST_F(RemotesRegistryTest, BasicAuthWithHtpasswd) {
  berth::testing::RegistryOptions options;
  options.users = {{"alice", "s3cret"}};
  StartWithBusybox(options);
  CallContext ctx = CallContext::Background();
  std::string ref = Ref("test/busybox:1.0");

  RegistryResolver anonymous(FastOptions());
  auto denied = anonymous.Resolve(ctx, ref);
  ASSERT_FALSE(denied.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(denied.status())) << denied.status();
  EXPECT_THAT(std::string(denied.status().message()), HasSubstr("no credentials"));

  RegistryOptions wrong_options = FastOptions();
  wrong_options.credentials = StaticCredentials({"alice", "wrong", ""});
  RegistryResolver wrong(wrong_options);
  auto rejected = wrong.Resolve(ctx, ref);
  ASSERT_FALSE(rejected.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(rejected.status())) << rejected.status();
  EXPECT_THAT(std::string(rejected.status().message()), HasSubstr("rejected"));
  EXPECT_THAT(std::string(rejected.status().message()), HasSubstr("alice"));

  // Credentials from a docker config.json, for this host only.
  std::string config = fmt::format(R"({{"auths": {{"{}": {{"auth": "{}"}}}}}})", registry_->host(),
                                   absl::Base64Escape(std::string("alice:s3cret")));
  ASSERT_OK_AND_ASSIGN(DockerConfig docker_config, DockerConfig::Parse(config));
  RegistryOptions good_options = FastOptions();
  good_options.credentials = docker_config.AsFunc();
  RegistryResolver good(good_options);
  ASSERT_OK_AND_ASSIGN(Resolved r, good.Resolve(ctx, ref));
  EXPECT_EQ(r.descriptor.digest.ToString(), image_.manifest.digest);
  ASSERT_OK_AND_ASSIGN(auto fetcher, good.NewFetcher(ctx, ref));
  ASSERT_OK_AND_ASSIGN(std::string layer, FetchAll(ctx, *fetcher, DescOf(Layer()), 64 << 20));
  EXPECT_TRUE(layer == Layer().data);
  ASSERT_OK_AND_ASSIGN(auto pusher, good.NewPusher(ctx, Ref("test/pushed:1")));
  auto reader = BytesReader(image_.config.data);
  ASSERT_OK_AND_ASSIGN(PushResult pushed,
                       pusher->Push(ctx, DescOf(image_.config), *reader, PushOptions{}));
  EXPECT_EQ(pushed, PushResult::kUploaded);
}

// A CA and a server certificate for 127.0.0.1 signed by it, made by openssl.
struct TestPki {
  std::string ca;
  std::string cert;
  std::string key;
};

absl::StatusOr<TestPki> MakePki(const TempDir& dir) {
  TestPki pki{dir.Path("ca.pem"), dir.Path("server.pem"), dir.Path("server.key")};
  std::string ca_key = dir.Path("ca.key");
  std::string csr = dir.Path("server.csr");
  std::string ext = dir.Path("ext.cnf");
  {
    std::ofstream out(ext);
    out << "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n";
  }
  RETURN_IF_ERROR(testing::Run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key, "-out",
                                pki.ca, "-days", "1", "-subj", "/CN=berth test CA"}));
  RETURN_IF_ERROR(
      testing::Run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", pki.key, "-out", csr, "-subj", "/CN=127.0.0.1"}));
  RETURN_IF_ERROR(
      testing::Run({"openssl", "x509", "-req", "-in", csr, "-CA", pki.ca, "-CAkey", ca_key,
                    "-CAcreateserial", "-out", pki.cert, "-days", "1", "-extfile", ext}));
  return pki;
}

TEST_F(RemotesRegistryTest, TlsWithCaFromHostsToml) {
  TempDir pki_dir("bpki");
  ASSERT_OK_AND_ASSIGN(TestPki pki, MakePki(pki_dir));
  berth::testing::RegistryOptions options;
  options.tls_cert = pki.cert;
  options.tls_key = pki.key;
  options.tls_ca = pki.ca;
  StartWithBusybox(options);
  CallContext ctx = CallContext::Background();
  std::string ref = Ref("test/busybox:1.0");

  // hosts.toml: https with the test CA (relative to the hosts.toml directory).
  TempDir certs("bcerts");
  std::string dir = certs.Path(registry_->host());
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  WriteFile(dir + "/ca.pem", ReadFile(pki.ca));
  auto write_hosts = [&](const std::string& extra) {
    WriteFile(dir + "/hosts.toml",
              fmt::format("server = \"https://{}\"\n{}", registry_->host(), extra));
  };
  RegistryOptions o = FastOptions();
  o.hosts.config_paths = {certs.path()};

  write_hosts("ca = \"ca.pem\"\n");
  RegistryResolver with_ca(o);
  ASSERT_OK_AND_ASSIGN(Resolved r, with_ca.Resolve(ctx, ref));
  EXPECT_EQ(r.descriptor.digest.ToString(), image_.manifest.digest);
  ASSERT_OK_AND_ASSIGN(auto fetcher, with_ca.NewFetcher(ctx, ref));
  ASSERT_OK_AND_ASSIGN(std::string layer, FetchAll(ctx, *fetcher, DescOf(Layer()), 64 << 20));
  EXPECT_TRUE(layer == Layer().data);

  // Without the CA the certificate is not trusted (hosts.toml is re-read per resolve).
  write_hosts("");
  RegistryResolver without_ca(o);
  auto untrusted = without_ca.Resolve(ctx, ref);
  ASSERT_FALSE(untrusted.ok());
  EXPECT_TRUE(IsUnavailable(untrusted.status())) << untrusted.status();
  EXPECT_THAT(std::string(untrusted.status().message()), HasSubstr("https://" + registry_->host()));

  // skip_verify accepts it.
  write_hosts("skip_verify = true\n");
  RegistryResolver insecure(o);
  EXPECT_OK(insecure.Resolve(ctx, ref).status());

  // Without hosts.toml, 127.0.0.1 is localhost: TLS first with verification skipped.
  RegistryResolver localhost(FastOptions());
  EXPECT_OK(localhost.Resolve(ctx, ref).status());

  // The registry (Go) offers HTTP/2 through ALPN, and the client takes it.
  HttpClient http;
  HttpRequest req;
  req.url = "https://" + registry_->host() + "/v2/";
  req.tls.ca_files = {pki.ca};
  ASSERT_OK_AND_ASSIGN(HttpResponse resp, http.Do(ctx, req, 1 << 20));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.http_version, "HTTP/2");
}

TEST_F(RemotesRegistryTest, DeadMirrorFallsBackToUpstream) {
  StartWithBusybox();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Registry> mirror, Registry::Start());
  ASSERT_OK(mirror->Push("test/busybox", "1.0", image_));
  int closed = testing::ClosedPort();
  TempDir certs("bcerts");
  std::string dir = certs.Path(registry_->host());
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  WriteFile(dir + "/hosts.toml",
            fmt::format("server = \"http://{}\"\n"
                        "[host.\"http://127.0.0.1:{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
                        "[host.\"http://{}\"]\n  capabilities = [\"pull\"]\n",
                        registry_->host(), closed, mirror->host()));
  RegistryOptions o = FastOptions();
  o.hosts.config_paths = {certs.path()};
  RegistryResolver resolver(o);
  CallContext ctx = CallContext::Background();
  std::string ref = Ref("test/busybox:1.0");

  // Resolve: the dead mirror fails, the pull-only mirror is skipped, the upstream answers.
  ASSERT_OK_AND_ASSIGN(Resolved r, resolver.Resolve(ctx, ref));
  EXPECT_EQ(r.descriptor.digest.ToString(), image_.manifest.digest);
  // (The fixture's own push PUT the tag on both registries; resolving is a HEAD.)
  std::string tag_request = "\"HEAD /v2/test/busybox/manifests/1.0";
  const std::string upstream_logs = registry_->LogsWith(tag_request);
  EXPECT_THAT(upstream_logs, HasSubstr(tag_request));
  EXPECT_THAT(mirror->Logs(), ::testing::Not(HasSubstr(tag_request)));
  EXPECT_THAT(upstream_logs, HasSubstr("http.request.useragent=berth/0.1"));

  // Fetch: the dead mirror fails, the live mirror serves, with ?ns=<registry host>.
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, ref));
  ASSERT_OK_AND_ASSIGN(std::string layer, FetchAll(ctx, *fetcher, DescOf(Layer()), 64 << 20));
  EXPECT_TRUE(layer == Layer().data);
  std::string ns = "ns=127.0.0.1%3A" + std::to_string(registry_->port());
  std::string mirror_logs = mirror->LogsWith(ns);
  EXPECT_THAT(mirror_logs, HasSubstr("/v2/test/busybox/blobs/" + Layer().digest));
  EXPECT_THAT(mirror_logs, HasSubstr(ns));

  // A blob no endpoint has: NotFound from the upstream, with every endpoint's failure listed.
  Descriptor ghost = DescOf(Layer());
  ghost.digest = digest::FromBytes("nowhere");
  auto nowhere = fetcher->Fetch(ctx, ghost);
  ASSERT_FALSE(nowhere.ok());
  EXPECT_TRUE(IsNotFound(nowhere.status())) << nowhere.status();
  std::string msg(nowhere.status().message());
  EXPECT_THAT(msg, HasSubstr(fmt::format("127.0.0.1:{}", closed)));
  EXPECT_THAT(msg, HasSubstr(mirror->host()));
  EXPECT_THAT(msg, HasSubstr(registry_->host()));

  // Everything dead: Unavailable.
  WriteFile(dir + "/hosts.toml", fmt::format("server = \"http://127.0.0.1:{}\"\n", closed));
  auto dead = resolver.Resolve(ctx, ref);
  EXPECT_TRUE(IsUnavailable(dead.status())) << dead.status();
}

// The registry redirects blob downloads to storage on another origin ("localhost" instead of
// "127.0.0.1"): the blob arrives, the registry got the credentials, the storage did not.
TEST_F(RemotesRegistryTest, RedirectToBlobStorageDropsCredentials) {
  StartWithBusybox();
  std::string storage = registry_->storage();
  testing::TinyHttpServer blob_storage([&](const testing::TinyRequest& req) {
    testing::TinyResponse resp;
    std::string path = req.target.substr(0, req.target.find('?'));
    if (path.find("..") != std::string::npos) {
      resp.status = 404;
      return resp;
    }
    std::string data = ReadFile(storage + path);
    if (data.empty()) {
      resp.status = 404;
      return resp;
    }
    resp.body = std::move(data);
    return resp;
  });
  TempDir dir("bredir");
  std::string htpasswd = dir.Path("htpasswd");
  ASSERT_OK(testing::Run({"htpasswd", "-B", "-b", "-c", htpasswd, "alice", "s3cret"}));
  ASSERT_OK_AND_ASSIGN(auto redirecting,
                       testing::RegistryProcess::Start(fmt::format(
                           "version: 0.1\n"
                           "log:\n  level: info\n"
                           "storage:\n  filesystem:\n    rootdirectory: \"{}\"\n"
                           "  maintenance:\n    uploadpurging:\n      enabled: false\n"
                           "middleware:\n  storage:\n    - name: redirect\n      options:\n"
                           "        baseurl: \"http://localhost:{}/\"\n"
                           "http:\n  addr: 127.0.0.1:0\n  secret: berth-test\n"
                           "auth:\n  htpasswd:\n    realm: berth-test\n    path: \"{}\"\n",
                           storage, blob_storage.port(), htpasswd)));
  RegistryOptions o = FastOptions();
  o.credentials = StaticCredentials({"alice", "s3cret", ""});
  RegistryResolver resolver(o);
  CallContext ctx = CallContext::Background();
  std::string ref = redirecting->host() + "/test/busybox:1.0";
  ASSERT_OK_AND_ASSIGN(Resolved r, resolver.Resolve(ctx, ref));
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, ref));
  ASSERT_OK_AND_ASSIGN(auto stream, fetcher->Fetch(ctx, DescOf(Layer())));
  EXPECT_THAT(stream->url(), HasSubstr(fmt::format("http://localhost:{}/", blob_storage.port())));
  ASSERT_OK_AND_ASSIGN(std::string layer, ReadStreamAll(*stream));
  EXPECT_TRUE(layer == Layer().data);

  std::vector<testing::TinyRequest> seen = blob_storage.requests();
  ASSERT_FALSE(seen.empty()) << "the registry did not redirect:\n" << redirecting->Logs();
  for (const testing::TinyRequest& req : seen) {
    EXPECT_EQ(req.headers.count("authorization"), 0u) << req.target;
    EXPECT_THAT(req.target, HasSubstr(Layer().digest.substr(7)));
  }
}

// --- Bearer tokens ------------------------------------------------------------------------------

std::string Base64Url(std::string_view data) {
  std::string out;
  absl::WebSafeBase64Escape(std::string(data), &out);
  return out;
}

// Signs JWTs the way docker-registry's token auth verifies them: RS256 with the certificate
// chain (one self-signed certificate, also the registry's rootcertbundle) in x5c.
class TokenSigner {
 public:
  static absl::StatusOr<std::unique_ptr<TokenSigner>> Create(const std::string& key_path,
                                                             const std::string& cert_path) {
    auto s = std::unique_ptr<TokenSigner>(new TokenSigner());
    FILE* kf = fopen(key_path.c_str(), "re");
    if (kf == nullptr) return absl::NotFoundError(key_path);
    s->key_ = PEM_read_PrivateKey(kf, nullptr, nullptr, nullptr);
    fclose(kf);
    FILE* cf = fopen(cert_path.c_str(), "re");
    if (cf == nullptr) return absl::NotFoundError(cert_path);
    X509* cert = PEM_read_X509(cf, nullptr, nullptr, nullptr);
    fclose(cf);
    if (s->key_ == nullptr || cert == nullptr) return absl::InternalError("bad key or cert");
    unsigned char* der = nullptr;
    int len = i2d_X509(cert, &der);
    s->x5c_ = absl::Base64Escape(std::string(reinterpret_cast<char*>(der), len));
    OPENSSL_free(der);
    X509_free(cert);
    return s;
  }
  ~TokenSigner() { EVP_PKEY_free(key_); }

  std::string Sign(const nlohmann::json& claims) const {
    nlohmann::json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"x5c", {x5c_}}};
    std::string input = Base64Url(header.dump()) + "." + Base64Url(claims.dump());
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    std::size_t sig_len = 0;
    EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key_);
    EVP_DigestSign(md, nullptr, &sig_len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string sig(sig_len, '\0');
    EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(md);
    sig.resize(sig_len);
    return input + "." + Base64Url(sig);
  }

 private:
  TokenSigner() = default;
  EVP_PKEY* key_ = nullptr;
  std::string x5c_;
};

std::string QueryValueDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

TEST_F(RemotesRegistryTest, BearerTokenAuth) {
  StartWithBusybox();
  TempDir dir("btoken");
  std::string key = dir.Path("token.key");
  std::string cert = dir.Path("token.pem");
  ASSERT_OK(testing::Run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                          key, "-out", cert, "-days", "1", "-subj", "/CN=berth token issuer"}));
  ASSERT_OK_AND_ASSIGN(auto signer, TokenSigner::Create(key, cert));
  const std::string basic = "Basic " + absl::Base64Escape(std::string("alice:s3cret"));

  // The issuer grants what is asked for to alice, nothing to anyone else.
  testing::TinyHttpServer issuer([&](const testing::TinyRequest& req) {
    testing::TinyResponse resp;
    std::vector<std::string> scopes;
    std::string service;
    std::string query = req.target.substr(req.target.find('?') + 1);
    std::size_t start = 0;
    while (start < query.size()) {
      std::size_t amp = query.find('&', start);
      if (amp == std::string::npos) amp = query.size();
      std::string kv = query.substr(start, amp - start);
      std::size_t eq = kv.find('=');
      std::string k = kv.substr(0, eq);
      std::string v = eq == std::string::npos ? "" : QueryValueDecode(kv.substr(eq + 1));
      if (k == "scope") scopes.push_back(v);
      if (k == "service") service = v;
      start = amp + 1;
    }
    auto auth = req.headers.find("authorization");
    bool alice = auth != req.headers.end() && auth->second == basic;
    if (auth != req.headers.end() && !alice) {
      resp.status = 401;
      return resp;
    }
    nlohmann::json access = nlohmann::json::array();
    for (const std::string& scope : scopes) {
      std::size_t first = scope.find(':');
      std::size_t last = scope.rfind(':');
      std::vector<std::string> actions;
      std::string acts = scope.substr(last + 1);
      std::size_t p = 0;
      while (p <= acts.size()) {
        std::size_t comma = acts.find(',', p);
        if (comma == std::string::npos) comma = acts.size();
        actions.push_back(acts.substr(p, comma - p));
        p = comma + 1;
      }
      if (alice) {
        access.push_back({{"type", scope.substr(0, first)},
                          {"name", scope.substr(first + 1, last - first - 1)},
                          {"actions", actions}});
      }
    }
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    nlohmann::json claims = {{"iss", "berth-test-issuer"},
                             {"sub", alice ? "alice" : ""},
                             {"aud", service},
                             {"exp", now + 300},
                             {"nbf", now - 10},
                             {"iat", now},
                             {"jti", std::to_string(now) + std::to_string(scopes.size())},
                             {"access", access}};
    resp.headers = {{"Content-Type", "application/json"}};
    resp.body = nlohmann::json{{"token", signer->Sign(claims)}, {"expires_in", 300}}.dump();
    return resp;
  });
  ASSERT_OK_AND_ASSIGN(
      auto token_registry,
      testing::RegistryProcess::Start(
          fmt::format("version: 0.1\n"
                      "log:\n  level: info\n"
                      "storage:\n  filesystem:\n    rootdirectory: \"{}\"\n"
                      "  maintenance:\n    uploadpurging:\n      enabled: false\n"
                      "http:\n  addr: 127.0.0.1:0\n  secret: berth-test\n"
                      "auth:\n  token:\n    realm: \"{}/token\"\n    service: berth-test-registry\n"
                      "    issuer: berth-test-issuer\n    rootcertbundle: \"{}\"\n",
                      registry_->storage(), issuer.url(), cert)));
  CallContext ctx = CallContext::Background();
  std::string ref = token_registry->host() + "/test/busybox:1.0";

  RegistryOptions o = FastOptions();
  o.credentials = StaticCredentials({"alice", "s3cret", ""});
  RegistryResolver resolver(o);
  ASSERT_OK_AND_ASSIGN(Resolved r, resolver.Resolve(ctx, ref));
  EXPECT_EQ(r.descriptor.digest.ToString(), image_.manifest.digest);
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, ref));
  ASSERT_OK_AND_ASSIGN(std::string manifest,
                       FetchAll(ctx, *fetcher, r.descriptor, kMaxManifestSize));
  ASSERT_OK_AND_ASSIGN(std::string config, FetchAll(ctx, *fetcher, DescOf(image_.config), 1 << 20));
  ASSERT_OK_AND_ASSIGN(std::string layer, FetchAll(ctx, *fetcher, DescOf(Layer()), 64 << 20));
  EXPECT_TRUE(layer == Layer().data);

  // One token for the pull scope, asked for with the registry's service, then cached.
  std::vector<testing::TinyRequest> asked = issuer.requests();
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_THAT(asked[0].target, HasSubstr("service=berth-test-registry"));
  EXPECT_THAT(asked[0].target, HasSubstr("scope=repository%3Atest%2Fbusybox%3Apull"));
  EXPECT_EQ(asked[0].headers["authorization"], basic);

  // Push needs a pull,push token for the target (and pull on the mount source).
  ASSERT_OK_AND_ASSIGN(auto pusher, resolver.NewPusher(ctx, token_registry->host() + "/test/t:1"));
  auto reader = BytesReader(Layer().data);
  PushOptions mount;
  mount.mount_from = "test/busybox";
  ASSERT_OK_AND_ASSIGN(PushResult pushed, pusher->Push(ctx, DescOf(Layer()), *reader, mount));
  EXPECT_EQ(pushed, PushResult::kMounted);
  EXPECT_EQ(issuer.requests().size(), 2u);

  // Anonymous: the issuer hands out a token without access, which the registry refuses.
  RegistryResolver anonymous(FastOptions());
  auto denied = anonymous.Resolve(ctx, ref);
  ASSERT_FALSE(denied.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(denied.status()) || IsPermissionDenied(denied.status()))
      << denied.status();
  EXPECT_THAT(std::string(denied.status().message()), HasSubstr("refused"));
  // Wrong password: the token server says 401.
  RegistryOptions wrong = FastOptions();
  wrong.credentials = StaticCredentials({"alice", "nope", ""});
  RegistryResolver wrong_resolver(wrong);
  auto rejected = wrong_resolver.Resolve(ctx, ref);
  EXPECT_TRUE(absl::IsUnauthenticated(rejected.status())) << rejected.status();
}

// A loopback front for the registry that answers the first `faults` GETs of `blob` with
// `fault` and forwards everything else to the real registry (status, body, the headers a
// client reads): registry answers 500 and 429 without a registry of our own.
class FaultyFront {
 public:
  FaultyFront(Registry* registry, std::string blob, int faults, testing::TinyResponse fault)
      : server_([this, registry, blob = std::move(blob), faults,
                 fault](const testing::TinyRequest& req) {
          if (req.target.find("/blobs/" + blob) != std::string::npos) {
            if (blob_requests_.fetch_add(1) < faults) return fault;
          }
          std::vector<std::string> headers;
          auto accept = req.headers.find("accept");
          if (accept != req.headers.end()) headers.push_back("Accept: " + accept->second);
          auto range = req.headers.find("range");
          if (range != req.headers.end()) headers.push_back("Range: " + range->second);
          testing::TinyResponse resp;
          absl::StatusOr<berth::testing::HttpReply> r =
              registry->Request(req.method, req.target, "", headers);
          if (!r.ok()) {
            resp.status = 502;
            return resp;
          }
          resp.status = static_cast<int>(r->status);
          resp.body = r->body;
          for (const char* h : {"content-type", "docker-content-digest", "content-range"}) {
            auto it = r->headers.find(h);
            if (it != r->headers.end()) resp.headers.emplace_back(h, it->second);
          }
          return resp;
        }) {}

  std::string Host() const { return fmt::format("127.0.0.1:{}", server_.port()); }
  std::string Ref(const std::string& repo_tag) const { return Host() + "/" + repo_tag; }
  // FastOptions with a hosts.toml naming the front as a plain-HTTP server: a loopback host
  // is otherwise tried with TLS first, which the front does not answer.
  RegistryOptions Options() {
    const std::string dir = hosts_.Path(Host());
    ::mkdir(dir.c_str(), 0755);
    WriteFile(dir + "/hosts.toml", fmt::format("server = \"http://{}\"\n", Host()));
    RegistryOptions o = FastOptions();
    o.hosts.config_paths = {hosts_.path()};
    return o;
  }
  int blob_requests() const { return blob_requests_.load(); }

 private:
  std::atomic<int> blob_requests_{0};
  TempDir hosts_{"bfront"};
  testing::TinyHttpServer server_;
};

testing::TinyResponse FaultResponse(int status,
                                    std::vector<std::pair<std::string, std::string>> h = {}) {
  testing::TinyResponse r;
  r.status = status;
  r.headers = std::move(h);
  r.body = "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"injected\"}]}";
  return r;
}

TEST_F(RemotesRegistryTest, RetriesServerErrorsThenFetches) {
  StartWithBusybox();
  // FastOptions: 3 attempts; two 500s are retried, the third try gets the blob.
  FaultyFront front(registry_.get(), Layer().digest, 2, FaultResponse(500));
  RegistryResolver resolver(front.Options());
  CallContext ctx = CallContext::Background();
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, front.Ref("test/busybox:1.0")));
  ASSERT_OK_AND_ASSIGN(auto stream, fetcher->Fetch(ctx, DescOf(Layer())));
  ASSERT_OK_AND_ASSIGN(std::string bytes, ReadStreamAll(*stream, 64 << 10));
  EXPECT_TRUE(bytes == Layer().data);
  EXPECT_EQ(front.blob_requests(), 3);
}

TEST_F(RemotesRegistryTest, PersistentServerErrorIsUnavailableAfterMaxAttempts) {
  StartWithBusybox();
  FaultyFront front(registry_.get(), Layer().digest, 1000, FaultResponse(503));
  RegistryResolver resolver(front.Options());
  CallContext ctx = CallContext::Background();
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, front.Ref("test/busybox:1.0")));
  absl::StatusOr<std::string> got = [&]() -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(auto stream, fetcher->Fetch(ctx, DescOf(Layer())));
    return ReadStreamAll(*stream);
  }();
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(IsUnavailable(got.status())) << got.status();
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("503"));
  EXPECT_EQ(front.blob_requests(), 3);
}

TEST_F(RemotesRegistryTest, TooManyRequestsHonoursRetryAfter) {
  StartWithBusybox();
  // 429 with Retry-After: 1 second (within max_retry_after): one retry, then the blob.
  FaultyFront front(registry_.get(), Layer().digest, 1, FaultResponse(429, {{"Retry-After", "1"}}));
  RegistryResolver resolver(front.Options());
  CallContext ctx = CallContext::Background();
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, front.Ref("test/busybox:1.0")));
  ASSERT_OK_AND_ASSIGN(auto stream, fetcher->Fetch(ctx, DescOf(Layer())));
  ASSERT_OK_AND_ASSIGN(std::string bytes, ReadStreamAll(*stream, 64 << 10));
  EXPECT_TRUE(bytes == Layer().data);
  EXPECT_EQ(front.blob_requests(), 2);
}

TEST_F(RemotesRegistryTest, RetryAfterBeyondTheLimitFailsAtOnce) {
  StartWithBusybox();
  // An hour is more than max_retry_after: no waiting, a clear error naming the status.
  FaultyFront front(registry_.get(), Layer().digest, 1000,
                    FaultResponse(429, {{"Retry-After", "3600"}}));
  RegistryResolver resolver(front.Options());
  CallContext ctx = CallContext::Background();
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, front.Ref("test/busybox:1.0")));
  absl::StatusOr<std::string> got = [&]() -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(auto stream, fetcher->Fetch(ctx, DescOf(Layer())));
    return ReadStreamAll(*stream);
  }();
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(IsUnavailable(got.status())) << got.status();
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("429"));
  EXPECT_EQ(front.blob_requests(), 1);
}

TEST_F(RemotesRegistryTest, WrongContentLengthIsDataLoss) {
  StartWithBusybox();
  // A 200 whose Content-Length (and body) is half the descriptor's size, on every try.
  testing::TinyResponse half;
  half.status = 200;
  half.body = Layer().data.substr(0, Layer().data.size() / 2);
  half.headers.emplace_back("Content-Type", "application/octet-stream");
  FaultyFront front(registry_.get(), Layer().digest, 1000, half);
  RegistryResolver resolver(front.Options());
  CallContext ctx = CallContext::Background();
  ASSERT_OK_AND_ASSIGN(auto fetcher, resolver.NewFetcher(ctx, front.Ref("test/busybox:1.0")));
  absl::StatusOr<std::string> got = [&]() -> absl::StatusOr<std::string> {
    ASSIGN_OR_RETURN(auto stream, fetcher->Fetch(ctx, DescOf(Layer())));
    return ReadStreamAll(*stream);
  }();
  ASSERT_FALSE(got.ok()) << "half a blob accepted";
  EXPECT_TRUE(IsDataLoss(got.status())) << got.status();
  EXPECT_THAT(std::string(got.status().message()), HasSubstr(Layer().digest));
}

}  // namespace
}  // namespace berth::remotes
