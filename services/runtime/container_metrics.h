// ContainerCollector: the per-container Prometheus metrics of berth-runtime under containerd's
// names and labels (reference/containerd-api.md §7.2) — container_cpu_*, container_memory_*,
// container_blkio_*, container_hugetlb_*, container_pids_* on cgroup v1 hosts, the v2 names
// (container_cpu_*_microseconds, container_memory_*_bytes, container_io_*) on unified hosts —
// each labelled container_id and namespace, read from the containers' cgroups at scrape time.
// Everything is a gauge except container_memory_oom_total (a counter).
//
// MetricsEndpoint serves it on berth-runtime's metrics address (at /metrics and /v1/metrics)
// together with lib/metrics' registry (the gRPC server metrics) and a few gauges of the
// runtime's own; it is its own HTTP endpoint because the collector must be asked at scrape
// time, which lib/metrics' endpoint has no hook for.
//
// Thread-safety: Collect runs on the HTTP threads; the task source must be thread-safe.
#ifndef BERTH_SERVICES_RUNTIME_CONTAINER_METRICS_H_
#define BERTH_SERVICES_RUNTIME_CONTAINER_METRICS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "services/runtime/cgroups.h"
#include "services/runtime/task_manager.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace berth::runtime {

// Appends the v1 / v2 families of one container to `families` (merged by name).
void AppendV1Metrics(const std::string& ns, const std::string& id,
                     const io::containerd::cgroups::v1::Metrics& m,
                     std::vector<prometheus::MetricFamily>* families);
void AppendV2Metrics(const std::string& ns, const std::string& id,
                     const io::containerd::cgroups::v2::Metrics& m,
                     std::vector<prometheus::MetricFamily>* families);

// A value of the runtime's own, read at scrape time.
struct RuntimeGauge {
  std::string name;
  std::string help;
  bool counter = false;
  std::function<double()> value;
};

class ContainerCollector : public prometheus::Collectable {
 public:
  ContainerCollector(std::function<std::vector<TaskSnapshot>()> tasks, cgroups::Mode mode,
                     std::vector<RuntimeGauge> gauges = {})
      : tasks_(std::move(tasks)), mode_(mode), gauges_(std::move(gauges)) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::function<std::vector<TaskSnapshot>()> tasks_;
  cgroups::Mode mode_;
  std::vector<RuntimeGauge> gauges_;
};

class MetricsEndpoint {
 public:
  // Serves `registry` and `collector` on `address` ("host:port", port 0 picks one).
  // Unavailable when the address cannot be bound. Both must outlive the endpoint.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& address, prometheus::Registry* registry,
      std::shared_ptr<ContainerCollector> collector);
  ~MetricsEndpoint();

  int port() const { return port_; }

 private:
  MetricsEndpoint() = default;
  std::shared_ptr<prometheus::Collectable> registry_view_;
  std::shared_ptr<ContainerCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_CONTAINER_METRICS_H_
