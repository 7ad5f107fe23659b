#include "lib/metrics/metrics.h"

#include <cstdlib>
#include <exception>
#include <mutex>
#include <vector>

#include "lib/metrics/grpc_server.h"
#include "lib/status/status.h"
#include "prometheus/check_names.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace berth::metrics {

// Serves the CallbackMetrics: reads every value at scrape time.
class CallbackCollector : public prometheus::Collectable {
 public:
  absl::Status Add(CallbackMetric metric) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const CallbackMetric& existing : metrics_) {
      if (existing.name != metric.name) continue;
      if (existing.type != metric.type) {
        return AlreadyExistsError("callback metric " + Quote(metric.name) +
                                  ": already registered with another type");
      }
      if (existing.labels == metric.labels) {
        return AlreadyExistsError("callback metric " + Quote(metric.name) +
                                  ": already registered with these labels");
      }
    }
    metrics_.push_back(std::move(metric));
    return absl::OkStatus();
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<prometheus::MetricFamily> families;
    for (const CallbackMetric& metric : metrics_) {
      prometheus::MetricFamily* family = nullptr;
      for (auto& f : families) {
        if (f.name == metric.name) family = &f;
      }
      if (family == nullptr) {
        families.emplace_back();
        family = &families.back();
        family->name = metric.name;
        family->help = metric.help;
        family->type = metric.type == CallbackMetric::Type::kCounter
                           ? prometheus::MetricType::Counter
                           : prometheus::MetricType::Gauge;
      }
      prometheus::ClientMetric sample;
      for (const auto& [name, value] : metric.labels) sample.label.push_back({name, value});
      const double value = metric.value();
      if (metric.type == CallbackMetric::Type::kCounter) {
        sample.counter.value = value;
      } else {
        sample.gauge.value = value;
      }
      family->metric.push_back(std::move(sample));
    }
    return families;
  }

 private:
  mutable std::mutex mu_;
  std::vector<CallbackMetric> metrics_;
};

namespace {

// "host:port" with a numeric port; the host part is left to civetweb.
absl::Status CheckAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return InvalidArgumentError("metrics address " + Quote(address) + ": want host:port");
  }
  const std::string port = address.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::atoi(port.c_str()) > 65535) {
    return InvalidArgumentError("metrics address " + Quote(address) + ": bad port " + Quote(port));
  }
  return absl::OkStatus();
}

}  // namespace

Metrics::Metrics() = default;

Metrics::~Metrics() {
  // Stop serving before the registry and collectors go.
  exposer_.reset();
}

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(const Options& options) {
  std::unique_ptr<Metrics> m(new Metrics());
  m->registry_ = std::make_shared<prometheus::Registry>();
  m->callbacks_ = std::make_shared<CallbackCollector>();
  m->grpc_ = std::make_shared<GrpcServerMetrics>(*m->registry_);
  if (options.address.empty()) return m;

  RETURN_IF_ERROR(CheckAddress(options.address));
  if (options.threads < 1) {
    return InvalidArgumentError("serve metrics on " + Quote(options.address) +
                                ": threads must be >= 1");
  }
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(options.address,
                                                        static_cast<size_t>(options.threads));
  } catch (const std::exception& e) {
    return UnavailableError("serve metrics on " + Quote(options.address) + ": " + e.what());
  }
  for (const char* uri : {"/metrics", "/v1/metrics"}) {
    m->exposer_->RegisterCollectable(m->registry_, uri);
    m->exposer_->RegisterCollectable(m->callbacks_, uri);
  }
  const std::vector<int> ports = m->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return InternalError("serve metrics on " + Quote(options.address) + ": no listening port");
  }
  m->port_ = ports.front();
  return m;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::NewServerInterceptorFactory() {
  return std::make_unique<ServerMetricsInterceptorFactory>(grpc_);
}

absl::Status Metrics::AddCallbackMetric(CallbackMetric metric) {
  if (!prometheus::CheckMetricName(metric.name)) {
    return InvalidArgumentError("callback metric " + Quote(metric.name) + ": invalid name");
  }
  for (const auto& [name, value] : metric.labels) {
    if (!prometheus::CheckLabelName(name)) {
      return InvalidArgumentError("callback metric " + Quote(metric.name) + ": invalid label " +
                                  Quote(name));
    }
  }
  if (!metric.value) {
    return InvalidArgumentError("callback metric " + Quote(metric.name) + ": no value function");
  }
  return callbacks_->Add(std::move(metric));
}

std::string Metrics::Render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<prometheus::MetricFamily> callbacks = callbacks_->Collect();
  families.insert(families.end(), callbacks.begin(), callbacks.end());
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace berth::metrics
