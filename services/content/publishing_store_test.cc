// PublishingStore: which calls publish which events, and that a refused event never fails
// the call.
#include "services/content/publishing_store.h"

#include <gtest/gtest.h>

#include "lib/events/recording_publisher.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "proto/berth/content/v1/events.pb.h"
#include "proto/containerd/events/content.pb.h"
#include "services/content/local_store.h"

namespace berth::content {
namespace {

class PublishingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LocalStoreOptions options;
    options.root = dir_.Path("root");
    ASSERT_OK_AND_ASSIGN(local_, LocalStore::Open(options));
    store_ = std::make_unique<PublishingStore>(local_.get(), &events_);
  }

  absl::Status Commit(const std::string& ref, const std::string& data, const Labels& labels = {}) {
    auto w = store_->OpenWriter(ctx_, {ref, 0, {}});
    if (!w.ok()) return w.status();
    if (absl::Status s = (*w)->Write(data); !s.ok()) return s;
    return (*w)->Commit(0, digest::FromBytes(data), labels);
  }

  berth::testing::TempDir dir_{"pubstore"};
  std::unique_ptr<LocalStore> local_;
  events::RecordingPublisher events_;
  std::unique_ptr<PublishingStore> store_;
  CallContext ctx_ = CallContext::Background("ns1");
};

TEST_F(PublishingStoreTest, CommitAndDeletePublish) {
  ASSERT_OK(Commit("r", "hello", {{"a", "b"}}));
  ASSERT_OK(store_->Delete(ctx_, digest::FromBytes("hello")));
  auto envelopes = events_.Envelopes();
  ASSERT_EQ(envelopes.size(), 2u);
  EXPECT_EQ(envelopes[0].topic(), "/content/commit");
  EXPECT_EQ(envelopes[0].namespace_(), "ns1");
  EXPECT_EQ(envelopes[0].event().type_url(), "berth.content.v1.ContentCommit");
  berth::content::v1::ContentCommit commit;
  ASSERT_TRUE(commit.ParseFromString(envelopes[0].event().value()));
  EXPECT_EQ(commit.digest(), digest::FromBytes("hello").ToString());
  EXPECT_EQ(commit.size(), 5);
  EXPECT_EQ(commit.ref(), "r");
  EXPECT_EQ(commit.labels().at("a"), "b");
  EXPECT_EQ(envelopes[1].topic(), "/content/delete");
  EXPECT_EQ(envelopes[1].event().type_url(), "containerd.events.ContentDelete");
  containerd::events::ContentDelete del;
  ASSERT_TRUE(del.ParseFromString(envelopes[1].event().value()));
  EXPECT_EQ(del.digest(), digest::FromBytes("hello").ToString());
}

TEST_F(PublishingStoreTest, FailuresAndAlreadyExistsPublishNothing) {
  ASSERT_OK(Commit("r", "hello"));
  events_.Clear();
  EXPECT_TRUE(IsAlreadyExists(Commit("r2", "hello")));
  EXPECT_TRUE(IsNotFound(store_->Delete(ctx_, digest::FromBytes("absent"))));
  auto w = store_->OpenWriter(ctx_, {"bad", 0, {}});
  ASSERT_OK(w.status());
  ASSERT_OK((*w)->Write("x"));
  EXPECT_TRUE(IsFailedPrecondition((*w)->Commit(0, digest::FromBytes("y"), {})));
  EXPECT_TRUE(events_.Envelopes().empty());
}

TEST_F(PublishingStoreTest, RefusedEventDoesNotFailTheCall) {
  events_.FailWith(absl::UnavailableError("bus closed"));
  ASSERT_OK(Commit("r", "hello"));
  ASSERT_OK(store_->Delete(ctx_, digest::FromBytes("hello")));
}

}  // namespace
}  // namespace berth::content
