// LocalStore beyond the conformance suite: restarts, start-up reconciliation, the on-disk
// layout, hashing without reading back; plus its helpers (schema, fs_util, HashPipeline).
#include "services/content/local_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>

#include "lib/status/status.h"
#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/content/fs_util.h"
#include "services/content/ingest_pipeline.h"
#include "services/content/schema.h"

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

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    LocalStoreOptions options;
    options.root = root();
    auto s = LocalStore::Open(options);
    ASSERT_OK(s.status());
    store_ = std::move(*s);
    store_->WaitForBlobCheck();
  }

  // Runs `fn` on the metadata database while the store is closed, then reopens the store.
  void WithDatabase(const std::function<void(store::Store&)>& fn) {
    store_.reset();
    {
      auto db = store::Store::Open(root() + "/meta");
      ASSERT_OK(db.status());
      fn(**db);
    }
    Reopen();
  }

  absl::Status Commit(const CallContext& ctx, const std::string& ref, const std::string& data) {
    ASSIGN_OR_RETURN(auto w, store_->OpenWriter(ctx, {ref, 0, {}}));
    RETURN_IF_ERROR(w->Write(data));
    return w->Commit(static_cast<int64_t>(data.size()), D(data), {});
  }

  std::string root() const { return dir_.Path("root"); }
  std::string IngestDir(const std::string& ref, const std::string& ns = "default") const {
    return root() + "/ingest/" + schema::IngestId(ns, ref);
  }
  std::string BlobPath(const digest::Digest& d) const {
    return root() + "/blobs/sha256/" + std::string(d.hex());
  }

  TempDir dir_{"lstore"};
  std::unique_ptr<LocalStore> store_;
};

TEST_F(LocalStoreTest, LayoutOnDisk) {
  const std::string data = RandomBytes(1000, 1);
  {
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx(), {"my/ref", 1000, D(data)}));
    ASSERT_OK(w->Write(data.substr(0, 10)));
    const std::string dir = IngestDir("my/ref");
    ASSERT_OK_AND_ASSIGN(std::string ref, internal::ReadFile(dir + "/ref"));
    EXPECT_EQ(ref, "my/ref");
    ASSERT_OK_AND_ASSIGN(std::string ns, internal::ReadFile(dir + "/namespace"));
    EXPECT_EQ(ns, "default");
    ASSERT_OK_AND_ASSIGN(std::string total, internal::ReadFile(dir + "/total"));
    EXPECT_EQ(total, "1000");
    ASSERT_OK_AND_ASSIGN(std::string expected, internal::ReadFile(dir + "/expected"));
    EXPECT_EQ(expected, D(data).ToString());
    ASSERT_OK_AND_ASSIGN(std::string started, internal::ReadFile(dir + "/startedat"));
    EXPECT_TRUE(internal::ParseTime(started).has_value()) << started;
    EXPECT_TRUE(Exists(dir + "/updatedat"));
    struct stat st;
    ASSERT_EQ(::stat((dir + "/data").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 10);
    // The declared total is reserved (where the file system supports fallocate).
    EXPECT_GE(static_cast<int64_t>(st.st_blocks) * 512, 1000);
    ASSERT_OK(w->Write(data.substr(10)));
    ASSERT_OK(w->Commit(1000, D(data), {}));
    EXPECT_FALSE(Exists(dir));
  }
  struct stat st;
  ASSERT_EQ(::stat(BlobPath(D(data)).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_EQ(st.st_size, 1000);
}

// A broken stream resumes without reading the data back; a restart reads it once.
TEST_F(LocalStoreTest, HashStateSurvivesWritersAndIsRebuiltAfterRestart) {
  const std::string data = RandomBytes(300000, 2);
  {
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx(), {"r", 0, {}}));
    ASSERT_OK(w->Write(data.substr(0, 100000)));
  }
  {
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx(), {"r", 0, {}}));
    ASSERT_OK(w->Write(data.substr(100000, 100000)));
    ASSERT_OK_AND_ASSIGN(digest::Digest sum, w->Digest());
    EXPECT_EQ(sum, D(data.substr(0, 200000)));
  }
  EXPECT_EQ(store_->counters().bytes_rehashed.load(), 0u);

  Reopen();
  ASSERT_OK_AND_ASSIGN(IngestStatus st, store_->Status(Ctx(), "r"));
  EXPECT_EQ(st.offset, 200000);
  ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx(), {"r", 0, {}}));
  EXPECT_EQ(store_->counters().bytes_rehashed.load(), 200000u);
  ASSERT_OK(w->Write(data.substr(200000)));
  ASSERT_OK(w->Commit(300000, D(data), {}));
  EXPECT_EQ(store_->counters().bytes_rehashed.load(), 200000u);
  EXPECT_EQ(store_->counters().bytes_ingested.load(), 100000u);  // Since the restart.
}

