// LocalStore in read-only mode (a read replica): it follows a primary LocalStore on the same
// root through a RocksDB secondary instance, serves the reads, and refuses every write.
// catch_up_interval is 0 here, so the replica only catches up when a read misses, before
// Walk and before the Admin reads: what the tests see does not depend on timing.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/content/local_store.h"

namespace berth::content {
namespace {

using ::berth::testing::TempDir;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

digest::Digest D(const std::string& data) { return digest::FromBytes(data); }
CallContext Ctx(const std::string& ns = "default") { return CallContext::Background(ns); }

class ReadReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LocalStoreOptions options;
    options.root = dir_.Path("root");
    ASSERT_OK_AND_ASSIGN(primary_, LocalStore::Open(options));
    primary_->WaitForBlobCheck();
  }

  absl::StatusOr<std::unique_ptr<LocalStore>> OpenReplica(const std::string& name = "r1") {
    LocalStoreOptions options;
    options.root = dir_.Path("root");
    options.read_only = true;
    options.secondary_dir = dir_.Path(name) + "/meta";
    options.catch_up_interval = std::chrono::milliseconds(0);
    options.primary = "unix:///run/berth/content.sock";
    return LocalStore::Open(options);
  }

  absl::Status Commit(const std::string& ref, const std::string& data, const Labels& labels = {},
                      const std::string& ns = "default") {
    ASSIGN_OR_RETURN(auto w, primary_->OpenWriter(Ctx(ns), {ref, 0, {}}));
    RETURN_IF_ERROR(w->Write(data));
    return w->Commit(static_cast<int64_t>(data.size()), D(data), labels);
  }

  static absl::StatusOr<std::string> ReadAll(Store& store, const digest::Digest& d) {
    ASSIGN_OR_RETURN(auto reader, store.OpenReader(Ctx(), d));
    std::string out(static_cast<size_t>(reader->Size()), '\0');
    ASSIGN_OR_RETURN(size_t n, reader->ReadAt(out.data(), out.size(), 0));
    out.resize(n);
    return out;
  }

  static std::vector<Info> List(Store& store, const std::vector<std::string>& filters = {}) {
    std::vector<Info> out;
    EXPECT_OK(store.Walk(Ctx(), filters, [&](const Info& info) {
      out.push_back(info);
      return absl::OkStatus();
    }));
    return out;
  }

  TempDir dir_{"replica"};
  std::unique_ptr<LocalStore> primary_;
};

TEST_F(ReadReplicaTest, ServesWhatThePrimaryCommitted) {
  const std::string a = RandomBytes(300000, 1);
  ASSERT_OK(Commit("a", a, {{"k", "v1"}}));
  ASSERT_OK_AND_ASSIGN(auto replica, OpenReplica());
  EXPECT_TRUE(replica->read_only());
  EXPECT_FALSE(primary_->read_only());

  ASSERT_OK_AND_ASSIGN(Info info, replica->Info(Ctx(), D(a)));
  EXPECT_EQ(info.size, 300000);
  EXPECT_EQ(info.labels.at("k"), "v1");
  ASSERT_OK_AND_ASSIGN(std::string read, ReadAll(*replica, D(a)));
  EXPECT_EQ(read, a);
  EXPECT_EQ(replica->counters().bytes_read.load(), 300000u);

  // Committed after the replica opened: the miss catches up.
  const std::string b = RandomBytes(1000, 2);
  ASSERT_OK(Commit("b", b));
  ASSERT_OK_AND_ASSIGN(read, ReadAll(*replica, D(b)));
  EXPECT_EQ(read, b);
  EXPECT_EQ(List(*replica).size(), 2u);

  // Walk catches up first: label changes show.
  Info update;
  update.digest = D(a);
  update.labels = {{"k", "v2"}};
  ASSERT_OK(primary_->Update(Ctx(), update, {"labels.k"}).status());
  std::vector<Info> infos = List(*replica, {"labels.k==v2"});
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].digest, D(a));

  // Deleted on the primary: the replica's stale record leads to the missing file, which
  // makes it catch up and report NotFound.
  ASSERT_OK(primary_->Delete(Ctx(), D(a)));
  EXPECT_TRUE(IsNotFound(ReadAll(*replica, D(a)).status()));
  EXPECT_TRUE(IsNotFound(replica->Info(Ctx(), D(a)).status()));
  EXPECT_TRUE(IsNotFound(replica->Info(Ctx("other"), D(b)).status()));
  EXPECT_TRUE(IsFailedPrecondition(replica->Info(Ctx(""), D(b)).status()));
}

