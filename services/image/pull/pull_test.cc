// berth-image's server-side pull (berth.image.v1.Pull) end to end: a local suite
// (deploy/berth-up: nats-server, berth-content, -snapshot, -image, -runtime, -gateway) on a
// temporary root, Debian's real docker-registry on loopback (lib/testing/registry.h) holding
// images the test builds from busybox-static (lib/testing/oci_image.h), the pull called through
// the gateway socket, and Debian's unmodified `ctr` (containerd 1.6) as the reference: what a
// server-side pull leaves in one namespace must equal what `ctr images pull` leaves in
// another — blobs, their labels, the image record, the committed snapshot chain — and the
// image must run with `ctr run`.
//
// Needs root (overlay mounts, runc), ctr, runc, nats-server and docker-registry; skips
// otherwise.
#include <arpa/inet.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lib/status/status.h"
#include "lib/testing/child_process.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/wait_for.h"
#include "proto/berth/image/v1/pull.grpc.pb.h"
#include "proto/containerd/services/transfer/v1/transfer.grpc.pb.h"
#include "tests/conformance/suite.h"

namespace berth::image::pull {
namespace {

namespace pullpb = ::berth::image::v1;
using ::berth::conformance::CtrResult;
using ::berth::conformance::ReadFile;
using ::berth::conformance::Suite;
using ::berth::testing::BusyboxImage;
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

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::vector<std::string> Fields(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string f;
  while (in >> f) out.push_back(f);
  return out;
}

// A LABELS cell of `ctr content ls` ("k=v,k=v", in Go's map order) sorted by key. Values may
// contain ',' (distribution sources): a part without '=' continues the previous label.
std::string SortedLabels(const std::string& cell) {
  std::vector<std::string> labels;
  std::istringstream in(cell);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part.find('=') == std::string::npos && !labels.empty()) {
      labels.back() += "," + part;
    } else {
      labels.push_back(part);
    }
  }
  std::sort(labels.begin(), labels.end());
  std::string out;
  for (const std::string& l : labels) out += (out.empty() ? "" : ",") + l;
  return out;
}

// `ctr content ls` as digest -> sorted labels (the last column; sizes and ages left out).
std::map<std::string, std::string> ContentLabels(const std::string& out) {
  std::map<std::string, std::string> m;
  std::vector<std::string> lines = Lines(out);
  for (size_t i = 1; i < lines.size(); ++i) {  // header first
    std::vector<std::string> f = Fields(lines[i]);
    if (f.size() >= 2) m[f.front()] = SortedLabels(f.back());
  }
  return m;
}

