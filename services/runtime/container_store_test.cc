#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/anytype/anytype.h"
#include "lib/events/recording_publisher.h"
#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "proto/containerd/events/container.pb.h"
#include "services/runtime/rocks_container_store.h"
#include "services/runtime/schema.h"
#include "services/runtime/timestamps.h"

namespace berth::runtime {
namespace {

class ContainerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::Store::Open(dir_.Path("meta"));
    ASSERT_OK(db.status());
    db_ = std::move(*db);
    store_ = std::make_unique<RocksContainerStore>(db_.get(), &events_);
  }

  static Container Make(const std::string& id) {
    Container c;
    c.set_id(id);
    c.set_image("docker.io/library/busybox:latest");
    c.mutable_runtime()->set_name("io.containerd.runc.v2");
    *c.mutable_spec() = *anytype::PackJson(anytype::kSpecTypeURL, "{\"ociVersion\":\"1.0.2\"}");
    c.set_snapshotter("overlayfs");
    c.set_snapshot_key(id);
    (*c.mutable_labels())["app"] = "web";
    return c;
  }

  testing::TempDir dir_{"brcs"};
  std::unique_ptr<store::Store> db_;
  events::RecordingPublisher events_;
  std::unique_ptr<RocksContainerStore> store_;
  CallContext call_ = CallContext::Background("default");
};

TEST_F(ContainerStoreTest, CreateGetDeleteWithEventsAndTimestamps) {
  Container in = Make("c1");
  // Go's zero time from the client is ignored; the store stamps its own.
  in.mutable_created_at()->set_seconds(kGoZeroTimeSeconds);
  ASSERT_OK_AND_ASSIGN(Container created, store_->Create(call_, in));
  EXPECT_GT(created.created_at().seconds(), 1600000000);
  EXPECT_EQ(created.created_at().seconds(), created.updated_at().seconds());
  ASSERT_OK_AND_ASSIGN(Container got, store_->Get(call_, "c1"));
  EXPECT_EQ(got.image(), "docker.io/library/busybox:latest");
  EXPECT_EQ(got.labels().at("app"), "web");
  EXPECT_EQ(got.spec().value(), "{\"ociVersion\":\"1.0.2\"}");
  EXPECT_TRUE(IsAlreadyExists(store_->Create(call_, Make("c1")).status()));
  ASSERT_OK_AND_ASSIGN(int64_t n, store_->Count("default"));
  EXPECT_EQ(n, 1);

  // Namespaces are separate.
  CallContext other = CallContext::Background("other");
  EXPECT_TRUE(IsNotFound(store_->Get(other, "c1").status()));

  ASSERT_OK(store_->Delete(call_, "c1"));
  EXPECT_TRUE(IsNotFound(store_->Get(call_, "c1").status()));
  EXPECT_TRUE(IsNotFound(store_->Delete(call_, "c1")));

  auto envelopes = events_.Envelopes();
  ASSERT_EQ(envelopes.size(), 2u);
  EXPECT_EQ(envelopes[0].topic(), "/containers/create");
  EXPECT_EQ(envelopes[0].event().type_url(), "containerd.events.ContainerCreate");
  containerd::events::ContainerCreate create;
  ASSERT_TRUE(create.ParseFromString(envelopes[0].event().value()));
  EXPECT_EQ(create.id(), "c1");
  EXPECT_EQ(create.runtime().name(), "io.containerd.runc.v2");
  EXPECT_EQ(envelopes[1].topic(), "/containers/delete");
  EXPECT_EQ(envelopes[1].event().type_url(), "containerd.events.ContainerDelete");
}

TEST_F(ContainerStoreTest, CreateValidates) {
  Container c = Make("bad/id");
  EXPECT_TRUE(IsInvalidArgument(store_->Create(call_, c).status()));
  c = Make("c1");
  c.mutable_runtime()->clear_name();
  EXPECT_TRUE(IsInvalidArgument(store_->Create(call_, c).status()));
  c = Make("c1");
  c.clear_spec();
  EXPECT_TRUE(IsInvalidArgument(store_->Create(call_, c).status()));
  c = Make("c1");
  c.clear_snapshotter();
  EXPECT_TRUE(IsInvalidArgument(store_->Create(call_, c).status()));
  c = Make("c1");
  (*c.mutable_labels())[""] = "x";
  EXPECT_TRUE(IsInvalidArgument(store_->Create(call_, c).status()));
  c = Make("c1");
  (*c.mutable_labels())["k"] = std::string(5000, 'v');
  EXPECT_TRUE(IsInvalidArgument(store_->Create(call_, c).status()));
  c = Make("c1");
  (*c.mutable_extensions())["ext"];  // no type
  EXPECT_TRUE(IsInvalidArgument(store_->Create(call_, c).status()));
  EXPECT_TRUE(events_.Envelopes().empty());
  EXPECT_TRUE(IsInvalidArgument(store_->Get(call_, "..").status()));
}

