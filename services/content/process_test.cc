// berth-content as a real process: kill -9 in the middle of a large write, restart, resume from
// the reported offset and commit; events on a real nats-server.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "client/proxy/content_proxy.h"
#include "lib/events/subscriber.h"
#include "lib/testing/child_process.h"
#include "lib/testing/nats_server.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "proto/berth/content/v1/events.pb.h"
#include "proto/containerd/events/content.pb.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"
#include "services/content/fs_util.h"

namespace berth::content {
namespace {

namespace api = containerd::services::content::v1;
using ::berth::testing::ChildProcess;
using ::berth::testing::TempDir;

std::string Binary() {
  const char* dir = std::getenv("BERTH_BIN");
  return std::string(dir != nullptr ? dir : "build/bin") + "/berth-content";
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&out[i], &v, 8);
  }
  return out;
}

class ContentProcess {
 public:
  ContentProcess(const TempDir& dir, const std::string& nats_url = "")
      : dir_(dir), socket_(dir.Path("content.sock")), ready_(dir.Path("ready")) {
    EXPECT_OK(internal::WriteFile(dir.Path("config.toml"),
                                  "[content]\naddress = \"unix://" + socket_ + "\"\nroot = \"" +
                                      dir.Path("root") + "\"\nready_file = \"" + ready_ +
                                      "\"\nnats_url = \"" + nats_url + "\"\n"));
  }

  // Starts the process and waits until it is serving.
  void Start() {
    ::unlink(ready_.c_str());  // A killed process leaves its ready file behind.
    auto child = ChildProcess::Start({{Binary(), "--config", dir_.Path("config.toml")},
                                      dir_.Path("stdout.log"),
                                      dir_.Path("stderr.log"),
                                      std::nullopt,
                                      ""});
    ASSERT_OK(child.status());
    child_.emplace(std::move(*child));
    ASSERT_TRUE(berth::testing::WaitFor(
        [&] { return ::access(ready_.c_str(), F_OK) == 0 || !child_->Running(); },
        std::chrono::seconds(30)));
    ASSERT_TRUE(child_->Running()) << child_->ReadStderr();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(16 << 20);
    channel_ =
        grpc::CreateCustomChannel("unix:" + socket_, grpc::InsecureChannelCredentials(), args);
  }

