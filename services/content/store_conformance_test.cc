// The content::Store conformance suite, in the style of containerd's content/testsuite:
// written once against the interface and run against
//   - Local: LocalStore, in-process;
//   - Grpc:  ContentProxy -> gRPC on a temporary unix socket -> ContentService -> LocalStore.
// The Admin half (leases, namespace usage) runs the same way through ContentAdminProxy.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "client/proxy/content_proxy.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/content/local_store.h"
#include "services/content/schema.h"
#include "services/content/server/admin_service.h"
#include "services/content/server/content_service.h"

namespace berth::content {
namespace {

using ::berth::testing::TempDir;

// What one run of the suite talks to.
class Harness {
 public:
  virtual ~Harness() = default;
  virtual Store& store() = 0;
  virtual Admin& admin() = 0;
  // A reader opened before a Delete keeps reading (true in-process; through the proxy every
  // ReadAt is a new call, as with containerd's client).
  virtual bool readers_survive_delete() const = 0;
};

class LocalHarness : public Harness {
 public:
  explicit LocalHarness(const std::string& root) {
    LocalStoreOptions options;
    options.root = root;
    auto s = LocalStore::Open(options);
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) store_ = std::move(*s);
  }
  Store& store() override { return *store_; }
  Admin& admin() override { return *store_; }
  bool readers_survive_delete() const override { return true; }

 private:
  std::unique_ptr<LocalStore> store_;
};

class GrpcHarness : public Harness {
 public:
  explicit GrpcHarness(const std::string& root) {
    LocalStoreOptions options;
    options.root = root;
    auto s = LocalStore::Open(options);
    EXPECT_TRUE(s.ok()) << s.status();
    if (!s.ok()) return;
    local_ = std::move(*s);
    content_ = std::make_unique<ContentService>(local_.get());
    admin_service_ = std::make_unique<AdminService>(local_.get());
    const std::string address = "unix:" + root + "/content.sock";
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(content_.get());
    builder.RegisterService(admin_service_.get());
    builder.SetMaxReceiveMessageSize(16 << 20);
    builder.SetMaxSendMessageSize(16 << 20);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(16 << 20);
    args.SetMaxSendMessageSize(16 << 20);
    auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    proxy_ = std::make_unique<proxy::ContentProxy>(channel);
    admin_proxy_ = std::make_unique<proxy::ContentAdminProxy>(channel);
  }
  ~GrpcHarness() override {
    if (server_ != nullptr) server_->Shutdown();
  }
  Store& store() override { return *proxy_; }
  Admin& admin() override { return *admin_proxy_; }
  bool readers_survive_delete() const override { return false; }

 private:
  std::unique_ptr<LocalStore> local_;
  std::unique_ptr<ContentService> content_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<proxy::ContentProxy> proxy_;
  std::unique_ptr<proxy::ContentAdminProxy> admin_proxy_;
};

struct Backend {
  std::string name;
  std::function<std::unique_ptr<Harness>(const std::string& root)> make;
};

void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

digest::Digest D(const std::string& data) { return digest::FromBytes(data); }

class StoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    harness_ = GetParam().make(dir_.Path("root"));
    ASSERT_NE(harness_, nullptr);
  }

  Store& store() { return harness_->store(); }
  Admin& admin() { return harness_->admin(); }
  std::string root() const { return dir_.Path("root"); }

  static CallContext Ctx(const std::string& ns = "default", const std::string& lease = "") {
    CallContext ctx = CallContext::Background(ns);
    ctx.lease = lease;
    return ctx;
  }

  // Writes and commits `data` under `ref`, in chunks of `chunk` bytes.
  absl::Status WriteBlob(const CallContext& ctx, const std::string& ref, const std::string& data,
                         const Labels& labels = {}, size_t chunk = 1 << 20) {
    ASSIGN_OR_RETURN(auto w,
                     store().OpenWriter(ctx, {ref, static_cast<int64_t>(data.size()), D(data)}));
    ASSIGN_OR_RETURN(IngestStatus st, w->Status());
    for (size_t off = static_cast<size_t>(st.offset); off < data.size(); off += chunk) {
      RETURN_IF_ERROR(w->Write(data.substr(off, chunk)));
    }
    return w->Commit(static_cast<int64_t>(data.size()), D(data), labels);
  }

  absl::StatusOr<std::string> ReadAll(const CallContext& ctx, const digest::Digest& d) {
    ASSIGN_OR_RETURN(auto r, store().OpenReader(ctx, d));
    std::string out(static_cast<size_t>(r->Size()), '\0');
    size_t done = 0;
    while (done < out.size()) {
      ASSIGN_OR_RETURN(size_t n,
                       r->ReadAt(out.data() + done, out.size() - done, static_cast<int64_t>(done)));
      if (n == 0) return absl::DataLossError("short blob");
      done += n;
    }
    return out;
  }

  bool BlobFileExists(const digest::Digest& d) const {
    struct stat st;
    return ::stat((root() + "/blobs/sha256/" + std::string(d.hex())).c_str(), &st) == 0;
  }

  TempDir dir_{"content"};
  std::unique_ptr<Harness> harness_;
};

