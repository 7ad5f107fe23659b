// The public API under abuse, through the gateway socket of a real suite:
//   - a Write stream that never commits: the ingest is listed, can be aborted, and an
//     abandoned one expires (the suite runs with [gateway.gc] ingest_expiry = "1s" and a
//     collection is asked for with Leases.Delete sync);
//   - thousands of concurrent Events.Subscribe streams: every one gets an event published
//     afterwards (or is refused with ResourceExhausted), the gateway's RSS stays bounded, and
//     it still serves;
//   - messages at the 16 MiB limit (accepted) and one byte over (ResourceExhausted), after
//     which the service keeps working;
//   - invalid namespaces and identifiers on every service: InvalidArgument naming the value;
//   - `~=` filters with catastrophic-backtracking patterns on every List and on Subscribe:
//     each call returns (a generous deadline, no timing assertion).
// Root (the runtime service), nats-server.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/testing/suite.h"
#include "google/protobuf/empty.pb.h"
#include "lib/digest/digest.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/services/containers/v1/containers.grpc.pb.h"
#include "proto/containerd/services/events/v1/events.grpc.pb.h"
#include "proto/containerd/services/images/v1/images.grpc.pb.h"
#include "proto/containerd/services/leases/v1/leases.grpc.pb.h"
#include "proto/containerd/services/namespaces/v1/namespace.grpc.pb.h"
#include "proto/containerd/services/snapshots/v1/snapshots.grpc.pb.h"
#include "proto/containerd/services/tasks/v1/tasks.grpc.pb.h"
#include "proto/containerd/services/version/v1/version.grpc.pb.h"
#include "tests/security/security_testing.h"

namespace berth::security_testing {
namespace {

namespace contentpb = containerd::services::content::v1;
namespace containerspb = containerd::services::containers::v1;
namespace eventspb = containerd::services::events::v1;
namespace imagespb = containerd::services::images::v1;
namespace leasespb = containerd::services::leases::v1;
namespace nspb = containerd::services::namespaces::v1;
namespace snapb = containerd::services::snapshots::v1;
namespace taskspb = containerd::services::tasks::v1;
namespace versionpb = containerd::services::version::v1;

constexpr char kNs[] = "sec-abuse";
constexpr int kMaxMessage = 16 << 20;

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

class AbuseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The deploy config with abandoned ingests expiring after 1 s (collections still only
    // when asked for or hourly).
    config_dir_ = new testing::TempDir("bsecconf");
    const std::string src =
        Env("BERTH_SOURCE_DIR", BERTH_SOURCE_DIR_FALLBACK) + "/deploy/config.toml";
    std::ifstream in(src);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string config = ss.str();
    const size_t at = config.find("ingest_expiry = \"24h\"");
    if (at == std::string::npos) {
      start_error_ = new std::string("no ingest_expiry in " + src);
      return;
    }
    config.replace(at, std::string("ingest_expiry = \"24h\"").size(), "ingest_expiry = \"1s\"");
    std::ofstream(config_dir_->Path("config.toml")) << config;
    setenv("BERTH_CONFIG", config_dir_->Path("config.toml").c_str(), 1);
    suite_ = new client_testing::LocalSuite();
    absl::Status s = suite_->Start();
    if (!s.ok()) start_error_ = new std::string(s.ToString());
  }
  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
    delete config_dir_;
    config_dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    channel_ = Dial(suite_->socket());
    content_ = contentpb::Content::NewStub(channel_);
  }

  int GatewayPid() const {
    std::ifstream in(suite_->root() + "/run/gateway.pid");
    int pid = -1;
    in >> pid;
    return pid;
  }

  // The gateway answers Version and the content service takes a small blob.
  void ExpectStillServes() {
    auto version = versionpb::Version::NewStub(channel_);
    versionpb::VersionResponse v;
    EXPECT_OK(FromGrpc(version->Version(Ctx("").get(), google::protobuf::Empty(), &v)));
    EXPECT_OK(WriteBlob(*content_, kNs, "still serving " + std::to_string(++serial_)).status());
  }

