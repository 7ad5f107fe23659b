// Conformance of the whole suite with containerd's own client: deploy/berth-up starts
// nats-server, berth-content and berth-gateway on a temporary root, and Debian's unmodified
// `ctr` (containerd 1.6) talks to ROOT/berth.sock. Plus one gRPC client test: a streaming
// Write through the gateway while the content service is killed.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "lib/digest/digest.h"
#include "lib/server/health_client.h"
#include "lib/testing/child_process.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"
#include "tests/conformance/suite.h"

namespace berth::conformance {
namespace {

namespace content = containerd::services::content::v1;
using ::berth::testing::WaitFor;

constexpr size_t kBlobSize = 64 << 20;

// Writes `size` pseudo-random bytes (seeded: reproducible) to `path`; returns their digest.
std::string WriteRandomFile(const std::string& path, size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (size_t i = 0; i + 8 <= size; i += 8) {
    const uint64_t v = rng();
    std::memcpy(&data[i], &v, 8);
  }
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(size));
  return digest::FromBytes(data).ToString();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
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

class CtrTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_ = new Suite();
    absl::Status s = suite_->Start();
    if (!s.ok()) {
      start_error_ = new std::string(s.ToString());
      return;
    }
    blob_path_ = new std::string(suite_->Path("blob"));
    blob_digest_ = new std::string(WriteRandomFile(*blob_path_, kBlobSize, 42));
  }

  static void TearDownTestSuite() {
    delete suite_;  // berth-up stop
    suite_ = nullptr;
    delete start_error_;
    delete blob_path_;
    delete blob_digest_;
  }

  void SetUp() override { ASSERT_EQ(start_error_, nullptr) << *start_error_; }

  Suite& suite() { return *suite_; }

  static Suite* suite_;
  static std::string* start_error_;
  static std::string* blob_path_;
  static std::string* blob_digest_;
};

Suite* CtrTest::suite_ = nullptr;
std::string* CtrTest::start_error_ = nullptr;
std::string* CtrTest::blob_path_ = nullptr;
std::string* CtrTest::blob_digest_ = nullptr;

TEST_F(CtrTest, Version) {
  CtrResult r = suite().Ctr({"version"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "Server:")) << r.out;
  EXPECT_TRUE(Contains(r.out, "Version:  0.")) << r.out;
  std::smatch m;
  const std::regex uuid(
      "UUID: ([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})");
  ASSERT_TRUE(std::regex_search(r.out, m, uuid)) << r.out;
  const std::string first = m[1];
  // The UUID is the instance's, stable across calls.
  CtrResult again = suite().Ctr({"version"});
  EXPECT_TRUE(Contains(again.out, "UUID: " + first)) << again.out;
}