// The rows after the header, sorted, each with its whitespace collapsed.
std::vector<std::string> Rows(const std::string& out) {
  std::vector<std::string> rows;
  std::vector<std::string> lines = Lines(out);
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string row;
    for (const std::string& f : Fields(lines[i])) row += (row.empty() ? "" : " ") + f;
    rows.push_back(row);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

// Random bytes (deterministic): a layer gzip cannot shrink and no other image shares.
std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// A length-delimited protobuf field: how containerd's transfer Anys are built by hand (berth
// has no protos for containerd.types.transfer; client/pull.cc encodes them the same way).
std::string Field(int number, const std::string& value) {
  std::string out;
  google::protobuf::io::StringOutputStream raw(&out);
  google::protobuf::io::CodedOutputStream coded(&raw);
  coded.WriteTag(static_cast<uint32_t>(number << 3 | 2));
  coded.WriteVarint32(static_cast<uint32_t>(value.size()));
  coded.WriteString(value);
  coded.Trim();
  return out;
}

// An image of random layers of `layer_sizes` bytes (uncompressed OCI tars), on top of the
// busybox layer when `busybox` (so it runs), else of those layers only (so no blob is shared
// with another image).
absl::StatusOr<OciImage> RandomImage(const std::vector<size_t>& layer_sizes, uint32_t seed,
                                     bool busybox = true) {
  std::vector<testing::Layer> layers;
  if (busybox) {
    ASSIGN_OR_RETURN(std::vector<TarEntry> base, testing::BusyboxEntries());
    ASSIGN_OR_RETURN(testing::Layer first, MakeLayer(base, MediaTypes::kOci));
    layers.push_back(std::move(first));
  }
  for (size_t i = 0; i < layer_sizes.size(); ++i) {
    ASSIGN_OR_RETURN(testing::Layer l,
                     MakeLayer({TarEntry::File("data" + std::to_string(i),
                                               RandomBytes(layer_sizes[i], seed + i))},
                               MediaTypes::kOci, testing::Compression::kNone));
    layers.push_back(std::move(l));
  }
  return MakeImage(std::move(layers));
}

// Everything the tests pull, built once and pushed to one registry.
struct Images {
  OciImage busybox;     // test/busybox:1.0
  OciImage whiteouts;   // test/whiteouts:1.0
  OciImage docker;      // test/docker:1.0 (Docker media types, whiteouts)
  OciIndex multi;       // test/multi:1.0 (linux/amd64 + linux/arm64)
  OciImage corrupt;     // test/corrupt:1.0, its layer corrupted in the registry's storage
  OciImage concurrent;  // test/concurrent:1.0, 3 random 4 MiB layers
  OciImage resume;      // test/resume:1.0, a random 4 MiB layer
  OciImage restart;     // test/restart:1.0, another random 4 MiB layer
  OciImage big;         // test/big:1.0, a random 32 MiB layer
};

absl::Status BuildAndPush(Registry* registry, Images* images) {
  ASSIGN_OR_RETURN(images->busybox, BusyboxImage());
  ASSIGN_OR_RETURN(images->whiteouts, WhiteoutImage());
  ImageOptions docker;
  docker.media_types = MediaTypes::kDocker;
  ASSIGN_OR_RETURN(images->docker, WhiteoutImage(docker));
  ASSIGN_OR_RETURN(images->multi, MultiPlatformIndex());
  ASSIGN_OR_RETURN(
      testing::Layer layer,
      MakeLayer({TarEntry::File("corrupt-me", RandomBytes(256 << 10, 7))}, MediaTypes::kOci));
  std::vector<testing::Layer> layers;
  layers.push_back(std::move(layer));
  ASSIGN_OR_RETURN(images->corrupt, MakeImage(std::move(layers)));
  ASSIGN_OR_RETURN(images->concurrent,
                   RandomImage({4 << 20, 4 << 20, 4 << 20}, 100, /*busybox=*/false));
  ASSIGN_OR_RETURN(images->resume, RandomImage({4 << 20}, 200));
  ASSIGN_OR_RETURN(images->restart, RandomImage({4 << 20}, 250));
  ASSIGN_OR_RETURN(images->big, RandomImage({32 << 20}, 300));

  RETURN_IF_ERROR(registry->Push("test/busybox", "1.0", images->busybox));
  RETURN_IF_ERROR(registry->Push("test/whiteouts", "1.0", images->whiteouts));
  RETURN_IF_ERROR(registry->Push("test/docker", "1.0", images->docker));
  RETURN_IF_ERROR(registry->Push("test/multi", "1.0", images->multi));
  RETURN_IF_ERROR(registry->Push("test/corrupt", "1.0", images->corrupt));
  RETURN_IF_ERROR(registry->Push("test/concurrent", "1.0", images->concurrent));
  RETURN_IF_ERROR(registry->Push("test/resume", "1.0", images->resume));
  RETURN_IF_ERROR(registry->Push("test/restart", "1.0", images->restart));
  RETURN_IF_ERROR(registry->Push("test/big", "1.0", images->big));
  return registry->CorruptBlob(images->corrupt.layers[0].blob.digest);
}

// A loopback TCP relay in front of the registry that passes `hold_after` bytes of responses
// (over all connections) and then holds the rest back until it is destroyed: a registry that
// stalls mid-blob, for as long as the test needs.
class HoldingRelay {
 public:
  HoldingRelay(int target_port, int64_t hold_after)
      : target_port_(target_port), hold_after_(hold_after) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { Accept(); });
  }

  ~HoldingRelay() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    for (std::thread& t : threads_) t.join();
    for (int fd : fds_) close(fd);
    if (listen_fd_ >= 0) close(listen_fd_);
  }

  int port() const { return port_; }
  // Whether it held bytes back.
  bool holding() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }

 private:
  void Accept() {
    for (;;) {
      int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(target_port_));
      if (upstream < 0 ||
          connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(client);
        if (upstream >= 0) close(upstream);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        close(client);
        close(upstream);
        return;
      }
      fds_.push_back(client);
      fds_.push_back(upstream);
      threads_.emplace_back([this, client, upstream] { Copy(client, upstream, false); });
      threads_.emplace_back([this, client, upstream] { Copy(upstream, client, true); });
    }
  }

  void Copy(int from, int to, bool response) {
    std::vector<char> buf(64 << 10);
    for (;;) {
      ssize_t n = read(from, buf.data(), buf.size());
      if (n <= 0) break;
      if (response) {
        std::unique_lock<std::mutex> lock(mu_);
        if (forwarded_ >= hold_after_) held_ = true;
        cv_.wait(lock, [&] { return stopping_ || forwarded_ < hold_after_; });
        if (stopping_) break;
        forwarded_ += n;
      }
      for (ssize_t done = 0; done < n;) {
        ssize_t w = write(to, buf.data() + done, static_cast<size_t>(n - done));
        if (w <= 0) return;
        done += w;
      }
    }
    shutdown(to, SHUT_WR);
  }

  const int target_port_;
  const int64_t hold_after_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool held_ = false;      // guarded by mu_
  int64_t forwarded_ = 0;  // guarded by mu_
  std::vector<int> fds_;   // guarded by mu_
  std::vector<std::thread> threads_;
};