  static client_testing::LocalSuite* suite_;
  static testing::TempDir* config_dir_;
  static std::string* start_error_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<contentpb::Content::Stub> content_;
  int serial_ = 0;
};

client_testing::LocalSuite* AbuseTest::suite_ = nullptr;
testing::TempDir* AbuseTest::config_dir_ = nullptr;
std::string* AbuseTest::start_error_ = nullptr;

absl::StatusOr<contentpb::Status> IngestStatus(contentpb::Content::Stub& content,
                                               const std::string& ref) {
  contentpb::StatusRequest req;
  req.set_ref(ref);
  contentpb::StatusResponse resp;
  absl::Status s = FromGrpc(content.Status(Ctx(kNs).get(), req, &resp));
  if (!s.ok()) return s;
  return resp.status();
}

// Opens a Write stream for `ref`, writes `data` at offset 0 and walks away (the stream is
// cancelled, never committed).
void Abandon(contentpb::Content::Stub& content, const std::string& ref, const std::string& data) {
  auto ctx = Ctx(kNs);
  auto stream = content.Write(ctx.get());
  contentpb::WriteContentRequest req;
  req.set_action(contentpb::WRITE);
  req.set_ref(ref);
  req.set_data(data);
  ASSERT_TRUE(stream->Write(req));
  contentpb::WriteContentResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.offset(), static_cast<int64_t>(data.size()));
  ctx->TryCancel();
  (void)stream->Finish();
}

