#include "gateway/rocks_stores.h"

#include <gtest/gtest.h>

#include <regex>

#include "gateway/schema.h"
#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"

namespace berth::gateway {
namespace {

class RocksStoresTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    namespaces_.reset();
    db_.reset();
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta")));
    ASSERT_OK_AND_ASSIGN(namespaces_, RocksNamespaceStore::Open(db_.get()));
    leases_ = std::make_unique<RocksLeaseStore>(db_.get());
  }

  testing::TempDir dir_{"gwstore"};
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<RocksNamespaceStore> namespaces_;
  std::unique_ptr<RocksLeaseStore> leases_;
};

TEST_F(RocksStoresTest, NamespaceLifecycle) {
  EXPECT_TRUE(IsNotFound(namespaces_->Get("a").status()));
  ASSERT_OK(namespaces_->Create(Namespace{"a", {{"k", "v"}}}));
  absl::Status dup = namespaces_->Create(Namespace{"a", {}});
  EXPECT_TRUE(IsAlreadyExists(dup)) << dup;
  EXPECT_EQ(std::string(dup.message()), "namespace \"a\": already exists");
  ASSERT_OK_AND_ASSIGN(Namespace a, namespaces_->Get("a"));
  EXPECT_EQ(a.labels, (Labels{{"k", "v"}}));
  ASSERT_OK(namespaces_->SetLabels("a", {{"x", "y"}}));
  ASSERT_OK(namespaces_->SetLabels("b", {}));  // creates
  ASSERT_OK_AND_ASSIGN(std::vector<Namespace> all, namespaces_->List());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "a");
  EXPECT_EQ(all[0].labels, (Labels{{"x", "y"}}));
  EXPECT_EQ(all[1].name, "b");
  ASSERT_OK(namespaces_->Delete("a"));
  absl::Status gone = namespaces_->Delete("a");
  EXPECT_TRUE(IsNotFound(gone)) << gone;
  EXPECT_EQ(std::string(gone.message()), "namespace \"a\": not found");
}

TEST_F(RocksStoresTest, TouchCreatesOnceAndSurvivesReopen) {
  ASSERT_OK_AND_ASSIGN(bool created, namespaces_->Touch("implicit"));
  EXPECT_TRUE(created);
  ASSERT_OK_AND_ASSIGN(created, namespaces_->Touch("implicit"));
  EXPECT_FALSE(created);
  Open();
  ASSERT_OK_AND_ASSIGN(created, namespaces_->Touch("implicit"));
  EXPECT_FALSE(created);
  ASSERT_OK_AND_ASSIGN(Namespace ns, namespaces_->Get("implicit"));
  EXPECT_TRUE(ns.labels.empty());
}

TEST_F(RocksStoresTest, BadNamesAndLabelsAreRefused) {
  for (const std::string& bad :
       std::vector<std::string>{"", "a/b", "-a", "a..b", std::string(77, 'a')}) {
    absl::Status s = namespaces_->Create(Namespace{bad, {}});
    EXPECT_TRUE(IsInvalidArgument(s)) << bad << ": " << s;
    EXPECT_TRUE(IsInvalidArgument(namespaces_->Touch(bad).status())) << bad;
    EXPECT_TRUE(IsInvalidArgument(leases_->Create(bad, Lease{"l", {}, {}}))) << bad;
  }
  // Lease ids follow a looser rule than names, so ctr's generated ids always pass.
  for (const std::string& bad : std::vector<std::string>{"", "a/b", "a b", std::string(77, 'a')}) {
    EXPECT_TRUE(IsInvalidArgument(leases_->Create("ns", Lease{bad, {}, {}}))) << bad;
  }
  for (const std::string& ctr_id : std::vector<std::string>{"123456789-ab_-", "5-a__b", "7-_x-_"}) {
    EXPECT_OK(leases_->Create("ns", Lease{ctr_id, {}, {}}));
  }
  absl::Status s = namespaces_->Touch("a/b").status();
  EXPECT_EQ(std::string(s.message()).rfind("namespace validation: ", 0), 0u) << s;
  EXPECT_TRUE(IsInvalidArgument(namespaces_->Create(Namespace{"ok", {{"", "v"}}})));
  EXPECT_TRUE(
      IsInvalidArgument(namespaces_->Create(Namespace{"ok", {{"k", std::string(5000, 'v')}}})));
  ASSERT_OK_AND_ASSIGN(std::vector<Namespace> all, namespaces_->List());
  EXPECT_TRUE(all.empty());
}

TEST_F(RocksStoresTest, LeasesPerNamespace) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::nanoseconds(1234567890123));
  ASSERT_OK(leases_->Create("ns1", Lease{"l1", t, {{"a", "b"}}}));
  ASSERT_OK(leases_->Create("ns1", Lease{"l0", t, {}}));
  ASSERT_OK(leases_->Create("ns2", Lease{"l1", t, {}}));
  EXPECT_TRUE(IsAlreadyExists(leases_->Create("ns1", Lease{"l1", t, {}})));
  ASSERT_OK_AND_ASSIGN(Lease l1, leases_->Get("ns1", "l1"));
  EXPECT_EQ(l1.created_at, t);
  EXPECT_EQ(l1.labels, (Labels{{"a", "b"}}));
  ASSERT_OK_AND_ASSIGN(std::vector<Lease> ns1, leases_->List("ns1"));
  ASSERT_EQ(ns1.size(), 2u);
  EXPECT_EQ(ns1[0].id, "l0");
  EXPECT_EQ(ns1[1].id, "l1");
  // "ns" is a prefix of "ns1" and "ns2" but holds nothing.
  ASSERT_OK_AND_ASSIGN(std::vector<Lease> ns, leases_->List("ns"));
  EXPECT_TRUE(ns.empty());
  ASSERT_OK(leases_->Delete("ns1", "l1"));
  EXPECT_TRUE(IsNotFound(leases_->Delete("ns1", "l1")));
  EXPECT_TRUE(IsNotFound(leases_->Get("ns1", "l1").status()));
  EXPECT_OK(leases_->Get("ns2", "l1").status());
}

TEST_F(RocksStoresTest, CorruptRecordIsDataLoss) {
  ASSERT_OK(db_->Put(schema::NamespaceKey("broken"), "\xff\xff\xff"));
  EXPECT_TRUE(IsDataLoss(namespaces_->Get("broken").status()));
  EXPECT_TRUE(IsDataLoss(namespaces_->List().status()));
}

TEST_F(RocksStoresTest, ServerUuidIsStable) {
  ASSERT_OK_AND_ASSIGN(std::string uuid, LoadOrCreateServerUuid(db_.get()));
  EXPECT_TRUE(std::regex_match(
      uuid, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << uuid;
  Open();
  ASSERT_OK_AND_ASSIGN(std::string again, LoadOrCreateServerUuid(db_.get()));
  EXPECT_EQ(uuid, again);
}

}  // namespace
}  // namespace berth::gateway