TEST_F(CtrTest, PluginsListBackends) {
  CtrResult r = suite().Ctr({"plugins", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountLines(r.out, {"io.containerd.content.v1", "content", "ok"}), 1) << r.out;
  EXPECT_EQ(CountLines(r.out, {"io.containerd.grpc.v1", "namespaces", "ok"}), 1) << r.out;
  CtrResult filtered = suite().Ctr({"plugins", "ls", "type==io.containerd.content.v1"});
  ASSERT_EQ(filtered.exit_code, 0) << filtered.err;
  EXPECT_FALSE(Contains(filtered.out, "namespaces")) << filtered.out;
}

TEST_F(CtrTest, Namespaces) {
  CtrResult r = suite().Ctr({"namespaces", "create", "conf-ns", "a=b"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite().Ctr({"namespaces", "create", "conf-ns"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "already exists")) << r.err;
  r = suite().Ctr({"namespaces", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountLines(r.out, {"conf-ns", "a=b"}), 1) << r.out;

  r = suite().Ctr({"namespaces", "label", "conf-ns", "c=d"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite().Ctr({"namespaces", "ls"});
  EXPECT_EQ(CountLines(r.out, {"conf-ns", "a=b,c=d"}), 1) << r.out;
  r = suite().Ctr({"namespaces", "label", "conf-ns", "a="});  // removes label a
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite().Ctr({"namespaces", "ls"});
  EXPECT_EQ(CountLines(r.out, {"conf-ns", "c=d"}), 1) << r.out;
  EXPECT_EQ(CountLines(r.out, {"conf-ns", "a=b"}), 0) << r.out;

  r = suite().Ctr({"namespaces", "create", "bad/name"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "invalid argument")) << r.err;

  r = suite().Ctr({"namespaces", "rm", "conf-ns"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite().Ctr({"namespaces", "ls", "-q"});
  EXPECT_FALSE(Contains(r.out, "conf-ns")) << r.out;
}

TEST_F(CtrTest, DeletingANonEmptyNamespaceIsRefused) {
  const std::string small = suite().Path("small");
  const std::string digest = WriteRandomFile(small, 4096, 7);
  CtrResult r =
      suite().Ctr({"content", "ingest", "--expected-digest", digest, "small"}, "busy", small);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite().Ctr({"namespaces", "rm", "busy"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "namespace \"busy\" must be empty")) << r.err;
  EXPECT_TRUE(Contains(r.err, "blobs")) << r.err;
  EXPECT_TRUE(Contains(r.err, "failed precondition")) << r.err;
  r = suite().Ctr({"namespaces", "ls", "-q"});
  EXPECT_TRUE(Contains(r.out, "busy")) << r.out;

  // Emptied, it goes.
  r = suite().Ctr({"content", "rm", digest}, "busy");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite().Ctr({"namespaces", "rm", "busy"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CtrTest, Leases) {
  CtrResult r = suite().Ctr({"leases", "create", "--id", "conf-lease", "team=berth"}, "leasens");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "conf-lease")) << r.out;
  r = suite().Ctr({"leases", "create"}, "leasens");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  const std::string generated_out = r.out;
  ASSERT_TRUE(std::regex_search(generated_out, m, std::regex("([0-9]+-[A-Za-z0-9_-]{4})")))
      << generated_out;
  const std::string generated = m[1];

  r = suite().Ctr({"leases", "ls"}, "leasens");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountLines(r.out, {"conf-lease", "team=berth"}), 1) << r.out;
  EXPECT_EQ(CountLines(r.out, {generated, "containerd.io/gc.expire="}), 1) << r.out;
  // Leases are per namespace; filters work.
  r = suite().Ctr({"leases", "ls"}, "otherns");
  EXPECT_FALSE(Contains(r.out, "conf-lease")) << r.out;
  r = suite().Ctr({"leases", "ls", "id==conf-lease"}, "leasens");
  EXPECT_TRUE(Contains(r.out, "conf-lease")) << r.out;
  EXPECT_FALSE(Contains(r.out, generated)) << r.out;

  // A namespace holding a lease is not empty.
  r = suite().Ctr({"namespaces", "rm", "leasens"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "leases")) << r.err;

  r = suite().Ctr({"leases", "create", "--id", "conf-lease"}, "leasens");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "already exists")) << r.err;

  r = suite().Ctr({"leases", "rm", "conf-lease", generated}, "leasens");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite().Ctr({"leases", "ls", "-q"}, "leasens");
  EXPECT_FALSE(Contains(r.out, "conf-lease")) << r.out;
  EXPECT_FALSE(Contains(r.out, generated)) << r.out;
  r = suite().Ctr({"leases", "rm", "conf-lease"}, "leasens");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "not found")) << r.err;
  r = suite().Ctr({"namespaces", "rm", "leasens"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(CtrTest, ContentLifecycle) {
  const std::string& digest = *blob_digest_;
  CtrResult r = suite().Ctr({"content", "ingest", "--expected-digest", digest, "--expected-size",
                             std::to_string(kBlobSize), "conf-blob"},
                            "", *blob_path_);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = suite().Ctr({"content", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountLines(r.out, {digest}), 1) << r.out;

  const std::string got = suite().Path("got");
  r = suite().CtrToFile({"content", "get", digest}, "", got);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(ReadFile(got) == ReadFile(*blob_path_)) << "content get is not byte-identical";
  unlink(got.c_str());

  r = suite().Ctr({"content", "label", digest, "conf=yes"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite().Ctr({"content", "ls"});
  EXPECT_EQ(CountLines(r.out, {digest, "conf=yes"}), 1) << r.out;

  // The same blob in a second namespace: its own record, without the first one's labels.
  r = suite().Ctr({"content", "ingest", "--expected-digest", digest, "--expected-size",
                   std::to_string(kBlobSize), "conf-blob"},
                  "second", *blob_path_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite().Ctr({"content", "ls"}, "second");
  EXPECT_EQ(CountLines(r.out, {digest}), 1) << r.out;
  EXPECT_EQ(CountLines(r.out, {"conf=yes"}), 0) << r.out;

  // Ingesting it again where it exists is a no-op (AlreadyExists is the "skip" path).
  r = suite().Ctr({"content", "ingest", "--expected-digest", digest, "conf-blob"}, "second",
                  *blob_path_);
  EXPECT_EQ(r.exit_code, 0) << r.err;

  r = suite().Ctr({"content", "rm", digest});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite().Ctr({"content", "ls"});
  EXPECT_EQ(CountLines(r.out, {digest}), 0) << r.out;
  r = suite().Ctr({"content", "ls"}, "second");
  EXPECT_EQ(CountLines(r.out, {digest}), 1) << r.out;
  r = suite().Ctr({"content", "get", "sha256:" + std::string(64, '0')});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "not found")) << r.err;
}

TEST_F(CtrTest, WrongExpectedDigestStoresNothing) {
  const std::string wrong = "sha256:" + std::string(64, 'a');
  CtrResult r = suite().Ctr({"content", "ingest", "--expected-digest", wrong, "conf-wrong"},
                            "wrongns", *blob_path_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "failed precondition")) << r.err;
  r = suite().Ctr({"content", "ls", "-q"}, "wrongns");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "") << r.out;
  r = suite().Ctr({"content", "get", *blob_digest_}, "wrongns");
  EXPECT_NE(r.exit_code, 0);
}

TEST_F(CtrTest, EventsReachABackgroundSubscriber) {
  testing::ChildProcessOptions options;
  options.argv = {"ctr", "-a", suite().socket(), "events"};
  options.stdout_path = suite().Path("events.out");
  options.stderr_path = suite().Path("events.err");
  ASSERT_OK_AND_ASSIGN(testing::ChildProcess events, testing::ChildProcess::Start(options));
  auto seen = [&] { return ReadFile(options.stdout_path); };

  // Subscribed once one of our own namespace updates comes through.
  int probe = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string value = "p" + std::to_string(++probe);
        suite().Ctr({"namespaces", "label", "evprobe", "probe=" + value});
        return Contains(seen(), "\"probe\":\"" + value + "\"");
      },
      std::chrono::seconds(30)))
      << seen() << ReadFile(options.stderr_path);

  const std::string small = suite().Path("evblob");
  const std::string digest = WriteRandomFile(small, 1 << 20, 99);
  for (const char* ns : {"evns1", "evns2"}) {
    CtrResult r =
        suite().Ctr({"content", "ingest", "--expected-digest", digest, "evblob"}, ns, small);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = suite().Ctr({"content", "rm", digest}, ns);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::string expect = "{\"digest\":\"" + digest + "\"}";
  EXPECT_TRUE(WaitFor([&] {
    const std::string out = seen();
    return CountLines(out, {" evns1 /content/delete ", expect}) == 1 &&
           CountLines(out, {" evns2 /content/delete ", expect}) == 1;
  })) << seen();
  // Namespace events carry the caller's namespace (default) and the right topic.
  EXPECT_GE(CountLines(seen(), {" default /namespaces/update ", "\"name\":\"evprobe\""}), 1)
      << seen();
  // The stream stays open.
  EXPECT_TRUE(events.Running()) << ReadFile(options.stderr_path);
  EXPECT_OK(events.Terminate(std::chrono::seconds(10)).status());
}

// A streaming Write through the gateway while berth-content is killed: the client gets
// Unavailable naming the service; once `berth-up start` brought the service back, writing
// the same ref resumes where the ingest had got to.
TEST_F(CtrTest, WriteSurvivesBackendRestart) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(16 << 20);
  args.SetMaxReceiveMessageSize(16 << 20);
  auto channel = grpc::CreateCustomChannel("unix:" + suite().socket(),
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = content::Content::NewStub(channel);
  const std::string data = ReadFile(*blob_path_);
  const std::string& digest = *blob_digest_;
  constexpr int64_t kChunk = 1 << 20;
  constexpr int64_t kBefore = 8 * kChunk;
  const std::string ref = "conf-restart";

  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("containerd-namespace", "restartns");
    auto stream = stub->Write(&ctx);
    content::WriteContentRequest req;
    content::WriteContentResponse resp;
    req.set_action(content::STAT);
    req.set_ref(ref);
    req.set_total(static_cast<int64_t>(data.size()));
    req.set_expected(digest);
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->Read(&resp));
    for (int64_t off = 0; off < kBefore; off += kChunk) {
      req.Clear();
      req.set_action(content::WRITE);
      req.set_offset(off);
      req.set_data(data.substr(static_cast<size_t>(off), kChunk));
      ASSERT_TRUE(stream->Write(req));
      ASSERT_TRUE(stream->Read(&resp));
      ASSERT_EQ(resp.offset(), off + kChunk);
    }
    const int pid = suite().Pid("content");
    ASSERT_GT(pid, 0);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    // The stream breaks: the next exchange fails, and the status says why.
    req.Clear();
    req.set_action(content::WRITE);
    req.set_offset(kBefore);
    req.set_data(data.substr(static_cast<size_t>(kBefore), kChunk));
    if (stream->Write(req)) {
      EXPECT_FALSE(stream->Read(&resp));
    }
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
    EXPECT_TRUE(
        Contains(s.error_message(), "service containerd.services.content.v1.Content unavailable"))
        << s.error_message();
  }
  {
    CtrResult status = suite().Status();
    EXPECT_NE(status.exit_code, 0) << status.out;
    EXPECT_TRUE(Contains(status.out, "content   stopped")) << status.out;
  }
  // The gateway's health service follows the backend.
  const std::string kContentService = "containerd.services.content.v1.Content";
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<server::HealthStatus> h = server::CheckHealth(*channel, kContentService);
        return h.ok() && *h == server::HealthStatus::kNotServing;
      },
      std::chrono::seconds(30)));
  absl::StatusOr<server::HealthStatus> gateway_health = server::CheckHealth(*channel);
  ASSERT_OK(gateway_health.status());
  EXPECT_EQ(*gateway_health, server::HealthStatus::kServing);

  ASSERT_OK(suite().Start());
  EXPECT_EQ(suite().Status().exit_code, 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        absl::StatusOr<server::HealthStatus> h = server::CheckHealth(*channel, kContentService);
        return h.ok() && *h == server::HealthStatus::kServing;
      },
      std::chrono::seconds(30)));

  // Retry: the ingest survived the crash and resumes at what the service had acknowledged.
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<
      grpc::ClientReaderWriter<content::WriteContentRequest, content::WriteContentResponse>>
      stream;
  content::WriteContentRequest req;
  content::WriteContentResponse resp;
  ASSERT_TRUE(WaitFor(
      [&] {
        ctx = std::make_unique<grpc::ClientContext>();
        ctx->AddMetadata("containerd-namespace", "restartns");
        stream = stub->Write(ctx.get());
        req.Clear();
        req.set_action(content::STAT);
        req.set_ref(ref);
        req.set_total(static_cast<int64_t>(data.size()));
        req.set_expected(digest);
        if (stream->Write(req) && stream->Read(&resp)) return true;
        stream->Finish();  // the gateway reconnects within its backoff
        return false;
      },
      std::chrono::seconds(30)));
  // Not necessarily all of it: what the service had acknowledged but not yet written to its
  // ingest file when it was killed is lost, and the client resumes from the offset the
  // service reports (as containerd's clients do).
  EXPECT_GT(resp.offset(), 0);
  EXPECT_LE(resp.offset(), kBefore);
  int64_t off = resp.offset();
  while (off < static_cast<int64_t>(data.size())) {
    req.Clear();
    req.set_action(content::WRITE);
    req.set_offset(off);
    const std::string chunk = data.substr(static_cast<size_t>(off), kChunk);
    req.set_data(chunk);
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->Read(&resp));
    off += static_cast<int64_t>(chunk.size());
    ASSERT_EQ(resp.offset(), off);
  }
  req.Clear();
  req.set_action(content::COMMIT);
  req.set_offset(off);
  req.set_total(off);
  req.set_expected(digest);
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.digest(), digest);
  stream->WritesDone();
  grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();

  CtrResult r = suite().Ctr({"content", "ls"}, "restartns");
  EXPECT_EQ(CountLines(r.out, {digest}), 1) << r.out;
}