TEST_F(LocalStoreTest, CommittedBlobsAndIngestsSurviveRestart) {
  ASSERT_OK(Commit(Ctx("a"), "x", "blob x"));
  {
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx("b"), {"pending", 50, {}}));
    ASSERT_OK(w->Write("12345"));
  }
  Reopen();
  ASSERT_OK_AND_ASSIGN(Info info, store_->Info(Ctx("a"), D("blob x")));
  EXPECT_EQ(info.size, 6);
  ASSERT_OK_AND_ASSIGN(IngestStatus st, store_->Status(Ctx("b"), "pending"));
  EXPECT_EQ(st.offset, 5);
  EXPECT_EQ(st.total, 50);
  EXPECT_EQ(store_->IngestCount(), 1);
}

TEST_F(LocalStoreTest, IngestDirectoryWithoutRecordIsAdopted) {
  {
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx(), {"orphan", 0, {}}));
    ASSERT_OK(w->Write("abc"));
  }
  const std::string id = schema::IngestId("default", "orphan");
  WithDatabase([&](store::Store& db) { ASSERT_OK(db.Delete(schema::IngestKey(id))); });
  ASSERT_OK_AND_ASSIGN(IngestStatus st, store_->Status(Ctx(), "orphan"));
  EXPECT_EQ(st.offset, 3);
  // The record is back.
  store_.reset();
  auto db = store::Store::Open(root() + "/meta");
  ASSERT_OK(db.status());
  EXPECT_OK((*db)->Get(schema::IngestKey(id)).status());
}

TEST_F(LocalStoreTest, RecordWithoutDirectoryIsDropped) {
  {
    CallContext ctx = Ctx();
    ctx.lease = "lease1";
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(ctx, {"vanished", 0, {}}));
  }
  store_.reset();
  ASSERT_OK(internal::RemoveFlatDir(IngestDir("vanished")));
  Reopen();
  EXPECT_TRUE(IsNotFound(store_->Status(Ctx(), "vanished").status()));
  ASSERT_OK_AND_ASSIGN(auto held, store_->ListLeaseResources(Ctx(), "lease1"));
  EXPECT_TRUE(held.empty());
}

TEST_F(LocalStoreTest, IncompleteIngestDirectoriesAndTempFilesAreCleaned) {
  {
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx(), {"good", 0, {}}));
    ASSERT_OK(w->Write("data"));
  }
  store_.reset();
  // A creation cut short before the ref file, a stray file, a half-replaced updatedat.
  const std::string half = root() + "/ingest/" + std::string(64, 'a');
  ASSERT_EQ(::mkdir(half.c_str(), 0700), 0);
  ASSERT_OK(internal::WriteFile(half + "/data", "x"));
  ASSERT_OK(internal::WriteFile(root() + "/ingest/stray", "x"));
  ASSERT_OK(internal::WriteFile(IngestDir("good") + "/updatedat.tmp", "2026-"));
  Reopen();
  EXPECT_FALSE(Exists(half));
  EXPECT_FALSE(Exists(root() + "/ingest/stray"));
  EXPECT_FALSE(Exists(IngestDir("good") + "/updatedat.tmp"));
  ASSERT_OK_AND_ASSIGN(IngestStatus st, store_->Status(Ctx(), "good"));
  EXPECT_EQ(st.offset, 4);
}

