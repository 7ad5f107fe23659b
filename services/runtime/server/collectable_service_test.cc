// CollectableService on the wire (berth.gc.v1.Collectable over a RocksContainerStore, on a
// temporary unix socket): containers are listed as roots referring to their snapshot and
// image, and are never swept.
#include "services/runtime/server/collectable_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/anytype/anytype.h"
#include "lib/events/recording_publisher.h"
#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/runtime/rocks_container_store.h"

namespace berth::runtime {
namespace {

namespace pb = ::berth::gc::v1;

Container Make(const std::string& id) {
  Container c;
  c.set_id(id);
  c.set_image("docker.io/library/busybox:latest");
  c.mutable_runtime()->set_name("io.containerd.runc.v2");
  *c.mutable_spec() = *anytype::PackJson(anytype::kSpecTypeURL, "{\"ociVersion\":\"1.0.2\"}");
  c.set_snapshotter("overlayfs");
  c.set_snapshot_key(id + "-rootfs");
  (*c.mutable_labels())["app"] = "web";
  (*c.mutable_labels())["containerd.io/gc.ref.content.checkpoint"] =
      "sha256:" + std::string(64, 'c');
  return c;
}

class CollectableServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta")));
    containers_ = std::make_unique<RocksContainerStore>(db_.get(), &events_);
    service_ = std::make_unique<CollectableService>(containers_.get());
    const std::string address = "unix:" + dir_.Path("r.sock");
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ =
        pb::Collectable::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  grpc::Status List(const std::vector<std::string>& namespaces, std::vector<pb::Object>* out) {
    grpc::ClientContext ctx;
    pb::ListObjectsRequest req;
    for (const std::string& ns : namespaces) req.add_namespaces(ns);
    auto reader = stub_->ListObjects(&ctx, req);
    pb::ListObjectsResponse resp;
    while (reader->Read(&resp)) {
      for (const pb::Object& o : resp.objects()) out->push_back(o);
    }
    return reader->Finish();
  }

  testing::TempDir dir_{"gcrt"};
  std::unique_ptr<store::Store> db_;
  events::RecordingPublisher events_;
  std::unique_ptr<RocksContainerStore> containers_;
  std::unique_ptr<CollectableService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<pb::Collectable::Stub> stub_;
};

TEST_F(CollectableServiceTest, ListsContainersWithSnapshotAndImage) {
  ASSERT_OK(containers_->Create(CallContext::Background("a"), Make("c1")).status());
  Container bare = Make("bare");
  bare.clear_image();
  bare.clear_snapshot_key();
  ASSERT_OK(containers_->Create(CallContext::Background("a"), bare).status());
  ASSERT_OK(containers_->Create(CallContext::Background("b"), Make("c2")).status());

  std::vector<pb::Object> objects;
  grpc::Status s = List({"a"}, &objects);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(objects.size(), 2u);
  std::map<std::string, pb::Object> by_id;
  for (const pb::Object& o : objects) by_id[o.ref().id()] = o;
  const pb::Object& c1 = by_id["c1"];
  EXPECT_EQ(c1.ref().type(), "containers");
  EXPECT_EQ(c1.ref().namespace_(), "a");
  ASSERT_EQ(c1.references_size(), 2);
  EXPECT_EQ(c1.references(0).type(), "snapshots/overlayfs");
  EXPECT_EQ(c1.references(0).id(), "c1-rootfs");
  EXPECT_EQ(c1.references(1).type(), "images");
  EXPECT_EQ(c1.references(1).id(), "docker.io/library/busybox:latest");
  ASSERT_EQ(c1.labels().size(), 1u);
  EXPECT_EQ(c1.labels().count("containerd.io/gc.ref.content.checkpoint"), 1u);
  EXPECT_GT(c1.created_at_unix_nanos(), 0);
  EXPECT_EQ(by_id["bare"].references_size(), 0);

  objects.clear();
  s = List({"a", "b", "none"}, &objects);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(objects.size(), 3u);
  objects.clear();
  EXPECT_EQ(List({"bad/ns"}, &objects).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CollectableServiceTest, SweepIsNotImplemented) {
  grpc::ClientContext ctx;
  pb::SweepRequest req;
  req.add_objects()->set_id("c1");
  pb::SweepResponse resp;
  EXPECT_EQ(stub_->Sweep(&ctx, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace berth::runtime
