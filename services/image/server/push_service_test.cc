// PullService's Push method on the wire (in-process gRPC server on a unix socket): request
// checks and their codes, NotFound naming an unknown image, UNIMPLEMENTED without a Pusher,
// and the progress stream of a push (with a recording registry: the order documents and blobs
// reach it, the root last under its tag).
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lib/status/status.h"
#include "lib/store/store.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/content/local_store.h"
#include "services/image/rocks_image_store.h"
#include "services/image/schema.h"
#include "services/image/server/pull_service.h"

namespace berth::image {
namespace {

namespace api = berth::image::v1;

// Records what is pushed, in order; everything "uploads".
class RecordingRegistry final : public remotes::Resolver {
 public:
  struct Pushed {
    std::string digest;
    std::string tag;
  };
  absl::StatusOr<remotes::Resolved> Resolve(const CallContext&, std::string_view) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<std::unique_ptr<remotes::Fetcher>> NewFetcher(const CallContext&,
                                                               std::string_view) override {
    return absl::UnimplementedError("not used");
  }
  absl::StatusOr<std::unique_ptr<remotes::Pusher>> NewPusher(const CallContext&,
                                                             std::string_view ref) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      targets_.push_back(std::string(ref));
    }
    return std::unique_ptr<remotes::Pusher>(new P(this));
  }
  std::vector<Pushed> pushed() {
    std::lock_guard<std::mutex> lock(mu_);
    return pushed_;
  }
  std::vector<std::string> targets() {
    std::lock_guard<std::mutex> lock(mu_);
    return targets_;
  }

 private:
  class P final : public remotes::Pusher {
   public:
    explicit P(RecordingRegistry* r) : r_(r) {}
    absl::StatusOr<remotes::PushResult> Push(const CallContext&, const remotes::Descriptor& d,
                                             remotes::BlobReader& reader,
                                             const remotes::PushOptions& o) override {
      // Read it all, as an upload would.
      std::string buf(static_cast<std::size_t>(d.size), '\0');
      std::size_t got = 0;
      while (got < buf.size()) {
        ASSIGN_OR_RETURN(std::size_t n, reader.ReadAt(buf.data() + got, buf.size() - got,
                                                      static_cast<std::int64_t>(got)));
        if (n == 0) break;
        got += n;
      }
      if (got != buf.size()) return absl::DataLossError("short read");
      std::lock_guard<std::mutex> lock(r_->mu_);
      r_->pushed_.push_back({d.digest.ToString(), o.tag});
      return remotes::PushResult::kUploaded;
    }

   private:
    RecordingRegistry* r_;
  };

  std::mutex mu_;
  std::vector<Pushed> pushed_;
  std::vector<std::string> targets_;
};

class PushServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    content::LocalStoreOptions co;
    co.root = dir_.Path("content");
    co.expiry_interval = std::chrono::seconds(0);
    ASSERT_OK_AND_ASSIGN(content_, content::LocalStore::Open(co));
    store::Options so;
    so.schema_version = schema::kSchemaVersion;
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta"), so));
    images_ = std::make_unique<RocksImageStore>(db_.get());
    push::PusherDeps deps;
    deps.content = content_.get();
    deps.images = images_.get();
    deps.new_resolver = [this](const remotes::RegistryOptions&) {
      return std::unique_ptr<remotes::Resolver>(new Forward(&registry_));
    };
    pusher_ = std::make_unique<push::Pusher>(deps, push::PusherOptions{});
    with_ = std::make_unique<PullService>(nullptr, pusher_.get());
    without_ = std::make_unique<PullService>(nullptr, nullptr);
    const std::string a = "unix:" + dir_.Path("a.sock");
    const std::string b = "unix:" + dir_.Path("b.sock");
    grpc::ServerBuilder ba;
    ba.AddListeningPort(a, grpc::InsecureServerCredentials());
    ba.RegisterService(with_.get());
    server_a_ = ba.BuildAndStart();
    ASSERT_NE(server_a_, nullptr);
    grpc::ServerBuilder bb;
    bb.AddListeningPort(b, grpc::InsecureServerCredentials());
    bb.RegisterService(without_.get());
    server_b_ = bb.BuildAndStart();
    ASSERT_NE(server_b_, nullptr);
    stub_ = api::Pull::NewStub(grpc::CreateChannel(a, grpc::InsecureChannelCredentials()));
    stub_without_ = api::Pull::NewStub(grpc::CreateChannel(b, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_a_ != nullptr) server_a_->Shutdown();
    if (server_b_ != nullptr) server_b_->Shutdown();
  }

  // Pass-through so that the registry outlives every resolver the Pusher makes.
  class Forward final : public remotes::Resolver {
   public:
    explicit Forward(RecordingRegistry* r) : r_(r) {}
    absl::StatusOr<remotes::Resolved> Resolve(const CallContext& c, std::string_view ref) override {
      return r_->Resolve(c, ref);
    }
    absl::StatusOr<std::unique_ptr<remotes::Fetcher>> NewFetcher(const CallContext& c,
                                                                 std::string_view ref) override {
      return r_->NewFetcher(c, ref);
    }
    absl::StatusOr<std::unique_ptr<remotes::Pusher>> NewPusher(const CallContext& c,
                                                               std::string_view ref) override {
      return r_->NewPusher(c, ref);
    }

   private:
    RecordingRegistry* r_;
  };

  void Store(const testing::Blob& b) {
    content::WriterOptions wo;
    wo.ref = "t-" + b.digest;
    wo.total = b.size;
    ASSERT_OK_AND_ASSIGN(wo.expected, digest::Digest::Parse(b.digest));
    ASSERT_OK_AND_ASSIGN(auto w, content_->OpenWriter(CallContext::Background("ns"), wo));
    ASSERT_OK(w->Write(b.data));
    ASSERT_OK(w->Commit(b.size, wo.expected, {}));
  }

  grpc::Status Push(api::Pull::Stub* stub, const api::PushRequest& req,
                    std::vector<api::PushProgress>* out, const std::string& ns = "ns") {
    grpc::ClientContext ctx;
    if (!ns.empty()) ctx.AddMetadata("containerd-namespace", ns);
    auto reader = stub->Push(&ctx, req);
    api::PushProgress m;
    while (reader->Read(&m)) out->push_back(m);
    return reader->Finish();
  }

  testing::TempDir dir_{"pushsvc"};
  std::unique_ptr<content::LocalStore> content_;
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<RocksImageStore> images_;
  RecordingRegistry registry_;
  std::unique_ptr<push::Pusher> pusher_;
  std::unique_ptr<PullService> with_;
  std::unique_ptr<PullService> without_;
  std::unique_ptr<grpc::Server> server_a_;
  std::unique_ptr<grpc::Server> server_b_;
  std::unique_ptr<api::Pull::Stub> stub_;
  std::unique_ptr<api::Pull::Stub> stub_without_;
};