TEST_F(LocalStoreTest, MissingDataFileRestartsTheIngestEmpty) {
  {
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx(), {"r", 0, {}}));
    ASSERT_OK(w->Write("data"));
  }
  store_.reset();
  ASSERT_EQ(::unlink((IngestDir("r") + "/data").c_str()), 0);
  Reopen();
  ASSERT_OK_AND_ASSIGN(IngestStatus st, store_->Status(Ctx(), "r"));
  EXPECT_EQ(st.offset, 0);
  ASSERT_OK(Commit(Ctx(), "r", "fresh"));
}

TEST_F(LocalStoreTest, BlobRecordWithoutFileIsDroppedByTheBackgroundCheck) {
  ASSERT_OK(Commit(Ctx("a"), "x", "lost"));
  ASSERT_OK(Commit(Ctx("b"), "x", "lost"));
  ASSERT_OK(Commit(Ctx("a"), "y", "kept"));
  store_.reset();
  ASSERT_EQ(::unlink(BlobPath(D("lost")).c_str()), 0);
  Reopen();  // Waits for the check.
  EXPECT_EQ(store_->counters().missing_blobs.load(), 2u);
  EXPECT_TRUE(IsNotFound(store_->Info(Ctx("a"), D("lost")).status()));
  EXPECT_TRUE(IsNotFound(store_->Info(Ctx("b"), D("lost")).status()));
  EXPECT_OK(store_->Info(Ctx("a"), D("kept")).status());
  ASSERT_OK_AND_ASSIGN(auto usage, store_->UsageByNamespace());
  EXPECT_EQ(usage.size(), 1u);
  EXPECT_EQ(usage["a"].blobs, 1);
}

// A crash between the rename and the metadata leaves a verified blob nobody holds; a later
// commit of the same bytes adopts it.
TEST_F(LocalStoreTest, OrphanBlobFileIsAdoptedByALaterCommit) {
  ASSERT_OK(Commit(Ctx(), "x", "orphan bytes"));
  WithDatabase([&](store::Store& db) {
    store::Batch batch;
    batch.Delete(schema::BlobKey("default", D("orphan bytes")));
    batch.Delete(schema::HolderKey(D("orphan bytes"), "default"));
    ASSERT_OK(db.Write(batch));
  });
  EXPECT_TRUE(Exists(BlobPath(D("orphan bytes"))));
  EXPECT_TRUE(IsNotFound(store_->Info(Ctx(), D("orphan bytes")).status()));
  // With the expected digest the ingest is complete at once.
  ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx(), {"again", 0, D("orphan bytes")}));
  ASSERT_OK_AND_ASSIGN(IngestStatus st, w->Status());
  EXPECT_EQ(st.offset, 12);
  ASSERT_OK(w->Commit(12, D("orphan bytes"), {}));
  // Without it, the bytes are written and the existing file kept.
  ASSERT_OK(Commit(Ctx("other"), "again", "orphan bytes"));
  ASSERT_OK(store_->Info(Ctx("other"), D("orphan bytes")).status());
}

// The bytes of a blob stay while a shared ingest in another namespace stands for them.
TEST_F(LocalStoreTest, SharedIngestKeepsTheBlobFile) {
  ASSERT_OK(Commit(Ctx("a"), "x", "shared bytes"));
  ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx("b"), {"x", 0, D("shared bytes")}));
  ASSERT_OK(store_->Delete(Ctx("a"), D("shared bytes")));
  EXPECT_TRUE(Exists(BlobPath(D("shared bytes"))));
  ASSERT_OK(w->Commit(0, D("shared bytes"), {}));
  w.reset();
  ASSERT_OK_AND_ASSIGN(Info info, store_->Info(Ctx("b"), D("shared bytes")));
  EXPECT_EQ(info.size, 12);
  ASSERT_OK(store_->Delete(Ctx("b"), D("shared bytes")));
  EXPECT_FALSE(Exists(BlobPath(D("shared bytes"))));
}

