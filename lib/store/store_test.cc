#include "lib/store/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "lib/store/keys.h"
#include "lib/store/rocksdb_status.h"
#include "lib/testing/child_process.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "rocksdb/db.h"

namespace berth::store {
namespace {

using ::berth::testing::TempDir;
using KV = std::pair<std::string, std::string>;

std::vector<KV> ScanAll(const Store& db, std::string_view prefix) {
  std::vector<KV> out;
  absl::Status s = db.Scan(prefix, [&](std::string_view k, std::string_view v) {
    out.emplace_back(std::string(k), std::string(v));
    return true;
  });
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

// Status::message() is an absl::string_view, which Debian's abseil keeps distinct from
// std::string_view.
bool Contains(absl::string_view haystack, std::string_view needle) {
  return std::string_view(haystack.data(), haystack.size()).find(needle) != std::string_view::npos;
}

// --- keys ----------------------------------------------------------------------------------

TEST(Keys, JoinsComponents) {
  ASSERT_OK_AND_ASSIGN(std::string key, Key({"v1", "default", "content", "blob", "sha256:ab"}));
  EXPECT_EQ(key, "v1/default/content/blob/sha256:ab");
  ASSERT_OK_AND_ASSIGN(std::string from_vector, Key(std::vector<std::string>{"v1", "ns"}));
  EXPECT_EQ(from_vector, "v1/ns");
  ASSERT_OK_AND_ASSIGN(std::string prefix, KeyPrefix({"v1", "default", "content"}));
  EXPECT_EQ(prefix, "v1/default/content/");
  EXPECT_EQ(SplitKey("v1/default/content"),
            (std::vector<std::string_view>{"v1", "default", "content"}));
  EXPECT_EQ(SplitKey("one"), (std::vector<std::string_view>{"one"}));
}

TEST(Keys, RefusesBadComponents) {
  absl::StatusOr<std::string> slash = Key({"v1", "a/b", "x"});
  EXPECT_TRUE(IsInvalidArgument(slash.status()));
  EXPECT_TRUE(Contains(slash.status().message(), "\"a/b\" contains '/'")) << slash.status();
  absl::StatusOr<std::string> empty = Key({"v1", "", "x"});
  EXPECT_TRUE(IsInvalidArgument(empty.status()));
  EXPECT_TRUE(Contains(empty.status().message(), "component 1 is empty")) << empty.status();
  EXPECT_TRUE(IsInvalidArgument(Key({}).status()));
  EXPECT_TRUE(IsInvalidArgument(Key(std::vector<std::string>{}).status()));
  EXPECT_TRUE(IsInvalidArgument(KeyPrefix({"v1", "/"}).status()));
  EXPECT_TRUE(IsInvalidArgument(Key(std::vector<std::string>{"v1", ""}).status()));
}

TEST(Keys, PrefixEnd) {
  EXPECT_EQ(PrefixEnd("v1/a/"), "v1/a0");
  EXPECT_EQ(PrefixEnd("abc"), "abd");
  EXPECT_EQ(PrefixEnd(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), "");
  EXPECT_EQ(PrefixEnd(""), "");
}

// --- error mapping -------------------------------------------------------------------------

TEST(FromRocksDB, MapsCodesAndNamesThePath) {
  absl::Status s = FromRocksDB(rocksdb::Status::Corruption("bad block"), "get \"k\" in", "/db");
  EXPECT_TRUE(IsDataLoss(s));
  EXPECT_EQ(s.message(), "get \"k\" in \"/db\": Corruption: bad block");
  EXPECT_TRUE(IsResourceExhausted(FromRocksDB(rocksdb::Status::NoSpace(), "put", "/db")));
  EXPECT_TRUE(IsResourceExhausted(
      FromRocksDB(rocksdb::Status::IOError("While appending to file: /db/000012.log",
                                           "No space left on device"),
                  "put", "/db")));
  EXPECT_TRUE(IsUnavailable(FromRocksDB(rocksdb::Status::Busy(), "put", "/db")));
  EXPECT_TRUE(IsUnavailable(FromRocksDB(rocksdb::Status::TryAgain(), "put", "/db")));
  EXPECT_TRUE(IsDeadlineExceeded(FromRocksDB(rocksdb::Status::TimedOut(), "put", "/db")));
  EXPECT_TRUE(IsUnimplemented(FromRocksDB(rocksdb::Status::NotSupported(), "put", "/db")));
  EXPECT_TRUE(IsInvalidArgument(FromRocksDB(rocksdb::Status::InvalidArgument("x"), "op", "/db")));
  EXPECT_TRUE(IsNotFound(FromRocksDB(rocksdb::Status::NotFound(), "get", "/db")));
  EXPECT_TRUE(IsInternal(FromRocksDB(rocksdb::Status::IOError("read", "EIO"), "get", "/db")));
  EXPECT_TRUE(IsPermissionDenied(
      FromRocksDB(rocksdb::Status::IOError("open /db/LOG", "Permission denied"), "open", "/db")));
  EXPECT_TRUE(FromRocksDB(rocksdb::Status::OK(), "get", "/db").ok());
}

// --- store ---------------------------------------------------------------------------------

TEST(Store, PutGetDelete) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto db, Store::Open(dir.Path("db")));
  EXPECT_FALSE(db->read_only());
  EXPECT_EQ(db->path(), dir.Path("db"));
  ASSERT_OK(db->Put("v1/default/a", "one"));
  ASSERT_OK(db->Put("v1/default/b", std::string("bin\0ary", 7), Durability::kBuffered));
  ASSERT_OK_AND_ASSIGN(std::string a, db->Get("v1/default/a"));
  EXPECT_EQ(a, "one");
  ASSERT_OK_AND_ASSIGN(std::string b, db->Get("v1/default/b"));
  EXPECT_EQ(b, std::string("bin\0ary", 7));
  ASSERT_OK(db->Put("v1/default/a", "two"));
  ASSERT_OK_AND_ASSIGN(a, db->Get("v1/default/a"));
  EXPECT_EQ(a, "two");

