// Pusher against Debian's docker-registry on loopback (lib/testing/registry.h), reading from
// the real content store (LocalStore in a temporary directory) and image store
// (RocksImageStore): uploads (monolithic and chunked), a second push finding everything,
// a cross-repository mount seen in the registry's own log, an index, and the bad cases
// (unknown image, missing layer, bad target) leaving no manifest at the registry.
#include "services/image/push/pusher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/store/store.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/content/local_store.h"
#include "services/image/pull/labels.h"
#include "services/image/rocks_image_store.h"
#include "services/image/schema.h"

namespace berth::image::push {
namespace {

using ::berth::testing::Blob;
using ::berth::testing::OciImage;
using ::berth::testing::OciIndex;
using ::berth::testing::Registry;
using ::testing::HasSubstr;

constexpr char kNs[] = "pushns";

class PusherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    content::LocalStoreOptions co;
    co.root = dir_.Path("content");
    co.expiry_interval = std::chrono::seconds(0);
    ASSERT_OK_AND_ASSIGN(content_, content::LocalStore::Open(co));
    store::Options so;
    so.schema_version = schema::kSchemaVersion;
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta"), so));
    images_ = std::make_unique<RocksImageStore>(db_.get(), RocksImageStoreOptions{});
    ASSERT_OK_AND_ASSIGN(registry_, Registry::Start());
    PusherDeps deps;
    deps.content = content_.get();
    deps.images = images_.get();
    pusher_ = std::make_unique<Pusher>(deps, PusherOptions{});
  }

  CallContext Ctx() const { return CallContext::Background(kNs); }

  void Store(const Blob& b, content::Labels labels = {}) {
    content::WriterOptions wo;
    wo.ref = "test-" + b.digest;
    wo.total = b.size;
    ASSERT_OK_AND_ASSIGN(wo.expected, digest::Digest::Parse(b.digest));
    absl::StatusOr<std::unique_ptr<content::Writer>> w = content_->OpenWriter(Ctx(), wo);
    if (IsAlreadyExists(w.status())) return;
    ASSERT_OK(w.status());
    ASSERT_OK((*w)->Write(b.data));
    ASSERT_OK((*w)->Commit(b.size, wo.expected, labels));
  }

  void StoreImage(const OciImage& img, bool skip_first_layer = false) {
    for (size_t i = 0; i < img.layers.size(); ++i) {
      if (skip_first_layer && i == 0) continue;
      Store(img.layers[i].blob);
    }
    Store(img.config);
    Store(img.manifest);
  }

  void Record(const std::string& name, const Blob& root) {
    image::Image rec;
    rec.set_name(name);
    rec.mutable_target()->set_media_type(root.media_type);
    rec.mutable_target()->set_digest(root.digest);
    rec.mutable_target()->set_size(root.size);
    ASSERT_OK(images_->Create(Ctx(), rec).status());
  }

  std::string Target(const std::string& repo_tag) const {
    return registry_->host() + "/" + repo_tag;
  }

  absl::StatusOr<remotes::Descriptor> Push(const std::string& ref, const std::string& target,
                                           std::int64_t chunk_size = 0) {
    PushRequest r;
    r.ref = ref;
    r.target = target;
    r.plain_http = true;
    r.chunk_size = chunk_size;
    kinds_.clear();
    return pusher_->Push(Ctx(), r, [this](const Progress& p) {
      if (p.kind != Progress::Kind::kPushing) kinds_[p.digest].push_back(p);
    });
  }

  // The digest the registry serves for repo:tag ("" when it has none).
  std::string RemoteDigest(const std::string& repo, const std::string& tag,
                           const std::string& accept) {
    absl::StatusOr<testing::HttpReply> r =
        registry_->Request("HEAD", "/v2/" + repo + "/manifests/" + tag, "", {"Accept: " + accept});
    EXPECT_OK(r.status());
    if (!r.ok() || r->status != 200) return "";
    return r->headers["docker-content-digest"];
  }

  std::string RemoteBlob(const std::string& repo, const std::string& digest) {
    absl::StatusOr<testing::HttpReply> r = registry_->Get("/v2/" + repo + "/blobs/" + digest);
    EXPECT_OK(r.status());
    return r.ok() && r->status == 200 ? r->body : "";
  }

  testing::TempDir dir_{"push"};
  std::unique_ptr<content::LocalStore> content_;
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<RocksImageStore> images_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<Pusher> pusher_;
  std::map<std::string, std::vector<Progress>> kinds_;
};