TEST_F(LocalStoreTest, AbortingTheLastSharedIngestReleasesTheFile) {
  ASSERT_OK(Commit(Ctx("a"), "x", "shared bytes"));
  { ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx("b"), {"x", 0, D("shared bytes")})); }
  ASSERT_OK(store_->Delete(Ctx("a"), D("shared bytes")));
  EXPECT_TRUE(Exists(BlobPath(D("shared bytes"))));
  ASSERT_OK(store_->Abort(Ctx("b"), "x"));
  EXPECT_FALSE(Exists(BlobPath(D("shared bytes"))));
}

TEST_F(LocalStoreTest, SharedIngestSurvivesRestart) {
  ASSERT_OK(Commit(Ctx("a"), "x", "shared bytes"));
  { ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx("b"), {"x", 0, D("shared bytes")})); }
  Reopen();
  ASSERT_OK_AND_ASSIGN(IngestStatus st, store_->Status(Ctx("b"), "x"));
  EXPECT_EQ(st.offset, 12);
  ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx("b"), {"x", 0, D("shared bytes")}));
  ASSERT_OK(w->Commit(12, D("shared bytes"), {}));
}

TEST_F(LocalStoreTest, UnleasedIdleIngestsExpire) {
  {
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx(), {"idle", 0, {}}));
    ASSERT_OK(w->Write("x"));
  }
  {
    CallContext leased = Ctx();
    leased.lease = "keep";
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(leased, {"leased", 0, {}}));
  }
  ASSERT_OK_AND_ASSIGN(auto busy, store_->OpenWriter(Ctx(), {"busy", 0, {}}));
  const Time now = std::chrono::system_clock::now();
  EXPECT_EQ(store_->ExpireIngests(now), 0);  // Nothing is a day old yet.
  EXPECT_EQ(store_->ExpireIngests(now + std::chrono::hours(25)), 1);
  EXPECT_TRUE(IsNotFound(store_->Status(Ctx(), "idle").status()));
  EXPECT_OK(store_->Status(Ctx(), "leased").status());
  EXPECT_OK(store_->Status(Ctx(), "busy").status());
}

// containerd's client names leases `<nanoseconds>-<4 base64url chars>`, which may end in '-'
// or '_' or double a separator: not identifiers, yet the gateway creates them and every
// `ctr images pull` writes under one. The gateway's rule applies: 1..76 of [A-Za-z0-9._-].
TEST_F(LocalStoreTest, LeaseIdsAsContainerdsClientMakesThem) {
  for (const std::string lease :
       {"1732868772123456789-ab_-", "1732868772123456789--Avi", "1732868772123456789-9QK_"}) {
    CallContext leased = Ctx();
    leased.lease = lease;
    ASSERT_OK(Commit(leased, "ref-" + lease, "data " + lease)) << lease;
    ASSERT_OK_AND_ASSIGN(auto held, store_->ListLeaseResources(Ctx(), lease));
    EXPECT_EQ(held.size(), 1u) << lease;
    EXPECT_OK(store_->DeleteLease(Ctx(), lease));
  }
  for (const std::string& lease :
       std::vector<std::string>{"bad/lease", std::string(77, 'a'), "sp ace"}) {
    CallContext leased = Ctx();
    leased.lease = lease;
    EXPECT_TRUE(IsInvalidArgument(store_->OpenWriter(leased, {"r", 0, {}}).status())) << lease;
  }
}

TEST_F(LocalStoreTest, OpenErrors) {
  LocalStoreOptions options;
  options.root = "relative/root";
  EXPECT_TRUE(IsInvalidArgument(LocalStore::Open(options).status()));
  options.root = "";
  EXPECT_TRUE(IsInvalidArgument(LocalStore::Open(options).status()));
  options.root = root();
  absl::Status second = LocalStore::Open(options).status();
  EXPECT_TRUE(IsUnavailable(second)) << second;
}

