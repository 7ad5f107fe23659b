// CollectableService on the wire (berth.gc.v1.Collectable over a native snapshotter, on a
// temporary unix socket): what it lists, and what a sweep removes, keeps and refuses.
#include "services/snapshot/server/collectable_service.h"

#include <dirent.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/snapshot/admin.h"
#include "services/snapshot/metadata.h"
#include "services/snapshot/native_snapshotter.h"
#include "services/snapshot/sweep_guard.h"

namespace berth::snapshot {
namespace {

namespace pb = ::berth::gc::v1;
using Time = std::chrono::system_clock::time_point;

int64_t Nanos(Time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

class CollectableServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(meta_, MetaStore::Open(dir_.Path("meta")));
    ASSERT_OK_AND_ASSIGN(native_, NativeSnapshotter::Create(dir_.Path("native"), meta_.get()));
    guarded_ = std::make_unique<GuardedSnapshotter>("native", native_.get(), &guard_);
    service_ = std::make_unique<CollectableService>(
        std::map<std::string, Snapshotter*>{{"native", native_.get()}}, &guard_);
    const std::string address = "unix:" + dir_.Path("s.sock");
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

  // A committed snapshot `name` on `parent`.
  void Committed(const std::string& ns, const std::string& name, const std::string& parent,
                 const Labels& labels = {}) {
    const CallContext ctx = CallContext::Background(ns);
    ASSERT_OK(native_->Prepare(ctx, "extract " + name, parent, {}).status());
    ASSERT_OK(native_->Commit(ctx, name, "extract " + name, labels));
  }

  absl::StatusOr<std::vector<pb::Object>> List(const std::vector<std::string>& namespaces) {
    grpc::ClientContext ctx;
    pb::ListObjectsRequest req;
    for (const std::string& ns : namespaces) req.add_namespaces(ns);
    auto reader = stub_->ListObjects(&ctx, req);
    std::vector<pb::Object> out;
    pb::ListObjectsResponse resp;
    while (reader->Read(&resp)) {
      for (const pb::Object& o : resp.objects()) out.push_back(o);
    }
    grpc::Status s = reader->Finish();
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    }
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

  // Outcome by id.
  static std::map<std::string, pb::SweepOutcome> Outcomes(const pb::SweepResponse& resp) {
    std::map<std::string, pb::SweepOutcome> out;
    for (const pb::SweepResult& r : resp.results()) out[r.object().id()] = r.outcome();
    return out;
  }

  // Snapshot directories on disk.
  int Directories() const {
    DIR* d = opendir(dir_.Path("native/snapshots").c_str());
    if (d == nullptr) return -1;
    int n = 0;
    while (struct dirent* e = readdir(d)) {
      if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ++n;
    }
    closedir(d);
    return n;
  }

  testing::TempDir dir_{"gcsnap"};
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<NativeSnapshotter> native_;
  SweepGuard guard_;
  std::unique_ptr<GuardedSnapshotter> guarded_;  // what the Snapshots service goes through
  std::unique_ptr<CollectableService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<pb::Collectable::Stub> stub_;
};

TEST_F(CollectableServiceTest, ListsSnapshotsWithParentsAndGcLabels) {
  const Time before = std::chrono::system_clock::now();
  Committed("a", "sha256:c1", "");
  Committed("a", "sha256:c2", "sha256:c1",
            {{"containerd.io/gc.root", "2026-01-01T00:00:00Z"}, {"other", "x"}});
  ASSERT_OK(native_->Prepare(CallContext::Background("a"), "ctr1", "sha256:c2", {}).status());
  Committed("b", "sha256:c1", "");

  ASSERT_OK_AND_ASSIGN(std::vector<pb::Object> objects, List({"a"}));
  ASSERT_EQ(objects.size(), 3u);
  std::map<std::string, pb::Object> by_id;
  for (const pb::Object& o : objects) {
    EXPECT_EQ(o.ref().namespace_(), "a");
    EXPECT_EQ(o.ref().type(), "snapshots/native");
    EXPECT_GE(o.created_at_unix_nanos(), Nanos(before));
    by_id[o.ref().id()] = o;
  }
  EXPECT_EQ(by_id["sha256:c1"].references_size(), 0);
  ASSERT_EQ(by_id["sha256:c2"].references_size(), 1);
  EXPECT_EQ(by_id["sha256:c2"].references(0).type(), "snapshots/native");
  EXPECT_EQ(by_id["sha256:c2"].references(0).id(), "sha256:c1");
  ASSERT_EQ(by_id["sha256:c2"].labels().size(), 1u);
  EXPECT_EQ(by_id["sha256:c2"].labels().count("containerd.io/gc.root"), 1u);
  ASSERT_EQ(by_id["ctr1"].references_size(), 1);
  EXPECT_EQ(by_id["ctr1"].references(0).id(), "sha256:c2");

  ASSERT_OK_AND_ASSIGN(objects, List({"a", "b"}));
  EXPECT_EQ(objects.size(), 4u);
  ASSERT_OK_AND_ASSIGN(objects, List({"empty"}));
  EXPECT_TRUE(objects.empty());
  EXPECT_TRUE(absl::IsInvalidArgument(List({"bad/ns"}).status()));
}

TEST_F(CollectableServiceTest, SweepRemovesChildrenBeforeParents) {
  Committed("a", "sha256:c1", "");
  Committed("a", "sha256:c2", "sha256:c1");
  ASSERT_OK(native_->Prepare(CallContext::Background("a"), "ctr1", "sha256:c2", {}).status());
  ASSERT_EQ(Directories(), 3);
  const Time mark = std::chrono::system_clock::now();
  // Parents first in the request: the sweep still gets all three.
  pb::SweepResponse resp =
      Sweep({Ref("a", "snapshots/native", "sha256:c1"), Ref("a", "snapshots/native", "sha256:c2"),
             Ref("a", "snapshots/native", "ctr1")},
            mark);
  ASSERT_EQ(resp.results_size(), 3);
  for (const pb::SweepResult& r : resp.results()) {
    EXPECT_EQ(r.outcome(), pb::SWEEP_REMOVED) << r.object().id() << ": " << r.message();
  }
  EXPECT_EQ(Directories(), 0);
  EXPECT_TRUE(IsNotFound(native_->Stat(CallContext::Background("a"), "sha256:c1").status()));
}

TEST_F(CollectableServiceTest, SweepKeepsWhatIsNewerOrStillHasChildren) {
  Committed("a", "sha256:c1", "");
  Committed("a", "sha256:keep", "");
  ASSERT_OK(native_->Prepare(CallContext::Background("a"), "child", "sha256:keep", {}).status());
  const Time mark = std::chrono::system_clock::now();
  Committed("a", "sha256:new", "");

  pb::SweepResponse resp =
      Sweep({Ref("a", "snapshots/native", "sha256:c1"), Ref("a", "snapshots/native", "sha256:keep"),
             Ref("a", "snapshots/native", "sha256:new"), Ref("a", "snapshots/native", "missing"),
             Ref("a", "snapshots/overlayfs", "sha256:c1"), Ref("a", "content", "sha256:c1"),
             Ref("bad/ns", "snapshots/native", "sha256:c1")},
            mark);
  ASSERT_EQ(resp.results_size(), 7);
  std::map<std::string, pb::SweepOutcome> outcomes = Outcomes(resp);
  EXPECT_EQ(outcomes["sha256:keep"], pb::SWEEP_IN_USE);  // its child was not swept
  EXPECT_EQ(outcomes["sha256:new"], pb::SWEEP_KEPT_NEWER);
  EXPECT_EQ(outcomes["missing"], pb::SWEEP_GONE);
  int removed = 0, failed = 0, not_collectable = 0;
  for (const pb::SweepResult& r : resp.results()) {
    removed += r.outcome() == pb::SWEEP_REMOVED;
    failed += r.outcome() == pb::SWEEP_FAILED;
    not_collectable += r.outcome() == pb::SWEEP_NOT_COLLECTABLE;
  }
  EXPECT_EQ(removed, 1);          // sha256:c1 of native
  EXPECT_EQ(failed, 2);           // overlayfs not loaded, bad namespace
  EXPECT_EQ(not_collectable, 1);  // content
  EXPECT_OK(native_->Stat(CallContext::Background("a"), "sha256:keep").status());
  EXPECT_OK(native_->Stat(CallContext::Background("a"), "sha256:new").status());
  EXPECT_TRUE(IsNotFound(native_->Stat(CallContext::Background("a"), "sha256:c1").status()));
}

TEST_F(CollectableServiceTest, ASnapshotAPullFoundWhileTheCollectionRanIsKept) {
  Committed("a", "sha256:base", "");
  Committed("a", "sha256:other", "");
  Committed("a", "sha256:looked-at", "");
  const Time mark = std::chrono::system_clock::now();
  // A pull's unpack, under its lease: the base layer exists (Stat), the next layer goes on it.
  CallContext pull = CallContext::Background("a");
  pull.lease = "pull";
  ASSERT_OK(guarded_->Stat(pull, "sha256:base").status());
  // Without a lease a look protects nothing.
  ASSERT_OK(guarded_->Stat(CallContext::Background("a"), "sha256:looked-at").status());

  pb::SweepResponse resp = Sweep(
      {Ref("a", "snapshots/native", "sha256:base"), Ref("a", "snapshots/native", "sha256:other"),
       Ref("a", "snapshots/native", "sha256:looked-at")},
      mark);
  std::map<std::string, pb::SweepOutcome> outcomes = Outcomes(resp);
  EXPECT_EQ(outcomes["sha256:base"], pb::SWEEP_IN_USE);
  EXPECT_EQ(outcomes["sha256:other"], pb::SWEEP_REMOVED);
  EXPECT_EQ(outcomes["sha256:looked-at"], pb::SWEEP_REMOVED);
  // So the pull can go on.
  ASSERT_OK(guarded_->Prepare(pull, "extract-2", "sha256:base", {}).status());
  ASSERT_OK(guarded_->Commit(pull, "sha256:top", "extract-2", {}));
  EXPECT_TRUE(guard_.UsedAfter("a", "snapshots/native", "sha256:top", mark));
  EXPECT_FALSE(guard_.UsedAfter("b", "snapshots/native", "sha256:base", mark));
  EXPECT_FALSE(guard_.UsedAfter("a", "snapshots/overlayfs", "sha256:base", mark));
}

// The collector asks the snapshot service what a lease holds; ctr's lease ids may hold two
// separators in a row, which must not make the answer (or the lease's deletion) fail — else
// no snapshot would ever be swept while such a lease exists.
TEST_F(CollectableServiceTest, LeasesWithCtrStyleIdsAreListedAndDropped) {
  CallContext ctx = CallContext::Background("a");
  ctx.lease = "1764406400123456789--cJa";
  ASSERT_OK(native_->Prepare(ctx, "extract-1", "", {}).status());
  MetaStoreAdmin admin(meta_.get());
  ASSERT_OK_AND_ASSIGN(std::vector<LeaseResource> held,
                       admin.ListLeaseResources(CallContext::Background("a"), ctx.lease));
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].id, "extract-1");
  EXPECT_EQ(held[0].type, "snapshots/native");
  ASSERT_OK(admin.DeleteLease(CallContext::Background("a"), ctx.lease));
  ASSERT_OK_AND_ASSIGN(held, admin.ListLeaseResources(CallContext::Background("a"), ctx.lease));
  EXPECT_TRUE(held.empty());
  EXPECT_TRUE(absl::IsInvalidArgument(
      admin.ListLeaseResources(CallContext::Background("a"), "has/slash").status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(admin.ListLeaseResources(CallContext::Background("a"), "").status()));
}

}  // namespace
}  // namespace berth::snapshot
