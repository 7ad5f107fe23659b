// CollectableService on the wire (berth.gc.v1.Collectable over a LocalStore, on a temporary
// unix socket): what it lists, and what a sweep deletes, keeps and refuses.
#include "services/content/server/collectable_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/content/local_store.h"

namespace berth::content {
namespace {

namespace pb = ::berth::gc::v1;

int64_t Nanos(Time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

class CollectableServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LocalStoreOptions options;
    options.root = dir_.Path("root");
    options.expiry_interval = std::chrono::seconds(0);
    ASSERT_OK_AND_ASSIGN(store_, LocalStore::Open(options));
    guarded_ = std::make_unique<GuardedStore>(store_.get(), &guard_);
    service_ = std::make_unique<CollectableService>(store_.get(), &guard_);
    const std::string address = "unix:" + dir_.Path("c.sock");
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ =
        pb::Collectable::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // Commits `data` in `ns` with `labels`; returns its digest.
  std::string Commit(const std::string& ns, const std::string& data, const Labels& labels = {}) {
    const digest::Digest d = digest::FromBytes(data);
    auto writer = store_->OpenWriter(CallContext::Background(ns),
                                     {"ref-" + data, static_cast<int64_t>(data.size()), d});
    EXPECT_OK(writer.status());
    if (!writer.ok()) return "";
    // A blob on disk for another namespace needs no bytes (the ingest starts complete).
    absl::StatusOr<IngestStatus> st = (*writer)->Status();
    EXPECT_OK(st.status());
    if (st.ok() && st->offset == 0) {
      EXPECT_OK((*writer)->Write(data));
    }
    EXPECT_OK((*writer)->Commit(static_cast<int64_t>(data.size()), d, labels));
    return d.ToString();
  }

  absl::StatusOr<std::vector<pb::Object>> List(const std::vector<std::string>& namespaces,
                                               int* messages = nullptr) {
    grpc::ClientContext ctx;
    pb::ListObjectsRequest req;
    for (const std::string& ns : namespaces) req.add_namespaces(ns);
    auto reader = stub_->ListObjects(&ctx, req);
    std::vector<pb::Object> out;
    pb::ListObjectsResponse resp;
    int n = 0;
    while (reader->Read(&resp)) {
      ++n;
      for (const pb::Object& o : resp.objects()) out.push_back(o);
    }
    if (messages != nullptr) *messages = n;
    grpc::Status s = reader->Finish();
    if (!s.ok())
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    return out;
  }

  pb::SweepResponse Sweep(const std::vector<pb::ObjectRef>& objects, Time not_after) {
    grpc::ClientContext ctx;
    pb::SweepRequest req;
    for (const pb::ObjectRef& o : objects) *req.add_objects() = o;
    req.set_not_after_unix_nanos(Nanos(not_after));
    pb::SweepResponse resp;
    grpc::Status s = stub_->Sweep(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  static pb::ObjectRef Ref(const std::string& ns, const std::string& type, const std::string& id) {
    pb::ObjectRef r;
    r.set_namespace_(ns);
    r.set_type(type);
    r.set_id(id);
    return r;
  }

  std::string BlobPath(const std::string& digest) const {
    return dir_.Path("root") + "/blobs/sha256/" + digest.substr(7);
  }
  static bool Exists(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
  }

  testing::TempDir dir_{"gccontent"};
  std::unique_ptr<LocalStore> store_;
  SweepGuard guard_;
  std::unique_ptr<GuardedStore> guarded_;  // what ContentService would write through
  std::unique_ptr<CollectableService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<pb::Collectable::Stub> stub_;
};

TEST_F(CollectableServiceTest, ListsBlobsAndIngestsOfTheNamespacesAsked) {
  const Time before = std::chrono::system_clock::now();
  const std::string config = Commit("a", "config",
                                    {{"containerd.io/gc.ref.snapshot.overlayfs", "sha256:top"},
                                     {"containerd.io/distribution.source.x", "repo"}});
  const std::string other = Commit("b", "other");
  // An ingest with an expected digest, half written.
  const digest::Digest expected = digest::FromBytes("whole");
  {
    auto w = store_->OpenWriter(CallContext::Background("a"), {"layer-x", 5, expected});
    ASSERT_OK(w.status());
    ASSERT_OK((*w)->Write("who"));
  }

  ASSERT_OK_AND_ASSIGN(std::vector<pb::Object> objects, List({"a"}));
  ASSERT_EQ(objects.size(), 2u);
  const pb::Object& blob = objects[0];
  EXPECT_EQ(blob.ref().namespace_(), "a");
  EXPECT_EQ(blob.ref().type(), "content");
  EXPECT_EQ(blob.ref().id(), config);
  EXPECT_EQ(blob.size(), 6);
  // Only the gc labels travel.
  ASSERT_EQ(blob.labels().size(), 1u);
  EXPECT_EQ(blob.labels().at("containerd.io/gc.ref.snapshot.overlayfs"), "sha256:top");
  EXPECT_GE(blob.created_at_unix_nanos(), Nanos(before));
  EXPECT_GE(blob.updated_at_unix_nanos(), blob.created_at_unix_nanos());
  const pb::Object& ingest = objects[1];
  EXPECT_EQ(ingest.ref().type(), "ingests");
  EXPECT_EQ(ingest.ref().id(), "layer-x");
  EXPECT_EQ(ingest.size(), 3);
  ASSERT_EQ(ingest.references_size(), 1);
  EXPECT_EQ(ingest.references(0).type(), "content");
  EXPECT_EQ(ingest.references(0).id(), expected.ToString());

  ASSERT_OK_AND_ASSIGN(objects, List({"a", "b"}));
  EXPECT_EQ(objects.size(), 3u);
  EXPECT_EQ(objects.back().ref().id(), other);
  ASSERT_OK_AND_ASSIGN(objects, List({"nothing-here"}));
  EXPECT_TRUE(objects.empty());
  ASSERT_OK_AND_ASSIGN(objects, List({}));
  EXPECT_TRUE(objects.empty());
  EXPECT_TRUE(absl::IsInvalidArgument(List({"bad/ns"}).status()));
}

TEST_F(CollectableServiceTest, ListsManyObjectsInBatches) {
  for (int i = 0; i < 510; ++i) Commit("many", "blob-" + std::to_string(i));
  int messages = 0;
  ASSERT_OK_AND_ASSIGN(std::vector<pb::Object> objects, List({"many"}, &messages));
  EXPECT_EQ(objects.size(), 510u);
  EXPECT_EQ(messages, 2);
}

TEST_F(CollectableServiceTest, SweepRemovesOldBlobsAndKeepsNewerOnes) {
  const std::string old_blob = Commit("a", "old");
  const std::string shared = Commit("a", "shared");
  Commit("b", "shared");
  const Time mark = std::chrono::system_clock::now();
  const std::string new_blob = Commit("a", "new");
  // Updated after the mark: someone works with it.
  const std::string touched = Commit("a", "touched");
  ASSERT_OK(store_
                ->Update(CallContext::Background("a"),
                         Info{digest::FromBytes("touched"), 0, {}, {}, {{"k", "v"}}}, {})
                .status());

  pb::SweepResponse resp = Sweep(
      {Ref("a", "content", old_blob), Ref("a", "content", shared), Ref("a", "content", new_blob),
       Ref("a", "content", "sha256:" + std::string(64, 'e')), Ref("a", "content", "not-a-digest"),
       Ref("a", "images", "busybox"), Ref("bad/ns", "content", old_blob)},
      mark);
  ASSERT_EQ(resp.results_size(), 7);
  EXPECT_EQ(resp.results(0).outcome(), pb::SWEEP_REMOVED);
  EXPECT_EQ(resp.results(0).size(), 3);
  EXPECT_EQ(resp.results(1).outcome(), pb::SWEEP_REMOVED);
  EXPECT_EQ(resp.results(2).outcome(), pb::SWEEP_KEPT_NEWER);
  EXPECT_EQ(resp.results(3).outcome(), pb::SWEEP_GONE);
  EXPECT_EQ(resp.results(4).outcome(), pb::SWEEP_FAILED);
  EXPECT_NE(resp.results(4).message(), "");
  EXPECT_EQ(resp.results(5).outcome(), pb::SWEEP_NOT_COLLECTABLE);
  EXPECT_EQ(resp.results(6).outcome(), pb::SWEEP_FAILED);

  // The old blob is gone from disk; the shared one stays for namespace b.
  EXPECT_FALSE(Exists(BlobPath(old_blob)));
  EXPECT_TRUE(Exists(BlobPath(shared)));
  EXPECT_TRUE(
      IsNotFound(store_->Info(CallContext::Background("a"), digest::FromBytes("shared")).status()));
  EXPECT_OK(store_->Info(CallContext::Background("b"), digest::FromBytes("shared")).status());
  EXPECT_OK(store_->Info(CallContext::Background("a"), digest::FromBytes("new")).status());

  resp = Sweep({Ref("a", "content", touched)}, mark);
  EXPECT_EQ(resp.results(0).outcome(), pb::SWEEP_KEPT_NEWER);
}

TEST_F(CollectableServiceTest, SweepAbortsIdleIngestsButNotOnesBeingWritten) {
  {
    auto w = store_->OpenWriter(CallContext::Background("a"), {"idle", 0, {}});
    ASSERT_OK(w.status());
    ASSERT_OK((*w)->Write("abc"));
  }
  auto busy = store_->OpenWriter(CallContext::Background("a"), {"busy", 0, {}});
  ASSERT_OK(busy.status());
  const Time mark = std::chrono::system_clock::now();

  pb::SweepResponse resp =
      Sweep({Ref("a", "ingests", "idle"), Ref("a", "ingests", "busy"), Ref("a", "ingests", "none")},
            mark);
  ASSERT_EQ(resp.results_size(), 3);
  EXPECT_EQ(resp.results(0).outcome(), pb::SWEEP_REMOVED);
  EXPECT_EQ(resp.results(0).size(), 3);
  EXPECT_EQ(resp.results(1).outcome(), pb::SWEEP_IN_USE);
  EXPECT_EQ(resp.results(2).outcome(), pb::SWEEP_GONE);
  EXPECT_TRUE(IsNotFound(store_->Status(CallContext::Background("a"), "idle").status()));
  EXPECT_OK(store_->Status(CallContext::Background("a"), "busy").status());

  // Started after the mark: kept.
  busy->reset();
  {
    auto w = store_->OpenWriter(CallContext::Background("a"), {"fresh", 0, {}});
    ASSERT_OK(w.status());
  }
  resp = Sweep({Ref("a", "ingests", "fresh")}, mark);
  EXPECT_EQ(resp.results(0).outcome(), pb::SWEEP_KEPT_NEWER);
}

TEST_F(CollectableServiceTest, ABlobLeasedWhileTheCollectionRanIsKept) {
  const std::string found = Commit("a", "found by a pull");
  const std::string idle = Commit("a", "nobody wants me");
  const std::string written = Commit("a", "rewritten");
  {
    auto w = store_->OpenWriter(CallContext::Background("a"), {"resumed", 0, {}});
    ASSERT_OK(w.status());
  }
  const Time mark = std::chrono::system_clock::now();
  // A pull, through the guarded store, opens writers with its lease: the blob exists
  // (AlreadyExists leases it), the ingest is resumed under the lease.
  CallContext pull = CallContext::Background("a");
  pull.lease = "pull";
  const digest::Digest d = digest::FromBytes("found by a pull");
  EXPECT_TRUE(IsAlreadyExists(guarded_->OpenWriter(pull, {"layer", 15, d}).status()));
  ASSERT_OK(guarded_->OpenWriter(pull, {"resumed", 0, {}}).status());
  // A writer without a lease leases nothing.
  EXPECT_TRUE(IsAlreadyExists(
      guarded_->OpenWriter(CallContext::Background("a"), {"x", 9, digest::FromBytes("rewritten")})
          .status()));

  pb::SweepResponse resp = Sweep({Ref("a", "content", found), Ref("a", "content", idle),
                                  Ref("a", "content", written), Ref("a", "ingests", "resumed")},
                                 mark);
  ASSERT_EQ(resp.results_size(), 4);
  EXPECT_EQ(resp.results(0).outcome(), pb::SWEEP_IN_USE);
  EXPECT_EQ(resp.results(1).outcome(), pb::SWEEP_REMOVED);
  EXPECT_EQ(resp.results(2).outcome(), pb::SWEEP_REMOVED);
  EXPECT_EQ(resp.results(3).outcome(), pb::SWEEP_IN_USE);
  EXPECT_OK(store_->Info(CallContext::Background("a"), d).status());
  // A later collection (its mark after the lease) is the mark's business again.
  resp = Sweep({Ref("a", "content", found)}, std::chrono::system_clock::now());
  EXPECT_EQ(resp.results(0).outcome(), pb::SWEEP_REMOVED);
}

TEST_F(CollectableServiceTest, AGuardedCommitUnderALeaseIsRecorded) {
  const Time mark = std::chrono::system_clock::now();
  CallContext pull = CallContext::Background("a");
  pull.lease = "pull";
  const std::string data = "committed by a pull";
  const digest::Digest d = digest::FromBytes(data);
  // Without an expected digest at open, the commit says which blob it leased.
  auto w = guarded_->OpenWriter(pull, {"config", 0, {}});
  ASSERT_OK(w.status());
  ASSERT_OK((*w)->Write(data));
  ASSERT_OK((*w)->Commit(static_cast<int64_t>(data.size()), {}, {}));
  EXPECT_TRUE(guard_.AttachedAfter("a", "content", d.ToString(), mark));
  EXPECT_FALSE(
      guard_.AttachedAfter("a", "content", d.ToString(), std::chrono::system_clock::now()));
  EXPECT_FALSE(guard_.AttachedAfter("b", "content", d.ToString(), mark));
}

}  // namespace
}  // namespace berth::content
