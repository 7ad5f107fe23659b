#include "gateway/gc/metrics.h"

#include <chrono>
#include <string>

namespace berth::gateway::gc {

GcMetrics::GcMetrics(prometheus::Registry& registry)
    : runs_(prometheus::BuildCounter()
                .Name("berth_gc_runs_total")
                .Help("Garbage collections by result (ok, partial, failed, dry_run)")
                .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("berth_gc_duration_seconds")
                    .Help("Duration of garbage collections")
                    .Register(registry)),
      removed_(prometheus::BuildCounter()
                   .Name("berth_gc_objects_removed_total")
                   .Help("Objects removed by garbage collection, by type")
                   .Register(registry)),
      bytes_(prometheus::BuildCounter()
                 .Name("berth_gc_bytes_removed_total")
                 .Help("Bytes held by the objects garbage collection removed, by type")
                 .Register(registry)),
      failures_(prometheus::BuildCounter()
                    .Name("berth_gc_delete_failures_total")
                    .Help("Deletions garbage collection attempted that failed, by type")
                    .Register(registry)),
      postponed_(prometheus::BuildCounter()
                     .Name("berth_gc_postponed_total")
                     .Help("Garbage collections that could not sweep a backend's objects")
                     .Register(registry)),
      last_run_(prometheus::BuildGauge()
                    .Name("berth_gc_last_run_timestamp_seconds")
                    .Help("When the last garbage collection ended (Unix time)")
                    .Register(registry)
                    .Add({})),
      duration_seconds_(duration_.Add(
          {}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                      2.5, 5, 10, 30, 60, 120, 300})) {
  // The results exist from the start, so rates work before the first failure.
  for (const char* result : {"ok", "partial", "failed", "dry_run"}) {
    runs_.Add({{"result", result}});
  }
}

void GcMetrics::Record(const absl::StatusOr<berth::gc::v1::Report>& report) {
  last_run_.Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  if (!report.ok()) {
    runs_.Add({{"result", "failed"}}).Increment();
    return;
  }
  duration_seconds_.Observe(static_cast<double>(report->duration_nanos()) / 1e9);
  bool partial = report->postponed_size() > 0;
  for (const berth::gc::v1::TypeCount& c : report->removed()) {
    if (report->dry_run()) break;
    if (c.removed() > 0)
      removed_.Add({{"type", c.type()}}).Increment(static_cast<double>(c.removed()));
    if (c.bytes() > 0) bytes_.Add({{"type", c.type()}}).Increment(static_cast<double>(c.bytes()));
    if (c.failed() > 0) {
      failures_.Add({{"type", c.type()}}).Increment(static_cast<double>(c.failed()));
      partial = true;
    }
  }
  for (const std::string& p : report->postponed()) {
    postponed_.Add({{"backend", p.substr(0, p.find(':'))}}).Increment();
  }
  runs_.Add({{"result", report->dry_run() ? "dry_run" : (partial ? "partial" : "ok")}}).Increment();
}

}  // namespace berth::gateway::gc