TEST_F(PusherTest, UploadsThenFindsThenMountsAcrossRepositories) {
  ASSERT_OK_AND_ASSIGN(OciImage img, testing::BusyboxImage());
  StoreImage(img);
  Record("docker.io/library/busybox:latest", img.manifest);

  ASSERT_OK_AND_ASSIGN(remotes::Descriptor root,
                       Push("docker.io/library/busybox:latest", Target("push/busybox:1.0")));
  EXPECT_EQ(root.digest.ToString(), img.manifest.digest);
  EXPECT_EQ(RemoteDigest("push/busybox", "1.0", img.manifest.media_type), img.manifest.digest);
  EXPECT_EQ(RemoteBlob("push/busybox", img.layers[0].blob.digest), img.layers[0].blob.data);
  for (const Blob* b : img.ManifestBlobs()) {
    ASSERT_EQ(kinds_[b->digest].size(), 1u) << b->digest;
    EXPECT_EQ(kinds_[b->digest][0].kind, Progress::Kind::kUploaded) << b->digest;
  }
  // The pushed blobs now name the repository they are in.
  ASSERT_OK_AND_ASSIGN(pull::DistributionSource src,
                       pull::DistributionSourceOf(Target("push/busybox:1.0")));
  ASSERT_OK_AND_ASSIGN(digest::Digest layer, digest::Digest::Parse(img.layers[0].blob.digest));
  ASSERT_OK_AND_ASSIGN(content::Info info, content_->Info(Ctx(), layer));
  EXPECT_EQ(info.labels[src.LabelKey()], "push/busybox");

  // Again to the same repository: everything is there, nothing is sent.
  ASSERT_OK(Push("docker.io/library/busybox:latest", Target("push/busybox:1.0")).status());
  for (const Blob* b : img.ManifestBlobs()) {
    ASSERT_EQ(kinds_[b->digest].size(), 1u);
    EXPECT_EQ(kinds_[b->digest][0].kind, Progress::Kind::kExists) << b->digest;
  }

  // To another repository of the same registry: the blobs are mounted, not uploaded.
  ASSERT_OK(Push("busybox", Target("other/busybox:2")).status());
  for (const Blob* b : img.ManifestBlobs()) {
    ASSERT_EQ(kinds_[b->digest].size(), 1u);
    EXPECT_EQ(kinds_[b->digest][0].kind, Progress::Kind::kMounted) << b->digest;
    EXPECT_EQ(kinds_[b->digest][0].mounted_from, "push/busybox");
  }
  EXPECT_EQ(RemoteDigest("other/busybox", "2", img.manifest.media_type), img.manifest.digest);
  const std::string logs = registry_->Logs();
  // The registry's own account: mount requests from the first repository.
  EXPECT_THAT(logs, HasSubstr("/v2/other/busybox/blobs/uploads/?mount=sha256"));
  EXPECT_THAT(logs, HasSubstr("from=push"));
  EXPECT_EQ(pusher_->stats().blobs_mounted, img.ManifestBlobs().size());
  EXPECT_EQ(pusher_->stats().pushes, 3u);
}

TEST_F(PusherTest, ChunkedUploadOfAMultiLayerImage) {
  ASSERT_OK_AND_ASSIGN(OciImage img, testing::WhiteoutImage());
  StoreImage(img);
  Record("example.com/whiteout:1", img.manifest);
  ASSERT_OK(Push("example.com/whiteout:1", Target("chunked/whiteout:v1"), 100000).status());
  EXPECT_EQ(RemoteDigest("chunked/whiteout", "v1", img.manifest.media_type), img.manifest.digest);
  for (const testing::Layer& l : img.layers) {
    EXPECT_EQ(RemoteBlob("chunked/whiteout", l.blob.digest), l.blob.data);
    EXPECT_EQ(kinds_[l.blob.digest].at(0).kind, Progress::Kind::kUploaded);
  }
  EXPECT_THAT(registry_->Logs(), HasSubstr("PATCH"));
}

TEST_F(PusherTest, IndexWithEveryManifest) {
  ASSERT_OK_AND_ASSIGN(OciIndex index, testing::MultiPlatformIndex());
  for (const OciImage& img : index.images) StoreImage(img);
  Store(index.index);
  Record("example.com/multi:1", index.index);
  ASSERT_OK_AND_ASSIGN(remotes::Descriptor root,
                       Push("example.com/multi:1", Target("multi/app:1")));
  EXPECT_EQ(root.digest.ToString(), index.index.digest);
  EXPECT_EQ(RemoteDigest("multi/app", "1", index.index.media_type), index.index.digest);
  for (const OciImage& img : index.images) {
    EXPECT_EQ(RemoteDigest("multi/app", img.manifest.digest, img.manifest.media_type),
              img.manifest.digest);
  }
}

TEST_F(PusherTest, UnknownImageIsNotFoundNamingIt) {
  absl::StatusOr<remotes::Descriptor> r = Push("example.com/nope:1", Target("x/nope:1"));
  EXPECT_TRUE(IsNotFound(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("\"example.com/nope:1\""));
  EXPECT_EQ(pusher_->stats().push_errors, 1u);
}

TEST_F(PusherTest, MissingLayerFailsAndNoManifestIsPushed) {
  ASSERT_OK_AND_ASSIGN(OciImage img, testing::WhiteoutImage());
  StoreImage(img, /*skip_first_layer=*/true);
  Record("example.com/partial:1", img.manifest);
  absl::StatusOr<remotes::Descriptor> r = Push("example.com/partial:1", Target("x/partial:1"));
  EXPECT_TRUE(IsNotFound(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr(img.layers[0].blob.digest));
  EXPECT_EQ(RemoteDigest("x/partial", "1", img.manifest.media_type), "");
}

TEST_F(PusherTest, BadRequests) {
  ASSERT_OK_AND_ASSIGN(OciImage img, testing::BusyboxImage());
  StoreImage(img);
  Record("example.com/bb:1", img.manifest);
  EXPECT_EQ(Push("example.com/bb:1", "Not A Reference").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Push("", Target("x/y:1")).status().code(), absl::StatusCode::kInvalidArgument);
  PushRequest r;
  r.ref = "example.com/bb:1";
  EXPECT_EQ(pusher_->Push(CallContext::Background(""), r, nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
  r.target = Target("x/y:1");
  r.platforms = {"not/a/platform/at/all"};
  r.plain_http = true;
  EXPECT_EQ(pusher_->Push(Ctx(), r, nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  // A record whose target is a layer.
  image::Image bad;
  bad.set_name("example.com/layer:1");
  bad.mutable_target()->set_media_type(img.layers[0].blob.media_type);
  bad.mutable_target()->set_digest(img.layers[0].blob.digest);
  bad.mutable_target()->set_size(img.layers[0].blob.size);
  ASSERT_OK(images_->Create(Ctx(), bad).status());
  EXPECT_EQ(Push("example.com/layer:1", Target("x/layer:1")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth::image::push