// containerd's checkContentStoreWriter: writers with and without total/expected, written in
// small chunks, committed with labels; Info has size, labels and commit-time timestamps.
TEST_P(StoreConformance, Writer) {
  const Labels labels = {{"containerd.io/gc.root", "2026-01-01T00:00:00Z"}};
  struct Case {
    bool total;
    bool expected;
  };
  int i = 0;
  for (Case c : {Case{false, false}, Case{true, false}, Case{false, true}, Case{true, true}}) {
    const std::string data = RandomBytes(256, 100 + i);
    const std::string ref = "c" + std::to_string(++i);
    ASSERT_OK_AND_ASSIGN(
        auto w, store().OpenWriter(
                    Ctx(), {ref, c.total ? 256 : 0, c.expected ? D(data) : digest::Digest()}));
    for (size_t off = 0; off < data.size(); off += 32) ASSERT_OK(w->Write(data.substr(off, 32)));
    const Time pre = std::chrono::system_clock::now();
    ASSERT_OK(w->Commit(0, digest::Digest(), labels));
    const Time post = std::chrono::system_clock::now();
    ASSERT_OK_AND_ASSIGN(Info info, store().Info(Ctx(), D(data)));
    EXPECT_EQ(info.digest, D(data));
    EXPECT_EQ(info.size, 256);
    EXPECT_EQ(info.labels, labels);
    EXPECT_GE(info.created_at, pre);
    EXPECT_LE(info.created_at, post);
    EXPECT_EQ(info.updated_at, info.created_at);
    ASSERT_OK_AND_ASSIGN(std::string back, ReadAll(Ctx(), D(data)));
    EXPECT_EQ(back, data);
    // The ingest is gone once committed.
    EXPECT_TRUE(IsNotFound(store().Status(Ctx(), ref).status()));
  }
}

// containerd's checkUpdateStatus: offset, total, expected and the digest so far.
TEST_P(StoreConformance, UpdateStatus) {
  const std::string data = RandomBytes(256, 1);
  const Time pre = std::chrono::system_clock::now();
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"c1", 256, D(data)}));
  ASSERT_OK_AND_ASSIGN(IngestStatus st, w->Status());
  EXPECT_EQ(st.ref, "c1");
  EXPECT_EQ(st.offset, 0);
  EXPECT_EQ(st.total, 256);
  EXPECT_GE(st.started_at, pre);
  ASSERT_OK_AND_ASSIGN(digest::Digest sum, w->Digest());
  EXPECT_EQ(sum, D(""));
  for (size_t end : {64, 192, 256}) {
    size_t begin = static_cast<size_t>(st.offset);
    ASSERT_OK(w->Write(data.substr(begin, end - begin)));
    ASSERT_OK_AND_ASSIGN(st, w->Status());
    EXPECT_EQ(st.offset, static_cast<int64_t>(end));
    EXPECT_EQ(st.total, 256);
    EXPECT_GE(st.updated_at, st.started_at);
    ASSERT_OK_AND_ASSIGN(sum, w->Digest());
    EXPECT_EQ(sum, D(data.substr(0, end)));
  }
  // The store-level Status agrees with the writer's.
  ASSERT_OK_AND_ASSIGN(IngestStatus other, store().Status(Ctx(), "c1"));
  EXPECT_EQ(other.offset, 256);
  EXPECT_EQ(other.total, 256);
  EXPECT_EQ(other.expected, D(data));
  ASSERT_OK(w->Commit(256, D(data), {}));
}

// containerd's checkCommitExists: committing bytes already committed is AlreadyExists (and
// the ingest is gone).
TEST_P(StoreConformance, CommitExists) {
  const std::string data = RandomBytes(256, 2);
  ASSERT_OK(WriteBlob(Ctx(), "c1", data));
  for (bool with_expected : {true, false}) {
    const std::string ref = with_expected ? "exists-1" : "exists-2";
    ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {ref, 0, digest::Digest()}));
    ASSERT_OK(w->Write(data));
    absl::Status s = w->Commit(256, with_expected ? D(data) : digest::Digest(), {});
    EXPECT_TRUE(IsAlreadyExists(s)) << s;
    w.reset();
    EXPECT_TRUE(IsNotFound(store().Status(Ctx(), ref).status()));
  }
}

TEST_P(StoreConformance, OpenWriterForCommittedBlobIsAlreadyExists) {
  const std::string data = RandomBytes(100, 3);
  ASSERT_OK(WriteBlob(Ctx(), "c1", data));
  absl::Status s = store().OpenWriter(Ctx(), {"again", 100, D(data)}).status();
  EXPECT_TRUE(IsAlreadyExists(s)) << s;
  EXPECT_NE(s.message().find(D(data).ToString()), std::string::npos) << s;
  EXPECT_TRUE(IsNotFound(store().Status(Ctx(), "again").status()));
}

