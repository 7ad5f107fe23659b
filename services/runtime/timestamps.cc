#include "services/runtime/timestamps.h"

#include <time.h>

namespace berth::runtime {

int64_t NowUnixNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

google::protobuf::Timestamp FromUnixNanos(int64_t nanos) {
  google::protobuf::Timestamp ts;
  int64_t seconds = nanos / 1000000000;
  int64_t rest = nanos % 1000000000;
  if (rest < 0) {
    rest += 1000000000;
    --seconds;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest));
  return ts;
}

google::protobuf::Timestamp NowTimestamp() { return FromUnixNanos(NowUnixNanos()); }

bool IsUnsetTimestamp(const google::protobuf::Timestamp& ts) {
  return (ts.seconds() == 0 && ts.nanos() == 0) || ts.seconds() == kGoZeroTimeSeconds;
}

}  // namespace berth::runtime
