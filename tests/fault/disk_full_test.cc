// Full disks: the suite's content root and snapshot root (ROOT/lib/content, ROOT/lib/snapshot)
// are size-capped tmpfs mounts made before the services start.
//   - an ingest bigger than the space fails with ResourceExhausted naming a path under the
//     content root (without a declared total: when the disk fills; with one: at once, from the
//     reservation); Abort frees the space, later commits work, and the blob committed before
//     re-hashes to its digest;
//   - an unpack (server-side pull with unpack) of a layer bigger than the snapshot root fails
//     with ResourceExhausted naming a path under the snapshot root; afterwards a pull with
//     unpack that fits works (the failed unpack left nothing that fills the disk).
// Root (mounts, overlay, runc), nats-server, busybox-static and docker-registry are needed.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "client/berth.h"
#include "client/testing/suite.h"
#include "lib/digest/digest.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "services/content/store.h"
#include "tests/fault/fault_testing.h"

namespace berth::fault {
namespace {

constexpr char kNs[] = "fault";
constexpr int64_t kMiB = 1 << 20;

// A tmpfs of `size_mib` mounted on `path` (created); unmounted (lazily if busy) when destroyed.
class TmpfsMount {
 public:
  TmpfsMount() = default;
  ~TmpfsMount() { Unmount(); }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  absl::Status Mount(const std::string& path, int size_mib) {
    std::string parent = path.substr(0, path.rfind('/'));
    ::mkdir(parent.c_str(), 0755);
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::InternalError("mkdir " + path + ": " + std::strerror(errno));
    }
    const std::string options = "size=" + std::to_string(size_mib) + "m,mode=0700";
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      return absl::InternalError("mount tmpfs on " + path + ": " + std::strerror(errno));
    }
    path_ = path;
    return absl::OkStatus();
  }

  void Unmount() {
    if (path_.empty()) return;
    // berth-up stop unmounts everything under ROOT already: EINVAL then is fine.
    if (::umount(path_.c_str()) != 0 && errno == EBUSY) ::umount2(path_.c_str(), MNT_DETACH);
    path_.clear();
  }

  // Free bytes on the mount.
  int64_t Free() const {
    struct statvfs st;
    if (::statvfs(path_.c_str(), &st) != 0) return -1;
    return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
  }

 private:
  std::string path_;
};

class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!client_testing::IsRoot()) GTEST_SKIP() << "needs root (tmpfs mounts, overlay)";
    ASSERT_EQ(client_testing::MissingBinaries(), "");
  }

  // Mounts the caps, then starts the suite on them.
  void StartOn(int content_mib, int snapshot_mib) {
    ASSERT_OK(content_mount_.Mount(suite_.DataRoot("content"), content_mib));
    ASSERT_OK(snapshot_mount_.Mount(suite_.DataRoot("snapshot"), snapshot_mib));
    ASSERT_OK(suite_.Start());
    client_ = std::make_unique<Client>(suite_.socket());
    *client_ = client_->WithNamespace(kNs);
  }

  void TearDown() override {
    // Processes first (they hold files on the mounts), then the mounts.
    (void)suite_.Stop();
    content_mount_.Unmount();
    snapshot_mount_.Unmount();
  }

  absl::StatusOr<digest::Digest> CommitBlob(const std::string& ref, const std::string& data) {
    content::Store& store = client_->ContentStore();
    digest::Digest d = digest::FromBytes(data);
    content::WriterOptions options;
    options.ref = ref;
    options.total = static_cast<int64_t>(data.size());
    options.expected = d;
    ASSIGN_OR_RETURN(std::unique_ptr<content::Writer> w,
                     store.OpenWriter(client_->Context(), options));
    RETURN_IF_ERROR(w->Write(data));
    RETURN_IF_ERROR(
        w->Commit(static_cast<int64_t>(data.size()), d, {{"containerd.io/gc.root", "fault"}}));
    return d;
  }

  FaultSuite suite_;
  TmpfsMount content_mount_;
  TmpfsMount snapshot_mount_;
  std::unique_ptr<Client> client_;
};

