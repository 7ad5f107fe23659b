#include "bench/driver/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace berth::bench {
namespace {

TEST(PercentileTest, NearestRank) {
  std::vector<double> v = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(*Percentile(v, 0.5), 5);
  EXPECT_EQ(*Percentile(v, 0.9), 9);
  EXPECT_EQ(*Percentile(v, 0.99), 10);
  EXPECT_EQ(*Percentile(v, 1.0), 10);
  EXPECT_EQ(*Percentile(v, 0.01), 1);
}

TEST(PercentileTest, OneSample) {
  EXPECT_EQ(*Percentile({42}, 0.5), 42);
  EXPECT_EQ(*Percentile({42}, 0.99), 42);
}

TEST(PercentileTest, BadInput) {
  EXPECT_EQ(Percentile({}, 0.5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Percentile({1}, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Percentile({1}, 1.5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Percentile({1}, std::nan("")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SummarizeTest, UnsortedInput) {
  auto s = Summarize({5, 1, 4, 2, 3});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->n, 5);
  EXPECT_EQ(s->min, 1);
  EXPECT_EQ(s->max, 5);
  EXPECT_EQ(s->p50, 3);
  EXPECT_EQ(s->p99, 5);
  EXPECT_DOUBLE_EQ(s->mean, 3);
}

TEST(SummarizeTest, P99OfHundredSamplesIsNotTheMax) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  auto s = Summarize(v);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->p99, 99);
  EXPECT_EQ(s->p50, 50);
}

TEST(SummarizeTest, BadInput) {
  EXPECT_EQ(Summarize({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Summarize({1, std::numeric_limits<double>::infinity()}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace berth::bench
