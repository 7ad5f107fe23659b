// ImagesService on the wire: the request/response shapes and codes ctr depends on, spoken with
// the raw generated stub over a temporary unix socket, with events through PublishingStore.
#include "services/image/server/images_service.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/events/recording_publisher.h"
#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/image/publishing_store.h"
#include "services/image/rocks_image_store.h"
#include "services/image/schema.h"

namespace berth::image {
namespace {

namespace api = containerd::services::images::v1;

constexpr char kName[] = "127.0.0.1:5000/test/busybox:1.0";
const std::string kDigest = "sha256:" + std::string(64, 'd');

api::Image Make(const std::string& name) {
  api::Image image;
  image.set_name(name);
  image.mutable_target()->set_media_type("application/vnd.oci.image.index.v1+json");
  image.mutable_target()->set_digest(kDigest);
  image.mutable_target()->set_size(512);
  // What ctr 1.6 sends: Go's zero time in the non-nullable timestamps.
  image.mutable_created_at()->set_seconds(-62135596800);
  image.mutable_updated_at()->set_seconds(-62135596800);
  return image;
}

class ImagesServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Options options;
    options.schema_version = schema::kSchemaVersion;
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta"), options));
    rocks_ = std::make_unique<RocksImageStore>(db_.get());
    publishing_ = std::make_unique<PublishingStore>(rocks_.get(), &events_);
    service_ = std::make_unique<ImagesService>(publishing_.get());
    const std::string address = "unix:" + dir_.Path("i.sock");
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = api::Images::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  static void Ns(grpc::ClientContext* ctx, const std::string& ns = "default") {
    if (!ns.empty()) ctx->AddMetadata("containerd-namespace", ns);
  }

  grpc::Status Create(const api::Image& image, api::Image* out = nullptr,
                      const std::string& ns = "default") {
    grpc::ClientContext ctx;
    Ns(&ctx, ns);
    api::CreateImageRequest req;
    *req.mutable_image() = image;
    api::CreateImageResponse resp;
    grpc::Status s = stub_->Create(&ctx, req, &resp);
    if (out != nullptr) *out = resp.image();
    return s;
  }

  grpc::Status Get(const std::string& name, api::Image* out = nullptr,
                   const std::string& ns = "default") {
    grpc::ClientContext ctx;
    Ns(&ctx, ns);
    api::GetImageRequest req;
    req.set_name(name);
    api::GetImageResponse resp;
    grpc::Status s = stub_->Get(&ctx, req, &resp);
    if (out != nullptr) *out = resp.image();
    return s;
  }

  grpc::Status Update(const api::Image& image, const std::vector<std::string>& paths,
                      api::Image* out = nullptr) {
    grpc::ClientContext ctx;
    Ns(&ctx);
    api::UpdateImageRequest req;
    *req.mutable_image() = image;
    for (const std::string& p : paths) req.mutable_update_mask()->add_paths(p);
    api::UpdateImageResponse resp;
    grpc::Status s = stub_->Update(&ctx, req, &resp);
    if (out != nullptr) *out = resp.image();
    return s;
  }

  grpc::Status List(const std::vector<std::string>& filters, std::vector<std::string>* names,
                    const std::string& ns = "default") {
    grpc::ClientContext ctx;
    Ns(&ctx, ns);
    api::ListImagesRequest req;
    for (const std::string& f : filters) req.add_filters(f);
    api::ListImagesResponse resp;
    grpc::Status s = stub_->List(&ctx, req, &resp);
    names->clear();
    for (const api::Image& i : resp.images()) names->push_back(i.name());
    return s;
  }

  grpc::Status Delete(const std::string& name, bool sync = false,
                      const std::string& ns = "default") {
    grpc::ClientContext ctx;
    Ns(&ctx, ns);
    api::DeleteImageRequest req;
    req.set_name(name);
    req.set_sync(sync);
    google::protobuf::Empty resp;
    return stub_->Delete(&ctx, req, &resp);
  }

