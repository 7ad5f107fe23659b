#include "services/image/pull/sync.h"

#include <algorithm>
#include <utility>

#include "lib/status/status.h"

namespace berth::image::pull {

absl::Status WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                       const CallContext& ctx, const std::function<bool()>& ready,
                       std::chrono::milliseconds poll) {
  while (!ready()) {
    if (ctx.IsCancelled()) return CancelledError("cancelled while waiting");
    const auto now = std::chrono::system_clock::now();
    if (now >= ctx.deadline) return DeadlineExceededError("deadline exceeded while waiting");
    auto until = now + poll;
    if (ctx.deadline < until) until = ctx.deadline;
    cv.wait_until(lock, until);
  }
  return absl::OkStatus();
}

KeyedMutex::Guard& KeyedMutex::Guard::operator=(Guard&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    key_ = std::move(other.key_);
    other.owner_ = nullptr;
  }
  return *this;
}

void KeyedMutex::Guard::Release() {
  if (owner_ != nullptr) owner_->Unlock(key_);
  owner_ = nullptr;
}

absl::StatusOr<KeyedMutex::Guard> KeyedMutex::Lock(const CallContext& ctx, const std::string& key) {
  std::unique_lock<std::mutex> lock(mu_);
  // std::map nodes stay put: the entry lives while it is locked or waited for.
  Entry& entry = held_[key];
  ++entry.waiters;
  absl::Status s = WaitUntil(cv_, lock, ctx, [&] { return !entry.locked; });
  --entry.waiters;
  if (!s.ok()) {
    if (!entry.locked && entry.waiters == 0) held_.erase(key);
    return s;
  }
  entry.locked = true;
  return Guard(this, key);
}

void KeyedMutex::Unlock(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(key);
  if (it == held_.end()) return;
  it->second.locked = false;
  if (it->second.waiters == 0) {
    held_.erase(it);
  } else {
    cv_.notify_all();
  }
}

std::size_t KeyedMutex::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<std::size_t>(
      std::count_if(held_.begin(), held_.end(), [](const auto& e) { return e.second.locked; }));
}

Semaphore::Guard& Semaphore::Guard::operator=(Guard&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

void Semaphore::Guard::Release() {
  if (owner_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(owner_->mu_);
    --owner_->in_use_;
  }
  owner_->cv_.notify_one();
  owner_ = nullptr;
}

absl::StatusOr<Semaphore::Guard> Semaphore::Acquire(const CallContext& ctx) {
  std::unique_lock<std::mutex> lock(mu_);
  RETURN_IF_ERROR(WaitUntil(cv_, lock, ctx, [&] { return in_use_ < permits_; }));
  ++in_use_;
  peak_ = std::max(peak_, in_use_);
  return Guard(this);
}

std::size_t Semaphore::in_use() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_use_;
}

std::size_t Semaphore::peak() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

}  // namespace berth::image::pull