TEST_F(ContainerStoreTest, UpdateFollowsFieldMasks) {
  ASSERT_OK(store_->Create(call_, Make("c1")).status());
  Container u = Make("c1");
  (*u.mutable_labels())["app"] = "db";
  (*u.mutable_labels())["tier"] = "1";
  u.set_image("other:1");

  // One label only.
  ASSERT_OK_AND_ASSIGN(Container got, store_->Update(call_, u, {"labels.tier"}));
  EXPECT_EQ(got.labels().at("app"), "web");
  EXPECT_EQ(got.labels().at("tier"), "1");
  EXPECT_EQ(got.image(), "docker.io/library/busybox:latest");
  EXPECT_GE(got.updated_at().seconds(), got.created_at().seconds());
  // A labels.<k> path whose value is absent deletes the label.
  Container none = Make("c1");
  none.mutable_labels()->clear();
  ASSERT_OK_AND_ASSIGN(got, store_->Update(call_, none, {"labels.tier"}));
  EXPECT_EQ(got.labels().count("tier"), 0u);
  // Image.
  ASSERT_OK_AND_ASSIGN(got, store_->Update(call_, u, {"image"}));
  EXPECT_EQ(got.image(), "other:1");
  // No mask: every mutable field.
  u.set_snapshot_key("k2");
  ASSERT_OK_AND_ASSIGN(got, store_->Update(call_, u, {}));
  EXPECT_EQ(got.labels().at("app"), "db");
  EXPECT_EQ(got.snapshot_key(), "k2");
  // Runtime and snapshotter are immutable; unknown paths are refused.
  Container r = u;
  r.mutable_runtime()->set_name("io.containerd.other.v1");
  EXPECT_TRUE(IsInvalidArgument(store_->Update(call_, r, {}).status()));
  EXPECT_TRUE(IsInvalidArgument(store_->Update(call_, u, {"runtime"}).status()));
  EXPECT_TRUE(IsInvalidArgument(store_->Update(call_, u, {"snapshotter"}).status()));
  Container missing = Make("nope");
  EXPECT_TRUE(IsNotFound(store_->Update(call_, missing, {"image"}).status()));
  Container noid = Make("c1");
  noid.clear_id();
  EXPECT_TRUE(IsInvalidArgument(store_->Update(call_, noid, {"image"}).status()));

  auto envelopes = events_.Envelopes();
  ASSERT_GE(envelopes.size(), 2u);
  EXPECT_EQ(envelopes.back().topic(), "/containers/update");
  containerd::events::ContainerUpdate update;
  ASSERT_TRUE(update.ParseFromString(envelopes.back().event().value()));
  EXPECT_EQ(update.id(), "c1");
  EXPECT_EQ(update.snapshot_key(), "k2");
}

TEST_F(ContainerStoreTest, ListFilters) {
  Container a = Make("a");
  Container b = Make("b");
  (*b.mutable_labels())["app"] = "db";
  b.set_image("redis:7");
  ASSERT_OK(store_->Create(call_, a).status());
  ASSERT_OK(store_->Create(call_, b).status());
  auto ids = [&](std::vector<std::string> filters) {
    std::vector<std::string> out;
    auto list = store_->List(call_, filters);
    EXPECT_OK(list.status());
    if (list.ok()) {
      for (const auto& c : *list) out.push_back(c.id());
    }
    return out;
  };
  EXPECT_EQ(ids({}), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ids({""}), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ids({"id==b"}), (std::vector<std::string>{"b"}));
  EXPECT_EQ(ids({"labels.app==web"}), (std::vector<std::string>{"a"}));
  EXPECT_EQ(ids({"image~=redis"}), (std::vector<std::string>{"b"}));
  EXPECT_EQ(ids({"runtime.name==io.containerd.runc.v2,id==a"}), (std::vector<std::string>{"a"}));
  EXPECT_EQ(ids({"id==a", "id==b"}), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(IsInvalidArgument(store_->List(call_, {"id=="}).status()));
}

}  // namespace
}  // namespace berth::runtime
