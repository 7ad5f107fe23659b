#include "lib/metrics/grpc_server.h"

#include <grpcpp/support/status.h>

#include <chrono>

namespace berth::metrics {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

const char* TypeName(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY:
      return "unary";
    case ServerRpcInfo::Type::CLIENT_STREAMING:
      return "client_stream";
    case ServerRpcInfo::Type::SERVER_STREAMING:
      return "server_stream";
    case ServerRpcInfo::Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

// Prometheus's default buckets (Go's prometheus.DefBuckets), as go-grpc-prometheus uses.
const prometheus::Histogram::BucketBoundaries& DefaultBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *kBuckets;
}

// One per call; gRPC deletes it when the call ends.
class ServerMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  ServerMetricsInterceptor(std::shared_ptr<GrpcServerMetrics> metrics, ServerRpcInfo* info)
      : metrics_(std::move(metrics)), start_(std::chrono::steady_clock::now()) {
    std::string service;
    std::string method;
    SplitMethod(info->method() != nullptr ? info->method() : "", &service, &method);
    labels_ = {{"grpc_type", TypeName(info->type())},
               {"grpc_service", std::move(service)},
               {"grpc_method", std::move(method)}};
    metrics_->started.Add(labels_).Increment();
    received_ = &metrics_->msg_received.Add(labels_);
    sent_ = &metrics_->msg_sent.Add(labels_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    // A failed read (the client closed its side) also passes here, without a message.
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      received_->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      sent_->Increment();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
      prometheus::Labels handled = labels_;
      handled["grpc_code"] = CodeName(status.error_code());
      metrics_->handled.Add(handled).Increment();
      metrics_->handling_seconds.Add(labels_, DefaultBuckets()).Observe(elapsed.count());
    }
    methods->Proceed();
  }

 private:
  std::shared_ptr<GrpcServerMetrics> metrics_;
  const std::chrono::steady_clock::time_point start_;
  prometheus::Labels labels_;
  prometheus::Counter* received_ = nullptr;
  prometheus::Counter* sent_ = nullptr;
};

}  // namespace

std::string CodeName(int code) {
  static const char* const kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  if (code >= 0 && code < static_cast<int>(sizeof(kNames) / sizeof(kNames[0]))) {
    return kNames[code];
  }
  return "Code(" + std::to_string(code) + ")";
}

void SplitMethod(std::string_view full, std::string* service, std::string* method) {
  // "/containerd.services.content.v1.Content/Write"
  const size_t slash = full.rfind('/');
  if (full.size() < 4 || full[0] != '/' || slash == 0 || slash + 1 >= full.size()) {
    *service = "unknown";
    *method = "unknown";
    return;
  }
  *service = std::string(full.substr(1, slash - 1));
  *method = std::string(full.substr(slash + 1));
}

GrpcServerMetrics::GrpcServerMetrics(prometheus::Registry& registry)
    : started(prometheus::BuildCounter()
                  .Name("grpc_server_started_total")
                  .Help("Total number of RPCs started on the server.")
                  .Register(registry)),
      handled(prometheus::BuildCounter()
                  .Name("grpc_server_handled_total")
                  .Help("Total number of RPCs completed on the server, regardless of success or "
                        "failure.")
                  .Register(registry)),
      msg_received(prometheus::BuildCounter()
                       .Name("grpc_server_msg_received_total")
                       .Help("Total number of RPC stream messages received on the server.")
                       .Register(registry)),
      msg_sent(prometheus::BuildCounter()
                   .Name("grpc_server_msg_sent_total")
                   .Help("Total number of gRPC stream messages sent by the server.")
                   .Register(registry)),
      handling_seconds(prometheus::BuildHistogram()
                           .Name("grpc_server_handling_seconds")
                           .Help("Histogram of response latency (seconds) of gRPC that had been "
                                 "application-level handled by the server.")
                           .Register(registry)) {}

grpc::experimental::Interceptor* ServerMetricsInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new ServerMetricsInterceptor(metrics_, info);
}

}  // namespace berth::metrics