TEST_F(LocalStoreTest, UsageByNamespaceAndCounts) {
  ASSERT_OK(Commit(Ctx("a"), "1", "one"));
  ASSERT_OK(Commit(Ctx("a"), "2", "two!"));
  ASSERT_OK(Commit(Ctx("b"), "1", "one"));
  ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(Ctx("c"), {"pending", 0, {}}));
  ASSERT_OK_AND_ASSIGN(auto usage, store_->UsageByNamespace());
  EXPECT_EQ(usage["a"].blobs, 2);
  EXPECT_EQ(usage["a"].blob_bytes, 7);
  EXPECT_EQ(usage["b"].blobs, 1);
  EXPECT_EQ(store_->IngestCount(), 1);
  EXPECT_EQ(store_->ActiveWriterCount(), 1);
  w.reset();
  EXPECT_EQ(store_->ActiveWriterCount(), 0);
  EXPECT_EQ(store_->counters().commits.load(), 3u);
}

TEST(SchemaTest, KeysAndIds) {
  const digest::Digest d = D("x");
  EXPECT_EQ(schema::BlobKey("default", d), "v1/default/content/blob/" + d.ToString());
  EXPECT_EQ(schema::BlobPrefix("default"), "v1/default/content/blob/");
  EXPECT_EQ(schema::HolderKey(d, "ns"), "v1/_content/holders/" + d.ToString() + "/ns");
  EXPECT_EQ(schema::LeaseIngestKey("ns", "l", "id"), "v1/ns/content/lease/l/ingests/id");
  EXPECT_EQ(schema::LeaseContentKey("ns", "l", d), "v1/ns/content/lease/l/content/" + d.ToString());
  EXPECT_EQ(schema::IngestKey("id"), "v1/_content/ingest/id");
  const std::string id = schema::IngestId("ns", "../../x");
  EXPECT_EQ(id.size(), 64u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(schema::IngestId("ns", "ref"), schema::IngestId("ns2", "ref"));
  EXPECT_NE(schema::IngestId("a", "b/c"), schema::IngestId("a.b", "c"));
}

TEST(FsUtilTest, TimeFormatRoundTrips) {
  const Time t = internal::FromUnixNanos(1764389400123456789);
  EXPECT_EQ(internal::FormatTime(t), "2025-11-29T04:10:00.123456789Z");
  EXPECT_EQ(internal::ParseTime("2025-11-29T04:10:00.123456789Z"), t);
  EXPECT_EQ(internal::ParseTime("2025-11-29T04:10:00Z"),
            internal::FromUnixNanos(1764389400000000000));
  EXPECT_EQ(internal::ParseTime("2025-11-29T04:10:00.5Z\n"),
            internal::FromUnixNanos(1764389400500000000));
  EXPECT_EQ(internal::FormatTime(internal::FromUnixNanos(-1)), "1969-12-31T23:59:59.999999999Z");
  for (const char* bad : {"", "2025-11-29", "2025-11-29T04:10:00", "2025-11-29T04:10:00.Z",
                          "2025-11-29T04:10:00+01:00", "garbage"}) {
    EXPECT_FALSE(internal::ParseTime(bad).has_value()) << bad;
  }
}

TEST(FsUtilTest, ErrorsNameThePath) {
  TempDir dir("fsutil");
  absl::StatusOr<std::string> missing = internal::ReadFile(dir.Path("nope"));
  EXPECT_TRUE(IsNotFound(missing.status()));
  EXPECT_NE(missing.status().message().find(dir.Path("nope")), std::string::npos);
  ASSERT_OK(internal::ReplaceFile(dir.Path("f"), "one"));
  ASSERT_OK(internal::ReplaceFile(dir.Path("f"), "two"));
  ASSERT_OK_AND_ASSIGN(std::string text, internal::ReadFile(dir.Path("f")));
  EXPECT_EQ(text, "two");
  EXPECT_FALSE(Exists(dir.Path("f.tmp")));
  ASSERT_OK(internal::MakeDir(dir.Path("d"), 0700));
  ASSERT_OK(internal::MakeDir(dir.Path("d"), 0700));
  EXPECT_TRUE(IsFailedPrecondition(internal::MakeDir(dir.Path("f"), 0700)));
  ASSERT_OK(internal::RemoveFlatDir(dir.Path("d")));
  ASSERT_OK(internal::RemoveFlatDir(dir.Path("d")));
}

// Chunks of mixed sizes (inline and queued) land in the file in order and the hash covers
// exactly the file.
TEST(IngestPipelineTest, WritesAndHashesInOrder) {
  TempDir dir("pipeline");
  const std::string path = dir.Path("data");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  const std::string data = RandomBytes(5 << 20, 3);
  {
    internal::IngestPipeline pipeline(fd, path, 0, digest::Sha256(), 2, 64 << 10);
    size_t off = 0;
    std::mt19937 rng(7);
    while (off < data.size()) {
      size_t n = std::min<size_t>(data.size() - off, rng() % 2 ? 100 : (1 << 20) + 3);
      ASSERT_OK(pipeline.Add(data.substr(off, n)));
      off += n;
      EXPECT_EQ(pipeline.accepted(), static_cast<int64_t>(off));
    }
    ASSERT_OK(pipeline.Drain());
    EXPECT_EQ(pipeline.written(), static_cast<int64_t>(data.size()));
    EXPECT_EQ(pipeline.hasher().Sum(), D(data));
    // Continue after a truncation, then hand the hasher back.
    ASSERT_EQ(::ftruncate(fd, 0), 0);
    pipeline.Reset(0, digest::Sha256());
    ASSERT_OK(pipeline.Add("abc"));
    ASSERT_OK(pipeline.Add(std::string(1 << 20, 'z')));
    digest::Sha256 released = pipeline.Release();
    EXPECT_EQ(released.Finish(), D("abc" + std::string(1 << 20, 'z')));
  }
  ::close(fd);
  std::ifstream in(path, std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(file, "abc" + std::string(1 << 20, 'z'));
}

TEST(IngestPipelineTest, ContinuesFromAnOffsetAndHasher) {
  TempDir dir("pipeline");
  const std::string path = dir.Path("data");
  ASSERT_OK(internal::WriteFile(path, "prefix-"));
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  digest::Sha256 start;
  start.Update("prefix-");
  {
    internal::IngestPipeline pipeline(fd, path, 7, std::move(start), 1, 0);
    ASSERT_OK(pipeline.Add("rest"));
    ASSERT_OK(pipeline.Drain());
    EXPECT_EQ(pipeline.hasher().Sum(), D("prefix-rest"));
  }
  ::close(fd);
  ASSERT_OK_AND_ASSIGN(std::string file, internal::ReadFile(path));
  EXPECT_EQ(file, "prefix-rest");
}

// A failed background write is reported by a later call; offset and hash fall back to what
// the file holds.
TEST(IngestPipelineTest, FailedWriteIsReportedLaterAndRollsBack) {
  TempDir dir("pipeline");
  const std::string path = dir.Path("data");
  ASSERT_OK(internal::WriteFile(path, ""));
  int fd = ::open(path.c_str(), O_RDONLY);  // Every pwrite fails with EBADF.
  ASSERT_GE(fd, 0);
  {
    internal::IngestPipeline pipeline(fd, path, 0, digest::Sha256(), 4, 64 << 10);
    absl::Status s = pipeline.Add(std::string(1 << 20, 'a'));  // Queued: accepted for now.
    if (s.ok()) {
      EXPECT_EQ(pipeline.accepted(), 1 << 20);
      s = pipeline.Drain();
    }
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(path), std::string::npos) << s;
    EXPECT_EQ(pipeline.accepted(), 0);
    EXPECT_EQ(pipeline.written(), 0);
    EXPECT_OK(pipeline.Drain());  // Reported once.
    EXPECT_EQ(pipeline.hasher().Sum(), D(""));
    EXPECT_FALSE(pipeline.Add("small").ok());  // Inline path: immediate.
  }
  ::close(fd);
}

}  // namespace
}  // namespace berth::content