TEST_F(PushServiceTest, StreamsProgressAndPushesTheRootLastUnderItsTag) {
  ASSERT_OK_AND_ASSIGN(testing::OciImage img, testing::WhiteoutImage());
  for (const testing::Layer& l : img.layers) Store(l.blob);
  Store(img.config);
  Store(img.manifest);
  Image rec;
  rec.set_name("example.com/app:1");
  rec.mutable_target()->set_media_type(img.manifest.media_type);
  rec.mutable_target()->set_digest(img.manifest.digest);
  rec.mutable_target()->set_size(img.manifest.size);
  ASSERT_OK(images_->Create(CallContext::Background("ns"), rec).status());

  api::PushRequest req;
  req.set_ref("example.com/app:1");
  req.set_target("registry.example.com/mirror/app:v2");
  std::vector<api::PushProgress> out;
  grpc::Status s = Push(stub_.get(), req, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().kind(), api::PushProgress::DONE);
  EXPECT_EQ(out.back().ref(), "registry.example.com/mirror/app:v2");
  EXPECT_EQ(out.back().digest(), img.manifest.digest);
  int uploaded = 0;
  for (const api::PushProgress& p : out) uploaded += p.kind() == api::PushProgress::UPLOADED;
  EXPECT_EQ(uploaded, static_cast<int>(img.layers.size()) + 2);

  std::vector<RecordingRegistry::Pushed> pushed = registry_.pushed();
  ASSERT_EQ(pushed.size(), img.layers.size() + 2);
  EXPECT_EQ(pushed.back().digest, img.manifest.digest);
  EXPECT_EQ(pushed.back().tag, "v2");
  for (size_t i = 0; i + 1 < pushed.size(); ++i) EXPECT_EQ(pushed[i].tag, "") << i;
  EXPECT_EQ(registry_.targets(), std::vector<std::string>{"registry.example.com/mirror/app:v2"});
}

TEST_F(PushServiceTest, RequestChecks) {
  std::vector<api::PushProgress> out;
  api::PushRequest req;
  EXPECT_EQ(Push(stub_.get(), req, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.set_ref("example.com/app:1");
  req.add_hosts_dirs("relative/dir");
  grpc::Status s = Push(stub_.get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("relative/dir"), std::string::npos) << s.error_message();
  req.clear_hosts_dirs();
  req.set_chunk_size(-1);
  EXPECT_EQ(Push(stub_.get(), req, &out).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.set_chunk_size(0);
  EXPECT_EQ(Push(stub_.get(), req, &out, "").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(registry_.targets().empty());
}

TEST_F(PushServiceTest, UnknownImageIsNotFoundNamingIt) {
  std::vector<api::PushProgress> out;
  api::PushRequest req;
  req.set_ref("example.com/nope:1");
  grpc::Status s = Push(stub_.get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("\"example.com/nope:1\""), std::string::npos)
      << s.error_message();
  EXPECT_TRUE(out.empty());
}

TEST_F(PushServiceTest, UnimplementedWithoutAPusher) {
  std::vector<api::PushProgress> out;
  api::PushRequest req;
  req.set_ref("example.com/app:1");
  EXPECT_EQ(Push(stub_without_.get(), req, &out).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
}  // namespace berth::image
