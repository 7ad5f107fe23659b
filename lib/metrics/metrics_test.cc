#include "lib/metrics/metrics.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "lib/metrics/grpc_server.h"
#include "lib/testing/http_get.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "prometheus/counter.h"
#include "proto/containerd/services/events/v1/events.grpc.pb.h"
#include "proto/containerd/services/version/v1/version.grpc.pb.h"

namespace berth::metrics {
namespace {

using Labels = std::map<std::string, std::string>;
namespace events_v1 = containerd::services::events::v1;
namespace version_v1 = containerd::services::version::v1;

// The value of the sample `name` whose labels are exactly `labels`, from Prometheus text.
std::optional<double> Sample(const std::string& text, const std::string& name,
                             const Labels& labels) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    const std::string sample_name = line.substr(0, std::min(brace, space));
    if (sample_name != name) continue;
    Labels got;
    if (brace != std::string::npos && brace < space) {
      const size_t close = line.rfind('}', space);
      std::string body = line.substr(brace + 1, close - brace - 1);
      size_t pos = 0;
      while (pos < body.size()) {
        const size_t eq = body.find('=', pos);
        const size_t open = body.find('"', eq);
        const size_t end = body.find('"', open + 1);
        got[body.substr(pos, eq - pos)] = body.substr(open + 1, end - open - 1);
        pos = body.find(',', end);
        pos = pos == std::string::npos ? body.size() : pos + 1;
      }
    }
    if (got == labels) return std::stod(line.substr(space + 1));
  }
  return std::nullopt;
}

// Version: OK, or the code named by metadata "x-test-code".
class VersionService final : public version_v1::Version::Service {
 public:
  grpc::Status Version(grpc::ServerContext* context, const google::protobuf::Empty*,
                       version_v1::VersionResponse* response) override {
    auto it = context->client_metadata().find("x-test-code");
    if (it != context->client_metadata().end()) {
      const int code = std::stoi(std::string(it->second.data(), it->second.size()));
      return grpc::Status(static_cast<grpc::StatusCode>(code), "requested failure");
    }
    response->set_version("test");
    return grpc::Status::OK;
  }
};

// Events: Subscribe streams two envelopes; Publish and Forward stay unimplemented.
class EventsService final : public events_v1::Events::Service {
 public:
  grpc::Status Subscribe(grpc::ServerContext*, const events_v1::SubscribeRequest*,
                         grpc::ServerWriter<events_v1::Envelope>* writer) override {
    events_v1::Envelope envelope;
    envelope.set_topic("/tasks/exit");
    writer->Write(envelope);
    writer->Write(envelope);
    return grpc::Status::OK;
  }
};

class GrpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(metrics_, Metrics::Create());
    ASSERT_GT(metrics_->port(), 0);
    const std::string address = "unix:" + dir_.Path("grpc.sock");
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(&version_);
    builder.RegisterService(&events_);
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
    factories.push_back(metrics_->NewServerInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(factories));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  grpc::Status CallVersion(std::optional<grpc::StatusCode> fail = std::nullopt) {
    auto stub = version_v1::Version::NewStub(channel_);
    grpc::ClientContext context;
    if (fail.has_value()) context.AddMetadata("x-test-code", std::to_string(*fail));
    google::protobuf::Empty request;
    version_v1::VersionResponse response;
    return stub->Version(&context, request, &response);
  }

  std::string Scrape(const std::string& path) {
    absl::StatusOr<testing::HttpResponse> response =
        testing::HttpGet("127.0.0.1", metrics_->port(), path);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return "";
    EXPECT_EQ(response->status, 200);
    return response->body;
  }

  testing::TempDir dir_;
  std::unique_ptr<Metrics> metrics_;
  VersionService version_;
  EventsService events_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

const Labels kVersion = {{"grpc_type", "unary"},
                         {"grpc_service", "containerd.services.version.v1.Version"},
                         {"grpc_method", "Version"}};

Labels With(Labels labels, const std::string& key, const std::string& value) {
  labels[key] = value;
  return labels;
}

