// Summary statistics of latency samples for the benchmark driver: nearest-rank percentiles,
// mean, min, max. Used by bench_driver to report p50/p99 the same way for every system.
//
// Thread-safety: plain values and pure functions.
#ifndef BERTH_BENCH_DRIVER_STATS_H_
#define BERTH_BENCH_DRIVER_STATS_H_

#include <vector>

#include "absl/status/statusor.h"

namespace berth::bench {

struct Summary {
  int n = 0;
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
};

// The nearest-rank percentile `q` (0 < q <= 1) of `sorted` (ascending): the smallest sample
// with at least q * n samples at or below it. InvalidArgument for an empty vector or q outside
// (0, 1].
absl::StatusOr<double> Percentile(const std::vector<double>& sorted, double q);

// min, p50, p90, p99, max and mean of `samples` (any order). InvalidArgument when empty or
// when a sample is not finite.
absl::StatusOr<Summary> Summarize(std::vector<double> samples);

}  // namespace berth::bench

#endif  // BERTH_BENCH_DRIVER_STATS_H_
