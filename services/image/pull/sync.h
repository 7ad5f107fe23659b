// Two small synchronisation tools of the pull pipeline, both with waits a caller can give up
// (CallContext cancellation and deadline):
//
//   KeyedMutex  one holder per key: the in-process "single flight" of blob downloads. Every
//               pull that wants blob D takes D's lock before it looks at the content store;
//               the first one fetches, the others wait and then find the blob stored (or, in
//               another namespace, complete on disk), so concurrent pulls fetch a blob once.
//   Semaphore   a counting limit: berth-image's global limit on downloads in flight across
//               all pulls ([image] max_concurrent_downloads_total).
//
// Thread-safety: both are safe to use from any number of threads. A Guard is moved, not
// shared, and releases on destruction.
#ifndef BERTH_SERVICES_IMAGE_PULL_SYNC_H_
#define BERTH_SERVICES_IMAGE_PULL_SYNC_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "lib/context/call_context.h"

namespace berth::image::pull {

// Waits on `cv` (with `lock` held) until `ready()` is true, `ctx` is cancelled (Cancelled) or
// its deadline passes (DeadlineExceeded). Cancellation is noticed within `poll`.
absl::Status WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                       const CallContext& ctx, const std::function<bool()>& ready,
                       std::chrono::milliseconds poll = std::chrono::milliseconds(50));

class KeyedMutex {
 public:
  class Guard {
   public:
    Guard() = default;
    Guard(Guard&& other) noexcept : owner_(other.owner_), key_(std::move(other.key_)) {
      other.owner_ = nullptr;
    }
    Guard& operator=(Guard&& other) noexcept;
    ~Guard() { Release(); }
    void Release();

   private:
    friend class KeyedMutex;
    Guard(KeyedMutex* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    KeyedMutex* owner_ = nullptr;
    std::string key_;
  };

  // Takes the lock of `key`, waiting while another Guard holds it. Cancelled /
  // DeadlineExceeded when ctx gives up first.
  absl::StatusOr<Guard> Lock(const CallContext& ctx, const std::string& key);

  // Keys held right now (tests, metrics).
  std::size_t held() const;

 private:
  void Unlock(const std::string& key);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Entry {
    bool locked = false;
    int waiters = 0;
  };
  // An entry exists while its key is locked or waited for.
  std::map<std::string, Entry> held_;
};

class Semaphore {
 public:
  class Guard {
   public:
    Guard() = default;
    Guard(Guard&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    Guard& operator=(Guard&& other) noexcept;
    ~Guard() { Release(); }
    void Release();

   private:
    friend class Semaphore;
    explicit Guard(Semaphore* owner) : owner_(owner) {}
    Semaphore* owner_ = nullptr;
  };

  // `permits` > 0.
  explicit Semaphore(std::size_t permits) : permits_(permits) {}

  // Takes a permit, waiting while none is free. Cancelled / DeadlineExceeded when ctx gives up
  // first.
  absl::StatusOr<Guard> Acquire(const CallContext& ctx);

  // Permits taken right now, and the most ever taken at once (tests, metrics).
  std::size_t in_use() const;
  std::size_t peak() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  const std::size_t permits_;
  std::size_t in_use_ = 0;
  std::size_t peak_ = 0;
};

}  // namespace berth::image::pull

#endif  // BERTH_SERVICES_IMAGE_PULL_SYNC_H_