struct PullResult {
  grpc::Status status;
  std::vector<pullpb::PullProgress> progress;

  // The progress messages about `digest` of `kind`.
  std::vector<pullpb::PullProgress> Of(const std::string& digest,
                                       pullpb::PullProgress::Kind kind) const {
    std::vector<pullpb::PullProgress> out;
    for (const auto& p : progress) {
      if (p.digest() == digest && p.kind() == kind) out.push_back(p);
    }
    return out;
  }
};

class ServerPullTest : public ::testing::Test {
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
    for (const std::string& ns : used_) {
      for (const char* id : {"c1", "c2"}) {
        Ctr(ns, {"tasks", "kill", "-s", "KILL", id});
        Ctr(ns, {"tasks", "rm", "-f", id});
        Ctr(ns, {"containers", "rm", id});
      }
      std::vector<std::string> names = Lines(Ctr(ns, {"images", "ls", "-q"}).out);
      if (!names.empty()) {
        names.insert(names.begin(), {"images", "rm"});
        Ctr(ns, names);
      }
      for (const char* c : {"blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "hugetlb",
                            "memory", "net_cls", "perf_event", "pids", "systemd", "unified"}) {
        rmdir(("/sys/fs/cgroup/" + std::string(c) + "/" + ns).c_str());
      }
      rmdir(("/sys/fs/cgroup/" + ns).c_str());
    }
    if (HasFailure()) {
      for (const char* name : {"image", "content", "snapshot", "gateway"}) {
        std::string log = ReadFile(suite_->Path(std::string("log/") + name + ".log"));
        if (log.size() > 6000) log = log.substr(log.size() - 6000);
        std::cerr << "--- end of " << name << ".log:\n" << log << "\n";
      }
    }
  }

  // A namespace of this test binary only; cleaned up after the test.
  std::string Ns(const std::string& suffix) {
    std::string ns = "bsp" + std::to_string(getpid()) + "-" + suffix;
    used_.push_back(ns);
    return ns;
  }

  CtrResult Ctr(const std::string& ns, const std::vector<std::string>& args) {
    return suite_->Ctr(args, ns);
  }

  // Calls berth.image.v1.Pull through the gateway. `on_progress` returning false cancels the
  // call.
  PullResult ServerPull(const std::string& ns, const pullpb::PullRequest& req,
                        const std::function<bool(const pullpb::PullProgress&)>& on_progress = {}) {
    auto channel =
        grpc::CreateChannel("unix://" + suite_->socket(), grpc::InsecureChannelCredentials());
    auto stub = pullpb::Pull::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.AddMetadata("containerd-namespace", ns);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
    PullResult result;
    std::unique_ptr<grpc::ClientReader<pullpb::PullProgress>> reader = stub->Pull(&ctx, req);
    pullpb::PullProgress p;
    bool cancelled = false;
    while (reader->Read(&p)) {
      result.progress.push_back(p);
      if (!cancelled && on_progress && !on_progress(p)) {
        ctx.TryCancel();
        cancelled = true;
      }
    }
    result.status = reader->Finish();
    return result;
  }

  static pullpb::PullRequest Request(const std::string& ref, bool unpack = true) {
    pullpb::PullRequest req;
    req.set_ref(ref);
    req.set_unpack(unpack);
    return req;
  }

  static std::string Ref(const std::string& repo) { return registry_->Reference(repo, "1.0"); }

  // GET requests the registry answered for `path_part` ("/blobs/sha256:..").
  static int Gets(const std::string& path_part) {
    int n = 0;
    for (const std::string& line : Lines(registry_->Logs())) {
      if (Contains(line, "response completed") && Contains(line, "http.request.method=GET") &&
          Contains(line, path_part)) {
        ++n;
      }
    }
    return n;
  }

  static Suite* suite_;
  static Registry* registry_;
  static Images* images_;
  static std::string* start_error_;
  static std::string* skip_;
  std::vector<std::string> used_;
};

Suite* ServerPullTest::suite_ = nullptr;
Registry* ServerPullTest::registry_ = nullptr;
Images* ServerPullTest::images_ = nullptr;
std::string* ServerPullTest::start_error_ = nullptr;
std::string* ServerPullTest::skip_ = nullptr;