// containerd's checkResumeWriter: a closed writer leaves the ingest resumable.
TEST_P(StoreConformance, ResumeAfterClose) {
  const std::string data = RandomBytes(256, 4);
  {
    ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"cb", 256, D(data)}));
    ASSERT_OK(w->Write(data.substr(0, 128)));
  }
  ASSERT_OK_AND_ASSIGN(IngestStatus st, store().Status(Ctx(), "cb"));
  EXPECT_EQ(st.offset, 128);
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"cb", 256, D(data)}));
  ASSERT_OK_AND_ASSIGN(st, w->Status());
  EXPECT_EQ(st.offset, 128);
  ASSERT_OK_AND_ASSIGN(digest::Digest sum, w->Digest());
  EXPECT_EQ(sum, D(data.substr(0, 128)));
  ASSERT_OK(w->Write(data.substr(128)));
  ASSERT_OK(w->Commit(256, D(data), {}));
  ASSERT_OK_AND_ASSIGN(std::string back, ReadAll(Ctx(), D(data)));
  EXPECT_EQ(back, data);
}

// containerd's checkResume(resumeTruncate / resumeDiscard) over sizes and cut points.
TEST_P(StoreConformance, ResumeAfterTruncation) {
  int i = 0;
  for (bool truncate : {false, true}) {
    for (int64_t size : {500, 5000, 50000}) {
      for (double cut : {0.0, 0.1, 0.5, 0.9, 1.0}) {
        const std::string data = RandomBytes(static_cast<size_t>(size), 1000 + i);
        const size_t limit = static_cast<size_t>(static_cast<double>(size) * cut);
        const std::string ref = "ref-" + std::to_string(i++);
        {
          ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {ref, size, D(data)}));
          ASSERT_OK(w->Write(data.substr(0, limit)));
        }
        ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {ref, size, D(data)}));
        ASSERT_OK_AND_ASSIGN(IngestStatus st, w->Status());
        ASSERT_EQ(st.offset, static_cast<int64_t>(limit)) << ref;
        size_t from = limit;
        if (truncate) {
          ASSERT_OK(w->Truncate(0));
          ASSERT_OK_AND_ASSIGN(st, w->Status());
          ASSERT_EQ(st.offset, 0);
          from = 0;
        }
        for (size_t off = from; off < data.size(); off += 1024) {
          ASSERT_OK(w->Write(data.substr(off, 1024)));
        }
        ASSERT_OK(w->Commit(size, D(data), {})) << ref;
        ASSERT_OK_AND_ASSIGN(Info info, store().Info(Ctx(), D(data)));
        EXPECT_EQ(info.size, size);
      }
    }
  }
}

// containerd's checkSmallBlob: reading past the end returns what there is.
TEST_P(StoreConformance, SmallBlob) {
  const std::string blob = "foobar";
  ASSERT_OK(WriteBlob(Ctx(), "small", blob));
  ASSERT_OK_AND_ASSIGN(auto r, store().OpenReader(Ctx(), D(blob)));
  EXPECT_EQ(r->Size(), 6);
  std::string buf(7, '\0');
  ASSERT_OK_AND_ASSIGN(size_t n, r->ReadAt(buf.data(), buf.size(), 0));
  EXPECT_EQ(n, 6u);
  EXPECT_EQ(buf.substr(0, n), blob);
  ASSERT_OK_AND_ASSIGN(n, r->ReadAt(buf.data(), 3, 4));
  EXPECT_EQ(buf.substr(0, n), "ar");
  ASSERT_OK_AND_ASSIGN(n, r->ReadAt(buf.data(), 3, 6));
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(IsInvalidArgument(r->ReadAt(buf.data(), 3, -1).status()));
}

TEST_P(StoreConformance, EmptyBlob) {
  ASSERT_OK(WriteBlob(Ctx(), "empty", ""));
  ASSERT_OK_AND_ASSIGN(Info info, store().Info(Ctx(), D("")));
  EXPECT_EQ(info.size, 0);
  ASSERT_OK_AND_ASSIGN(std::string back, ReadAll(Ctx(), D("")));
  EXPECT_EQ(back, "");
}

