// PublishingStore: containerd's /images/* events, with the type URLs ctr decodes, after
// successful calls only; a refusing publisher never fails the call.
#include "services/image/publishing_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/events/recording_publisher.h"
#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "proto/containerd/events/image.pb.h"
#include "services/image/rocks_image_store.h"
#include "services/image/schema.h"

namespace berth::image {
namespace {

namespace imagespb = containerd::services::images::v1;

Image Make(const std::string& name) {
  Image image;
  image.set_name(name);
  image.mutable_target()->set_media_type("application/vnd.oci.image.manifest.v1+json");
  image.mutable_target()->set_digest("sha256:" + std::string(64, 'c'));
  image.mutable_target()->set_size(10);
  (*image.mutable_labels())["app"] = "web";
  return image;
}

class PublishingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Options options;
    options.schema_version = schema::kSchemaVersion;
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta"), options));
    rocks_ = std::make_unique<RocksImageStore>(db_.get());
    store_ = std::make_unique<PublishingStore>(rocks_.get(), &events_);
  }

  testing::TempDir dir_{"bips"};
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<RocksImageStore> rocks_;
  events::RecordingPublisher events_;
  std::unique_ptr<PublishingStore> store_;
  CallContext call_ = CallContext::Background("ns1");
};

TEST_F(PublishingStoreTest, CreateUpdateDeletePublishContainerdEvents) {
  ASSERT_OK(store_->Create(call_, Make("docker.io/library/busybox:1.36")).status());
  Image change;
  change.set_name("docker.io/library/busybox:1.36");
  (*change.mutable_labels())["extra"] = "1";
  ASSERT_OK(store_->Update(call_, change, {"labels.extra"}).status());
  ASSERT_OK(store_->Delete(call_, "docker.io/library/busybox:1.36"));

  std::vector<events::Envelope> envelopes = events_.Envelopes();
  ASSERT_EQ(envelopes.size(), 3u);
  EXPECT_EQ(envelopes[0].topic(), "/images/create");
  EXPECT_EQ(envelopes[0].namespace_(), "ns1");
  EXPECT_EQ(envelopes[0].event().type_url(), "containerd.services.images.v1.ImageCreate");
  imagespb::ImageCreate create;
  ASSERT_TRUE(create.ParseFromString(envelopes[0].event().value()));
  EXPECT_EQ(create.name(), "docker.io/library/busybox:1.36");
  EXPECT_EQ(create.labels().at("app"), "web");

  EXPECT_EQ(envelopes[1].topic(), "/images/update");
  EXPECT_EQ(envelopes[1].event().type_url(), "containerd.services.images.v1.ImageUpdate");
  imagespb::ImageUpdate update;
  ASSERT_TRUE(update.ParseFromString(envelopes[1].event().value()));
  EXPECT_EQ(update.name(), "docker.io/library/busybox:1.36");
  // The labels as stored after the update, not just the changed ones.
  EXPECT_EQ(update.labels().size(), 2u);
  EXPECT_EQ(update.labels().at("extra"), "1");

  EXPECT_EQ(envelopes[2].topic(), "/images/delete");
  EXPECT_EQ(envelopes[2].event().type_url(), "containerd.services.images.v1.ImageDelete");
  imagespb::ImageDelete del;
  ASSERT_TRUE(del.ParseFromString(envelopes[2].event().value()));
  EXPECT_EQ(del.name(), "docker.io/library/busybox:1.36");
}

TEST_F(PublishingStoreTest, FailedCallsPublishNothing) {
  ASSERT_OK(store_->Create(call_, Make("a")).status());
  events_.Clear();
  EXPECT_TRUE(IsAlreadyExists(store_->Create(call_, Make("a")).status()));
  EXPECT_TRUE(IsNotFound(store_->Update(call_, Make("b"), {}).status()));
  EXPECT_TRUE(IsInvalidArgument(store_->Update(call_, Make("a"), {"bogus"}).status()));
  EXPECT_TRUE(IsNotFound(store_->Delete(call_, "b")));
  EXPECT_TRUE(IsInvalidArgument(store_->Delete(call_, "")));
  // Reads never publish.
  EXPECT_OK(store_->Get(call_, "a").status());
  EXPECT_OK(store_->List(call_, {}).status());
  EXPECT_TRUE(events_.Envelopes().empty());
}

TEST_F(PublishingStoreTest, ARefusingPublisherDoesNotFailTheCall) {
  events_.FailWith(absl::UnavailableError("bus is down"));
  EXPECT_OK(store_->Create(call_, Make("a")).status());
  EXPECT_OK(store_->Update(call_, Make("a"), {}).status());
  EXPECT_OK(store_->Delete(call_, "a"));
  EXPECT_TRUE(IsNotFound(store_->Get(call_, "a").status()));
}

}  // namespace
}  // namespace berth::image