// Blobs, labels, image record and snapshot chain as `ctr images pull` leaves them; the image
// runs; a second pull finds everything.
TEST_F(ServerPullTest, LeavesWhatCtrPullLeavesAndRuns) {
  struct Case {
    std::string repo;
    const OciImage* image;
  };
  int n = 0;
  for (const Case& c :
       {Case{"test/busybox", &images_->busybox}, Case{"test/whiteouts", &images_->whiteouts},
        Case{"test/docker", &images_->docker}}) {
    SCOPED_TRACE(c.repo);
    const std::string server_ns = Ns("s" + std::to_string(n));
    const std::string ctr_ns = Ns("c" + std::to_string(n++));
    const std::string ref = Ref(c.repo);

    PullResult r = ServerPull(server_ns, Request(ref));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    ASSERT_FALSE(r.progress.empty());
    EXPECT_EQ(r.progress.front().kind(), pullpb::PullProgress::RESOLVING);
    EXPECT_EQ(r.progress.front().ref(), ref);
    const pullpb::PullProgress& last = r.progress.back();
    EXPECT_EQ(last.kind(), pullpb::PullProgress::DONE);
    ASSERT_TRUE(last.has_image());
    EXPECT_EQ(last.image().name(), ref);
    EXPECT_EQ(last.image().target().digest(), c.image->manifest.digest);
    EXPECT_EQ(last.image().target().media_type(), c.image->manifest.media_type);
    EXPECT_EQ(last.image().target().size(), c.image->manifest.size);
    const std::vector<std::string> chain = c.image->ChainIds();
    for (size_t i = 0; i < c.image->layers.size(); ++i) {
      const std::string& layer = c.image->layers[i].blob.digest;
      EXPECT_EQ(r.Of(layer, pullpb::PullProgress::DONE).size(), 1u) << layer;
      std::vector<pullpb::PullProgress> unpacked = r.Of(layer, pullpb::PullProgress::UNPACKED);
      ASSERT_EQ(unpacked.size(), 1u) << layer;
      EXPECT_EQ(unpacked[0].snapshot(), chain[i]);
    }
    // The lease is gone once the call returned.
    EXPECT_EQ(Rows(Ctr(server_ns, {"leases", "ls"}).out), std::vector<std::string>{});

    CtrResult cr = Ctr(ctr_ns, {"images", "pull", "--plain-http", ref});
    ASSERT_EQ(cr.exit_code, 0) << cr.out << cr.err;

    // The same blobs with the same labels.
    CtrResult server_content = Ctr(server_ns, {"content", "ls"});
    CtrResult ctr_content = Ctr(ctr_ns, {"content", "ls"});
    ASSERT_EQ(server_content.exit_code, 0) << server_content.err;
    std::map<std::string, std::string> server_labels = ContentLabels(server_content.out);
    EXPECT_EQ(server_labels, ContentLabels(ctr_content.out)) << "server-side:\n"
                                                             << server_content.out << "ctr:\n"
                                                             << ctr_content.out;
    EXPECT_EQ(server_labels.size(), c.image->layers.size() + 2);
    EXPECT_TRUE(Contains(server_labels[c.image->config.digest],
                         "containerd.io/gc.ref.snapshot.overlayfs=" + chain.back()))
        << server_labels[c.image->config.digest];
    // The same image record (name, type, digest, size, platform, labels).
    EXPECT_EQ(Rows(Ctr(server_ns, {"images", "ls"}).out), Rows(Ctr(ctr_ns, {"images", "ls"}).out));
    // The same committed chain.
    std::vector<std::string> server_snapshots = Rows(Ctr(server_ns, {"snapshots", "ls"}).out);
    EXPECT_EQ(server_snapshots, Rows(Ctr(ctr_ns, {"snapshots", "ls"}).out));
    EXPECT_EQ(server_snapshots.size(), chain.size());
    // containerd's unpacker labels the snapshots with their chain ID.
    CtrResult info = Ctr(server_ns, {"snapshots", "info", chain.back()});
    EXPECT_TRUE(Contains(info.out, "\"containerd.io/snapshot.ref\": \"" + chain.back()))
        << info.out;
    CtrResult check = Ctr(server_ns, {"images", "check"});
    EXPECT_TRUE(Contains(check.out, "complete")) << check.out;
    EXPECT_FALSE(Contains(check.out, "incomplete")) << check.out;

    // It runs.
    if (c.image == &images_->busybox) {
      CtrResult run = Ctr(server_ns, {"run", "--rm", ref, "c1", "echo", "hello"});
      EXPECT_EQ(run.exit_code, 0) << run.err;
      EXPECT_EQ(run.out, "hello\n");
    } else {
      CtrResult run = Ctr(server_ns, {"run", "--rm", ref, "c1", "ls", "/etc"});
      EXPECT_EQ(run.exit_code, 0) << run.err;
      EXPECT_EQ(run.out, WhiteoutExpectation::kEtcListing);
      run = Ctr(server_ns, {"run", "--rm", ref, "c2", "cat", "/etc/keep"});
      EXPECT_EQ(run.exit_code, 0) << run.err;
      EXPECT_EQ(run.out, WhiteoutExpectation::kKeepContent);
    }

    // Pulled again: everything is there, nothing is fetched or applied, the record stays.
    const int layer_gets = Gets("/blobs/" + c.image->layers[0].blob.digest);
    r = ServerPull(server_ns, Request(ref));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    for (size_t i = 0; i < c.image->layers.size(); ++i) {
      const std::string& layer = c.image->layers[i].blob.digest;
      EXPECT_TRUE(r.Of(layer, pullpb::PullProgress::DOWNLOADING).empty()) << layer;
      EXPECT_TRUE(r.Of(layer, pullpb::PullProgress::UNPACKED).empty()) << layer;
      EXPECT_EQ(r.Of(layer, pullpb::PullProgress::EXISTS).size(), 2u) << layer;  // blob, snapshot
    }
    EXPECT_EQ(Gets("/blobs/" + c.image->layers[0].blob.digest), layer_gets);
    EXPECT_EQ(Lines(Ctr(server_ns, {"images", "ls", "-q"}).out), std::vector<std::string>{ref});
    EXPECT_EQ(ContentLabels(Ctr(server_ns, {"content", "ls"}).out), server_labels);
  }
}