  ASSERT_OK(db->Delete("v1/default/a"));
  absl::StatusOr<std::string> gone = db->Get("v1/default/a");
  EXPECT_TRUE(IsNotFound(gone.status()));
  EXPECT_TRUE(Contains(gone.status().message(), "\"v1/default/a\"")) << gone.status();
  EXPECT_TRUE(Contains(gone.status().message(), dir.Path("db"))) << gone.status();
  EXPECT_OK(db->Delete("v1/default/never-there"));
}

TEST(Store, RefusesEmptyAndReservedKeys) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto db, Store::Open(dir.Path("db")));
  EXPECT_TRUE(IsInvalidArgument(db->Put("", "x")));
  EXPECT_TRUE(IsInvalidArgument(db->Delete("")));
  EXPECT_TRUE(IsInvalidArgument(db->Put(kSchemaVersionKey, "v9")));
  EXPECT_TRUE(IsInvalidArgument(db->Delete(kSchemaVersionKey)));
  ASSERT_OK_AND_ASSIGN(std::string version, db->Get(kSchemaVersionKey));
  EXPECT_EQ(version, "v1");
  EXPECT_TRUE(IsInvalidArgument(Store::Open("").status()));
  Options no_version;
  no_version.schema_version = "";
  EXPECT_TRUE(IsInvalidArgument(Store::Open(dir.Path("db2"), no_version).status()));
}

