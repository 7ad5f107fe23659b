// MetaStore and the key schema: escaping, record encoding, the rules (AlreadyExists,
// NotFound, InvalidArgument, FailedPrecondition), commit bookkeeping, leases, namespace
// usage, and ids that never repeat across a reopen.
#include "services/snapshot/metadata.h"

#include <gtest/gtest.h>

#include <string>

#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/snapshot/schema.h"

namespace berth::snapshot {
namespace {

TEST(SchemaTest, EscapeRoundTrips) {
  for (std::string key : {"plain", "a/b", "100%", "%2F", "sha256:abc", "extract-1 sha256:x", "//",
                          "%%//%%", "caf\xc3\xa9"}) {
    std::string e = schema::EscapeComponent(key);
    EXPECT_EQ(e.find('/'), std::string::npos) << key;
    ASSERT_OK_AND_ASSIGN(std::string back, schema::UnescapeComponent(e));
    EXPECT_EQ(back, key);
  }
  EXPECT_TRUE(IsInvalidArgument(schema::UnescapeComponent("%zz").status()));
  EXPECT_TRUE(IsInvalidArgument(schema::UnescapeComponent("%2").status()));
  ASSERT_OK_AND_ASSIGN(std::string k, schema::SnapshotKey("default", "overlayfs", "a/b"));
  EXPECT_EQ(k, "v1/default/snapshots/overlayfs/key/a%2Fb");
  ASSERT_OK_AND_ASSIGN(k, schema::LeaseKey("default", "l1", "native", "x"));
  EXPECT_EQ(k, "v1/default/leases/l1/snapshots/native/x");
  EXPECT_FALSE(schema::SnapshotKey("default", "overlayfs", "").ok());
}

TEST(SchemaTest, RecordRoundTrips) {
  SnapshotRecord r;
  r.id = 42;
  r.kind = Kind::kCommitted;
  r.parent = "p";
  r.labels = {{"a", "1"}, {"containerd.io/gc.root", "x"}};
  r.created = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1234567890123456789));
  r.updated = r.created + std::chrono::seconds(1);
  r.usage = {4096, 3};
  r.leases = {"l1", "l2"};
  ASSERT_OK_AND_ASSIGN(SnapshotRecord back, DecodeRecord(EncodeRecord(r)));
  EXPECT_EQ(back.id, r.id);
  EXPECT_EQ(back.kind, r.kind);
  EXPECT_EQ(back.parent, r.parent);
  EXPECT_EQ(back.labels, r.labels);
  EXPECT_EQ(back.created, r.created);
  EXPECT_EQ(back.updated, r.updated);
  EXPECT_EQ(back.usage.size, 4096);
  EXPECT_EQ(back.usage.inodes, 3);
  EXPECT_EQ(back.leases, r.leases);
  EXPECT_TRUE(IsDataLoss(DecodeRecord("\xff\xff\xff").status()));
  EXPECT_TRUE(IsDataLoss(DecodeRecord("").status())) << "kind UNKNOWN is not a record";
}

class MetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(meta_, MetaStore::Open(tmp_.Path("meta"))); }
  berth::testing::TempDir tmp_{"meta"};
  std::unique_ptr<MetaStore> meta_;
};

