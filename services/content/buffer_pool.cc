#include "services/content/buffer_pool.h"

#include <utility>

namespace berth::content::internal {

BufferPool& BufferPool::Global() {
  static BufferPool* pool = new BufferPool();
  return *pool;
}

std::string BufferPool::Get() {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.empty()) return std::string();
  std::string out = std::move(free_.back());
  free_.pop_back();
  return out;
}

void BufferPool::Put(std::string&& buffer) {
  const std::size_t capacity = buffer.capacity();
  if (capacity < kMinCapacity || capacity > kMaxCapacity) return;
  buffer.clear();
  std::lock_guard<std::mutex> lock(mu_);
  if (free_.size() < kMaxBuffers) free_.push_back(std::move(buffer));
}

}  // namespace berth::content::internal
