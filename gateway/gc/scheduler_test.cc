// Scheduler: requests get a collection that starts after them, share it, triggers coalesce,
// the pause after a collection, stopping. Collections are a fake run function that numbers
// them; a gate holds one "running" while the test arranges what arrives meanwhile.
#include "gateway/gc/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "lib/testing/wait_for.h"

namespace berth::gateway::gc {
namespace {

namespace pb = ::berth::gc::v1;
using Clock = std::chrono::system_clock;
using ::berth::testing::WaitFor;

// Numbers collections (Report.objects = its number, reasons as requested). The first
// collection waits for Open() when `gated`.
class FakeRun {
 public:
  explicit FakeRun(bool gated) : gated_(gated) {}

  absl::StatusOr<pb::Report> operator()(const CollectRequest& request) {
    int n;
    {
      std::lock_guard<std::mutex> lock(mu_);
      n = ++count_;
      started_ = true;
    }
    if (gated_ && n == 1) gate_.wait();
    if (!fail_.ok()) return fail_;
    pb::Report report;
    report.set_objects(n);
    report.set_dry_run(request.dry_run);
    for (const std::string& r : request.reasons) report.add_reasons(r);
    return report;
  }

  void Open() { open_.set_value(); }
  bool started() {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }
  void Fail(absl::Status s) { fail_ = std::move(s); }

 private:
  const bool gated_;
  std::promise<void> open_;
  std::shared_future<void> gate_ = open_.get_future().share();
  std::mutex mu_;
  int count_ = 0;
  bool started_ = false;
  absl::Status fail_;
};

// Collects what `done` callbacks receive.
struct Results {
  std::mutex mu;
  std::vector<absl::StatusOr<pb::Report>> got;
  Scheduler::Done Callback() {
    return [this](const absl::StatusOr<pb::Report>& r) {
      std::lock_guard<std::mutex> lock(mu);
      got.push_back(r);
    };
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return got.size();
  }
};

SchedulerOptions Manual() {
  SchedulerOptions o;
  o.automatic = false;
  o.interval = std::chrono::nanoseconds(0);
  o.max_time_share = 1.0;
  return o;
}

CollectRequest Req(std::string reason, bool dry_run = false) {
  CollectRequest r;
  r.reasons = {std::move(reason)};
  r.dry_run = dry_run;
  return r;
}

TEST(SchedulerTest, ARequestGetsACollectionThatStartsAfterIt) {
  FakeRun run(/*gated=*/true);
  Scheduler scheduler([&](const CollectRequest& r) { return run(r); }, Manual());
  scheduler.Start();
  Results first, second;
  scheduler.Request(Req("first"), first.Callback());
  ASSERT_TRUE(WaitFor([&] { return run.started(); }));
  // Collection 1 is running (it may have marked before this caller's deletion).
  scheduler.Request(Req("second"), second.Callback());
  run.Open();
  ASSERT_TRUE(WaitFor([&] { return second.size() == 1; }));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first.got[0]->objects(), 1);
  ASSERT_TRUE(second.got[0].ok());
  EXPECT_EQ(second.got[0]->objects(), 2);
  EXPECT_EQ(second.got[0]->reasons(0), "second");
}

TEST(SchedulerTest, RequestsArrivingTogetherShareOneCollection) {
  FakeRun run(/*gated=*/true);
  Scheduler scheduler([&](const CollectRequest& r) { return run(r); }, Manual());
  scheduler.Start();
  Results blocker, together, dry;
  scheduler.Request(Req("blocker"), blocker.Callback());
  ASSERT_TRUE(WaitFor([&] { return run.started(); }));
  scheduler.Request(Req("a"), together.Callback());
  scheduler.Request(Req("b"), together.Callback());
  scheduler.Request(Req("dry", /*dry_run=*/true), dry.Callback());
  scheduler.Request(Req("c"), together.Callback());
  run.Open();
  ASSERT_TRUE(WaitFor([&] { return together.size() == 3 && dry.size() == 1; }));
  // a, b and c share collection 2; the dry run gets its own.
  for (const auto& r : together.got) {
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->objects(), 2);
    EXPECT_FALSE(r->dry_run());
    EXPECT_EQ(r->reasons_size(), 3);
  }
  EXPECT_EQ(dry.got[0]->objects(), 3);
  EXPECT_TRUE(dry.got[0]->dry_run());
  EXPECT_EQ(scheduler.runs(), 3);
}

TEST(SchedulerTest, DeletionsCoalesce) {
  FakeRun run(/*gated=*/true);
  SchedulerOptions options = Manual();
  options.automatic = true;
  options.deletion_threshold = 1;
  options.trigger_delay = std::chrono::nanoseconds(0);
  options.startup_delay = std::chrono::nanoseconds(-1);
  Scheduler scheduler([&](const CollectRequest& r) { return run(r); }, options);
  scheduler.Start();
  scheduler.Deleted("Images.Delete");
  ASSERT_TRUE(WaitFor([&] { return run.started(); }));
  // A burst while collection 1 runs: one more collection serves all of it.
  for (int i = 0; i < 20; ++i) scheduler.Deleted(i % 2 ? "Content.Delete" : "Snapshots.Remove");
  run.Open();
  ASSERT_TRUE(WaitFor([&] { return scheduler.runs() == 2; }));
  // Nothing is pending any more: the next collection is the request's, number 3.
  Results results;
  scheduler.Request(Req("request"), results.Callback());
  ASSERT_TRUE(WaitFor([&] { return results.size() == 1; }));
  EXPECT_EQ(results.got[0]->objects(), 3);
  EXPECT_EQ(results.got[0]->reasons_size(), 1);
}

