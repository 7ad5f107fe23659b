#include "services/content/ingest_pipeline.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "lib/status/status.h"
#include "services/content/buffer_pool.h"

namespace berth::content::internal {
namespace {

// pwrite of all of `data` at `offset`, retrying short writes and EINTR; 0 or an errno.
int PwriteAll(int fd, const char* data, size_t size, int64_t offset) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return 0;
}

}  // namespace

IngestPipeline::IngestPipeline(int fd, std::string path, int64_t offset, digest::Sha256 hasher,
                               int depth, std::size_t inline_bytes)
    : fd_(fd),
      path_(std::move(path)),
      depth_(depth < 1 ? 1 : static_cast<std::size_t>(depth)),
      inline_bytes_(inline_bytes),
      accepted_(offset),
      written_(offset),
      writeback_started_(offset),
      hasher_(std::move(hasher)) {}

IngestPipeline::~IngestPipeline() { StopThreads(); }

bool IngestPipeline::IdleLocked() const {
  return write_queue_.empty() && hash_queue_.empty() && !writing_ && !hashing_;
}

absl::Status IngestPipeline::TakeErrorLocked() {
  absl::Status error = std::move(error_);
  error_ = absl::OkStatus();
  // The failed chunk and everything queued behind it were dropped (and no chunk is queued
  // while an error is pending): the file ends at written_.
  if (!error.ok()) accepted_ = written_;
  return error;
}

absl::Status IngestPipeline::Add(std::string chunk) {
  std::unique_lock<std::mutex> lock(mu_);
  if (absl::Status error = TakeErrorLocked(); !error.ok()) {
    BufferPool::Global().Put(std::move(chunk));
    return error;
  }
  const int64_t size = static_cast<int64_t>(chunk.size());
  if (chunk.size() < inline_bytes_ && IdleLocked()) {
    writing_ = hashing_ = true;
    const int64_t offset = written_;
    lock.unlock();
    int err = PwriteAll(fd_, chunk.data(), chunk.size(), offset);
    if (err != 0) {
      // Nothing of this chunk counts.
      if (::ftruncate(fd_, offset) != 0) {
        // The file may keep a tail the hash does not cover; the next commit's digest check
        // would catch it. Nothing better to do here.
      }
    } else {
      StartWriteback(offset + size);
      hasher_.Update(chunk);
    }
    lock.lock();
    writing_ = hashing_ = false;
    if (err == 0) {
      written_ += size;
      accepted_ += size;
    }
    cv_.notify_all();
    return err == 0 ? absl::OkStatus() : ErrnoToStatus("write", path_, err);
  }
  StartThreads();
  cv_.wait(lock, [&] { return write_queue_.size() < depth_ || !error_.ok(); });
  if (absl::Status error = TakeErrorLocked(); !error.ok()) {
    BufferPool::Global().Put(std::move(chunk));
    return error;
  }
  accepted_ += size;
  write_queue_.push_back(std::move(chunk));
  cv_.notify_all();
  return absl::OkStatus();
}

absl::Status IngestPipeline::TakeError() {
  std::lock_guard<std::mutex> lock(mu_);
  return TakeErrorLocked();
}

absl::Status IngestPipeline::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return IdleLocked(); });
  return TakeErrorLocked();
}

int64_t IngestPipeline::accepted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return accepted_;
}

int64_t IngestPipeline::written() const {
  std::lock_guard<std::mutex> lock(mu_);
  return written_;
}

void IngestPipeline::Reset(int64_t offset, digest::Sha256 hasher) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return IdleLocked(); });
  accepted_ = written_ = offset;
  if (writeback_started_ > offset) writeback_started_ = offset;
  error_ = absl::OkStatus();
  hasher_ = std::move(hasher);
}

digest::Sha256 IngestPipeline::Release() {
  StopThreads();
  return std::move(hasher_);
}

void IngestPipeline::StartWriteback(int64_t end) {
  // Whole windows only: a partial one is left for the next chunk (or the commit's fsync).
  const int64_t window_end = end - end % kWritebackWindow;
  if (window_end <= writeback_started_) return;
  // Advisory: EIO and the like come back from fsync at commit, where they count.
  (void)::sync_file_range(fd_, writeback_started_, window_end - writeback_started_,
                          SYNC_FILE_RANGE_WRITE);
  writeback_started_ = window_end;
}

void IngestPipeline::StartThreads() {
  if (writer_.joinable()) return;
  writer_ = std::thread(&IngestPipeline::WriteLoop, this);
  hasher_thread_ = std::thread(&IngestPipeline::HashLoop, this);
}

void IngestPipeline::StopThreads() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return IdleLocked(); });
    stop_ = true;
    cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  if (hasher_thread_.joinable()) hasher_thread_.join();
}

void IngestPipeline::WriteLoop() {
  pthread_setname_np(pthread_self(), "content-write");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || (!write_queue_.empty() && !writing_); });
    if (write_queue_.empty() || writing_) {
      if (stop_) return;
      continue;
    }
    std::string chunk = std::move(write_queue_.front());
    write_queue_.pop_front();
    writing_ = true;
    const int64_t offset = written_;
    cv_.notify_all();  // Room in the write queue.
    lock.unlock();
    int err = PwriteAll(fd_, chunk.data(), chunk.size(), offset);
    if (err != 0 && ::ftruncate(fd_, offset) != 0) {
      // See Add: the commit's digest check is the backstop.
    }
    if (err == 0) StartWriteback(offset + static_cast<int64_t>(chunk.size()));
    lock.lock();
    if (err != 0) {
      if (error_.ok()) error_ = ErrnoToStatus("write", path_, err);
      // Everything queued behind the failed chunk would leave a hole: drop it.
      for (std::string& c : write_queue_) BufferPool::Global().Put(std::move(c));
      write_queue_.clear();
      BufferPool::Global().Put(std::move(chunk));
      writing_ = false;
      cv_.notify_all();
      continue;
    }
    written_ += static_cast<int64_t>(chunk.size());
    cv_.wait(lock, [&] { return hash_queue_.size() < depth_; });
    hash_queue_.push_back(std::move(chunk));
    writing_ = false;
    cv_.notify_all();
  }
}

void IngestPipeline::HashLoop() {
  pthread_setname_np(pthread_self(), "content-hash");
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || (!hash_queue_.empty() && !hashing_); });
    if (hash_queue_.empty() || hashing_) {
      if (stop_) return;
      continue;
    }
    std::string chunk = std::move(hash_queue_.front());
    hash_queue_.pop_front();
    hashing_ = true;
    cv_.notify_all();  // Room in the hash queue.
    lock.unlock();
    hasher_.Update(chunk);
    BufferPool::Global().Put(std::move(chunk));
    lock.lock();
    hashing_ = false;
    cv_.notify_all();
  }
}

}  // namespace berth::content::internal