  testing::TempDir dir_{"biss"};
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<RocksImageStore> rocks_;
  events::RecordingPublisher events_;
  std::unique_ptr<PublishingStore> publishing_;
  std::unique_ptr<ImagesService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<api::Images::Stub> stub_;
};

TEST_F(ImagesServiceTest, CreateGetListDelete) {
  api::Image created;
  ASSERT_TRUE(Create(Make(kName), &created).ok());
  EXPECT_EQ(created.name(), kName);
  // Timestamps are filled by the service, never Go's zero time.
  EXPECT_GT(created.created_at().seconds(), 1600000000);
  EXPECT_EQ(created.created_at().seconds(), created.updated_at().seconds());
  api::Image got;
  ASSERT_TRUE(Get(kName, &got).ok());
  EXPECT_EQ(got.SerializeAsString(), created.SerializeAsString());
  std::vector<std::string> names;
  ASSERT_TRUE(List({}, &names).ok());
  EXPECT_EQ(names, std::vector<std::string>{kName});
  ASSERT_TRUE(List({"name~=busybox"}, &names).ok());
  EXPECT_EQ(names, std::vector<std::string>{kName});
  ASSERT_TRUE(List({"name==other"}, &names).ok());
  EXPECT_TRUE(names.empty());
  // ctr images rm --sync.
  ASSERT_TRUE(Delete(kName, /*sync=*/true).ok());
  EXPECT_EQ(Get(kName).error_code(), grpc::StatusCode::NOT_FOUND);

  std::vector<events::Envelope> envelopes = events_.Envelopes();
  ASSERT_EQ(envelopes.size(), 2u);
  EXPECT_EQ(envelopes[0].topic(), "/images/create");
  EXPECT_EQ(envelopes[0].namespace_(), "default");
  EXPECT_EQ(envelopes[1].topic(), "/images/delete");
}

TEST_F(ImagesServiceTest, ErrorCodesOnTheWire) {
  ASSERT_TRUE(Create(Make(kName)).ok());
  grpc::Status s = Create(Make(kName));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
  EXPECT_EQ(s.error_message(), "image \"127.0.0.1:5000/test/busybox:1.0\": already exists");
  EXPECT_EQ(Get("missing").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Delete("missing").error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Update(Make("missing"), {}).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get("").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Delete("").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Create(Make("")).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Update(Make(""), {}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  api::Image no_size = Make("x");
  no_size.mutable_target()->set_size(0);
  EXPECT_EQ(Create(no_size).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Update(Make(kName), {"name"}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<std::string> names;
  EXPECT_EQ(List({"name=="}, &names).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // No namespace: containerd's FAILED_PRECONDITION; a bad one: INVALID_ARGUMENT.
  EXPECT_EQ(Get(kName, nullptr, "").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Create(Make("y"), nullptr, "").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(List({}, &names, "").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Delete(kName, false, "").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Get(kName, nullptr, "-bad").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Other namespaces do not see it.
  EXPECT_EQ(Get(kName, nullptr, "other").error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(List({}, &names, "other").ok());
  EXPECT_TRUE(names.empty());
}

// ctr images pull: Create, ALREADY_EXISTS on a second pull -> Update with no mask.
TEST_F(ImagesServiceTest, PullTwiceReplacesTheTarget) {
  api::Image first;
  ASSERT_TRUE(Create(Make(kName), &first).ok());
  api::Image again = Make(kName);
  again.mutable_target()->set_digest("sha256:" + std::string(64, 'e'));
  ASSERT_EQ(Create(again).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  api::Image updated;
  ASSERT_TRUE(Update(again, {}, &updated).ok());
  EXPECT_EQ(updated.target().digest(), again.target().digest());
  EXPECT_EQ(updated.created_at().seconds(), first.created_at().seconds());
  EXPECT_EQ(updated.created_at().nanos(), first.created_at().nanos());
}

TEST_F(ImagesServiceTest, UpdateWithFieldMask) {
  ASSERT_TRUE(Create(Make(kName)).ok());
  api::Image change;
  change.set_name(kName);
  (*change.mutable_labels())["containerd.io/gc.ref.content.m.0"] = kDigest;
  (*change.mutable_target()->mutable_annotations())["a"] = "b";
  api::Image updated;
  ASSERT_TRUE(
      Update(change, {"labels.containerd.io/gc.ref.content.m.0", "annotations.a"}, &updated).ok());
  EXPECT_EQ(updated.labels().at("containerd.io/gc.ref.content.m.0"), kDigest);
  EXPECT_EQ(updated.target().annotations().at("a"), "b");
  EXPECT_EQ(updated.target().digest(), kDigest);
  EXPECT_EQ(updated.target().size(), 512);
  std::vector<events::Envelope> envelopes = events_.Envelopes();
  ASSERT_EQ(envelopes.size(), 2u);
  EXPECT_EQ(envelopes[1].topic(), "/images/update");
  EXPECT_EQ(envelopes[1].event().type_url(), "containerd.services.images.v1.ImageUpdate");
}

}  // namespace
}  // namespace berth::image