// The gateway with unary_fast_path = false forwards unary methods (Content.Info, Update,
// Delete, ListStatuses) as bidi streams, as it forwards everything else: ctr must not notice.
TEST(CtrUnaryOverBidiTest, ContentCommands) {
  Suite suite;
  const std::string source = std::getenv("BERTH_SOURCE_DIR") != nullptr
                                 ? std::getenv("BERTH_SOURCE_DIR")
                                 : BERTH_SOURCE_DIR_FALLBACK;
  std::string config = ReadFile(source + "/deploy/config.toml");
  const std::string key = "unary_fast_path = true";
  const size_t at = config.find(key);
  ASSERT_NE(at, std::string::npos) << "deploy/config.toml has no " << key;
  config.replace(at, key.size(), "unary_fast_path = false");
  const std::string template_path = suite.Path("config-template.toml");
  std::ofstream(template_path) << config;
  suite.SetEnv({"BERTH_CONFIG=" + template_path, "BERTH_SERVICES=content"});
  ASSERT_OK(suite.Start());
  EXPECT_TRUE(Contains(ReadFile(suite.Path("config.toml")), "unary_fast_path = false"));

  const std::string blob = suite.Path("blob");
  const std::string digest = WriteRandomFile(blob, 3 << 20, 5);
  CtrResult r = suite.Ctr({"content", "ingest", "--expected-digest", digest, "b"}, "", blob);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite.Ctr({"content", "active"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string got = suite.Path("got");
  r = suite.CtrToFile({"content", "get", digest}, "", got);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(ReadFile(got) == ReadFile(blob));
  r = suite.Ctr({"content", "label", digest, "via=bidi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite.Ctr({"content", "ls"});
  EXPECT_EQ(CountLines(r.out, {digest, "via=bidi"}), 1) << r.out;
  r = suite.Ctr({"content", "rm", digest});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = suite.Ctr({"content", "get", digest});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(Contains(r.err, "not found")) << r.err;
  EXPECT_OK(suite.Stop());
}

}  // namespace
}  // namespace berth::conformance
