#include "services/content/metrics.h"

#include <utility>

#include "lib/log/log.h"
#include "lib/metrics/metrics.h"
#include "lib/status/status.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "services/content/local_store.h"

namespace berth::content {

absl::StatusOr<std::unique_ptr<ContentMetrics>> ContentMetrics::Create(
    LocalStore* store, metrics::Metrics* metrics, std::chrono::milliseconds refresh) {
  using Type = metrics::CallbackMetric::Type;
  const LocalStoreCounters* c = &store->counters();
  struct Counter {
    const char* name;
    const char* help;
    const std::atomic<uint64_t>* value;
  };
  const Counter counters[] = {
      {"berth_content_ingested_bytes_total", "Bytes accepted by content writers",
       &c->bytes_ingested},
      {"berth_content_read_bytes_total", "Bytes served by content readers", &c->bytes_read},
      {"berth_content_commits_total", "Blob commits", &c->commits},
      {"berth_content_digest_mismatches_total", "Commits refused for a size or digest mismatch",
       &c->digest_mismatches},
      {"berth_content_missing_blobs_total", "Blob records dropped because their file was gone",
       &c->missing_blobs},
  };
  for (const Counter& counter : counters) {
    const std::atomic<uint64_t>* value = counter.value;
    RETURN_IF_ERROR(metrics->AddCallbackMetric(
        {counter.name, counter.help, Type::kCounter, {}, [value] {
           return static_cast<double>(value->load(std::memory_order_relaxed));
         }}));
  }
  RETURN_IF_ERROR(metrics->AddCallbackMetric(
      {"berth_content_ingests", "Ingests on disk, all namespaces", Type::kGauge, {}, [store] {
         return static_cast<double>(store->IngestCount());
       }}));
  RETURN_IF_ERROR(metrics->AddCallbackMetric(
      {"berth_content_active_ingests", "Ingests a writer holds now", Type::kGauge, {}, [store] {
         return static_cast<double>(store->ActiveWriterCount());
       }}));
  auto& blobs = prometheus::BuildGauge()
                    .Name("berth_content_blobs")
                    .Help("Committed blobs per namespace")
                    .Register(metrics->registry());
  auto& bytes = prometheus::BuildGauge()
                    .Name("berth_content_blob_bytes")
                    .Help("Bytes of committed blobs per namespace")
                    .Register(metrics->registry());
  std::unique_ptr<ContentMetrics> m(new ContentMetrics(store, &blobs, &bytes, refresh));
  m->Refresh();
  m->thread_ = std::thread(&ContentMetrics::Run, m.get());
  return m;
}

ContentMetrics::ContentMetrics(LocalStore* store, prometheus::Family<prometheus::Gauge>* blobs,
                               prometheus::Family<prometheus::Gauge>* bytes,
                               std::chrono::milliseconds refresh)
    : store_(store), blobs_(blobs), bytes_(bytes), refresh_(refresh) {}

ContentMetrics::~ContentMetrics() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ContentMetrics::Refresh() {
  absl::StatusOr<std::map<std::string, NamespaceUsage>> usage = store_->UsageByNamespace();
  if (!usage.ok()) {
    log::Warn("cannot compute content usage error={:?}", usage.status().ToString());
    return;
  }
  std::lock_guard<std::mutex> lock(refresh_mu_);
  for (auto& [ns, present] : namespaces_) present = false;
  for (const auto& [ns, u] : *usage) {
    blobs_->Add({{"namespace", ns}}).Set(static_cast<double>(u.blobs));
    bytes_->Add({{"namespace", ns}}).Set(static_cast<double>(u.blob_bytes));
    namespaces_[ns] = true;
  }
  for (auto it = namespaces_.begin(); it != namespaces_.end();) {
    if (it->second) {
      ++it;
      continue;
    }
    // The namespace holds nothing any more: its series reads 0.
    blobs_->Add({{"namespace", it->first}}).Set(0);
    bytes_->Add({{"namespace", it->first}}).Set(0);
    ++it;
  }
}

void ContentMetrics::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, refresh_, [&] { return stop_; });
    if (stop_) break;
    lock.unlock();
    Refresh();
    lock.lock();
  }
}

}  // namespace berth::content