TEST_F(AbuseTest, WriteThatNeverCommitsIsListedAbortedAndExpires) {
  Abandon(*content_, "sec-abandoned-1", "half a blob");
  ASSERT_OK_AND_ASSIGN(contentpb::Status st, IngestStatus(*content_, "sec-abandoned-1"));
  EXPECT_EQ(st.offset(), 11);
  contentpb::ListStatusesRequest list;
  contentpb::ListStatusesResponse statuses;
  ASSERT_OK(FromGrpc(content_->ListStatuses(Ctx(kNs).get(), list, &statuses)));
  bool listed = false;
  for (const auto& s : statuses.statuses()) listed = listed || s.ref() == "sec-abandoned-1";
  EXPECT_TRUE(listed);
  contentpb::AbortRequest abort;
  abort.set_ref("sec-abandoned-1");
  google::protobuf::Empty empty;
  ASSERT_OK(FromGrpc(content_->Abort(Ctx(kNs).get(), abort, &empty)));
  EXPECT_TRUE(absl::IsNotFound(IngestStatus(*content_, "sec-abandoned-1").status()));

  // An abandoned ingest nobody aborts expires: collections (asked for by deleting a lease
  // with sync) remove it once it has been idle for ingest_expiry.
  Abandon(*content_, "sec-abandoned-2", "forgotten");
  ASSERT_OK(IngestStatus(*content_, "sec-abandoned-2").status());
  auto leases = leasespb::Leases::NewStub(channel_);
  int n = 0;
  const bool expired = testing::WaitFor(
      [&] {
        leasespb::CreateRequest create;
        create.set_id("sec-gc-" + std::to_string(n++));
        leasespb::CreateResponse created;
        if (!leases->Create(Ctx(kNs).get(), create, &created).ok()) return false;
        leasespb::DeleteRequest del;
        del.set_id(create.id());
        del.set_sync(true);
        google::protobuf::Empty e;
        (void)leases->Delete(Ctx(kNs).get(), del, &e);
        return absl::IsNotFound(IngestStatus(*content_, "sec-abandoned-2").status());
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(expired) << "the abandoned ingest was never collected";
  ExpectStillServes();
}

TEST_F(AbuseTest, ManyConcurrentSubscribers) {
  const int count = std::atoi(Env("BERTH_SECURITY_SUBSCRIBERS", "2000").c_str());
  const int gateway = GatewayPid();
  ASSERT_GT(gateway, 0);
  const long rss_before = RssKiB(gateway);
  ASSERT_GT(rss_before, 0);

  // Several connections (HTTP/2 caps concurrent streams per connection).
  constexpr int kChannels = 20;
  std::vector<std::unique_ptr<eventspb::Events::Stub>> stubs;
  for (int i = 0; i < kChannels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", i);  // distinct channels, not one shared subchannel
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(eventspb::Events::NewStub(grpc::CreateCustomChannel(
        "unix://" + suite_->socket(), grpc::InsecureChannelCredentials(), args)));
  }
  struct Sub {
    grpc::ClientContext ctx;
    eventspb::Envelope envelope;
    std::unique_ptr<grpc::ClientAsyncReader<eventspb::Envelope>> reader;
    grpc::Status status;
  };
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Sub>> subs;
  eventspb::SubscribeRequest req;
  req.add_filters("topic==\"/sec/storm\"");
  // Tags: 3*i = started, 3*i+1 = read, 3*i+2 = finished.
  for (int i = 0; i < count; ++i) {
    auto sub = std::make_unique<Sub>();
    sub->reader = stubs[i % kChannels]->PrepareAsyncSubscribe(&sub->ctx, req, &cq);
    sub->reader->StartCall(reinterpret_cast<void*>(static_cast<intptr_t>(3 * i)));
    subs.push_back(std::move(sub));
  }
  int started = 0, failed = 0, got = 0, finished = 0;
  void* tag;
  bool ok;
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(300);
  while (started + failed < count &&
         cq.AsyncNext(&tag, &ok, deadline) == grpc::CompletionQueue::GOT_EVENT) {
    const intptr_t t = reinterpret_cast<intptr_t>(tag);
    Sub& s = *subs[t / 3];
    if (t % 3 != 0) continue;
    if (ok) {
      ++started;
      s.reader->Read(&s.envelope, reinterpret_cast<void*>(t + 1));
    } else {
      ++failed;
      s.reader->Finish(&s.status, reinterpret_cast<void*>(t + 2));
    }
  }
  ASSERT_EQ(started + failed, count);
  // The server registers a subscription asynchronously after the call starts: publish until
  // every started stream has its event (a stream may see several; that is fine).
  auto events = eventspb::Events::NewStub(channel_);
  std::vector<bool> seen(count, false);
  int refused = 0;
  while (got + refused < started) {
    eventspb::PublishRequest pub;
    pub.set_topic("/sec/storm");
    pub.mutable_event()->PackFrom(google::protobuf::Empty());
    google::protobuf::Empty e;
    ASSERT_OK(FromGrpc(events->Publish(Ctx(kNs).get(), pub, &e)));
    auto round = std::chrono::system_clock::now() + std::chrono::seconds(2);
    while (cq.AsyncNext(&tag, &ok, round) == grpc::CompletionQueue::GOT_EVENT) {
      const intptr_t t = reinterpret_cast<intptr_t>(tag);
      const int i = static_cast<int>(t / 3);
      Sub& s = *subs[i];
      if (t % 3 == 1) {
        if (ok) {
          if (!seen[i]) ++got;
          seen[i] = true;
          s.reader->Read(&s.envelope, reinterpret_cast<void*>(t));
        } else {
          s.reader->Finish(&s.status, reinterpret_cast<void*>(t + 1));
        }
      } else if (t % 3 == 2) {
        ++finished;
        if (!seen[i]) {
          EXPECT_EQ(s.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
              << s.status.error_message();
          ++refused;
        }
      }
    }
    ASSERT_LT(std::chrono::system_clock::now(), deadline)
        << got << " of " << started << " subscribers got the event";
  }
  const long rss_during = RssKiB(gateway);
  EXPECT_GT(got, 0);
  // Bounded: well under 100 KiB of gateway memory per subscriber.
  EXPECT_LT(rss_during - rss_before, 100L * count + 64 * 1024)
      << "gateway RSS " << rss_before << " KiB -> " << rss_during << " KiB for " << count
      << " subscribers";
  ExpectStillServes();

  for (auto& s : subs) s->ctx.TryCancel();
  while (finished + failed < count &&
         cq.AsyncNext(&tag, &ok, deadline) == grpc::CompletionQueue::GOT_EVENT) {
    const intptr_t t = reinterpret_cast<intptr_t>(tag);
    Sub& s = *subs[t / 3];
    if (t % 3 == 1) {
      if (ok) {
        s.reader->Read(&s.envelope, reinterpret_cast<void*>(t));
      } else {
        s.reader->Finish(&s.status, reinterpret_cast<void*>(t + 1));
      }
    } else if (t % 3 == 2) {
      ++finished;
    }
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  ExpectStillServes();
  std::cout << "subscribers: " << count << " started " << started << " refused " << refused
            << " got " << got << "; gateway RSS " << rss_before << " -> " << rss_during << " KiB\n";
}

TEST_F(AbuseTest, MessagesAtAndOverTheLimit) {
  // A Write request of exactly 16 MiB on the wire is accepted and commits.
  auto write_one = [&](int message_size, const std::string& ref) -> absl::Status {
    contentpb::WriteContentRequest req;
    req.set_action(contentpb::WRITE);
    req.set_ref(ref);
    req.set_data("");
    const int overhead = static_cast<int>(req.ByteSizeLong()) + 8;  // data's tag + length
    std::string data(static_cast<size_t>(message_size - overhead), 'm');
    req.set_data(data);
    while (static_cast<int>(req.ByteSizeLong()) > message_size) data.pop_back(), req.set_data(data);
    while (static_cast<int>(req.ByteSizeLong()) < message_size)
      data.push_back('m'), req.set_data(data);
    if (static_cast<int>(req.ByteSizeLong()) != message_size) {
      return absl::InternalError("cannot size the message");
    }
    auto ctx = Ctx(kNs);
    auto stream = content_->Write(ctx.get());
    if (stream->Write(req)) {
      contentpb::WriteContentResponse resp;
      if (stream->Read(&resp)) {
        contentpb::WriteContentRequest commit;
        commit.set_action(contentpb::COMMIT);
        commit.set_total(static_cast<int64_t>(data.size()));
        commit.set_expected(digest::FromBytes(data).ToString());
        commit.set_offset(static_cast<int64_t>(data.size()));
        stream->Write(commit);
        while (stream->Read(&resp)) {
        }
      }
    }
    stream->WritesDone();
    return FromGrpc(stream->Finish());
  };
  absl::Status at = write_one(kMaxMessage, "sec-at-limit");
  EXPECT_TRUE(at.ok() || absl::IsAlreadyExists(at)) << at;
  absl::Status over = write_one(kMaxMessage + 1, "sec-over-limit");
  EXPECT_TRUE(absl::IsResourceExhausted(over)) << over;
  EXPECT_FALSE(over.message().empty());

  // A unary call over the limit: an image record with a huge label.
  auto images = imagespb::Images::NewStub(channel_);
  imagespb::CreateImageRequest create;
  create.mutable_image()->set_name("docker.io/sec/huge:1");
  create.mutable_image()->mutable_target()->set_media_type(
      "application/vnd.oci.image.manifest.v1+json");
  create.mutable_image()->mutable_target()->set_digest(digest::FromBytes("x").ToString());
  create.mutable_image()->mutable_target()->set_size(1);
  (*create.mutable_image()->mutable_labels())["pad"] = std::string(kMaxMessage, 'l');
  imagespb::CreateImageResponse created;
  absl::Status s = FromGrpc(images->Create(Ctx(kNs).get(), create, &created));
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  ExpectStillServes();
}

TEST_F(AbuseTest, InvalidNamespacesAreRefusedEverywhere) {
  auto images = imagespb::Images::NewStub(channel_);
  auto containers = containerspb::Containers::NewStub(channel_);
  auto tasks = taskspb::Tasks::NewStub(channel_);
  auto leases = leasespb::Leases::NewStub(channel_);
  auto snapshots = snapb::Snapshots::NewStub(channel_);
  const std::vector<std::string> bad = {
      "bad/ns", "..", "a b", "-lead", "trail-", "UPPER..x", "ns;rm", "ns.", std::string(77, 'n'),
      "a__b"};
  for (const std::string& ns : bad) {
    SCOPED_TRACE("namespace " + ns);
    std::vector<std::pair<std::string, absl::Status>> calls;
    {
      imagespb::ListImagesRequest r;
      imagespb::ListImagesResponse out;
      calls.emplace_back("Images.List", FromGrpc(images->List(Ctx(ns).get(), r, &out)));
    }
    {
      containerspb::ListContainersRequest r;
      containerspb::ListContainersResponse out;
      calls.emplace_back("Containers.List", FromGrpc(containers->List(Ctx(ns).get(), r, &out)));
    }
    {
      taskspb::ListTasksRequest r;
      taskspb::ListTasksResponse out;
      calls.emplace_back("Tasks.List", FromGrpc(tasks->List(Ctx(ns).get(), r, &out)));
    }
    {
      leasespb::ListRequest r;
      leasespb::ListResponse out;
      calls.emplace_back("Leases.List", FromGrpc(leases->List(Ctx(ns).get(), r, &out)));
    }
    {
      contentpb::InfoRequest r;
      r.set_digest(digest::FromBytes("x").ToString());
      contentpb::InfoResponse out;
      calls.emplace_back("Content.Info", FromGrpc(content_->Info(Ctx(ns).get(), r, &out)));
    }
    {
      auto ctx = Ctx(ns);
      contentpb::ListContentRequest r;
      auto reader = content_->List(ctx.get(), r);
      contentpb::ListContentResponse out;
      while (reader->Read(&out)) {
      }
      calls.emplace_back("Content.List", FromGrpc(reader->Finish()));
    }
    {
      auto ctx = Ctx(ns);
      snapb::ListSnapshotsRequest r;
      r.set_snapshotter("native");
      auto reader = snapshots->List(ctx.get(), r);
      snapb::ListSnapshotsResponse out;
      while (reader->Read(&out)) {
      }
      calls.emplace_back("Snapshots.List", FromGrpc(reader->Finish()));
    }
    {
      contentpb::WriteContentRequest w;
      w.set_action(contentpb::COMMIT);
      w.set_ref("r");
      w.set_data("x");
      auto ctx = Ctx(ns);
      auto stream = content_->Write(ctx.get());
      stream->Write(w);
      stream->WritesDone();
      contentpb::WriteContentResponse out;
      while (stream->Read(&out)) {
      }
      calls.emplace_back("Content.Write", FromGrpc(stream->Finish()));
    }
    for (const auto& [name, s] : calls) {
      EXPECT_TRUE(absl::IsInvalidArgument(s)) << name << ": " << s;
      // The message names the value (printable ones verbatim).
      if (ns.size() < 70) {
        EXPECT_NE(s.message().find(ns), std::string::npos) << name << ": " << s;
      }
    }
  }
  // No namespace at all: refused too (containerd: FailedPrecondition "namespace is required").
  imagespb::ListImagesRequest r;
  imagespb::ListImagesResponse out;
  absl::Status none = FromGrpc(images->List(Ctx("").get(), r, &out));
  EXPECT_TRUE(absl::IsFailedPrecondition(none) || absl::IsInvalidArgument(none)) << none;
  ExpectStillServes();
}

TEST_F(AbuseTest, InvalidIdentifiersAreRefusedEverywhere) {
  auto containers = containerspb::Containers::NewStub(channel_);
  auto leases = leasespb::Leases::NewStub(channel_);
  auto namespaces = nspb::Namespaces::NewStub(channel_);
  auto tasks = taskspb::Tasks::NewStub(channel_);
  auto images = imagespb::Images::NewStub(channel_);
  for (const std::string& id : {std::string("../etc"), std::string("a/b"), std::string("a b"),
                                std::string(77, 'i'), std::string(".hidden")}) {
    SCOPED_TRACE("id " + id);
    std::vector<std::pair<std::string, absl::Status>> calls;
    {
      containerspb::CreateContainerRequest r;
      r.mutable_container()->set_id(id);
      r.mutable_container()->mutable_runtime()->set_name("io.containerd.runc.v2");
      containerspb::CreateContainerResponse out;
      calls.emplace_back("Containers.Create",
                         FromGrpc(containers->Create(Ctx(kNs).get(), r, &out)));
    }
    // Lease ids are deliberately looser than identifiers (containerd's client makes ids such
    // as "<nanos>-ab_-"; gateway/rocks_stores.cc): [A-Za-z0-9._-]{1,76}, so ".hidden" is one.
    if (id != ".hidden") {
      leasespb::CreateRequest r;
      r.set_id(id);
      leasespb::CreateResponse out;
      calls.emplace_back("Leases.Create", FromGrpc(leases->Create(Ctx(kNs).get(), r, &out)));
    }
    {
      nspb::CreateNamespaceRequest r;
      r.mutable_namespace_()->set_name(id);
      nspb::CreateNamespaceResponse out;
      calls.emplace_back("Namespaces.Create", FromGrpc(namespaces->Create(Ctx("").get(), r, &out)));
    }
    {
      taskspb::CreateTaskRequest r;
      r.set_container_id(id);
      taskspb::CreateTaskResponse out;
      calls.emplace_back("Tasks.Create", FromGrpc(tasks->Create(Ctx(kNs).get(), r, &out)));
    }
    for (const auto& [name, s] : calls) {
      EXPECT_TRUE(absl::IsInvalidArgument(s)) << name << ": " << s;
      if (id.size() < 70) {
        EXPECT_NE(s.message().find(id), std::string::npos) << name << ": " << s;
      }
    }
  }
  // Digests and image names.
  contentpb::InfoRequest info;
  info.set_digest("sha256:zz");
  contentpb::InfoResponse info_out;
  absl::Status s = FromGrpc(content_->Info(Ctx(kNs).get(), info, &info_out));
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("sha256:zz"), std::string::npos) << s;
  imagespb::CreateImageRequest create;
  create.mutable_image()->set_name("");
  imagespb::CreateImageResponse created;
  s = FromGrpc(images->Create(Ctx(kNs).get(), create, &created));
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  contentpb::WriteContentRequest w;
  w.set_action(contentpb::WRITE);
  w.set_ref("");
  w.set_data("x");
  auto ctx = Ctx(kNs);
  auto stream = content_->Write(ctx.get());
  stream->Write(w);
  stream->WritesDone();
  contentpb::WriteContentResponse out;
  while (stream->Read(&out)) {
  }
  s = FromGrpc(stream->Finish());
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  ExpectStillServes();
}

TEST_F(AbuseTest, PathologicalRegexFiltersReturn) {
  // Subjects that make backtracking engines explode: long runs of 'a' with a mismatch at the
  // end, as an image name, a label value and a blob label.
  const std::string run = std::string(3000, 'a') + "!";
  auto images = imagespb::Images::NewStub(channel_);
  imagespb::CreateImageRequest create;
  create.mutable_image()->set_name("docker.io/sec/" + std::string(200, 'a') + ":x");
  create.mutable_image()->mutable_target()->set_media_type(
      "application/vnd.oci.image.manifest.v1+json");
  create.mutable_image()->mutable_target()->set_digest(digest::FromBytes("y").ToString());
  create.mutable_image()->mutable_target()->set_size(1);
  (*create.mutable_image()->mutable_labels())["evil"] = run;
  imagespb::CreateImageResponse created;
  ASSERT_OK(FromGrpc(images->Create(Ctx(kNs).get(), create, &created)));
  ASSERT_OK(WriteBlob(*content_, kNs, "labelled", {{"evil", run}}).status());

  const std::vector<std::string> patterns = {"(a+)+$",
                                             "(a|aa)+$",
                                             "(a*)*b",
                                             "((a+)+)+c",
                                             "(a|a?)+$",
                                             "(.*a){25}",
                                             "(a+)+(b+)+$",
                                             "^(([a-z])+.)+[A-Z]([a-z])+$",
                                             "(x+x+)+y",
                                             "(\\w+\\s?)+$",
                                             "(a{1,100}){1,100}$",
                                             "(?:a+){30}z"};
  for (const std::string& p : patterns) {
    SCOPED_TRACE(p);
    const std::string quoted = "\"" + p + "\"";
    // A generous deadline: the call must come back, and it does in well under a second with
    // a linear-time engine; a backtracking one would run for years.
    {
      imagespb::ListImagesRequest r;
      r.add_filters("name~=" + quoted);
      r.add_filters("labels.evil~=" + quoted);
      imagespb::ListImagesResponse out;
      absl::Status s = FromGrpc(images->List(Ctx(kNs, std::chrono::seconds(60)).get(), r, &out));
      EXPECT_TRUE(s.ok() || absl::IsInvalidArgument(s)) << s;
    }
    {
      auto ctx = Ctx(kNs, std::chrono::seconds(60));
      contentpb::ListContentRequest r;
      r.add_filters("labels.evil~=" + quoted);
      auto reader = content_->List(ctx.get(), r);
      contentpb::ListContentResponse out;
      while (reader->Read(&out)) {
      }
      absl::Status s = FromGrpc(reader->Finish());
      EXPECT_TRUE(s.ok() || absl::IsInvalidArgument(s)) << s;
    }
  }
  // Events: a subscriber with a hostile topic filter that never matches (backtracking over a
  // long run of 'a'), and one with a plain filter: the plain one still gets the event and the
  // gateway keeps serving.
  // (Topic components are identifiers, at most 76 bytes: runs of 70 are plenty for 2^n.)
  std::string topic;
  for (int i = 0; i < 6; ++i) topic += "/" + std::string(70, 'a');
  topic += "/c";
  auto events = eventspb::Events::NewStub(channel_);
  grpc::ClientContext evil_ctx;
  eventspb::SubscribeRequest evil;
  evil.add_filters("topic~=\"(a+)+b$\"");
  evil.add_filters("topic~=\"(a|aa)+b\"");
  auto evil_reader = events->Subscribe(&evil_ctx, evil);
  grpc::ClientContext good_ctx;
  eventspb::SubscribeRequest good;
  good.add_filters("topic==\"" + topic + "\"");
  auto good_reader = events->Subscribe(&good_ctx, good);
  eventspb::Envelope envelope;
  std::atomic<bool> got{false};
  std::thread reader([&] { got = good_reader->Read(&envelope); });
  absl::Status published;
  const bool delivered = testing::WaitFor(
      [&] {
        eventspb::PublishRequest pub;
        pub.set_topic(topic);
        pub.mutable_event()->PackFrom(google::protobuf::Empty());
        google::protobuf::Empty e;
        published = FromGrpc(events->Publish(Ctx(kNs).get(), pub, &e));
        return got.load() || !published.ok();
      },
      std::chrono::seconds(120));
  good_ctx.TryCancel();
  reader.join();
  evil_ctx.TryCancel();
  (void)evil_reader->Finish();
  (void)good_reader->Finish();
  EXPECT_OK(published);
  EXPECT_TRUE(delivered);
  ExpectStillServes();
}

}  // namespace
}  // namespace berth::security_testing
