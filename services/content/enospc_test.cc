// A full disk, for real: the content root on a tmpfs capped at 64 MiB (needs root: mount).
// A 2 GiB declared total is ResourceExhausted at once, naming the path; an ingest of unknown
// size fails when the disk fills, keeps a consistent offset and can be aborted; afterwards
// the store works and earlier blobs are intact.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <string>

#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/content/local_store.h"
#include "services/content/schema.h"

namespace berth::content {
namespace {

using ::berth::testing::TempDir;

// Mounts a size-capped tmpfs and always unmounts it, also when the test fails.
class TmpfsMount {
 public:
  TmpfsMount(const std::string& path, const std::string& size) : path_(path) {
    if (::mkdir(path.c_str(), 0700) != 0) {
      error_ = std::string("mkdir: ") + std::strerror(errno);
      return;
    }
    const std::string options = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", path.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      error_ = std::string("mount: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~TmpfsMount() {
    if (mounted_ && ::umount2(path_.c_str(), 0) != 0) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

uint64_t FreeBytes(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

class EnospcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
    mount_ = std::make_unique<TmpfsMount>(dir_.Path("mnt"), "64m");
    ASSERT_TRUE(mount_->mounted()) << mount_->error();
    LocalStoreOptions options;
    options.root = dir_.Path("mnt") + "/root";
    ASSERT_OK_AND_ASSIGN(store_, LocalStore::Open(options));
    store_->WaitForBlobCheck();
    // Something committed before the disk fills up.
    before_ = RandomBytes(1 << 20, 1);
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(ctx_, {"before", 0, {}}));
    ASSERT_OK(w->Write(before_));
    ASSERT_OK(w->Commit(0, digest::FromBytes(before_), {}));
  }

  void TearDown() override {
    store_.reset();  // Close RocksDB before the tmpfs goes.
    mount_.reset();
  }

  // The store still works and the earlier blob is intact.
  void ExpectNothingHarmed() {
    ASSERT_OK_AND_ASSIGN(auto r, store_->OpenReader(ctx_, digest::FromBytes(before_)));
    std::string back(before_.size(), '\0');
    ASSERT_OK_AND_ASSIGN(size_t n, r->ReadAt(back.data(), back.size(), 0));
    EXPECT_EQ(n, before_.size());
    EXPECT_EQ(back, before_);
    const std::string after = RandomBytes(1 << 20, 2);
    ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(ctx_, {"after", 0, {}}));
    ASSERT_OK(w->Write(after));
    ASSERT_OK(w->Commit(0, digest::FromBytes(after), {}));
    ASSERT_OK(store_->Info(ctx_, digest::FromBytes(after)).status());
  }

  std::string DataPath(const std::string& ref) const {
    return dir_.Path("mnt") + "/root/ingest/" + schema::IngestId("default", ref) + "/data";
  }

  TempDir dir_{"enospc"};
  std::unique_ptr<TmpfsMount> mount_;
  std::unique_ptr<LocalStore> store_;
  CallContext ctx_ = CallContext::Background("default");
  std::string before_;
};

TEST_F(EnospcTest, DeclaredTotalTooLargeIsResourceExhaustedAtOnce) {
  const uint64_t free_before = FreeBytes(dir_.Path("mnt"));
  absl::Status s = store_->OpenWriter(ctx_, {"huge", int64_t{2} << 30, {}}).status();
  ASSERT_TRUE(IsResourceExhausted(s)) << s;
  EXPECT_NE(s.message().find(DataPath("huge")), std::string::npos) << s;
  // The ingest exists, holds nothing, and aborts cleanly.
  ASSERT_OK_AND_ASSIGN(IngestStatus st, store_->Status(ctx_, "huge"));
  EXPECT_EQ(st.offset, 0);
  EXPECT_EQ(st.total, int64_t{2} << 30);
  ASSERT_OK(store_->Abort(ctx_, "huge"));
  EXPECT_TRUE(IsNotFound(store_->Status(ctx_, "huge").status()));
  EXPECT_GE(FreeBytes(dir_.Path("mnt")) + (256 << 10), free_before);
  ExpectNothingHarmed();
}

TEST_F(EnospcTest, UnknownSizeFillsTheDiskThenAborts) {
  const uint64_t free_before = FreeBytes(dir_.Path("mnt"));
  ASSERT_OK_AND_ASSIGN(auto w, store_->OpenWriter(ctx_, {"filler", 0, {}}));
  const std::string chunk = RandomBytes(1 << 20, 3);
  int64_t written = 0;
  absl::Status s;
  for (int i = 0; i < 256 && s.ok(); ++i) {
    s = w->Write(chunk);
    if (s.ok()) written += static_cast<int64_t>(chunk.size());
  }
  ASSERT_TRUE(IsResourceExhausted(s)) << s;
  EXPECT_NE(s.message().find(DataPath("filler")), std::string::npos) << s;
  // Writes are accepted before they reach the file, so the error may belong to a chunk
  // accepted earlier; nothing of the failed chunk (or what followed it) counts: offset, file
  // and hash agree on whole chunks.
  ASSERT_OK_AND_ASSIGN(IngestStatus st, w->Status());
  EXPECT_LE(st.offset, written);
  EXPECT_GT(st.offset, 0);
  EXPECT_EQ(st.offset % static_cast<int64_t>(chunk.size()), 0);
  struct stat fs;
  ASSERT_EQ(::stat(DataPath("filler").c_str(), &fs), 0);
  EXPECT_EQ(fs.st_size, st.offset);
  digest::Sha256 expected;
  for (int64_t i = 0; i < st.offset / static_cast<int64_t>(chunk.size()); ++i) {
    expected.Update(chunk);
  }
  ASSERT_OK_AND_ASSIGN(digest::Digest sum, w->Digest());
  EXPECT_EQ(sum, expected.Finish());
  w.reset();
  ASSERT_OK(store_->Abort(ctx_, "filler"));
  EXPECT_GE(FreeBytes(dir_.Path("mnt")) + (256 << 10), free_before);
  ExpectNothingHarmed();
}

}  // namespace
}  // namespace berth::content
