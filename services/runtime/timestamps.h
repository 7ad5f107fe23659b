// google.protobuf.Timestamp helpers with containerd's conventions: Go's zero time
// (-62135596800 s) and {0, 0} both mean "unset" on input; berth always fills timestamps on
// output (reference/containerd-api.md §1.5).
//
// Thread-safety: pure functions.
#ifndef BERTH_SERVICES_RUNTIME_TIMESTAMPS_H_
#define BERTH_SERVICES_RUNTIME_TIMESTAMPS_H_

#include <cstdint>

#include "google/protobuf/timestamp.pb.h"

namespace berth::runtime {

// Seconds of Go's zero time.Time, which gogo's non-nullable timestamps carry when unset.
inline constexpr int64_t kGoZeroTimeSeconds = -62135596800;

// Now, as a Timestamp (UTC, nanosecond precision).
google::protobuf::Timestamp NowTimestamp();
// The current time in Unix nanoseconds.
int64_t NowUnixNanos();
// A Timestamp from Unix nanoseconds.
google::protobuf::Timestamp FromUnixNanos(int64_t nanos);
// True for {0,0} and for Go's zero time.
bool IsUnsetTimestamp(const google::protobuf::Timestamp& ts);

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_TIMESTAMPS_H_
