// gRPC server metrics in go-grpc-prometheus's names and labels, so dashboards written for
// containerd work for berth:
//
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}           counter
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code} counter
//   grpc_server_msg_received_total{grpc_type,grpc_service,grpc_method}      counter
//   grpc_server_msg_sent_total{grpc_type,grpc_service,grpc_method}          counter
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}        histogram
//
// grpc_type is unary | client_stream | server_stream | bidi_stream; grpc_service is the
// full service name ("containerd.services.content.v1.Content"), grpc_method the method
// ("Write"), grpc_code the final status in Go's spelling ("OK", "NotFound",
// "Unimplemented", ...). Handling time runs from the call's start to the moment its status
// is sent; buckets are Prometheus's defaults (5 ms .. 10 s).
//
// Recorded by a server interceptor (grpc::experimental, gRPC 1.51): the call counts as
// started when gRPC creates its interceptors, and as handled at PRE_SEND_STATUS, with the
// status the handler returned (GetSendStatus()).
//
// Thread-safety: GrpcServerMetrics is safe from any thread (prometheus-cpp families are).
#ifndef BERTH_LIB_METRICS_GRPC_SERVER_H_
#define BERTH_LIB_METRICS_GRPC_SERVER_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <string_view>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace berth::metrics {

// Go's codes.Code.String() for a gRPC status code ("OK", "Canceled", "DeadlineExceeded", ...).
std::string CodeName(int code);

// Splits "/pkg.Service/Method" into service and method; "unknown" parts for anything else.
void SplitMethod(std::string_view full, std::string* service, std::string* method);

class GrpcServerMetrics {
 public:
  explicit GrpcServerMetrics(prometheus::Registry& registry);

  prometheus::Family<prometheus::Counter>& started;
  prometheus::Family<prometheus::Counter>& handled;
  prometheus::Family<prometheus::Counter>& msg_received;
  prometheus::Family<prometheus::Counter>& msg_sent;
  prometheus::Family<prometheus::Histogram>& handling_seconds;
};

// Creates one interceptor per call, recording into `metrics` (kept alive by the factory).
class ServerMetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ServerMetricsInterceptorFactory(std::shared_ptr<GrpcServerMetrics> metrics)
      : metrics_(std::move(metrics)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  std::shared_ptr<GrpcServerMetrics> metrics_;
};

}  // namespace berth::metrics

#endif  // BERTH_LIB_METRICS_GRPC_SERVER_H_