TEST(Store, PrefixScansStayInTheirTree) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto db, Store::Open(dir.Path("db")));
  // Neighbours on both sides of "v1/a/", including "v1/a0" ('0' is '/' + 1) and "v1/ab/".
  for (const char* key : {"v1/a", "v1/a.b/x", "v1/a/2", "v1/a/1", "v1/a/1/sub", "v1/a0", "v1/ab/1",
                          "v1/b/1", "v0/a/1"}) {
    ASSERT_OK(db->Put(key, std::string("value of ") + key));
  }
  EXPECT_EQ(ScanAll(*db, "v1/a/"), (std::vector<KV>{{"v1/a/1", "value of v1/a/1"},
                                                    {"v1/a/1/sub", "value of v1/a/1/sub"},
                                                    {"v1/a/2", "value of v1/a/2"}}));
  EXPECT_EQ(ScanAll(*db, "v1/ab/"), (std::vector<KV>{{"v1/ab/1", "value of v1/ab/1"}}));
  EXPECT_TRUE(ScanAll(*db, "v1/c/").empty());
  // The whole database in key order, without the schema-version key.
  std::vector<KV> all = ScanAll(*db, "");
  ASSERT_EQ(all.size(), 9u);
  EXPECT_EQ(all.front().first, "v0/a/1");
  EXPECT_EQ(all.back().first, "v1/b/1");
  EXPECT_TRUE(ScanAll(*db, "ver").empty());

  // The callback stops the scan.
  int seen = 0;
  ASSERT_OK(db->Scan("v1/", [&](std::string_view, std::string_view) { return ++seen < 2; }));
  EXPECT_EQ(seen, 2);

  // Iterator with Seek, clamped to its prefix.
  auto it = db->NewIterator("v1/a/");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "v1/a/1");
  it->Seek("v1/a/2");
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "v1/a/2");
  EXPECT_EQ(it->value(), "value of v1/a/2");
  it->Next();
  EXPECT_FALSE(it->Valid());
  EXPECT_OK(it->status());
  it->Seek("a");  // Before the prefix: lands on its first key.
  ASSERT_TRUE(it->Valid());
  EXPECT_EQ(it->key(), "v1/a/1");
  it->Seek("z");
  EXPECT_FALSE(it->Valid());
}

TEST(Store, BatchesAreAtomic) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto db, Store::Open(dir.Path("db")));
  ASSERT_OK(db->Put("v1/c", "old"));

  Batch bad;
  bad.Put("v1/a", "1");
  bad.Delete("v1/c");
  bad.Put("", "invalid key");
  bad.Put("v1/b", "2");  // Ignored: the batch is already poisoned.
  EXPECT_TRUE(IsInvalidArgument(bad.status()));
  EXPECT_TRUE(IsInvalidArgument(db->Write(bad)));
  EXPECT_TRUE(IsNotFound(db->Get("v1/a").status()));
  EXPECT_TRUE(IsNotFound(db->Get("v1/b").status()));
  ASSERT_OK_AND_ASSIGN(std::string c, db->Get("v1/c"));
  EXPECT_EQ(c, "old");

  Batch reserved;
  reserved.Put("v1/a", "1");
  reserved.Delete(kSchemaVersionKey);
  EXPECT_TRUE(IsInvalidArgument(db->Write(reserved)));
  EXPECT_TRUE(IsNotFound(db->Get("v1/a").status()));

  Batch good;
  good.Put("v1/a", "1");
  good.Put("v1/b", "2");
  good.Delete("v1/c");
  EXPECT_EQ(good.Count(), 3);
  ASSERT_OK(db->Write(good));
  EXPECT_EQ(ScanAll(*db, "v1/"), (std::vector<KV>{{"v1/a", "1"}, {"v1/b", "2"}}));

  Batch moved = std::move(good);
  EXPECT_EQ(moved.Count(), 3);
  EXPECT_OK(db->Write(Batch(), Durability::kBuffered));  // Empty: nothing to do.
}

