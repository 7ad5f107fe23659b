// GoogleTest helpers for absl::Status / absl::StatusOr<T>.
//
//   EXPECT_OK(store.Put("k", "v"));
//   ASSERT_OK(server.Start());
//   ASSERT_OK_AND_ASSIGN(auto value, store.Get("k"));
//
// On failure they print the status (code and message). Header-only; include only in tests.
#ifndef BERTH_LIB_TESTING_STATUS_MATCHERS_H_
#define BERTH_LIB_TESTING_STATUS_MATCHERS_H_

#include <gtest/gtest.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::testing {

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Predicate formatter for EXPECT_PRED_FORMAT1: evaluates the status once.
template <typename T>
::testing::AssertionResult IsOkFormat(const char* expr, const T& status) {
  const absl::Status& s = StatusOf(status);
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << expr << " returned " << s;
}

}  // namespace berth::testing

#define BERTH_TESTING_CONCAT_INNER_(a, b) a##b
#define BERTH_TESTING_CONCAT_(a, b) BERTH_TESTING_CONCAT_INNER_(a, b)

#define EXPECT_OK(expr) EXPECT_PRED_FORMAT1(::berth::testing::IsOkFormat, expr)
#define ASSERT_OK(expr) ASSERT_PRED_FORMAT1(::berth::testing::IsOkFormat, expr)

// `ASSERT_OK_AND_ASSIGN(auto x, Fn());` declares x from an OK StatusOr or fails the test.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL_(BERTH_TESTING_CONCAT_(berth_testing_statusor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                               \
  ASSERT_TRUE(statusor.ok()) << statusor.status();      \
  lhs = std::move(statusor).value()

#endif  // BERTH_LIB_TESTING_STATUS_MATCHERS_H_