  ChildProcess& child() { return *child_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  std::string Log() { return child_.has_value() ? child_->ReadStderr() : ""; }

 private:
  const TempDir& dir_;
  std::string socket_;
  std::string ready_;
  std::optional<ChildProcess> child_;
  std::shared_ptr<grpc::Channel> channel_;
};

void Ns(grpc::ClientContext* ctx) { ctx->AddMetadata("containerd-namespace", "default"); }

TEST(ContentProcessTest, KillDuringLargeWriteThenResume) {
  TempDir dir("cproc");
  ContentProcess process(dir);
  ASSERT_NO_FATAL_FAILURE(process.Start());
  constexpr size_t kChunk = 1 << 20;
  const std::string data = RandomBytes(96 * kChunk, 1);
  const std::string dgst = digest::FromBytes(data).ToString();
  const std::string ref = "layer-" + dgst;

  {
    auto stub = api::Content::NewStub(process.channel());
    grpc::ClientContext ctx;
    Ns(&ctx);
    auto stream = stub->Write(&ctx);
    api::WriteContentRequest req;
    req.set_action(api::STAT);
    req.set_ref(ref);
    req.set_total(static_cast<int64_t>(data.size()));
    req.set_expected(dgst);
    api::WriteContentResponse resp;
    ASSERT_TRUE(stream->Write(req) && stream->Read(&resp)) << process.Log();
    req.Clear();
    req.set_action(api::WRITE);
    for (size_t i = 0; i < 40; ++i) {
      req.set_offset(static_cast<int64_t>(i * kChunk));
      req.set_data(data.substr(i * kChunk, kChunk));
      ASSERT_TRUE(stream->Write(req) && stream->Read(&resp));
      ASSERT_EQ(resp.offset(), static_cast<int64_t>((i + 1) * kChunk));
    }
    // One more chunk in flight, then the process dies without any chance to clean up.
    req.set_offset(static_cast<int64_t>(40 * kChunk));
    req.set_data(data.substr(40 * kChunk, kChunk));
    ASSERT_TRUE(stream->Write(req));
    ASSERT_OK(process.child().Signal(SIGKILL));
    auto status = process.child().Wait(std::chrono::seconds(30));
    ASSERT_OK(status.status());
    ASSERT_TRUE(WIFSIGNALED(*status));
    ctx.TryCancel();
    stream->Finish();
  }

  ASSERT_NO_FATAL_FAILURE(process.Start());
  proxy::ContentProxy proxy(process.channel());
  CallContext call = CallContext::Background("default");
  ASSERT_OK_AND_ASSIGN(IngestStatus st, proxy.Status(call, ref));
  // Acknowledged chunks may still have been queued for the disk (replies go out when a
  // chunk is accepted): the offset is whatever reached the file, never more than was sent.
  EXPECT_GT(st.offset, 0);
  EXPECT_LE(st.offset, static_cast<int64_t>(41 * kChunk));
  EXPECT_EQ(st.total, static_cast<int64_t>(data.size()));

  ASSERT_OK_AND_ASSIGN(digest::Digest expected, digest::Digest::Parse(dgst));
  ASSERT_OK_AND_ASSIGN(auto w, proxy.OpenWriter(call, {ref, st.total, expected}));
  ASSERT_OK_AND_ASSIGN(st, w->Status());
  // The hash state was rebuilt from the data on disk: the digest so far matches the bytes.
  ASSERT_OK_AND_ASSIGN(digest::Digest so_far, w->Digest());
  EXPECT_EQ(so_far, digest::FromBytes(std::string_view(data).substr(0, st.offset)));
  for (size_t off = static_cast<size_t>(st.offset); off < data.size(); off += kChunk) {
    ASSERT_OK(w->Write(data.substr(off, kChunk)));
  }
  ASSERT_OK(w->Commit(static_cast<int64_t>(data.size()), expected, {}));
  w.reset();

  ASSERT_OK_AND_ASSIGN(auto reader, proxy.OpenReader(call, expected));
  std::string back(data.size(), '\0');
  ASSERT_OK_AND_ASSIGN(size_t n, reader->ReadAt(back.data(), back.size(), 0));
  EXPECT_EQ(n, data.size());
  EXPECT_EQ(digest::FromBytes(back), expected);

  ASSERT_OK_AND_ASSIGN(int wait_status, process.child().Terminate());
  EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << process.Log();
}

TEST(ContentProcessTest, PublishesEventsOnNats) {
  berth::testing::NatsServer nats;
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

  TempDir dir("cproc");
  ContentProcess process(dir, nats.Url());
  ASSERT_NO_FATAL_FAILURE(process.Start());

  proxy::ContentProxy proxy(process.channel());
  CallContext call = CallContext::Background("default");
  const std::string data = "event me";
  const digest::Digest d = digest::FromBytes(data);
  {
    ASSERT_OK_AND_ASSIGN(auto w, proxy.OpenWriter(call, {"ev", 0, {}}));
    ASSERT_OK(w->Write(data));
    ASSERT_OK(w->Commit(0, d, {{"k", "v"}}));
  }
  ASSERT_OK(proxy.Delete(call, d));
  ASSERT_TRUE(berth::testing::WaitFor([&] {
    std::lock_guard<std::mutex> lock(mu);
    return received.size() >= 2;
  }));
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].envelope.topic(), "/content/commit");
  EXPECT_EQ(received[0].envelope.namespace_(), "default");
  EXPECT_EQ(received[0].envelope.event().type_url(), "berth.content.v1.ContentCommit");
  berth::content::v1::ContentCommit commit;
  ASSERT_TRUE(commit.ParseFromString(received[0].envelope.event().value()));
  EXPECT_EQ(commit.digest(), d.ToString());
  EXPECT_EQ(commit.size(), 8);
  EXPECT_EQ(commit.ref(), "ev");
  EXPECT_EQ(commit.labels().at("k"), "v");
  EXPECT_EQ(received[1].envelope.topic(), "/content/delete");
  EXPECT_EQ(received[1].envelope.event().type_url(), "containerd.events.ContentDelete");
  containerd::events::ContentDelete del;
  ASSERT_TRUE(del.ParseFromString(received[1].envelope.event().value()));
  EXPECT_EQ(del.digest(), d.ToString());
}

}  // namespace
}  // namespace berth::content