// containerd's checkLabels: commit labels, replace them, then update single keys by mask.
TEST_P(StoreConformance, LabelsWithFieldMasks) {
  const std::string data = RandomBytes(256, 5);
  Labels labels = {{"k1", "v1"}, {"k2", "v2"}, {"containerd.io/gc.root", "now"}};
  ASSERT_OK(WriteBlob(Ctx(), "c1-checklabels", data, labels));
  ASSERT_OK_AND_ASSIGN(Info info, store().Info(Ctx(), D(data)));
  EXPECT_EQ(info.labels, labels);
  const Time created = info.created_at;

  labels["k1"] = "newvalue";
  labels.erase("k2");
  labels["k3"] = "v3";
  info.labels = labels;
  const Time pre = std::chrono::system_clock::now();
  ASSERT_OK_AND_ASSIGN(Info updated, store().Update(Ctx(), info, {}));
  EXPECT_EQ(updated.labels, labels);
  EXPECT_EQ(updated.created_at, created);
  EXPECT_GE(updated.updated_at, pre);

  // Mask: k3 deleted (absent from info.labels), k1 set; gc.root and others untouched.
  info.labels = {{"k1", "v1"}, {"containerd.io/gc.root", "other"}};
  ASSERT_OK_AND_ASSIGN(updated, store().Update(Ctx(), info, {"labels.k3", "labels.k1"}));
  EXPECT_EQ(updated.labels, (Labels{{"k1", "v1"}, {"containerd.io/gc.root", "now"}}));
  ASSERT_OK_AND_ASSIGN(Info again, store().Info(Ctx(), D(data)));
  EXPECT_EQ(again.labels, updated.labels);

  // An empty value deletes too; "labels" replaces everything.
  info.labels = {{"k1", ""}};
  ASSERT_OK_AND_ASSIGN(updated, store().Update(Ctx(), info, {"labels.k1"}));
  EXPECT_EQ(updated.labels, (Labels{{"containerd.io/gc.root", "now"}}));
  info.labels = {{"a.b/c", "d"}};
  ASSERT_OK_AND_ASSIGN(updated, store().Update(Ctx(), info, {"labels"}));
  EXPECT_EQ(updated.labels, info.labels);

  // Only labels are mutable; unknown blobs are NotFound.
  EXPECT_TRUE(IsInvalidArgument(store().Update(Ctx(), info, {"size"}).status()));
  info.digest = D("unknown");
  EXPECT_TRUE(IsNotFound(store().Update(Ctx(), info, {}).status()));
}

TEST_P(StoreConformance, LabelsOverTheLimit) {
  const std::string data = RandomBytes(64, 6);
  const Labels big = {{"k", std::string(4096, 'x')}};
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"big", 64, D(data)}));
  ASSERT_OK(w->Write(data));
  absl::Status s = w->Commit(64, D(data), big);
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  // The ingest is intact; reopened (over the wire a failed call ends the stream), it still
  // commits with acceptable labels.
  w.reset();
  ASSERT_OK_AND_ASSIGN(w, store().OpenWriter(Ctx(), {"big", 64, D(data)}));
  ASSERT_OK_AND_ASSIGN(IngestStatus st, w->Status());
  EXPECT_EQ(st.offset, 64);
  ASSERT_OK(w->Commit(64, D(data), {{"k", "v"}}));
  Info info;
  info.digest = D(data);
  info.labels = big;
  s = store().Update(Ctx(), info, {"labels.k"}).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  ASSERT_OK_AND_ASSIGN(Info stored, store().Info(Ctx(), D(data)));
  EXPECT_EQ(stored.labels, (Labels{{"k", "v"}}));
}

// containerd's checkCrossNSShare: a blob on disk for ns1 is committed instantly in ns2, and
// each namespace's delete leaves the other's.
TEST_P(StoreConformance, CrossNamespaceShare) {
  const std::string data = RandomBytes(1000, 7);
  ASSERT_OK(WriteBlob(Ctx("ns1"), "ref-1000", data));
  EXPECT_TRUE(IsNotFound(store().Info(Ctx("ns2"), D(data)).status()));
  EXPECT_TRUE(IsNotFound(store().OpenReader(Ctx("ns2"), D(data)).status()));

  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx("ns2"), {"ref-1000", 1000, D(data)}));
  ASSERT_OK_AND_ASSIGN(IngestStatus st, w->Status());
  EXPECT_EQ(st.offset, 1000);  // Nothing to send: the bytes are here.
  ASSERT_OK_AND_ASSIGN(digest::Digest sum, w->Digest());
  EXPECT_EQ(sum, D(data));
  ASSERT_OK(w->Commit(1000, D(data), {{"ns", "2"}}));
  ASSERT_OK_AND_ASSIGN(Info info, store().Info(Ctx("ns2"), D(data)));
  EXPECT_EQ(info.size, 1000);
  EXPECT_EQ(info.labels, (Labels{{"ns", "2"}}));
  ASSERT_OK_AND_ASSIGN(Info info1, store().Info(Ctx("ns1"), D(data)));
  EXPECT_TRUE(info1.labels.empty());

  ASSERT_OK(store().Delete(Ctx("ns1"), D(data)));
  EXPECT_TRUE(IsNotFound(store().Info(Ctx("ns1"), D(data)).status()));
  EXPECT_TRUE(BlobFileExists(D(data)));
  ASSERT_OK_AND_ASSIGN(std::string back, ReadAll(Ctx("ns2"), D(data)));
  EXPECT_EQ(back, data);
  ASSERT_OK(store().Delete(Ctx("ns2"), D(data)));
  EXPECT_FALSE(BlobFileExists(D(data)));
  EXPECT_TRUE(IsNotFound(store().Delete(Ctx("ns2"), D(data))));
}

// A shared ingest that gets bytes written becomes an ordinary one (containerd's
// createAndCopy): truncating and rewriting still commits.
TEST_P(StoreConformance, CrossNamespaceShareThenRewrite) {
  const std::string data = RandomBytes(3000, 8);
  ASSERT_OK(WriteBlob(Ctx("ns1"), "r", data));
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx("ns2"), {"r", 3000, D(data)}));
  ASSERT_OK(w->Truncate(0));
  ASSERT_OK_AND_ASSIGN(IngestStatus st, w->Status());
  EXPECT_EQ(st.offset, 0);
  ASSERT_OK(w->Write(data));
  ASSERT_OK(w->Commit(3000, D(data), {}));
  ASSERT_OK(store().Info(Ctx("ns2"), D(data)).status());
}