TEST(SchedulerTest, ADueCollectionRidesAlongWithARequest) {
  FakeRun run(/*gated=*/false);
  SchedulerOptions options = Manual();
  options.automatic = true;
  options.deletion_threshold = 1;
  options.trigger_delay = std::chrono::hours(1);  // would wait long on its own
  options.startup_delay = std::chrono::nanoseconds(-1);
  Scheduler scheduler([&](const CollectRequest& r) { return run(r); }, options);
  scheduler.Start();
  scheduler.Deleted("Containers.Delete");
  Results results;
  scheduler.Request(Req("Images.Delete sync"), results.Callback());
  ASSERT_TRUE(WaitFor([&] { return results.size() == 1; }));
  EXPECT_EQ(results.got[0]->objects(), 1);
  EXPECT_EQ(results.got[0]->reasons_size(), 2);
}

TEST(SchedulerTest, WithoutAutomaticCollectionsDeletionsDoNothing) {
  FakeRun run(/*gated=*/false);
  SchedulerOptions options = Manual();
  options.deletion_threshold = 1;
  options.mutation_threshold = 1;
  Scheduler scheduler([&](const CollectRequest& r) { return run(r); }, options);
  scheduler.Start();
  scheduler.Deleted("Content.Delete");
  scheduler.Mutated();
  Results results;
  scheduler.Request(Req("request"), results.Callback());
  ASSERT_TRUE(WaitFor([&] { return results.size() == 1; }));
  EXPECT_EQ(results.got[0]->objects(), 1);
  ASSERT_EQ(results.got[0]->reasons_size(), 1);
  EXPECT_EQ(results.got[0]->reasons(0), "request");
}

// containerd's defaults: a deletion alone makes nothing due; 100 writes with a deletion do.
TEST(SchedulerTest, MutationThresholdNeedsADeletion) {
  FakeRun run(/*gated=*/false);
  SchedulerOptions options = Manual();
  options.automatic = true;
  options.deletion_threshold = 0;
  options.mutation_threshold = 3;
  options.trigger_delay = std::chrono::nanoseconds(0);
  options.startup_delay = std::chrono::nanoseconds(-1);
  Scheduler scheduler([&](const CollectRequest& r) { return run(r); }, options);
  scheduler.Start();
  for (int i = 0; i < 10; ++i) scheduler.Mutated();  // writes, nothing deleted: nothing due
  scheduler.Deleted("Content.Delete");               // 11 writes now, one a deletion: due
  ASSERT_TRUE(WaitFor([&] { return scheduler.runs() == 1; }));
  // Counting starts anew: one deletion and one more write are not enough.
  scheduler.Deleted("Content.Delete");
  scheduler.Mutated();
  Results results;
  scheduler.Request(Req("request"), results.Callback());
  ASSERT_TRUE(WaitFor([&] { return results.size() == 1; }));
  EXPECT_EQ(results.got[0]->objects(), 2);
  ASSERT_EQ(results.got[0]->reasons_size(), 1);
  EXPECT_EQ(results.got[0]->reasons(0), "request");
}

TEST(SchedulerTest, StartupCollection) {
  FakeRun run(/*gated=*/false);
  SchedulerOptions options = Manual();
  options.automatic = true;
  options.startup_delay = std::chrono::nanoseconds(0);
  Scheduler scheduler([&](const CollectRequest& r) { return run(r); }, options);
  scheduler.Start();
  ASSERT_TRUE(WaitFor([&] { return scheduler.runs() == 1; }));
}

TEST(SchedulerTest, FailedCollectionReachesTheWaiters) {
  FakeRun run(/*gated=*/false);
  run.Fail(absl::InternalError("lease store broken"));
  Scheduler scheduler([&](const CollectRequest& r) { return run(r); }, Manual());
  scheduler.Start();
  Results results;
  scheduler.Request(Req("request"), results.Callback());
  ASSERT_TRUE(WaitFor([&] { return results.size() == 1; }));
  EXPECT_TRUE(absl::IsInternal(results.got[0].status()));
}

TEST(SchedulerTest, StopAnswersWhoIsStillWaiting) {
  FakeRun run(/*gated=*/false);
  Results results;
  {
    Scheduler scheduler([&](const CollectRequest& r) { return run(r); }, Manual());
    // Never started: the request waits until Stop answers it.
    scheduler.Request(Req("request"), results.Callback());
    EXPECT_EQ(results.size(), 0u);
    scheduler.Stop();
    ASSERT_EQ(results.size(), 1u);
    EXPECT_TRUE(absl::IsUnavailable(results.got[0].status()));
    scheduler.Request(Req("late"), results.Callback());
    ASSERT_EQ(results.size(), 2u);
    EXPECT_TRUE(absl::IsUnavailable(results.got[1].status()));
  }
  EXPECT_FALSE(run.started());
}

TEST(SchedulerTest, PauseKeepsCollectionsToTheirShareOfTime) {
  const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1000);
  // 2 %: a 1 s collection is followed by 49 s without automatic collections.
  EXPECT_EQ(EarliestAfterPause(t0, t0 + std::chrono::seconds(1), 0.02),
            t0 + std::chrono::seconds(50));
  EXPECT_EQ(EarliestAfterPause(t0, t0 + std::chrono::seconds(1), 0.5),
            t0 + std::chrono::seconds(2));
  EXPECT_EQ(EarliestAfterPause(t0, t0 + std::chrono::seconds(1), 1.0),
            t0 + std::chrono::seconds(1));
  // Out-of-range shares and a clock that went backwards do not stall collections.
  EXPECT_EQ(EarliestAfterPause(t0, t0 + std::chrono::seconds(1), 0.0),
            t0 + std::chrono::seconds(1));
  EXPECT_EQ(EarliestAfterPause(t0, t0 - std::chrono::seconds(1), 0.02), t0);
}

}  // namespace
}  // namespace berth::gateway::gc