TEST_F(MetaStoreTest, CreateCommitRemoveRules) {
  ASSERT_OK_AND_ASSIGN(auto id1, meta_->ReserveId("sn"));
  ASSERT_OK_AND_ASSIGN(SnapshotChain c1,
                       meta_->Create("ns", "sn", "a", Kind::kActive, "", id1, {{"l", "v"}}, ""));
  EXPECT_EQ(c1.id, id1);
  EXPECT_TRUE(c1.parent_ids.empty());
  EXPECT_TRUE(
      IsAlreadyExists(meta_->Create("ns", "sn", "a", Kind::kActive, "", 99, {}, "").status()));
  EXPECT_TRUE(IsNotFound(meta_->Create("ns", "sn", "b", Kind::kActive, "x", 99, {}, "").status()));
  EXPECT_TRUE(
      IsInvalidArgument(meta_->Create("ns", "sn", "b", Kind::kActive, "a", 99, {}, "").status()));
  EXPECT_TRUE(
      IsInvalidArgument(meta_->Create("ns", "sn", "", Kind::kActive, "", 99, {}, "").status()));
  EXPECT_TRUE(
      IsInvalidArgument(meta_->Create("ns", "sn", "b", Kind::kCommitted, "", 99, {}, "").status()));
  ASSERT_OK(meta_->Commit("ns", "sn", "c", "a", {100, 2}, {{"m", "n"}}, "").status());
  ASSERT_OK_AND_ASSIGN(SnapshotRecord rc, meta_->Get("ns", "sn", "c"));
  EXPECT_EQ(rc.kind, Kind::kCommitted);
  EXPECT_EQ(rc.id, id1);
  EXPECT_EQ(rc.labels, (Labels{{"l", "v"}, {"m", "n"}}));
  EXPECT_EQ(rc.usage.size, 100);
  EXPECT_TRUE(IsNotFound(meta_->Get("ns", "sn", "a").status()));

  ASSERT_OK_AND_ASSIGN(auto id2, meta_->ReserveId("sn"));
  EXPECT_GT(id2, id1);
  ASSERT_OK_AND_ASSIGN(SnapshotChain c2,
                       meta_->Create("ns", "sn", "child", Kind::kView, "c", id2, {}, ""));
  EXPECT_EQ(c2.parent_ids, std::vector<std::uint64_t>{id1});
  EXPECT_TRUE(IsFailedPrecondition(meta_->Remove("ns", "sn", "c").status()));
  EXPECT_TRUE(IsFailedPrecondition(meta_->Commit("ns", "sn", "x", "child", {}, {}, "").status()));
  EXPECT_TRUE(IsFailedPrecondition(meta_->ActiveChain("ns", "sn", "c").status()));
  ASSERT_OK_AND_ASSIGN(SnapshotChain again, meta_->ActiveChain("ns", "sn", "child"));
  EXPECT_EQ(again.parent_ids, std::vector<std::uint64_t>{id1});
  ASSERT_OK(meta_->Remove("ns", "sn", "child").status());
  ASSERT_OK(meta_->Remove("ns", "sn", "c").status());
  EXPECT_TRUE(IsNotFound(meta_->Remove("ns", "sn", "c").status()));
  // Other namespaces and snapshotters are separate key spaces.
  ASSERT_OK(meta_->Create("other", "sn", "k", Kind::kActive, "", 7, {}, "").status());
  ASSERT_OK(meta_->Create("ns", "other-sn", "k", Kind::kActive, "", 8, {}, "").status());
  EXPECT_TRUE(IsNotFound(meta_->Get("ns", "sn", "k").status()));
}

TEST_F(MetaStoreTest, IdsNeverRepeatAcrossReopen) {
  ASSERT_OK_AND_ASSIGN(auto id, meta_->ReserveId("sn"));
  ASSERT_OK(meta_->Create("ns", "sn", "a", Kind::kActive, "", id, {}, "").status());
  ASSERT_OK_AND_ASSIGN(auto unused, meta_->ReserveId("sn"));  // Reserved, never recorded.
  meta_.reset();
  ASSERT_OK_AND_ASSIGN(meta_, MetaStore::Open(tmp_.Path("meta")));
  ASSERT_OK_AND_ASSIGN(auto next, meta_->ReserveId("sn"));
  EXPECT_GT(next, id);
  (void)unused;  // May be handed out again: it never named a directory that survived.
  ASSERT_OK_AND_ASSIGN(auto ids, meta_->AllIds("sn"));
  EXPECT_EQ(ids, std::vector<std::uint64_t>{id});
}

