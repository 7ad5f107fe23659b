// berth-image as a real process: it reports readiness (ready-file, grpc.health.v1 SERVING),
// serves Images on its socket, stops cleanly on SIGTERM (ready-file and socket gone), keeps
// its records across a restart, and refuses a bad config naming the key. Events go to a real
// nats-server.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/events/subscriber.h"
#include "lib/server/health_client.h"
#include "lib/testing/child_process.h"
#include "lib/testing/nats_server.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/events/image.pb.h"
#include "proto/containerd/services/images/v1/images.grpc.pb.h"

namespace berth::image {
namespace {

namespace api = containerd::services::images::v1;
using ::berth::testing::ChildProcess;
using ::berth::testing::TempDir;
using ::berth::testing::WaitFor;

std::string Binary() {
  const char* dir = std::getenv("BERTH_BIN");
  return std::string(dir != nullptr ? dir : "build/bin") + "/berth-image";
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

class ImageProcess {
 public:
  ImageProcess(const TempDir& dir, const std::string& nats_url)
      : dir_(dir), socket_(dir.Path("image.sock")), ready_(dir.Path("ready")) {
    std::ofstream(dir.Path("config.toml"))
        << "[image]\naddress = \"unix://" << socket_ << "\"\nroot = \"" << dir.Path("root")
        << "\"\nready_file = \"" << ready_ << "\"\nnats_url = \"" << nats_url << "\"\n";
  }

  // Starts the process and waits until it reports readiness.
  void Start() {
    ::unlink(ready_.c_str());
    absl::StatusOr<ChildProcess> child =
        ChildProcess::Start({{Binary(), "--config", dir_.Path("config.toml")},
                             dir_.Path("stdout.log"),
                             dir_.Path("stderr.log"),
                             std::nullopt,
                             ""});
    ASSERT_OK(child.status());
    child_.emplace(std::move(*child));
    ASSERT_TRUE(
        WaitFor([&] { return Exists(ready_) || !child_->Running(); }, std::chrono::seconds(30)));
    ASSERT_TRUE(child_->Running()) << child_->ReadStderr();
    channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    stub_ = api::Images::NewStub(channel_);
  }

  ChildProcess& child() { return *child_; }
  grpc::Channel& channel() { return *channel_; }
  api::Images::Stub& stub() { return *stub_; }
  const std::string& ready_file() const { return ready_; }
  const std::string& socket() const { return socket_; }

 private:
  const TempDir& dir_;
  std::string socket_;
  std::string ready_;
  std::optional<ChildProcess> child_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<api::Images::Stub> stub_;
};

api::Image Make(const std::string& name) {
  api::Image image;
  image.set_name(name);
  image.mutable_target()->set_media_type("application/vnd.oci.image.index.v1+json");
  image.mutable_target()->set_digest("sha256:" + std::string(64, 'f'));
  image.mutable_target()->set_size(100);
  return image;
}

TEST(ImageProcessTest, ServesReportsReadinessStopsAndKeepsRecords) {
  TempDir dir("biproc");
  testing::NatsServer nats;
  ASSERT_OK(nats.Start());
  std::mutex mu;
  std::vector<events::ReceivedEvent> received;
  events::SubscriberOptions sub_options;
  sub_options.url = nats.Url();
  ASSERT_OK_AND_ASSIGN(auto subscriber,
                       events::Subscriber::Create(sub_options, [&](const events::ReceivedEvent& e) {
                         std::lock_guard<std::mutex> lock(mu);
                         received.push_back(e);
                       }));
  ASSERT_OK(subscriber->Sync(std::chrono::seconds(10)));

  ImageProcess process(dir, nats.Url());
  ASSERT_NO_FATAL_FAILURE(process.Start());
  // The ready-file names the bound address; health says SERVING.
  std::ifstream ready(process.ready_file());
  std::string address((std::istreambuf_iterator<char>(ready)), std::istreambuf_iterator<char>());
  EXPECT_NE(address.find(process.socket()), std::string::npos) << address;
  ASSERT_OK_AND_ASSIGN(server::HealthStatus health, server::CheckHealth(process.channel()));
  EXPECT_EQ(health, server::HealthStatus::kServing);

  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("containerd-namespace", "ns1");
    api::CreateImageRequest req;
    *req.mutable_image() = Make("docker.io/library/busybox:1.36");
    api::CreateImageResponse resp;
    grpc::Status s = process.stub().Create(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // /images/create on the bus, as containerd's type.
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return !received.empty();
  }));
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(received.size(), 1u);
    const containerd::services::events::v1::Envelope& envelope = received[0].envelope;
    EXPECT_EQ(received[0].subject, "berth.events.ns1.images.create");
    EXPECT_EQ(envelope.topic(), "/images/create");
    EXPECT_EQ(envelope.namespace_(), "ns1");
    EXPECT_EQ(envelope.event().type_url(), "containerd.services.images.v1.ImageCreate");
    containerd::services::images::v1::ImageCreate create;
    ASSERT_TRUE(create.ParseFromString(envelope.event().value()));
    EXPECT_EQ(create.name(), "docker.io/library/busybox:1.36");
  }

  // SIGTERM: a clean exit that takes the ready-file and the socket with it.
  ASSERT_OK(process.child().Signal(SIGTERM));
  ASSERT_OK_AND_ASSIGN(int status, process.child().Wait(std::chrono::seconds(60)));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << process.child().ReadStderr();
  EXPECT_FALSE(Exists(process.ready_file()));
  EXPECT_FALSE(Exists(process.socket()));

  // The record survives a restart.
  ASSERT_NO_FATAL_FAILURE(process.Start());
  grpc::ClientContext ctx;
  ctx.AddMetadata("containerd-namespace", "ns1");
  api::GetImageRequest req;
  req.set_name("docker.io/library/busybox:1.36");
  api::GetImageResponse resp;
  grpc::Status s = process.stub().Get(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.image().target().size(), 100);
}

TEST(ImageProcessTest, BadConfigFailsNamingTheKey) {
  TempDir dir("biproc");
  std::ofstream(dir.Path("config.toml")) << "[image]\nnats_url = \"http://x\"\n";
  ASSERT_OK_AND_ASSIGN(ChildProcess child,
                       ChildProcess::Start({{Binary(), "--config", dir.Path("config.toml")},
                                            dir.Path("out.log"),
                                            dir.Path("out.log"),
                                            std::nullopt,
                                            ""}));
  ASSERT_OK_AND_ASSIGN(int status, child.Wait(std::chrono::seconds(30)));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  EXPECT_NE(child.ReadStdout().find("[image] nats_url"), std::string::npos) << child.ReadStdout();
}

}  // namespace
}  // namespace berth::image
