// CollectableService on the wire (berth.gc.v1.Collectable over a RocksImageStore, on a
// temporary unix socket): images are listed as roots referring to their targets, and are
// never swept.
#include "services/image/server/collectable_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/image/rocks_image_store.h"
#include "services/image/schema.h"

namespace berth::image {
namespace {

namespace pb = ::berth::gc::v1;

const std::string kDigest = "sha256:" + std::string(64, 'd');

Image Make(const std::string& name) {
  Image image;
  image.set_name(name);
  image.mutable_target()->set_media_type("application/vnd.oci.image.index.v1+json");
  image.mutable_target()->set_digest(kDigest);
  image.mutable_target()->set_size(512);
  return image;
}

class CollectableServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Options options;
    options.schema_version = schema::kSchemaVersion;
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta"), options));
    images_ = std::make_unique<RocksImageStore>(db_.get());
    service_ = std::make_unique<CollectableService>(images_.get());
    const std::string address = "unix:" + dir_.Path("i.sock");
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

  testing::TempDir dir_{"gcimage"};
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<RocksImageStore> images_;
  std::unique_ptr<CollectableService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<pb::Collectable::Stub> stub_;
};

TEST_F(CollectableServiceTest, ListsImagesWithTheirTargets) {
  Image labelled = Make("docker.io/library/busybox:1.36");
  (*labelled.mutable_labels())["containerd.io/gc.ref.content.extra"] =
      "sha256:" + std::string(64, 'e');
  (*labelled.mutable_labels())["io.cri-containerd.image"] = "managed";
  ASSERT_OK(images_->Create(CallContext::Background("a"), labelled).status());
  ASSERT_OK(images_->Create(CallContext::Background("b"), Make("other")).status());

  std::vector<pb::Object> objects;
  grpc::Status s = List({"a"}, &objects);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(objects.size(), 1u);
  const pb::Object& o = objects[0];
  EXPECT_EQ(o.ref().namespace_(), "a");
  EXPECT_EQ(o.ref().type(), "images");
  EXPECT_EQ(o.ref().id(), "docker.io/library/busybox:1.36");
  ASSERT_EQ(o.references_size(), 1);
  EXPECT_EQ(o.references(0).type(), "content");
  EXPECT_EQ(o.references(0).id(), kDigest);
  EXPECT_EQ(o.references(0).namespace_(), "a");
  ASSERT_EQ(o.labels().size(), 1u);
  EXPECT_EQ(o.labels().count("containerd.io/gc.ref.content.extra"), 1u);
  EXPECT_GT(o.created_at_unix_nanos(), 0);

  objects.clear();
  s = List({"a", "b", "none"}, &objects);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(objects.size(), 2u);

  objects.clear();
  EXPECT_EQ(List({"bad/ns"}, &objects).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CollectableServiceTest, SweepIsNotImplemented) {
  ASSERT_OK(images_->Create(CallContext::Background("a"), Make("img")).status());
  grpc::ClientContext ctx;
  pb::SweepRequest req;
  req.add_objects()->set_id("img");
  pb::SweepResponse resp;
  EXPECT_EQ(stub_->Sweep(&ctx, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_OK(images_->Get(CallContext::Background("a"), "img").status());
}

}  // namespace
}  // namespace berth::image
