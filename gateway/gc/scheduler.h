// Scheduler: when the gateway collects garbage. One background thread runs the collections,
// one at a time, started as containerd's GC scheduler starts them:
//
//   - after deletions: Deleted(reason) counts a deleting call that passed through the gateway
//     (Images.Delete, Leases.Delete, Containers.Delete, Snapshots.Remove, Content.Delete),
//     Mutated() every other write. A collection is due once `deletion_threshold` deletions,
//     or `mutation_threshold` writes with at least one deletion among them, have come since
//     the last collection started (containerd: deletion_threshold 0 = off, mutation_threshold
//     100). It starts `trigger_delay` later; everything counted until it starts shares it;
//   - the schedule: every `interval` (0: none), and once `startup_delay` after Start (these
//     also collect leases that expired);
//   - Request(...): a caller that waits for the result — a delete with `sync`, or
//     GatewayAdmin.GarbageCollect. It gets a collection that starts after the request
//     (a running one may have marked before the caller's deletion); requests arriving
//     together share one. Requests run at once, regardless of the pause below.
//
// Automatic collections (thresholds, schedule) keep a pause after each collection so that
// collecting takes at most `max_time_share` of wall time: after a collection that took d,
// the next automatic one starts no earlier than d * (1 - share) / share later
// (containerd's pause_threshold, 0.02 by default).
//
// Thread-safety: every method is safe from any thread. `done` callbacks run on the
// scheduler's thread (or in Stop()), never under its lock.
#ifndef BERTH_GATEWAY_GC_SCHEDULER_H_
#define BERTH_GATEWAY_GC_SCHEDULER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "gateway/gc/collector.h"
#include "proto/berth/gc/v1/gc.pb.h"

namespace berth::gateway::gc {

struct SchedulerOptions {
  // Automatic collections (thresholds, interval, startup). false: only Request() collects.
  bool automatic = true;
  // Deletions after which a collection is due; 0: deletions alone never make one due.
  int64_t deletion_threshold = 0;
  // Writes (deletions included) after which a collection is due, if one of them was a
  // deletion; 0: never.
  int64_t mutation_threshold = 100;
  // Time between scheduled collections; 0: none.
  std::chrono::nanoseconds interval = std::chrono::hours(1);
  // Share of wall time automatic collections may take, in (0, 1].
  double max_time_share = 0.02;
  // From the moment a collection is due to its start.
  std::chrono::nanoseconds trigger_delay = std::chrono::milliseconds(100);
  // First automatic collection after Start (also collects leases that expired while the
  // gateway was down); negative: none.
  std::chrono::nanoseconds startup_delay = std::chrono::seconds(1);
};

// The earliest start of the next automatic collection after one that ran [start, end).
std::chrono::system_clock::time_point EarliestAfterPause(
    std::chrono::system_clock::time_point start, std::chrono::system_clock::time_point end,
    double max_time_share);

class Scheduler {
 public:
  using RunFn = std::function<absl::StatusOr<berth::gc::v1::Report>(const CollectRequest&)>;
  using Done = std::function<void(const absl::StatusOr<berth::gc::v1::Report>&)>;

  // `run` performs one collection (Collector::Collect, plus metrics).
  Scheduler(RunFn run, SchedulerOptions options);
  // Stop().
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts the thread.
  void Start();
  // Waits for a running collection, then answers every waiting request with Unavailable
  // "gateway shutting down" and ends the thread. Later requests are answered at once so too.
  void Stop();

  // Counts a deleting call (`reason`: "Images.Delete", ...) and a write.
  void Deleted(const std::string& reason);
  // Counts a write.
  void Mutated();

  // Asks for a collection that starts after this call; `done` gets its result.
  void Request(CollectRequest request, Done done);

  // Collections run so far (for tests).
  int runs() const;

 private:
  struct Waiter {
    CollectRequest request;
    Done done;
  };
  void Loop();
  // Marks a collection due when a threshold is reached. Requires mu_.
  void CheckThresholdsLocked();

  RunFn run_;
  const SchedulerOptions options_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  bool started_ = false;
  bool stopping_ = false;
  std::deque<Waiter> waiters_;
  int64_t deletions_ = 0;  // since the last collection started
  int64_t mutations_ = 0;
  bool triggered_ = false;  // a collection is due (thresholds)
  std::chrono::system_clock::time_point first_trigger_;
  std::set<std::string> trigger_reasons_;  // the deletions counted
  std::chrono::system_clock::time_point next_scheduled_;
  std::chrono::system_clock::time_point earliest_automatic_;
  bool startup_pending_ = false;
  std::chrono::system_clock::time_point startup_at_;
  int runs_ = 0;
};

}  // namespace berth::gateway::gc

#endif  // BERTH_GATEWAY_GC_SCHEDULER_H_