TEST_F(ServerPullTest, ChoosesPlatformsFromAnIndex) {
  const std::string ref = Ref("test/multi");
  const OciImage* amd64 = images_->multi.Find("linux", "amd64");
  const OciImage* arm64 = images_->multi.Find("linux", "arm64");
  ASSERT_NE(amd64, nullptr);
  ASSERT_NE(arm64, nullptr);

  // One platform asked for: only its manifest and config are fetched; the index references
  // both; the same as ctr --platform.
  const std::string server_ns = Ns("ps");
  const std::string ctr_ns = Ns("pc");
  pullpb::PullRequest req = Request(ref);
  req.add_platforms("linux/arm64");
  PullResult r = ServerPull(server_ns, req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.progress.back().image().target().digest(), images_->multi.index.digest);
  CtrResult cr = Ctr(ctr_ns, {"images", "pull", "--plain-http", "--platform", "linux/arm64", ref});
  ASSERT_EQ(cr.exit_code, 0) << cr.out << cr.err;
  std::map<std::string, std::string> labels = ContentLabels(Ctr(server_ns, {"content", "ls"}).out);
  EXPECT_EQ(labels, ContentLabels(Ctr(ctr_ns, {"content", "ls"}).out));
  EXPECT_EQ(labels.count(arm64->manifest.digest), 1u);
  EXPECT_EQ(labels.count(arm64->config.digest), 1u);
  EXPECT_EQ(labels.count(amd64->manifest.digest), 0u);
  EXPECT_EQ(labels.count(amd64->config.digest), 0u);
  EXPECT_TRUE(Contains(labels[images_->multi.index.digest],
                       "containerd.io/gc.ref.content.m.0=" + amd64->manifest.digest))
      << labels[images_->multi.index.digest];
  EXPECT_EQ(Rows(Ctr(server_ns, {"images", "ls"}).out), Rows(Ctr(ctr_ns, {"images", "ls"}).out));
  EXPECT_EQ(Rows(Ctr(server_ns, {"snapshots", "ls"}).out),
            Rows(Ctr(ctr_ns, {"snapshots", "ls"}).out));

  // The host's platform by default, and it runs.
  const std::string host_ns = Ns("ph");
  r = ServerPull(host_ns, Request(ref));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  labels = ContentLabels(Ctr(host_ns, {"content", "ls"}).out);
  EXPECT_EQ(labels.count(amd64->manifest.digest), 1u);
  EXPECT_EQ(labels.count(arm64->manifest.digest), 0u);
  CtrResult run = Ctr(host_ns, {"run", "--rm", ref, "c1", "echo", "multi"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "multi\n");

  // All of them.
  const std::string all_ns = Ns("pa");
  req = Request(ref, /*unpack=*/false);
  req.set_all_platforms(true);
  r = ServerPull(all_ns, req);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  labels = ContentLabels(Ctr(all_ns, {"content", "ls"}).out);
  for (const OciImage* img : {amd64, arm64}) {
    EXPECT_EQ(labels.count(img->manifest.digest), 1u);
    EXPECT_EQ(labels.count(img->config.digest), 1u);
  }
  EXPECT_EQ(Rows(Ctr(all_ns, {"snapshots", "ls"}).out), std::vector<std::string>{});

  // A platform the index does not have: NOT_FOUND, no image. A malformed one: INVALID_ARGUMENT.
  const std::string none_ns = Ns("pn");
  req = Request(ref);
  req.add_platforms("linux/s390x");
  r = ServerPull(none_ns, req);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::NOT_FOUND) << r.status.error_message();
  EXPECT_TRUE(Contains(r.status.error_message(), images_->multi.index.digest))
      << r.status.error_message();
  EXPECT_EQ(Rows(Ctr(none_ns, {"images", "ls"}).out), std::vector<std::string>{});
  req = Request(ref);
  req.add_platforms("linux/");
  r = ServerPull(none_ns, req);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << r.status.error_message();
}

