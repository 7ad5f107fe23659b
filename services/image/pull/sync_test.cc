// KeyedMutex (the single flight of blob downloads) and Semaphore (the global download limit):
// exclusion per key, independence of keys, cancellation and deadlines while waiting.
#include "services/image/pull/sync.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "lib/testing/status_matchers.h"

namespace berth::image::pull {
namespace {

using Clock = std::chrono::system_clock;

TEST(KeyedMutexTest, OneHolderPerKey) {
  KeyedMutex mu;
  const CallContext ctx = CallContext::Background("ns");
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> runs{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        absl::StatusOr<KeyedMutex::Guard> g = mu.Lock(ctx, "sha256:same");
        ASSERT_TRUE(g.ok()) << g.status();
        int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::yield();
        --inside;
        ++runs;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(most.load(), 1);
  EXPECT_EQ(runs.load(), 8 * 50);
  EXPECT_EQ(mu.held(), 0u);
}

TEST(KeyedMutexTest, KeysAreIndependentAndReleasedByGuards) {
  KeyedMutex mu;
  const CallContext ctx = CallContext::Background("ns");
  ASSERT_OK_AND_ASSIGN(KeyedMutex::Guard a, mu.Lock(ctx, "a"));
  ASSERT_OK_AND_ASSIGN(KeyedMutex::Guard b, mu.Lock(ctx, "b"));
  EXPECT_EQ(mu.held(), 2u);
  KeyedMutex::Guard moved = std::move(a);
  EXPECT_EQ(mu.held(), 2u);
  moved.Release();
  EXPECT_EQ(mu.held(), 1u);
  // "a" is free again at once.
  ASSERT_OK_AND_ASSIGN(KeyedMutex::Guard again, mu.Lock(ctx, "a"));
  EXPECT_EQ(mu.held(), 2u);
}

TEST(KeyedMutexTest, WaitingGivesUpOnCancellationAndDeadline) {
  KeyedMutex mu;
  const CallContext ctx = CallContext::Background("ns");
  ASSERT_OK_AND_ASSIGN(KeyedMutex::Guard held, mu.Lock(ctx, "k"));

  CallContext past = ctx;
  past.deadline = Clock::now() - std::chrono::seconds(1);
  EXPECT_TRUE(IsDeadlineExceeded(mu.Lock(past, "k").status()));

  std::atomic<bool> cancel{false};
  CallContext cancellable = ctx;
  cancellable.cancelled = [&] { return cancel.load(); };
  std::atomic<bool> returned{false};
  absl::Status result;
  std::thread waiter([&] {
    result = mu.Lock(cancellable, "k").status();
    returned = true;
  });
  cancel = true;
  waiter.join();
  EXPECT_TRUE(returned);
  EXPECT_TRUE(IsCancelled(result)) << result;
  // The waiter left no trace: releasing frees the key.
  held.Release();
  EXPECT_EQ(mu.held(), 0u);
  EXPECT_OK(mu.Lock(ctx, "k").status());
}

TEST(KeyedMutexTest, AWaiterGetsTheKeyWhenReleased) {
  KeyedMutex mu;
  const CallContext ctx = CallContext::Background("ns");
  absl::StatusOr<KeyedMutex::Guard> held = mu.Lock(ctx, "k");
  ASSERT_OK(held.status());
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    absl::StatusOr<KeyedMutex::Guard> g = mu.Lock(ctx, "k");
    EXPECT_OK(g.status());
    got = true;
  });
  held->Release();
  waiter.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(mu.held(), 0u);
}

TEST(SemaphoreTest, LimitsAndCountsPermits) {
  Semaphore sem(2);
  const CallContext ctx = CallContext::Background("ns");
  ASSERT_OK_AND_ASSIGN(Semaphore::Guard a, sem.Acquire(ctx));
  ASSERT_OK_AND_ASSIGN(Semaphore::Guard b, sem.Acquire(ctx));
  EXPECT_EQ(sem.in_use(), 2u);
  CallContext past = ctx;
  past.deadline = Clock::now() - std::chrono::seconds(1);
  EXPECT_TRUE(IsDeadlineExceeded(sem.Acquire(past).status()));
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    absl::StatusOr<Semaphore::Guard> g = sem.Acquire(ctx);
    EXPECT_OK(g.status());
    got = true;
  });
  a.Release();
  waiter.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(sem.peak(), 2u);
  b.Release();
  EXPECT_EQ(sem.in_use(), 0u);
}

TEST(SemaphoreTest, ManyThreadsNeverExceedThePermits) {
  Semaphore sem(3);
  const CallContext ctx = CallContext::Background("ns");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        absl::StatusOr<Semaphore::Guard> g = sem.Acquire(ctx);
        ASSERT_OK(g.status());
        EXPECT_LE(sem.in_use(), 3u);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LE(sem.peak(), 3u);
  EXPECT_EQ(sem.in_use(), 0u);
}

}  // namespace
}  // namespace berth::image::pull