// containerd's checkCrossNSAppend: ns2 writes the ns1 blob plus more under the same ref.
TEST_P(StoreConformance, CrossNamespaceAppend) {
  const std::string data = RandomBytes(1000, 9);
  ASSERT_OK(WriteBlob(Ctx("ns1"), "ref-1000", data));
  const std::string more = data + RandomBytes(1000, 10);
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx("ns2"), {"ref-1000", 0, digest::Digest()}));
  ASSERT_OK(w->Write(more));
  ASSERT_OK(w->Commit(2000, D(more), {}));
  ASSERT_OK_AND_ASSIGN(std::string back, ReadAll(Ctx("ns2"), D(more)));
  EXPECT_EQ(back, more);
  ASSERT_OK_AND_ASSIGN(back, ReadAll(Ctx("ns1"), D(data)));
  EXPECT_EQ(back, data);
  EXPECT_TRUE(IsNotFound(store().Info(Ctx("ns1"), D(more)).status()));
}

// Refs are per namespace: the same ref is two independent ingests.
TEST_P(StoreConformance, CrossNamespaceIsolation) {
  ASSERT_OK_AND_ASSIGN(auto w1, store().OpenWriter(Ctx("ns1"), {"same", 0, digest::Digest()}));
  ASSERT_OK_AND_ASSIGN(auto w2, store().OpenWriter(Ctx("ns2"), {"same", 0, digest::Digest()}));
  ASSERT_OK(w1->Write("one"));
  ASSERT_OK(w2->Write("second"));
  ASSERT_OK_AND_ASSIGN(IngestStatus s1, store().Status(Ctx("ns1"), "same"));
  ASSERT_OK_AND_ASSIGN(IngestStatus s2, store().Status(Ctx("ns2"), "same"));
  EXPECT_EQ(s1.offset, 3);
  EXPECT_EQ(s2.offset, 6);
  ASSERT_OK_AND_ASSIGN(auto list, store().ListStatuses(Ctx("ns1"), {}));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(IsNotFound(store().Status(Ctx("ns3"), "same").status()));
  ASSERT_OK(w1->Commit(3, D("one"), {}));
  EXPECT_TRUE(IsNotFound(store().Info(Ctx("ns2"), D("one")).status()));
  ASSERT_OK(w2->Commit(6, D("second"), {}));
}

// One writer per ref: of many concurrent opens exactly one wins; the others are Unavailable
// until it is closed.
TEST_P(StoreConformance, ConcurrentWritersOnOneRef) {
  constexpr int kThreads = 8;
  std::mutex mu;
  std::condition_variable cv;
  int attempted = 0;
  std::atomic<int> won{0}, locked{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      auto w = store().OpenWriter(Ctx(), {"contended", 0, digest::Digest()});
      if (w.ok()) {
        ++won;
      } else if (IsUnavailable(w.status())) {
        ++locked;
        EXPECT_NE(w.status().message().find("locked"), std::string::npos) << w.status();
      } else {
        ++other;
        ADD_FAILURE() << w.status();
      }
      // Keep a winning writer open until everyone has tried.
      std::unique_lock<std::mutex> lock(mu);
      ++attempted;
      cv.notify_all();
      cv.wait(lock, [&] { return attempted == kThreads; });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(won.load(), 1);
  EXPECT_EQ(locked.load(), kThreads - 1);
  EXPECT_EQ(other.load(), 0);
  // Released: the next one gets it.
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"contended", 0, digest::Digest()}));
  EXPECT_TRUE(
      IsUnavailable(store().OpenWriter(Ctx(), {"contended", 0, digest::Digest()}).status()));
  EXPECT_TRUE(IsUnavailable(store().Abort(Ctx(), "contended")));
}

TEST_P(StoreConformance, DeleteWhileReading) {
  const std::string data = RandomBytes(300000, 11);
  ASSERT_OK(WriteBlob(Ctx(), "r", data));
  ASSERT_OK_AND_ASSIGN(auto r, store().OpenReader(Ctx(), D(data)));
  std::string buf(data.size(), '\0');
  ASSERT_OK_AND_ASSIGN(size_t n, r->ReadAt(buf.data(), 100000, 0));
  ASSERT_EQ(n, 100000u);
  ASSERT_OK(store().Delete(Ctx(), D(data)));
  EXPECT_TRUE(IsNotFound(store().Info(Ctx(), D(data)).status()));
  EXPECT_TRUE(IsNotFound(store().OpenReader(Ctx(), D(data)).status()));
  EXPECT_FALSE(BlobFileExists(D(data)));
  absl::StatusOr<size_t> rest = r->ReadAt(buf.data() + n, data.size() - n, 100000);
  if (harness_->readers_survive_delete()) {
    ASSERT_OK(rest.status());
    EXPECT_EQ(*rest, data.size() - n);
    EXPECT_EQ(buf, data);
  } else {
    EXPECT_TRUE(IsNotFound(rest.status())) << rest.status();
  }
}

