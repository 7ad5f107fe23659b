// GcMetrics: the garbage collector's Prometheus metrics, on the gateway's registry:
//
//   berth_gc_runs_total{result}                 collections by result: "ok", "partial" (some
//                                               backend postponed or a deletion failed),
//                                               "failed" (nothing collected), "dry_run"
//   berth_gc_duration_seconds                   histogram of collection durations
//   berth_gc_objects_removed_total{type}        objects removed, by type ("content",
//                                               "ingests", "snapshots/overlayfs", "leases")
//   berth_gc_bytes_removed_total{type}          bytes those objects held
//   berth_gc_delete_failures_total{type}        deletions that failed
//   berth_gc_postponed_total{backend}           collections that could not sweep a backend
//   berth_gc_last_run_timestamp_seconds         when the last collection ended
//
// Thread-safety: Record is safe from any thread (prometheus-cpp's metrics are).
#ifndef BERTH_GATEWAY_GC_METRICS_H_
#define BERTH_GATEWAY_GC_METRICS_H_

#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "proto/berth/gc/v1/gc.pb.h"

namespace berth::gateway::gc {

class GcMetrics {
 public:
  // Registers the families; `registry` must outlive this object.
  explicit GcMetrics(prometheus::Registry& registry);

  // Counts one collection.
  void Record(const absl::StatusOr<berth::gc::v1::Report>& report);

 private:
  prometheus::Family<prometheus::Counter>& runs_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& removed_;
  prometheus::Family<prometheus::Counter>& bytes_;
  prometheus::Family<prometheus::Counter>& failures_;
  prometheus::Family<prometheus::Counter>& postponed_;
  prometheus::Gauge& last_run_;
  prometheus::Histogram& duration_seconds_;
};

}  // namespace berth::gateway::gc

#endif  // BERTH_GATEWAY_GC_METRICS_H_
