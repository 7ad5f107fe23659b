#include "gateway/gc/scheduler.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "lib/log/log.h"

namespace berth::gateway::gc {
namespace {

using Clock = std::chrono::system_clock;

}  // namespace

Clock::time_point EarliestAfterPause(Clock::time_point start, Clock::time_point end,
                                     double max_time_share) {
  if (end < start) end = start;
  if (max_time_share >= 1.0 || max_time_share <= 0.0) return end;
  const double took = std::chrono::duration<double>(end - start).count();
  const double pause = took * (1.0 - max_time_share) / max_time_share;
  return end + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(pause));
}

Scheduler::Scheduler(RunFn run, SchedulerOptions options)
    : run_(std::move(run)), options_(options) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  const Clock::time_point now = Clock::now();
  next_scheduled_ = now + std::chrono::duration_cast<Clock::duration>(options_.interval);
  earliest_automatic_ = now;
  if (options_.automatic && options_.startup_delay >= std::chrono::nanoseconds(0)) {
    startup_pending_ = true;
    startup_at_ = now + std::chrono::duration_cast<Clock::duration>(options_.startup_delay);
  }
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::deque<Waiter> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(waiters_);
  }
  for (Waiter& w : left) w.done(absl::UnavailableError("gateway shutting down"));
}

void Scheduler::Deleted(const std::string& reason) {
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++deletions_;
    ++mutations_;
    trigger_reasons_.insert(reason);
    const bool was = triggered_;
    CheckThresholdsLocked();
    notify = triggered_ && !was;
  }
  if (notify) cv_.notify_all();
}

void Scheduler::Mutated() {
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++mutations_;
    const bool was = triggered_;
    CheckThresholdsLocked();
    notify = triggered_ && !was;
  }
  if (notify) cv_.notify_all();
}

void Scheduler::CheckThresholdsLocked() {
  if (!options_.automatic || triggered_) return;
  const bool due = (options_.deletion_threshold > 0 && deletions_ >= options_.deletion_threshold) ||
                   (options_.mutation_threshold > 0 && deletions_ > 0 &&
                    mutations_ >= options_.mutation_threshold);
  if (!due) return;
  triggered_ = true;
  first_trigger_ = Clock::now();
}

void Scheduler::Request(CollectRequest request, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      waiters_.push_back(Waiter{std::move(request), std::move(done)});
      cv_.notify_all();
      return;
    }
  }
  done(absl::UnavailableError("gateway shutting down"));
}

int Scheduler::runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_;
}

void Scheduler::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (stopping_) return;
    CollectRequest request;
    std::vector<Waiter> batch;
    const Clock::time_point now = Clock::now();
    if (!waiters_.empty()) {
      // Every waiting request of the first one's kind shares this collection.
      const bool dry_run = waiters_.front().request.dry_run;
      std::set<std::string> reasons;
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        if (it->request.dry_run != dry_run) {
          ++it;
          continue;
        }
        reasons.insert(it->request.reasons.begin(), it->request.reasons.end());
        batch.push_back(std::move(*it));
        it = waiters_.erase(it);
      }
      if (!dry_run && triggered_) {
        // A real collection serves a due one too.
        reasons.insert(trigger_reasons_.begin(), trigger_reasons_.end());
      }
      request.dry_run = dry_run;
      request.reasons.assign(reasons.begin(), reasons.end());
    } else {
      Clock::time_point due = Clock::time_point::max();
      if (options_.automatic) {
        if (startup_pending_) due = std::min(due, std::max(startup_at_, earliest_automatic_));
        if (triggered_) {
          due = std::min(due, std::max(first_trigger_ + std::chrono::duration_cast<Clock::duration>(
                                                            options_.trigger_delay),
                                       earliest_automatic_));
        }
        if (options_.interval > std::chrono::nanoseconds(0)) {
          due = std::min(due, std::max(next_scheduled_, earliest_automatic_));
        }
      }
      if (due > now) {
        if (due == Clock::time_point::max()) {
          cv_.wait(lock);
        } else {
          cv_.wait_until(lock, due);
        }
        continue;
      }
      std::set<std::string> reasons;
      if (triggered_) reasons = trigger_reasons_;
      if (startup_pending_) reasons.insert("startup");
      if (reasons.empty()) reasons.insert("schedule");
      request.reasons.assign(reasons.begin(), reasons.end());
      startup_pending_ = false;
    }
    if (options_.interval > std::chrono::nanoseconds(0)) {
      next_scheduled_ = now + std::chrono::duration_cast<Clock::duration>(options_.interval);
    }
    if (!request.dry_run) {
      // What this collection starts after is what it collects: count anew.
      deletions_ = 0;
      mutations_ = 0;
      trigger_reasons_.clear();
      triggered_ = false;
    }
    lock.unlock();
    const Clock::time_point start = Clock::now();
    absl::StatusOr<berth::gc::v1::Report> report = run_(request);
    const Clock::time_point end = Clock::now();
    if (!report.ok()) {
      log::Error("gc: collection failed error={:?}", report.status().ToString());
    }
    lock.lock();
    ++runs_;
    earliest_automatic_ = EarliestAfterPause(start, end, options_.max_time_share);
    lock.unlock();
    for (Waiter& w : batch) w.done(report);
    lock.lock();
  }
}

}  // namespace berth::gateway::gc
