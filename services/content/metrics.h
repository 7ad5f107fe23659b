// ContentMetrics: berth-content's Prometheus metrics, on the process's lib/metrics registry.
//
//   berth_content_ingested_bytes_total        counter  bytes accepted by writers
//   berth_content_read_bytes_total            counter  bytes served by readers
//   berth_content_commits_total               counter  commits (AlreadyExists included)
//   berth_content_digest_mismatches_total     counter  commits refused for size or digest
//   berth_content_missing_blobs_total         counter  blob records dropped: file gone
//   berth_content_ingests                     gauge    ingests on disk (all namespaces)
//   berth_content_active_ingests              gauge    ingests a writer holds now
//   berth_content_blobs{namespace}            gauge    committed blobs per namespace
//   berth_content_blob_bytes{namespace}       gauge    their bytes per namespace
//
// Counters and the ingest gauges are read from the store at scrape time. The per-namespace
// gauges come from a scan of the holders index (O(blobs), a few ms for 10,000), which a
// background thread repeats every `refresh` so a scrape never waits for it.
//
// Thread-safety: constructed and destroyed by main(); everything else runs on its own thread
// or the scrape thread.
#ifndef BERTH_SERVICES_CONTENT_METRICS_H_
#define BERTH_SERVICES_CONTENT_METRICS_H_

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace prometheus {
class Gauge;
template <typename T>
class Family;
}  // namespace prometheus

namespace berth::metrics {
class Metrics;
}  // namespace berth::metrics

namespace berth::content {

class LocalStore;

class ContentMetrics {
 public:
  // Registers the metrics of `store` in `metrics` and starts the refresher. Both must outlive
  // the returned object. AlreadyExists when registered twice in one Metrics.
  static absl::StatusOr<std::unique_ptr<ContentMetrics>> Create(
      LocalStore* store, metrics::Metrics* metrics,
      std::chrono::milliseconds refresh = std::chrono::seconds(5));

  // Stops the refresher.
  ~ContentMetrics();
  ContentMetrics(const ContentMetrics&) = delete;
  ContentMetrics& operator=(const ContentMetrics&) = delete;

  // Recomputes the per-namespace gauges now (the refresher calls it; tests too).
  void Refresh();

 private:
  ContentMetrics(LocalStore* store, prometheus::Family<prometheus::Gauge>* blobs,
                 prometheus::Family<prometheus::Gauge>* bytes, std::chrono::milliseconds refresh);
  void Run();

  LocalStore* store_;
  prometheus::Family<prometheus::Gauge>* blobs_;
  prometheus::Family<prometheus::Gauge>* bytes_;
  const std::chrono::milliseconds refresh_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                       // Guarded by mu_.
  std::map<std::string, bool> namespaces_;  // Series present now; guarded by refresh_mu_.
  std::mutex refresh_mu_;
  std::thread thread_;
};

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_METRICS_H_
