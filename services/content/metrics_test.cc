// ContentMetrics: the series a scrape shows.
#include "services/content/metrics.h"

#include <gtest/gtest.h>

#include "lib/metrics/metrics.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/content/local_store.h"

namespace berth::content {
namespace {

TEST(ContentMetricsTest, RendersCountersAndPerNamespaceGauges) {
  berth::testing::TempDir dir("cmetrics");
  LocalStoreOptions options;
  options.root = dir.Path("root");
  ASSERT_OK_AND_ASSIGN(auto store, LocalStore::Open(options));
  metrics::Options metrics_options;
  metrics_options.address = "";
  ASSERT_OK_AND_ASSIGN(auto registry, metrics::Metrics::Create(metrics_options));
  ASSERT_OK_AND_ASSIGN(auto m,
                       ContentMetrics::Create(store.get(), registry.get(), std::chrono::hours(1)));

  for (const char* ns : {"a", "b"}) {
    CallContext ctx = CallContext::Background(ns);
    ASSERT_OK_AND_ASSIGN(auto w, store->OpenWriter(ctx, {"r", 0, {}}));
    ASSERT_OK(w->Write("12345"));
    ASSERT_OK(w->Commit(0, {}, {}));
  }
  {
    CallContext ctx = CallContext::Background("a");
    ASSERT_OK_AND_ASSIGN(auto w, store->OpenWriter(ctx, {"bad", 0, {}}));
    ASSERT_OK(w->Write("x"));
    EXPECT_FALSE(w->Commit(0, digest::FromBytes("y"), {}).ok());
  }
  m->Refresh();
  const std::string text = registry->Render();
  for (const char* line :
       {"berth_content_ingested_bytes_total 11", "berth_content_commits_total 2",
        "berth_content_digest_mismatches_total 1", "berth_content_ingests 1",
        "berth_content_active_ingests 0", "berth_content_blobs{namespace=\"a\"} 1",
        "berth_content_blob_bytes{namespace=\"b\"} 5"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  // Registering twice in one registry is refused.
  EXPECT_FALSE(ContentMetrics::Create(store.get(), registry.get()).ok());
}

}  // namespace
}  // namespace berth::content