TEST_P(StoreConformance, ListStatusesWithFilters) {
  std::vector<std::unique_ptr<Writer>> writers;
  for (const char* ref : {"a-1", "a-2", "b-1"}) {
    ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {ref, 0, digest::Digest()}));
    writers.push_back(std::move(w));
  }
  ASSERT_OK_AND_ASSIGN(auto other, store().OpenWriter(Ctx("ns2"), {"a-3", 0, digest::Digest()}));
  auto refs = [&](const std::vector<std::string>& filters) {
    std::vector<std::string> out;
    auto list = store().ListStatuses(Ctx(), filters);
    EXPECT_TRUE(list.ok()) << list.status();
    if (list.ok()) {
      for (const auto& st : *list) out.push_back(st.ref);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(refs({}), (V{"a-1", "a-2", "b-1"}));
  EXPECT_EQ(refs({""}), (V{"a-1", "a-2", "b-1"}));
  EXPECT_EQ(refs({"ref~=^a-"}), (V{"a-1", "a-2"}));
  EXPECT_EQ(refs({"ref==b-1"}), (V{"b-1"}));
  EXPECT_EQ(refs({"ref==b-1", "ref==a-2"}), (V{"a-2", "b-1"}));
  EXPECT_EQ(refs({"ref!=a-1,ref~=a"}), (V{"a-2"}));
  EXPECT_EQ(refs({"ref==nothing"}), V{});
  EXPECT_TRUE(IsInvalidArgument(store().ListStatuses(Ctx(), {"ref=="}).status()));
}

TEST_P(StoreConformance, WalkWithFilters) {
  const std::string a = "layer a", b = "layer b", c = "config c";
  ASSERT_OK(WriteBlob(Ctx(), "a", a, {{"kind", "layer"}, {"io.example/x", "1"}}));
  ASSERT_OK(WriteBlob(Ctx(), "b", b, {{"kind", "layer"}}));
  ASSERT_OK(WriteBlob(Ctx(), "c", c, {{"kind", "config"}}));
  ASSERT_OK(WriteBlob(Ctx("ns2"), "d", "elsewhere", {{"kind", "layer"}}));
  auto walk = [&](const std::vector<std::string>& filters) {
    std::vector<digest::Digest> out;
    absl::Status s = store().Walk(Ctx(), filters, [&](const Info& info) {
      out.push_back(info.digest);
      return absl::OkStatus();
    });
    EXPECT_OK(s);
    std::sort(out.begin(), out.end());
    return out;
  };
  auto sorted = [](std::vector<digest::Digest> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(walk({}), sorted({D(a), D(b), D(c)}));
  EXPECT_EQ(walk({"labels.kind==layer"}), sorted({D(a), D(b)}));
  EXPECT_EQ(walk({"labels.\"io.example/x\""}), sorted({D(a)}));
  EXPECT_EQ(walk({"digest==" + D(c).ToString()}), sorted({D(c)}));
  EXPECT_EQ(walk({"labels.kind==config", "labels.\"io.example/x\"==1"}), sorted({D(a), D(c)}));
  EXPECT_EQ(walk({"labels.kind!=layer"}), sorted({D(c)}));
  EXPECT_EQ(walk({"size==7"}), sorted({D(a), D(b)}));
  EXPECT_TRUE(IsInvalidArgument(
      store().Walk(Ctx(), {"labels.kind=="}, [](const Info&) { return absl::OkStatus(); })));
  // An error from the callback stops the walk and is returned.
  int calls = 0;
  absl::Status s = store().Walk(Ctx(), {}, [&](const Info&) {
    ++calls;
    return absl::AbortedError("stop");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(calls, 1);
}

TEST_P(StoreConformance, Abort) {
  {
    ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"gone", 0, digest::Digest()}));
    ASSERT_OK(w->Write("abc"));
  }
  ASSERT_OK(store().Abort(Ctx(), "gone"));
  EXPECT_TRUE(IsNotFound(store().Status(Ctx(), "gone").status()));
  EXPECT_TRUE(IsNotFound(store().Abort(Ctx(), "gone")));
  // Reopening starts from nothing.
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"gone", 0, digest::Digest()}));
  ASSERT_OK_AND_ASSIGN(IngestStatus st, w->Status());
  EXPECT_EQ(st.offset, 0);
}

TEST_P(StoreConformance, CommitWithWrongDigest) {
  const std::string data = RandomBytes(500, 12);
  const digest::Digest wrong = D("something else");
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"wrong", 0, digest::Digest()}));
  ASSERT_OK(w->Write(data));
  absl::Status s = w->Commit(500, wrong, {});
  ASSERT_TRUE(IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find(D(data).ToString()), std::string::npos) << s;
  EXPECT_NE(s.message().find(wrong.ToString()), std::string::npos) << s;
  EXPECT_TRUE(IsNotFound(store().Info(Ctx(), D(data)).status()));
  EXPECT_TRUE(IsNotFound(store().Info(Ctx(), wrong).status()));
  ASSERT_OK_AND_ASSIGN(IngestStatus st, store().Status(Ctx(), "wrong"));
  EXPECT_EQ(st.offset, 500);
}