TEST_F(ServerPullTest, CorruptBlobFailsNamingTheDigestAndLeavesNothing) {
  const std::string ns = Ns("x");
  const std::string ref = Ref("test/corrupt");
  const std::string layer = images_->corrupt.layers[0].blob.digest;
  PullResult r = ServerPull(ns, Request(ref));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DATA_LOSS) << r.status.error_message();
  EXPECT_TRUE(Contains(r.status.error_message(), "digest mismatch for " + layer))
      << r.status.error_message();
  EXPECT_TRUE(Contains(r.status.error_message(), registry_->host())) << r.status.error_message();
  // No image, no blob under the layer's digest, no ingest of it, no lease.
  EXPECT_EQ(Rows(Ctr(ns, {"images", "ls"}).out), std::vector<std::string>{});
  EXPECT_FALSE(Contains(Ctr(ns, {"content", "ls", "-q"}).out, layer));
  EXPECT_FALSE(Contains(Ctr(ns, {"content", "active"}).out, layer));
  EXPECT_EQ(Rows(Ctr(ns, {"leases", "ls"}).out), std::vector<std::string>{});
  // Bad requests are refused before anything happens.
  r = ServerPull(ns, Request(""));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  r = ServerPull(ns, Request("Not A Reference"));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  pullpb::PullRequest req = Request(Ref("test/busybox"));
  req.add_hosts_dirs("relative/certs.d");
  r = ServerPull(ns, req);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req = Request(Ref("test/busybox"));
  req.set_snapshotter("nosuch");
  r = ServerPull(ns, req);
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << r.status.error_message();
  EXPECT_EQ(Rows(Ctr(ns, {"images", "ls"}).out), std::vector<std::string>{});
}

// Three pulls of one image at once, two in one namespace and one in another: all succeed and
// the registry serves every blob once (the image shares no blob with the other tests').
TEST_F(ServerPullTest, ConcurrentPullsFetchEachBlobOnce) {
  const OciImage& image = images_->concurrent;
  const std::string ref = Ref("test/concurrent");
  const std::vector<std::string> nss = {Ns("k1"), Ns("k1"), Ns("k2")};
  std::vector<PullResult> results(nss.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < nss.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = ServerPull(nss[i], Request(ref)); });
  }
  for (std::thread& t : threads) t.join();
  for (const PullResult& r : results) {
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    EXPECT_EQ(r.progress.back().image().target().digest(), image.manifest.digest);
  }
  for (const testing::Layer& l : image.layers) {
    EXPECT_EQ(Gets("/blobs/" + l.blob.digest), 1) << l.blob.digest;
  }
  EXPECT_EQ(Gets("/blobs/" + image.config.digest), 1);
  EXPECT_EQ(Gets("/manifests/" + image.manifest.digest), 1);
  // Each namespace has the whole image, unpacked.
  for (const std::string& ns : {nss[0], nss[2]}) {
    std::map<std::string, std::string> labels = ContentLabels(Ctr(ns, {"content", "ls"}).out);
    EXPECT_EQ(labels.size(), image.layers.size() + 2) << ns;
    for (const testing::Layer& l : image.layers) {
      EXPECT_TRUE(Contains(labels[l.blob.digest], "containerd.io/uncompressed=" + l.diff_id))
          << ns << " " << labels[l.blob.digest];
    }
    EXPECT_EQ(Rows(Ctr(ns, {"snapshots", "ls"}).out).size(), image.layers.size()) << ns;
    EXPECT_EQ(Lines(Ctr(ns, {"images", "ls", "-q"}).out), std::vector<std::string>{ref});
  }
}

