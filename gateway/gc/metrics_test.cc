// GcMetrics: what one report adds to the gateway's Prometheus text.
#include "gateway/gc/metrics.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "lib/metrics/metrics.h"

namespace berth::gateway::gc {
namespace {

namespace pb = ::berth::gc::v1;

bool Contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(GcMetricsTest, RecordsRunsRemovalsFailuresAndPostponements) {
  metrics::Options options;
  options.address = "";
  absl::StatusOr<std::unique_ptr<metrics::Metrics>> m = metrics::Metrics::Create(options);
  ASSERT_TRUE(m.ok()) << m.status();
  GcMetrics gc(m->get()->registry());

  pb::Report ok;
  ok.set_duration_nanos(250000000);
  pb::TypeCount* content = ok.add_removed();
  content->set_type("content");
  content->set_removed(3);
  content->set_bytes(4096);
  pb::TypeCount* leases = ok.add_removed();
  leases->set_type("leases");
  leases->set_removed(1);
  gc.Record(ok);

  pb::Report partial;
  pb::TypeCount* snapshots = partial.add_removed();
  snapshots->set_type("snapshots/overlayfs");
  snapshots->set_removed(1);
  snapshots->set_failed(2);
  partial.add_postponed("image: unavailable: connection refused");
  gc.Record(partial);

  pb::Report dry;
  dry.set_dry_run(true);
  pb::TypeCount* would = dry.add_removed();
  would->set_type("content");
  would->set_removed(100);
  gc.Record(dry);

  gc.Record(absl::InternalError("lease store broken"));

  const std::string text = m->get()->Render();
  EXPECT_TRUE(Contains(text, "berth_gc_runs_total{result=\"ok\"} 1")) << text;
  EXPECT_TRUE(Contains(text, "berth_gc_runs_total{result=\"partial\"} 1"));
  EXPECT_TRUE(Contains(text, "berth_gc_runs_total{result=\"dry_run\"} 1"));
  EXPECT_TRUE(Contains(text, "berth_gc_runs_total{result=\"failed\"} 1"));
  // A dry run removes nothing.
  EXPECT_TRUE(Contains(text, "berth_gc_objects_removed_total{type=\"content\"} 3"));
  EXPECT_TRUE(Contains(text, "berth_gc_objects_removed_total{type=\"leases\"} 1"));
  EXPECT_TRUE(Contains(text, "berth_gc_objects_removed_total{type=\"snapshots/overlayfs\"} 1"));
  EXPECT_TRUE(Contains(text, "berth_gc_bytes_removed_total{type=\"content\"} 4096"));
  EXPECT_TRUE(Contains(text, "berth_gc_delete_failures_total{type=\"snapshots/overlayfs\"} 2"));
  EXPECT_TRUE(Contains(text, "berth_gc_postponed_total{backend=\"image\"} 1"));
  EXPECT_TRUE(Contains(text, "berth_gc_duration_seconds_count 3"));
  EXPECT_TRUE(Contains(text, "berth_gc_last_run_timestamp_seconds"));
}

}  // namespace
}  // namespace berth::gateway::gc