TEST(Store, ReopenKeepsData) {
  TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto db, Store::Open(dir.Path("db")));
    ASSERT_OK(db->Put("v1/synced", "s"));
    ASSERT_OK(db->Put("v1/buffered", "b", Durability::kBuffered));
    Batch batch;
    batch.Put("v1/batch", "x");
    ASSERT_OK(db->Write(batch));
  }
  ASSERT_OK_AND_ASSIGN(auto db, Store::Open(dir.Path("db")));
  EXPECT_EQ(ScanAll(*db, "v1/"),
            (std::vector<KV>{{"v1/batch", "x"}, {"v1/buffered", "b"}, {"v1/synced", "s"}}));
}

TEST(Store, MissingDatabaseWithoutCreate) {
  TempDir dir;
  Options options;
  options.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<Store>> db = Store::Open(dir.Path("nothing"), options);
  EXPECT_TRUE(IsNotFound(db.status())) << db.status();
  EXPECT_TRUE(Contains(db.status().message(), dir.Path("nothing"))) << db.status();
}

TEST(Store, SchemaVersionMismatchIsRefused) {
  TempDir dir;
  { ASSERT_OK(Store::Open(dir.Path("db")).status()); }
  Options v2;
  v2.schema_version = "v2";
  absl::StatusOr<std::unique_ptr<Store>> db = Store::Open(dir.Path("db"), v2);
  EXPECT_TRUE(IsFailedPrecondition(db.status())) << db.status();
  EXPECT_TRUE(Contains(db.status().message(), "\"v1\" on disk")) << db.status();
  EXPECT_TRUE(Contains(db.status().message(), "reads \"v2\"")) << db.status();
  EXPECT_TRUE(Contains(db.status().message(), dir.Path("db"))) << db.status();
  // The refused open left the database as it was.
  EXPECT_OK(Store::Open(dir.Path("db")).status());
}

TEST(Store, CorruptDatabaseIsDataLoss) {
  TempDir dir;
  { ASSERT_OK(Store::Open(dir.Path("db")).status()); }
  {
    std::ofstream current(dir.Path("db/CURRENT"), std::ios::trunc);
    current << "garbage";
  }
  absl::StatusOr<std::unique_ptr<Store>> db = Store::Open(dir.Path("db"));
  EXPECT_TRUE(IsDataLoss(db.status())) << db.status();
  EXPECT_TRUE(Contains(db.status().message(), dir.Path("db"))) << db.status();
}

TEST(Store, SecondarySeesPrimaryWritesAfterCatchUp) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto primary, Store::Open(dir.Path("db")));
  ASSERT_OK(primary->Put("v1/k1", "one"));
  ASSERT_OK_AND_ASSIGN(auto secondary, Store::OpenSecondary(dir.Path("db"), dir.Path("follower")));
  EXPECT_TRUE(secondary->read_only());
  ASSERT_OK_AND_ASSIGN(std::string k1, secondary->Get("v1/k1"));
  EXPECT_EQ(k1, "one");

  Batch batch;
  batch.Put("v1/k2", "two");
  batch.Delete("v1/k1");
  ASSERT_OK(primary->Write(batch));
  // Not replayed yet: a secondary moves only when asked to.
  EXPECT_TRUE(IsNotFound(secondary->Get("v1/k2").status()));
  ASSERT_OK(secondary->CatchUp());
  ASSERT_OK_AND_ASSIGN(std::string k2, secondary->Get("v1/k2"));
  EXPECT_EQ(k2, "two");
  EXPECT_TRUE(IsNotFound(secondary->Get("v1/k1").status()));
  EXPECT_EQ(ScanAll(*secondary, "v1/"), (std::vector<KV>{{"v1/k2", "two"}}));

  // Read-only, and CatchUp is for secondaries only.
  EXPECT_TRUE(IsFailedPrecondition(secondary->Put("v1/x", "y")));
  EXPECT_TRUE(IsFailedPrecondition(secondary->Delete("v1/k2")));
  Batch write;
  write.Put("v1/x", "y");
  EXPECT_TRUE(IsFailedPrecondition(secondary->Write(write)));
  EXPECT_TRUE(IsFailedPrecondition(primary->CatchUp()));
}

