// Metrics: one process's Prometheus registry and the HTTP endpoint that serves it.
//
// Each berth process serves Prometheus text format on its own address (config
// `[metrics] address`), at `/metrics` and, like containerd, at `/v1/metrics`:
//
//   metrics::Options options;
//   options.address = config.metrics_address;            // "127.0.0.1:0" picks a free port
//   ASSIGN_OR_RETURN(auto metrics, metrics::Metrics::Create(options));
//   auto& pulls = prometheus::BuildCounter().Name("berth_image_pulls_total")
//                     .Help("Images pulled").Register(metrics->registry());
//   builder.experimental().SetInterceptorCreators(...metrics->NewServerInterceptorFactory()...);
//   metrics->AddCallbackMetric({"berth_events_dropped_total", "Events lost",
//                               CallbackMetric::Type::kCounter, {},
//                               [&] { return double(publisher->dropped()); }});
//
// The gRPC interceptor records go-grpc-prometheus's server metrics (grpc_server.h).
// Callback metrics read a value at scrape time, for counters that live elsewhere (the event
// publisher's published / dropped / buffered counts).
//
// Thread-safety: all methods are safe from any thread. The Metrics object must outlive the
// gRPC servers using its interceptor factory and everything registered in its registry.
#ifndef BERTH_LIB_METRICS_METRICS_H_
#define BERTH_LIB_METRICS_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "prometheus/registry.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace grpc::experimental {
class ServerInterceptorFactoryInterface;
}  // namespace grpc::experimental

namespace berth::metrics {

class GrpcServerMetrics;
class CallbackCollector;

struct Options {
  // "host:port" to serve on (IPv4 literal or "[v6]"); port 0 picks a free one (see port()).
  // Empty: no HTTP endpoint, only the registry (for tests and embedding).
  std::string address = "127.0.0.1:0";
  // HTTP worker threads.
  int threads = 2;
};

// A value read at scrape time.
struct CallbackMetric {
  enum class Type { kCounter, kGauge };
  // Prometheus metric name, e.g. "berth_events_dropped_total".
  std::string name;
  std::string help;
  Type type = Type::kGauge;
  // Constant labels of this series.
  std::map<std::string, std::string> labels;
  // Called on the HTTP thread at every scrape; must be thread-safe and quick.
  std::function<double()> value;
};

class Metrics {
 public:
  // Creates the registry, the gRPC server metrics and, unless options.address is empty,
  // starts serving. InvalidArgument for a malformed address or threads < 1; Unavailable when
  // the address cannot be bound (in use, not local), with the reason.
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(const Options& options = {});

  // Stops the HTTP endpoint. Once it has served a request this takes up to 2 s: civetweb's
  // listener polls in 2 s steps and is only told to stop between them.
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Where application metrics are registered.
  prometheus::Registry& registry() { return *registry_; }

  // The bound TCP port, or 0 without an HTTP endpoint.
  int port() const { return port_; }

  // A new factory for ServerBuilder::experimental().SetInterceptorCreators; every server of
  // the process may get one. All of them record into this object's gRPC metrics.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewServerInterceptorFactory();

  // Registers a metric whose value is read at scrape time. InvalidArgument for an invalid
  // metric or label name or no value function; AlreadyExists for a name already used by a
  // callback metric of the other type, or the same name and labels twice.
  absl::Status AddCallbackMetric(CallbackMetric metric);

  // The text a scrape of /metrics returns now (without going through HTTP).
  std::string Render() const;

 private:
  Metrics();

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<CallbackCollector> callbacks_;
  std::shared_ptr<GrpcServerMetrics> grpc_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace berth::metrics

#endif  // BERTH_LIB_METRICS_METRICS_H_