// An ingest left by an interrupted pull (here: half the layer, written with `ctr content
// ingest`) is resumed at its offset; one whose bytes are not the blob's is started over. (Two
// images: once a blob is on disk, an ingest of it in another namespace starts complete.)
TEST_F(ServerPullTest, ResumesAnIngestAtItsOffset) {
  struct Case {
    std::string ns;
    std::string repo;
    const OciImage* image;
    bool garbage;  // the ingest holds bytes that are not the blob's
  };
  for (const Case& c : {Case{Ns("r1"), "test/resume", &images_->resume, false},
                        Case{Ns("r2"), "test/restart", &images_->restart, true}}) {
    SCOPED_TRACE(c.ns);
    const testing::Layer& layer = c.image->layers.back();
    const int64_t half = layer.blob.size / 2;
    const std::string input = suite_->Path("ingest-" + c.ns);
    {
      std::ofstream out(input, std::ios::binary);
      out << (c.garbage ? RandomBytes(half, 999) : layer.blob.data.substr(0, half));
    }
    // The commit fails (too short) and leaves the ingest.
    CtrResult ingest =
        suite_->Ctr({"content", "ingest", "--expected-size", std::to_string(layer.blob.size),
                     "--expected-digest", layer.blob.digest, "layer-" + layer.blob.digest},
                    c.ns, input);
    EXPECT_NE(ingest.exit_code, 0) << ingest.out;
    CtrResult active = Ctr(c.ns, {"content", "active"});
    ASSERT_TRUE(Contains(active.out, "layer-" + layer.blob.digest)) << active.out << active.err;

    const int gets = Gets("/blobs/" + layer.blob.digest);
    PullResult r = ServerPull(c.ns, Request(Ref(c.repo)));
    ASSERT_TRUE(r.status.ok()) << r.status.error_message();
    std::vector<pullpb::PullProgress> downloading =
        r.Of(layer.blob.digest, pullpb::PullProgress::DOWNLOADING);
    ASSERT_FALSE(downloading.empty());
    EXPECT_EQ(downloading.front().offset(), half);
    if (!c.garbage) {
      EXPECT_EQ(Gets("/blobs/" + layer.blob.digest), gets + 1);
    } else {
      // Resumed, refused at commit, fetched again from the start.
      EXPECT_TRUE(std::any_of(downloading.begin() + 1, downloading.end(),
                              [](const pullpb::PullProgress& p) { return p.offset() == 0; }));
      EXPECT_EQ(Gets("/blobs/" + layer.blob.digest), gets + 2);
    }
    std::map<std::string, std::string> labels = ContentLabels(Ctr(c.ns, {"content", "ls"}).out);
    EXPECT_TRUE(Contains(labels[layer.blob.digest], "containerd.io/uncompressed=" + layer.diff_id))
        << labels[layer.blob.digest];
    EXPECT_FALSE(Contains(Ctr(c.ns, {"content", "active"}).out, layer.blob.digest));
    // `ctr images check` reads every blob back.
    CtrResult check = Ctr(c.ns, {"images", "check"});
    EXPECT_TRUE(Contains(check.out, "complete")) << check.out;
    EXPECT_FALSE(Contains(check.out, "incomplete")) << check.out;
  }
}

// A pull whose client goes away mid-layer: the lease it held while running is deleted, no image
// appears, the partial ingest stays, and the next pull resumes it. The pull goes through a
// relay that stops passing registry bytes after a few MiB, so the layer cannot finish before
// the client cancels.
TEST_F(ServerPullTest, CancelledPullLeavesNoImageAndResumes) {
  const OciImage& image = images_->big;
  const testing::Layer& layer = image.layers.back();
  const std::string ns = Ns("z");
  HoldingRelay relay(registry_->port(), 3 << 20);
  ASSERT_GT(relay.port(), 0);
  const std::string held_ref = "127.0.0.1:" + std::to_string(relay.port()) + "/test/big:1.0";
  std::string leases_during;
  PullResult r = ServerPull(ns, Request(held_ref), [&](const pullpb::PullProgress& p) {
    if (p.kind() == pullpb::PullProgress::DOWNLOADING && p.digest() == layer.blob.digest &&
        p.offset() > 0) {
      leases_during = Ctr(ns, {"leases", "ls"}).out;
      return false;
    }
    return true;
  });
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::CANCELLED) << r.status.error_message();
  EXPECT_TRUE(relay.holding());
  // While it ran, the pull held a lease that expires by itself.
  EXPECT_EQ(Rows(leases_during).size(), 1u) << leases_during;
  EXPECT_TRUE(Contains(leases_during, "containerd.io/gc.expire=")) << leases_during;
  // berth-image notices, stops and deletes the lease.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Rows(Ctr(ns, {"leases", "ls"}).out).empty();
      },
      std::chrono::seconds(60)));
  EXPECT_EQ(Rows(Ctr(ns, {"images", "ls"}).out), std::vector<std::string>{});
  EXPECT_TRUE(Contains(Ctr(ns, {"content", "active"}).out, "layer-" + layer.blob.digest));

  // Straight from the registry this time: the ingest is resumed.
  const std::string ref = Ref("test/big");
  r = ServerPull(ns, Request(ref));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  std::vector<pullpb::PullProgress> downloading =
      r.Of(layer.blob.digest, pullpb::PullProgress::DOWNLOADING);
  ASSERT_FALSE(downloading.empty());
  EXPECT_GT(downloading.front().offset(), 0);
  EXPECT_EQ(Lines(Ctr(ns, {"images", "ls", "-q"}).out), std::vector<std::string>{ref});
  CtrResult run = Ctr(ns, {"run", "--rm", ref, "c1", "ls", "/data0"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "/data0\n");
}