TEST(Store, SecondaryChecksTheSchemaVersion) {
  TempDir dir;
  EXPECT_TRUE(IsNotFound(Store::OpenSecondary(dir.Path("none"), dir.Path("follower")).status()));
  EXPECT_TRUE(IsInvalidArgument(Store::OpenSecondary("", dir.Path("follower")).status()));
  {
    // A RocksDB database no berth primary has opened has no schema version.
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir.Path("raw"), &raw).ok());
    std::unique_ptr<rocksdb::DB> owned(raw);
    ASSERT_TRUE(owned->Close().ok());
  }
  absl::StatusOr<std::unique_ptr<Store>> raw =
      Store::OpenSecondary(dir.Path("raw"), dir.Path("follower"));
  EXPECT_TRUE(IsFailedPrecondition(raw.status())) << raw.status();

  ASSERT_OK_AND_ASSIGN(auto primary, Store::Open(dir.Path("db")));
  Options v2;
  v2.schema_version = "v2";
  absl::StatusOr<std::unique_ptr<Store>> mismatch =
      Store::OpenSecondary(dir.Path("db"), dir.Path("follower2"), v2);
  EXPECT_TRUE(IsFailedPrecondition(mismatch.status())) << mismatch.status();
}

TEST(Store, SecondPrimaryInThisProcessIsRefused) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto first, Store::Open(dir.Path("db")));
  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(dir.Path("db"));
  EXPECT_TRUE(IsUnavailable(second.status())) << second.status();
  EXPECT_TRUE(Contains(second.status().message(), "locked by another primary")) << second.status();
  EXPECT_TRUE(Contains(second.status().message(), dir.Path("db"))) << second.status();
  // A secondary is the way to share it.
  EXPECT_OK(Store::OpenSecondary(dir.Path("db"), dir.Path("follower")).status());
}

// Not a test on its own: the body of the child process that SecondPrimaryInAnotherProcess
// starts (this binary again). Opens the store named by $BERTH_STORE_HOLD, says so in
// $BERTH_STORE_HOLD.ready, and keeps it open until killed.
TEST(Store, HoldStoreOpenHelper) {
  const char* path = std::getenv("BERTH_STORE_HOLD");
  if (path == nullptr) GTEST_SKIP() << "helper for SecondPrimaryInAnotherProcessIsRefused";
  ASSERT_OK_AND_ASSIGN(auto db, Store::Open(path));
  { std::ofstream ready(std::string(path) + ".ready"); }
  for (;;) pause();
}

TEST(Store, SecondPrimaryInAnotherProcessIsRefused) {
  TempDir dir;
  const std::string path = dir.Path("db");
  testing::ChildProcessOptions options;
  options.argv = {"/proc/self/exe", "--gtest_filter=Store.HoldStoreOpenHelper"};
  options.env = std::vector<std::string>{"BERTH_STORE_HOLD=" + path};
  options.stdout_path = options.stderr_path = dir.Path("helper.log");
  ASSERT_OK_AND_ASSIGN(testing::ChildProcess holder, testing::ChildProcess::Start(options));
  struct stat st;
  ASSERT_TRUE(testing::WaitFor(
      [&] { return stat((path + ".ready").c_str(), &st) == 0 || !holder.Running(); }));
  ASSERT_TRUE(holder.Running()) << holder.ReadStdout();

  absl::StatusOr<std::unique_ptr<Store>> second = Store::Open(path);
  EXPECT_TRUE(IsUnavailable(second.status())) << second.status();
  EXPECT_TRUE(Contains(second.status().message(), "locked by another primary")) << second.status();

  // Once the other process is gone the lock goes with it.
  ASSERT_OK(holder.Terminate());
  EXPECT_OK(Store::Open(path).status());
}

}  // namespace
}  // namespace berth::store