TEST_P(StoreConformance, CommitWithWrongSize) {
  const std::string data = RandomBytes(500, 13);
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"short", 0, digest::Digest()}));
  ASSERT_OK(w->Write(data));
  absl::Status s = w->Commit(501, D(data), {});
  ASSERT_TRUE(IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("500"), std::string::npos) << s;
  EXPECT_NE(s.message().find("501"), std::string::npos) << s;
  EXPECT_TRUE(IsNotFound(store().Info(Ctx(), D(data)).status()));
}

TEST_P(StoreConformance, WriterAfterCommitAndTruncateRules) {
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"once", 0, digest::Digest()}));
  ASSERT_OK(w->Write("abc"));
  EXPECT_TRUE(IsInvalidArgument(w->Truncate(1)));
  ASSERT_OK(w->Commit(3, D("abc"), {}));
  EXPECT_TRUE(IsFailedPrecondition(w->Write("more")));
}

TEST_P(StoreConformance, NamespaceIsRequired) {
  CallContext none = Ctx("");
  EXPECT_TRUE(IsFailedPrecondition(store().Info(none, D("x")).status()));
  EXPECT_TRUE(IsFailedPrecondition(store().OpenWriter(none, {"r", 0, {}}).status()));
  EXPECT_TRUE(IsFailedPrecondition(store().ListStatuses(none, {}).status()));
  EXPECT_TRUE(IsInvalidArgument(store().Info(Ctx("bad/ns"), D("x")).status()));
}

TEST_P(StoreConformance, BadRefsAndTotals) {
  EXPECT_TRUE(IsInvalidArgument(store().OpenWriter(Ctx(), {"", 0, {}}).status()));
  EXPECT_TRUE(IsInvalidArgument(
      store().OpenWriter(Ctx(), {std::string(kMaxRefLength + 1, 'r'), 0, {}}).status()));
  EXPECT_TRUE(IsInvalidArgument(store().OpenWriter(Ctx(), {"neg", -1, {}}).status()));
}

// Refs are arbitrary strings: whatever they contain, ingests stay inside <root>/ingest.
TEST_P(StoreConformance, RefsNeverBecomePaths) {
  const std::vector<std::string> refs = {"/..",     "../../escape", "a/../../b",
                                         "..",      "/etc/passwd",  std::string("nul\0byte", 8),
                                         "sp ace\n"};
  for (const std::string& ref : refs) {
    ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {ref, 0, digest::Digest()}));
    ASSERT_OK(w->Write("data of " + ref));
    ASSERT_OK_AND_ASSIGN(IngestStatus st, w->Status());
    EXPECT_EQ(st.ref, ref);
  }
  ASSERT_OK_AND_ASSIGN(auto list, store().ListStatuses(Ctx(), {}));
  EXPECT_EQ(list.size(), refs.size());
  // Nothing was created next to the root or its ingest directory.
  struct stat st;
  EXPECT_NE(::stat((dir_.path() + "/escape").c_str(), &st), 0);
  EXPECT_NE(::stat((root() + "/escape").c_str(), &st), 0);
  EXPECT_NE(::stat((root() + "/b").c_str(), &st), 0);
  for (const std::string& ref : refs) {
    const std::string dir = root() + "/ingest/" + schema::IngestId("default", ref);
    EXPECT_EQ(::stat(dir.c_str(), &st), 0) << dir;
    ASSERT_OK(store().Abort(Ctx(), ref));
  }
}