TEST_F(GrpcMetricsTest, CountsCallsByMethodAndCode) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(CallVersion().ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(CallVersion(grpc::StatusCode::NOT_FOUND).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(CallVersion(grpc::StatusCode::UNAVAILABLE).error_code(), grpc::StatusCode::UNAVAILABLE);

  auto events = events_v1::Events::NewStub(channel_);
  {
    grpc::ClientContext context;
    events_v1::PublishRequest request;
    google::protobuf::Empty response;
    EXPECT_EQ(events->Publish(&context, request, &response).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  {
    grpc::ClientContext context;
    events_v1::SubscribeRequest request;
    auto reader = events->Subscribe(&context, request);
    events_v1::Envelope envelope;
    int read = 0;
    while (reader->Read(&envelope)) ++read;
    EXPECT_EQ(read, 2);
    EXPECT_TRUE(reader->Finish().ok());
  }

  for (const char* path : {"/metrics", "/v1/metrics"}) {
    SCOPED_TRACE(path);
    const std::string text = Scrape(path);
    EXPECT_EQ(Sample(text, "grpc_server_started_total", kVersion), 6);
    EXPECT_EQ(Sample(text, "grpc_server_handled_total", With(kVersion, "grpc_code", "OK")), 3);
    EXPECT_EQ(Sample(text, "grpc_server_handled_total", With(kVersion, "grpc_code", "NotFound")),
              2);
    EXPECT_EQ(Sample(text, "grpc_server_handled_total", With(kVersion, "grpc_code", "Unavailable")),
              1);
    EXPECT_EQ(Sample(text, "grpc_server_handling_seconds_count", kVersion), 6);
    EXPECT_EQ(Sample(text, "grpc_server_handling_seconds_bucket", With(kVersion, "le", "+Inf")), 6);
    EXPECT_EQ(Sample(text, "grpc_server_msg_received_total", kVersion), 6);
    EXPECT_EQ(Sample(text, "grpc_server_msg_sent_total", kVersion), 3);  // Failures send none.

    const Labels publish = {{"grpc_type", "unary"},
                            {"grpc_service", "containerd.services.events.v1.Events"},
                            {"grpc_method", "Publish"}};
    EXPECT_EQ(
        Sample(text, "grpc_server_handled_total", With(publish, "grpc_code", "Unimplemented")), 1);
    const Labels subscribe = {{"grpc_type", "server_stream"},
                              {"grpc_service", "containerd.services.events.v1.Events"},
                              {"grpc_method", "Subscribe"}};
    EXPECT_EQ(Sample(text, "grpc_server_started_total", subscribe), 1);
    EXPECT_EQ(Sample(text, "grpc_server_handled_total", With(subscribe, "grpc_code", "OK")), 1);
    EXPECT_EQ(Sample(text, "grpc_server_msg_sent_total", subscribe), 2);
    EXPECT_EQ(Sample(text, "grpc_server_msg_received_total", subscribe), 1);
    // No code that did not happen.
    EXPECT_EQ(Sample(text, "grpc_server_handled_total", With(subscribe, "grpc_code", "Unknown")),
              std::nullopt);
  }
  EXPECT_EQ(Sample(metrics_->Render(), "grpc_server_started_total", kVersion), 6);
}

TEST(Metrics, CallbackMetricsAreReadAtScrapeTime) {
  ASSERT_OK_AND_ASSIGN(auto metrics, Metrics::Create());
  std::atomic<uint64_t> dropped{0};
  CallbackMetric counter;
  counter.name = "berth_events_dropped_total";
  counter.help = "Events lost.";
  counter.type = CallbackMetric::Type::kCounter;
  counter.value = [&] { return static_cast<double>(dropped.load()); };
  ASSERT_OK(metrics->AddCallbackMetric(counter));
  CallbackMetric gauge;
  gauge.name = "berth_events_buffered";
  gauge.help = "Events waiting.";
  gauge.labels = {{"service", "content"}};
  gauge.value = [] { return 4.0; };
  ASSERT_OK(metrics->AddCallbackMetric(gauge));

  dropped = 7;
  absl::StatusOr<testing::HttpResponse> scrape =
      testing::HttpGet("127.0.0.1", metrics->port(), "/metrics");
  ASSERT_OK(scrape);
  EXPECT_EQ(Sample(scrape->body, "berth_events_dropped_total", {}), 7);
  EXPECT_EQ(Sample(scrape->body, "berth_events_buffered", {{"service", "content"}}), 4);
  EXPECT_NE(scrape->body.find("# TYPE berth_events_dropped_total counter"), std::string::npos)
      << scrape->body;
  dropped = 9;
  EXPECT_EQ(Sample(metrics->Render(), "berth_events_dropped_total", {}), 9);

  // Bad input.
  CallbackMetric bad = counter;
  bad.name = "bad name";
  EXPECT_TRUE(IsInvalidArgument(metrics->AddCallbackMetric(bad)));
  bad = counter;
  bad.labels = {{"bad-label", "x"}};
  EXPECT_TRUE(IsInvalidArgument(metrics->AddCallbackMetric(bad)));
  bad = counter;
  bad.value = nullptr;
  EXPECT_TRUE(IsInvalidArgument(metrics->AddCallbackMetric(bad)));
  EXPECT_TRUE(IsAlreadyExists(metrics->AddCallbackMetric(counter)));
  bad = counter;
  bad.type = CallbackMetric::Type::kGauge;
  bad.labels = {{"other", "series"}};
  EXPECT_TRUE(IsAlreadyExists(metrics->AddCallbackMetric(bad)));
  bad.type = CallbackMetric::Type::kCounter;
  EXPECT_OK(metrics->AddCallbackMetric(bad));  // Same name, other labels: a second series.
}

TEST(Metrics, StartsAndStops) {
  ASSERT_OK_AND_ASSIGN(auto metrics, Metrics::Create());
  EXPECT_GT(metrics->port(), 0);
}

TEST(Metrics, AddressesAndPorts) {
  ASSERT_OK_AND_ASSIGN(auto first, Metrics::Create());
  ASSERT_GT(first->port(), 0);
  absl::StatusOr<testing::HttpResponse> missing =
      testing::HttpGet("127.0.0.1", first->port(), "/nothing-here");
  ASSERT_OK(missing);
  EXPECT_EQ(missing->status, 404);

  Options taken;
  taken.address = "127.0.0.1:" + std::to_string(first->port());
  absl::StatusOr<std::unique_ptr<Metrics>> second = Metrics::Create(taken);
  EXPECT_TRUE(IsUnavailable(second.status())) << second.status();

  for (const char* bad : {"nonsense", "127.0.0.1:", ":80", "127.0.0.1:99999", "127.0.0.1:http"}) {
    Options options;
    options.address = bad;
    EXPECT_TRUE(IsInvalidArgument(Metrics::Create(options).status())) << bad;
  }
  Options no_threads;
  no_threads.threads = 0;
  EXPECT_TRUE(IsInvalidArgument(Metrics::Create(no_threads).status()));

  Options none;
  none.address = "";
  ASSERT_OK_AND_ASSIGN(auto registry_only, Metrics::Create(none));
  EXPECT_EQ(registry_only->port(), 0);
  prometheus::BuildCounter()
      .Name("berth_test_total")
      .Help("A test counter.")
      .Register(registry_only->registry())
      .Add({{"kind", "x"}})
      .Increment(2);
  EXPECT_EQ(Sample(registry_only->Render(), "berth_test_total", {{"kind", "x"}}), 2);
}

TEST(GrpcServerMetrics, Names) {
  EXPECT_EQ(CodeName(0), "OK");
  EXPECT_EQ(CodeName(1), "Canceled");
  EXPECT_EQ(CodeName(5), "NotFound");
  EXPECT_EQ(CodeName(12), "Unimplemented");
  EXPECT_EQ(CodeName(16), "Unauthenticated");
  EXPECT_EQ(CodeName(99), "Code(99)");
  std::string service;
  std::string method;
  SplitMethod("/containerd.services.content.v1.Content/Write", &service, &method);
  EXPECT_EQ(service, "containerd.services.content.v1.Content");
  EXPECT_EQ(method, "Write");
  for (const char* bad : {"", "/", "//", "/NoMethod/", "noslash", "/x"}) {
    SplitMethod(bad, &service, &method);
    EXPECT_EQ(service, "unknown") << bad;
    EXPECT_EQ(method, "unknown") << bad;
  }
}

}  // namespace
}  // namespace berth::metrics