TEST_F(ReadReplicaTest, RefusesWritesNamingThePrimary) {
  const std::string a = RandomBytes(100, 3);
  ASSERT_OK(Commit("a", a));
  ASSERT_OK_AND_ASSIGN(auto replica, OpenReplica());
  Info update;
  update.digest = D(a);
  const LeaseResource resource{D(a).ToString(), kContentResource};
  std::vector<absl::Status> refused = {
      replica->OpenWriter(Ctx(), {"new", 0, {}}).status(),
      replica->Update(Ctx(), update, {"labels"}).status(),
      replica->Delete(Ctx(), D(a)),
      replica->Abort(Ctx(), "new"),
      replica->AddLeaseResource(Ctx(), "lease1", resource),
      replica->DeleteLeaseResource(Ctx(), "lease1", resource),
      replica->DeleteLease(Ctx(), "lease1"),
  };
  for (const absl::Status& s : refused) {
    EXPECT_TRUE(IsFailedPrecondition(s)) << s;
    EXPECT_NE(s.message().find("read replica"), std::string::npos) << s;
    EXPECT_NE(s.message().find("unix:///run/berth/content.sock"), std::string::npos) << s;
  }
  EXPECT_EQ(replica->ExpireIngests(std::chrono::system_clock::now() + std::chrono::hours(48)), 0);
  // Nothing changed.
  EXPECT_OK(primary_->Info(Ctx(), D(a)).status());
  EXPECT_OK(replica->Info(Ctx(), D(a)).status());
}

TEST_F(ReadReplicaTest, IngestsAreReadFromTheirDirectories) {
  const std::string data = RandomBytes(10000, 4);
  {
    ASSERT_OK_AND_ASSIGN(auto w, primary_->OpenWriter(Ctx(), {"layer-1", 10000, D(data)}));
    ASSERT_OK(w->Write(data.substr(0, 4000)));
    // The writer goes: its bytes are in the data file.
  }
  { ASSERT_OK_AND_ASSIGN(auto w, primary_->OpenWriter(Ctx("other"), {"layer-1", 0, {}})); }
  ASSERT_OK_AND_ASSIGN(auto replica, OpenReplica());
  ASSERT_OK_AND_ASSIGN(IngestStatus st, replica->Status(Ctx(), "layer-1"));
  EXPECT_EQ(st.ref, "layer-1");
  EXPECT_EQ(st.offset, 4000);
  EXPECT_EQ(st.total, 10000);
  EXPECT_EQ(st.expected, D(data));
  ASSERT_OK_AND_ASSIGN(IngestStatus on_primary, primary_->Status(Ctx(), "layer-1"));
  EXPECT_EQ(st.started_at, on_primary.started_at);

  ASSERT_OK_AND_ASSIGN(std::vector<IngestStatus> all, replica->ListStatuses(Ctx(), {}));
  ASSERT_EQ(all.size(), 1u);  // Only the namespace's own.
  EXPECT_EQ(all[0].ref, "layer-1");
  ASSERT_OK_AND_ASSIGN(all, replica->ListStatuses(Ctx(), {"ref==nothing"}));
  EXPECT_TRUE(all.empty());
  EXPECT_TRUE(IsInvalidArgument(replica->ListStatuses(Ctx(), {"ref=="}).status()));
  EXPECT_TRUE(IsNotFound(replica->Status(Ctx(), "layer-2").status()));
  EXPECT_TRUE(IsInvalidArgument(replica->Status(Ctx(), "").status()));

  ASSERT_OK_AND_ASSIGN(NamespaceUsage usage, replica->NamespaceUsage(Ctx(), "default"));
  EXPECT_EQ(usage.ingests, 1);
  EXPECT_EQ(usage.blobs, 0);

  // Committed on the primary: gone from the replica too.
  {
    ASSERT_OK_AND_ASSIGN(auto w, primary_->OpenWriter(Ctx(), {"layer-1", 0, {}}));
    ASSERT_OK(w->Write(data.substr(4000)));
    ASSERT_OK(w->Commit(10000, D(data), {}));
  }
  EXPECT_TRUE(IsNotFound(replica->Status(Ctx(), "layer-1").status()));
  ASSERT_OK_AND_ASSIGN(usage, replica->NamespaceUsage(Ctx(), "default"));
  EXPECT_EQ(usage.ingests, 0);
  EXPECT_EQ(usage.blobs, 1);
  EXPECT_EQ(usage.blob_bytes, 10000);
}