TEST_F(MetaStoreTest, LeasesFollowSnapshots) {
  ASSERT_OK(meta_->Create("ns", "sn", "a", Kind::kActive, "", 1, {}, "lease1").status());
  ASSERT_OK_AND_ASSIGN(auto held, meta_->ListLease("ns", "lease1"));
  EXPECT_EQ(held, (std::vector<LeasedSnapshot>{{"sn", "a"}}));
  ASSERT_OK(meta_->Commit("ns", "sn", "c", "a", {}, {}, "lease2").status());
  ASSERT_OK_AND_ASSIGN(held, meta_->ListLease("ns", "lease1"));
  EXPECT_TRUE(held.empty());
  ASSERT_OK_AND_ASSIGN(held, meta_->ListLease("ns", "lease2"));
  EXPECT_EQ(held, (std::vector<LeasedSnapshot>{{"sn", "c"}}));
  ASSERT_OK(meta_->AddLease("ns", "lease1", "sn", "c"));
  ASSERT_OK(meta_->AddLease("ns", "lease1", "sn", "not/yet"));
  ASSERT_OK_AND_ASSIGN(held, meta_->ListLease("ns", "lease1"));
  EXPECT_EQ(held, (std::vector<LeasedSnapshot>{{"sn", "c"}, {"sn", "not/yet"}}));
  ASSERT_OK_AND_ASSIGN(NamespaceUsage usage, meta_->UsageOf("ns"));
  EXPECT_EQ(usage.snapshots, 1);
  EXPECT_EQ(usage.leases, 2);
  // Removing the snapshot drops it from every lease that held it.
  ASSERT_OK(meta_->Remove("ns", "sn", "c").status());
  ASSERT_OK_AND_ASSIGN(held, meta_->ListLease("ns", "lease2"));
  EXPECT_TRUE(held.empty());
  ASSERT_OK_AND_ASSIGN(held, meta_->ListLease("ns", "lease1"));
  EXPECT_EQ(held, (std::vector<LeasedSnapshot>{{"sn", "not/yet"}}));
  ASSERT_OK(meta_->DropLease("ns", "lease1"));
  ASSERT_OK_AND_ASSIGN(usage, meta_->UsageOf("ns"));
  EXPECT_TRUE(usage.empty());
  EXPECT_TRUE(IsInvalidArgument(meta_->AddLease("ns", "bad lease", "sn", "x")));
  EXPECT_TRUE(IsInvalidArgument(meta_->UsageOf("bad ns!").status()));
}

TEST_F(MetaStoreTest, UpdateFieldMasks) {
  ASSERT_OK(
      meta_->Create("ns", "sn", "a", Kind::kActive, "", 1, {{"x", "1"}, {"y", "2"}}, "").status());
  Info info;
  info.name = "a";
  info.labels = {{"y", "changed"}, {"z", "3"}};
  ASSERT_OK_AND_ASSIGN(Info out, meta_->Update("ns", "sn", info, {"labels.y", "labels.x"}));
  EXPECT_EQ(out.labels, (Labels{{"y", "changed"}}));
  ASSERT_OK_AND_ASSIGN(out, meta_->Update("ns", "sn", info, {}));
  EXPECT_EQ(out.labels, info.labels);
  EXPECT_TRUE(IsInvalidArgument(meta_->Update("ns", "sn", info, {"kind"}).status()));
  info.labels = {{"big", std::string(5000, 'x')}};
  EXPECT_TRUE(IsInvalidArgument(meta_->Update("ns", "sn", info, {}).status()));
  ASSERT_OK_AND_ASSIGN(SnapshotRecord r, meta_->Get("ns", "sn", "a"));
  EXPECT_EQ(r.labels, (Labels{{"y", "changed"}, {"z", "3"}})) << "a refused update changes nothing";
}

TEST_F(MetaStoreTest, WalkIsInKeyOrderWithSlashes) {
  for (std::string k : {"b", "a/z", "a", "a%", "c/d/e"}) {
    ASSERT_OK(meta_->Create("ns", "sn", k, Kind::kActive, "", 1, {}, "").status());
  }
  std::vector<std::string> keys;
  ASSERT_OK(meta_->Walk("ns", "sn", [&](const std::string& k, const SnapshotRecord&) {
    keys.push_back(k);
    return absl::OkStatus();
  }));
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "a%", "a/z", "b", "c/d/e"}));
}

}  // namespace
}  // namespace berth::snapshot