// containerd 1.7's Transfer (OCIRegistry -> ImageStore with an unpack), what berth's client
// library and `berth pull` send: the same pull, the same result as ctr's.
TEST_F(ServerPullTest, ContainerdTransferPullsTheSame) {
  const std::string ref = Ref("test/whiteouts");
  const std::string ns = Ns("t");
  const std::string ctr_ns = Ns("tc");
  containerd::services::transfer::v1::TransferRequest req;
  req.mutable_source()->set_type_url("containerd.types.transfer.OCIRegistry");
  req.mutable_source()->set_value(Field(1, ref));
  req.mutable_destination()->set_type_url("containerd.types.transfer.ImageStore");
  const std::string platform = Field(1, "linux") + Field(2, "amd64");
  req.mutable_destination()->set_value(Field(1, ref) + Field(3, platform) +
                                       Field(10, Field(1, platform) + Field(2, "overlayfs")));
  auto channel =
      grpc::CreateChannel("unix://" + suite_->socket(), grpc::InsecureChannelCredentials());
  auto stub = containerd::services::transfer::v1::Transfer::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("containerd-namespace", ns);
  google::protobuf::Empty empty;
  grpc::Status st = stub->Transfer(&ctx, req, &empty);
  ASSERT_TRUE(st.ok()) << st.error_message();

  CtrResult cr = Ctr(ctr_ns, {"images", "pull", "--plain-http", ref});
  ASSERT_EQ(cr.exit_code, 0) << cr.out << cr.err;
  EXPECT_EQ(ContentLabels(Ctr(ns, {"content", "ls"}).out),
            ContentLabels(Ctr(ctr_ns, {"content", "ls"}).out));
  EXPECT_EQ(Rows(Ctr(ns, {"images", "ls"}).out), Rows(Ctr(ctr_ns, {"images", "ls"}).out));
  EXPECT_EQ(Rows(Ctr(ns, {"snapshots", "ls"}).out), Rows(Ctr(ctr_ns, {"snapshots", "ls"}).out));
  CtrResult run = Ctr(ns, {"run", "--rm", ref, "c1", "cat", "/etc/keep"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, WhiteoutExpectation::kKeepContent);

  // `berth pull` (the CLI over the client library's Client::Pull, which sends this Transfer),
  // when the CLI is built.
  const char* bin = std::getenv("BERTH_BIN");
  const std::string berth = std::string(bin != nullptr ? bin : "build/bin") + "/berth";
  if (access(berth.c_str(), X_OK) == 0) {
    const std::string cli_ns = Ns("tb");
    testing::ChildProcessOptions options;
    options.argv = {berth, "-a", suite_->socket(), "-n", cli_ns, "pull", ref};
    options.stdout_path = suite_->Path("berth-pull.out");
    options.stderr_path = suite_->Path("berth-pull.err");
    ASSERT_OK_AND_ASSIGN(testing::ChildProcess child, testing::ChildProcess::Start(options));
    ASSERT_OK_AND_ASSIGN(int code, child.Wait(std::chrono::minutes(2)));
    std::cerr << "berth pull (CLI): exit " << code << "\n";
    EXPECT_EQ(code, 0) << ReadFile(options.stdout_path) << ReadFile(options.stderr_path);
    EXPECT_EQ(ContentLabels(Ctr(cli_ns, {"content", "ls"}).out),
              ContentLabels(Ctr(ctr_ns, {"content", "ls"}).out));
    EXPECT_EQ(Rows(Ctr(cli_ns, {"snapshots", "ls"}).out),
              Rows(Ctr(ctr_ns, {"snapshots", "ls"}).out));
  }

  // Other transfers are not there yet.
  grpc::ClientContext ctx2;
  ctx2.AddMetadata("containerd-namespace", ns);
  req.mutable_source()->set_type_url("containerd.types.transfer.ImageImportStream");
  st = stub->Transfer(&ctx2, req, &empty);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
}

}  // namespace
}  // namespace berth::image::pull