TEST_F(DiskFullTest, IngestBiggerThanTheDiskIsResourceExhaustedNamingThePath) {
  ASSERT_NO_FATAL_FAILURE(StartOn(/*content_mib=*/64, /*snapshot_mib=*/64));
  const std::string root = suite_.DataRoot("content");
  ASSERT_OK_AND_ASSIGN(digest::Digest before, CommitBlob("before", PseudoRandomBytes(4 * kMiB, 1)));
  content::Store& store = client_->ContentStore();

  // No declared total: the writes fill the disk; the error surfaces on a later message.
  absl::Status failed;
  {
    content::WriterOptions options;
    options.ref = "too-big";
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<content::Writer> w,
                         store.OpenWriter(client_->Context(), options));
    int64_t written = 0;
    for (int i = 0; i < 128 && failed.ok(); ++i) {
      failed = w->Write(PseudoRandomBytes(kMiB, 100 + i));
      written += kMiB;
    }
    if (failed.ok()) failed = w->Commit(written, digest::Digest(), {});
  }
  EXPECT_TRUE(absl::IsResourceExhausted(failed)) << failed;
  EXPECT_NE(failed.message().find(root), std::string::npos)
      << "the error does not name a path under " << root << ": " << failed;
  ASSERT_OK(store.Abort(client_->Context(), "too-big"));

  // A declared total that does not fit: refused at once.
  {
    content::WriterOptions options;
    options.ref = "too-big-declared";
    options.total = 256 * kMiB;
    absl::StatusOr<std::unique_ptr<content::Writer>> w =
        store.OpenWriter(client_->Context(), options);
    absl::Status s = w.status();
    if (w.ok()) s = (*w)->Status().status();
    if (s.ok()) s = (*w)->Write(PseudoRandomBytes(kMiB, 5));
    EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
    EXPECT_NE(s.message().find(root), std::string::npos) << s;
  }
  (void)store.Abort(client_->Context(), "too-big-declared");

  // Space freed: commits work again, nothing was corrupted.
  absl::StatusOr<digest::Digest> committed = CommitBlob("after", PseudoRandomBytes(8 * kMiB, 2));
  ASSERT_OK(committed.status()) << "after the space was freed";
  const digest::Digest after = *committed;
  EXPECT_OK(store.Info(client_->Context(), before).status());
  EXPECT_OK(store.Info(client_->Context(), after).status());
  int count = 0;
  std::vector<std::string> bad = CorruptBlobs(root, &count);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
  EXPECT_EQ(count, 2);
  // And again after a restart of berth-content on the same (once full) root.
  ASSERT_OK(suite_.Kill9("content"));
  ASSERT_OK(suite_.Restart());
  ASSERT_OK(WaitServing(*client_));
  EXPECT_OK(store.Info(client_->Context(), before).status());
  EXPECT_OK(store.Info(client_->Context(), after).status());
  bad = CorruptBlobs(root);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

TEST_F(DiskFullTest, UnpackBiggerThanTheDiskIsResourceExhaustedNamingThePath) {
  ASSERT_NO_FATAL_FAILURE(StartOn(/*content_mib=*/64, /*snapshot_mib=*/32));
  const std::string root = suite_.DataRoot("snapshot");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<testing::Registry> registry, testing::Registry::Start());
  // 48 MiB of zeros: a small gzip blob that unpacks to more than the snapshot root holds.
  ASSERT_OK_AND_ASSIGN(
      testing::Layer big,
      testing::MakeLayer({testing::TarEntry::File("big/zeros", std::string(48 * kMiB, '\0'))},
                         testing::MediaTypes::kOci));
  ASSERT_OK_AND_ASSIGN(testing::OciImage image, testing::MakeImage({big}));
  ASSERT_OK(registry->Push("fault/big", "1", image));
  ASSERT_OK_AND_ASSIGN(testing::OciImage small, testing::BusyboxImage());
  ASSERT_OK(registry->Push("fault/small", "1", small));

  const int64_t free_before = snapshot_mount_.Free();
  absl::StatusOr<Image> pulled =
      client_->Pull(registry->Reference("fault/big", "1"), WithPlainHTTP, WithPullUnpack);
  ASSERT_FALSE(pulled.ok()) << "48 MiB unpacked into a 32 MiB snapshot root";
  EXPECT_TRUE(absl::IsResourceExhausted(pulled.status())) << pulled.status();
  EXPECT_NE(pulled.status().message().find(root), std::string::npos)
      << "the error does not name a path under " << root << ": " << pulled.status();

  // The failed unpack gave its space back; an unpack that fits works.
  EXPECT_GE(snapshot_mount_.Free(), free_before - 4 * kMiB)
      << "the failed unpack left its files on the snapshot root";
  ASSERT_OK_AND_ASSIGN(Image ok, client_->Pull(registry->Reference("fault/small", "1"),
                                               WithPlainHTTP, WithPullUnpack));
  ASSERT_OK_AND_ASSIGN(bool unpacked, ok.IsUnpacked());
  EXPECT_TRUE(unpacked);
  std::vector<std::string> bad = CorruptBlobs(suite_.DataRoot("content"));
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

}  // namespace
}  // namespace berth::fault
