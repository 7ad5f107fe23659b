#include "bench/driver/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/status/status.h"

namespace berth::bench {

absl::StatusOr<double> Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return absl::InvalidArgumentError("percentile: no samples");
  if (!(q > 0 && q <= 1)) return absl::InvalidArgumentError("percentile: q outside (0, 1]");
  // Nearest rank: ceil(q * n), 1-based. The small epsilon keeps 0.5 * 10 at rank 5 despite
  // binary rounding of q.
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()) - 1e-9));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

absl::StatusOr<Summary> Summarize(std::vector<double> samples) {
  if (samples.empty()) return absl::InvalidArgumentError("summarize: no samples");
  for (double s : samples) {
    if (!std::isfinite(s)) return absl::InvalidArgumentError("summarize: sample is not finite");
  }
  std::sort(samples.begin(), samples.end());
  Summary out;
  out.n = static_cast<int>(samples.size());
  out.min = samples.front();
  out.max = samples.back();
  out.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / samples.size();
  out.p50 = *Percentile(samples, 0.50);
  out.p90 = *Percentile(samples, 0.90);
  out.p99 = *Percentile(samples, 0.99);
  return out;
}

}  // namespace berth::bench