TEST_P(StoreConformance, LeasesTrackIngestsAndBlobs) {
  const std::string data = RandomBytes(400, 14);
  {
    ASSERT_OK_AND_ASSIGN(auto w,
                         store().OpenWriter(Ctx("default", "lease-1"), {"layer-x", 400, D(data)}));
    ASSERT_OK(w->Write(data.substr(0, 100)));
    ASSERT_OK_AND_ASSIGN(auto held, admin().ListLeaseResources(Ctx(), "lease-1"));
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0], (LeaseResource{"layer-x", kIngestResource}));
    ASSERT_OK(w->Write(data.substr(100)));
    ASSERT_OK(w->Commit(400, D(data), {}));
  }
  ASSERT_OK_AND_ASSIGN(auto held, admin().ListLeaseResources(Ctx(), "lease-1"));
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0], (LeaseResource{D(data).ToString(), kContentResource}));

  // Opening a writer for a committed blob under another lease leases it too.
  EXPECT_TRUE(IsAlreadyExists(
      store().OpenWriter(Ctx("default", "lease-2"), {"again", 400, D(data)}).status()));
  ASSERT_OK_AND_ASSIGN(held, admin().ListLeaseResources(Ctx(), "lease-2"));
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].id, D(data).ToString());

  // Leases are per namespace.
  ASSERT_OK_AND_ASSIGN(held, admin().ListLeaseResources(Ctx("ns2"), "lease-1"));
  EXPECT_TRUE(held.empty());

  // Manual membership.
  ASSERT_OK(admin().AddLeaseResource(Ctx(), "lease-2", {"some-ref", kIngestResource}));
  ASSERT_OK(admin().AddLeaseResource(Ctx(), "lease-2", {D("x").ToString(), kContentResource}));
  ASSERT_OK(admin().AddLeaseResource(Ctx(), "lease-2", {D("x").ToString(), kContentResource}));
  ASSERT_OK_AND_ASSIGN(held, admin().ListLeaseResources(Ctx(), "lease-2"));
  EXPECT_EQ(held.size(), 3u);
  ASSERT_OK(admin().DeleteLeaseResource(Ctx(), "lease-2", {"some-ref", kIngestResource}));
  ASSERT_OK_AND_ASSIGN(held, admin().ListLeaseResources(Ctx(), "lease-2"));
  EXPECT_EQ(held.size(), 2u);
  EXPECT_TRUE(IsUnimplemented(admin().AddLeaseResource(Ctx(), "lease-2", {"k", "snapshots/x"})));
  EXPECT_TRUE(IsInvalidArgument(
      admin().AddLeaseResource(Ctx(), "lease-2", {"sha256:nothex", kContentResource})));
  EXPECT_TRUE(IsInvalidArgument(admin().ListLeaseResources(Ctx(), "bad/lease").status()));

  ASSERT_OK(admin().DeleteLease(Ctx(), "lease-2"));
  ASSERT_OK_AND_ASSIGN(held, admin().ListLeaseResources(Ctx(), "lease-2"));
  EXPECT_TRUE(held.empty());
  // The blob itself stays.
  ASSERT_OK(store().Info(Ctx(), D(data)).status());
}

TEST_P(StoreConformance, LeasedIngestAbortDropsItsRecord) {
  {
    ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx("default", "l1"), {"r1", 0, {}}));
    ASSERT_OK(w->Write("partial"));
  }
  // Resumed under a second lease: both hold it.
  { ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx("default", "l2"), {"r1", 0, {}})); }
  ASSERT_OK_AND_ASSIGN(auto held, admin().ListLeaseResources(Ctx(), "l2"));
  EXPECT_EQ(held.size(), 1u);
  ASSERT_OK(store().Abort(Ctx(), "r1"));
  for (const char* lease : {"l1", "l2"}) {
    ASSERT_OK_AND_ASSIGN(held, admin().ListLeaseResources(Ctx(), lease));
    EXPECT_TRUE(held.empty()) << lease;
  }
}

TEST_P(StoreConformance, NamespaceUsage) {
  ASSERT_OK_AND_ASSIGN(NamespaceUsage usage, admin().NamespaceUsage(Ctx(), "fresh"));
  EXPECT_TRUE(usage.empty());
  ASSERT_OK(WriteBlob(Ctx("fresh"), "a", "12345"));
  ASSERT_OK(WriteBlob(Ctx("fresh", "lease-9"), "b", "678"));
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx("fresh"), {"c", 0, {}}));
  ASSERT_OK_AND_ASSIGN(usage, admin().NamespaceUsage(Ctx(), "fresh"));
  EXPECT_EQ(usage.blobs, 2);
  EXPECT_EQ(usage.blob_bytes, 8);
  EXPECT_EQ(usage.ingests, 1);
  EXPECT_EQ(usage.leases, 1);
  EXPECT_FALSE(usage.empty());
  ASSERT_OK_AND_ASSIGN(usage, admin().NamespaceUsage(Ctx(), "other"));
  EXPECT_TRUE(usage.empty());
  EXPECT_TRUE(IsInvalidArgument(admin().NamespaceUsage(Ctx(), "no/slash").status()));
}

// One Write larger than a gRPC message may be (16 MiB): the store takes it whole (over the
// wire, the proxy sends it in parts).
TEST_P(StoreConformance, WriteLargerThanAMessage) {
  const std::string data = RandomBytes((17 << 20) + 5, 7);
  ASSERT_OK_AND_ASSIGN(auto w, store().OpenWriter(Ctx(), {"big", 0, {}}));
  ASSERT_OK(w->Write(data));
  ASSERT_OK_AND_ASSIGN(IngestStatus st, w->Status());
  EXPECT_EQ(st.offset, static_cast<int64_t>(data.size()));
  ASSERT_OK(w->Commit(static_cast<int64_t>(data.size()), D(data), {}));
  ASSERT_OK_AND_ASSIGN(Info info, store().Info(Ctx(), D(data)));
  EXPECT_EQ(info.size, static_cast<int64_t>(data.size()));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, StoreConformance,
    ::testing::Values(Backend{"Local",
                              [](const std::string& root) -> std::unique_ptr<Harness> {
                                return std::make_unique<LocalHarness>(root);
                              }},
                      Backend{"Grpc",
                              [](const std::string& root) -> std::unique_ptr<Harness> {
                                return std::make_unique<GrpcHarness>(root);
                              }}),
    [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

}  // namespace
}  // namespace berth::content
