// WaitFor: poll a condition until it holds or a timeout passes.
//
// For tests that wait on something another process or thread does (a server writing its
// ports file, an event arriving). This is waiting on a condition with a bound, not sleeping
// as synchronisation: the timeout is only a ceiling for a broken test, never a timing the
// test relies on, so make it generous (seconds).
//
// Thread-safety: free function; `predicate` is called on the calling thread only.
#ifndef BERTH_LIB_TESTING_WAIT_FOR_H_
#define BERTH_LIB_TESTING_WAIT_FOR_H_

#include <chrono>
#include <functional>

namespace berth::testing {

// Calls `predicate` until it returns true (-> true) or `timeout` has passed (-> false; the
// predicate is always tried once more at the deadline). Between calls it sleeps with a
// backoff from 1 ms up to 50 ms.
bool WaitFor(const std::function<bool()>& predicate,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace berth::testing

#endif  // BERTH_LIB_TESTING_WAIT_FOR_H_