TEST_F(ReadReplicaTest, SharedIngestReportsItsWholeBlob) {
  const std::string data = RandomBytes(5000, 5);
  ASSERT_OK(Commit("a", data));
  {
    // In another namespace the blob is already on disk: the ingest starts complete.
    ASSERT_OK_AND_ASSIGN(auto w, primary_->OpenWriter(Ctx("other"), {"b", 5000, D(data)}));
  }
  ASSERT_OK_AND_ASSIGN(auto replica, OpenReplica());
  ASSERT_OK_AND_ASSIGN(IngestStatus st, replica->Status(Ctx("other"), "b"));
  EXPECT_EQ(st.offset, 5000);
}

TEST_F(ReadReplicaTest, TwoReplicasFollowOnePrimary) {
  ASSERT_OK_AND_ASSIGN(auto r1, OpenReplica("r1"));
  ASSERT_OK_AND_ASSIGN(auto r2, OpenReplica("r2"));
  const std::string a = RandomBytes(2000, 6);
  ASSERT_OK(Commit("a", a));
  ASSERT_OK_AND_ASSIGN(std::string one, ReadAll(*r1, D(a)));
  ASSERT_OK_AND_ASSIGN(std::string two, ReadAll(*r2, D(a)));
  EXPECT_EQ(one, a);
  EXPECT_EQ(two, a);
  // The primary restarts (a new MANIFEST and WAL): the replicas keep following.
  primary_.reset();
  LocalStoreOptions options;
  options.root = dir_.Path("root");
  ASSERT_OK_AND_ASSIGN(primary_, LocalStore::Open(options));
  const std::string b = RandomBytes(3000, 7);
  ASSERT_OK(Commit("b", b));
  ASSERT_OK_AND_ASSIGN(one, ReadAll(*r1, D(b)));
  EXPECT_EQ(one, b);
  EXPECT_EQ(List(*r2).size(), 2u);
}

TEST_F(ReadReplicaTest, BadOptions) {
  LocalStoreOptions options;
  options.root = dir_.Path("root");
  options.read_only = true;  // no secondary_dir
  EXPECT_TRUE(IsInvalidArgument(LocalStore::Open(options).status()));
  options.secondary_dir = dir_.Path("sec");
  options.root = dir_.Path("missing");
  absl::Status s = LocalStore::Open(options).status();
  EXPECT_TRUE(IsNotFound(s)) << s;
  EXPECT_NE(s.message().find(dir_.Path("missing")), std::string::npos) << s;
  // A primary-only call on a primary.
  EXPECT_TRUE(IsFailedPrecondition(primary_->CatchUp()));
}

}  // namespace
}  // namespace berth::content
