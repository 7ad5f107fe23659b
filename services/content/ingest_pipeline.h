// IngestPipeline: writes an ingest's chunks to its data file and hashes them, each on a
// thread of its own, so that the thread receiving chunks only hands them over.
//
// Why: containerd's Write protocol is lock-step — the client sends the next chunk only after
// the reply to the previous one. Receiving, pwrite (a copy into the page cache) and SHA-256
// (~1.5 GB/s per core, the slowest step) done one after another on the receiving thread add
// up; here chunk k is hashed while chunk k+1 is written and chunk k+2 is received, and the
// reply to a chunk goes out as soon as it is accepted.
//
// Consistency: a chunk is hashed only after it was written, so the hash always covers exactly
// the bytes in the file [0, written()). When a write fails (ENOSPC, EIO), the file is cut
// back to the end of the last good chunk, that chunk and everything queued behind it are
// dropped, and the error is returned by the next Add, TakeError or Drain; accepted() then
// falls back to written() and the pipeline goes on from there. Small chunks (below
// `inline_bytes`) arriving when nothing is queued are written and hashed on the caller's
// thread, where a hand-off would cost more than the work; their errors are immediate.
//
// Writeback: every kWritebackWindow bytes written, the window's pages are handed to the disk
// (sync_file_range SYNC_FILE_RANGE_WRITE, which starts writeback and does not wait for it).
// Commit must fsync the whole file; without this the kernel would keep up to its dirty limit
// (gigabytes here) in memory and fsync would write it all after the last chunk, serially.
// With it, the disk writes while later chunks are received and hashed, and the fsync only
// waits for the last window — the way RocksDB's bytes_per_sync works.
//
// Memory: at most `depth` chunks wait to be written and `depth` to be hashed. Hashed chunks'
// buffers go back to BufferPool.
//
// Thread-safety: one owner thread calls the methods; the pipeline synchronises with its own
// two threads. The file descriptor stays owned by the caller and must outlive the pipeline.
#ifndef BERTH_SERVICES_CONTENT_INGEST_PIPELINE_H_
#define BERTH_SERVICES_CONTENT_INGEST_PIPELINE_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "lib/digest/digest.h"

namespace berth::content::internal {

class IngestPipeline {
 public:
  // Appends to `fd` (the file at `path`, named in errors) from `offset`, continuing `hasher`,
  // which must hold the hash of the file's first `offset` bytes.
  IngestPipeline(int fd, std::string path, int64_t offset, digest::Sha256 hasher, int depth,
                 std::size_t inline_bytes);
  // Drains and stops the threads.
  ~IngestPipeline();
  IngestPipeline(const IngestPipeline&) = delete;
  IngestPipeline& operator=(const IngestPipeline&) = delete;

  // Accepts `chunk` (taking its buffer) to be written at accepted() and then hashed. Blocks
  // while `depth` chunks are waiting. Returns a write error of this chunk (inline path) or
  // of an earlier one (see the file comment), else OK.
  absl::Status Add(std::string chunk);

  // Returns (and clears) the error of a failed write without waiting; OK when there is none.
  absl::Status TakeError();

  // Waits until every accepted chunk is written and hashed; returns a pending write error.
  absl::Status Drain();

  // Bytes accepted: written, or queued to be.
  int64_t accepted() const;
  // Bytes in the file (and in the hash) once drained.
  int64_t written() const;
  // The hash of the file's first written() bytes; call after Drain.
  const digest::Sha256& hasher() const { return hasher_; }

  // After Drain: continue from `offset` with `hasher` (used after truncating the file).
  void Reset(int64_t offset, digest::Sha256 hasher);

  // Drains, stops the threads and hands the hasher back; the pipeline must not be used after.
  digest::Sha256 Release();

 private:
  void WriteLoop();
  void HashLoop();
  void StartThreads();
  void StopThreads();
  bool IdleLocked() const;
  absl::Status TakeErrorLocked();
  // Starts writeback of the whole windows below `end` not started yet; errors are left to
  // the commit's fsync. Called by whoever wrote up to `end`.
  void StartWriteback(int64_t end);

  static constexpr int64_t kWritebackWindow = 8 << 20;

  const int fd_;
  const std::string path_;
  const std::size_t depth_;
  const std::size_t inline_bytes_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> write_queue_;  // Accepted, not written yet.
  std::deque<std::string> hash_queue_;   // Written, not hashed yet.
  bool writing_ = false;                 // A chunk is being written (off the queues).
  bool hashing_ = false;                 // A chunk is being hashed (off the queues).
  bool stop_ = false;
  int64_t accepted_;    // Guarded by mu_.
  int64_t written_;     // End of the last good write; guarded by mu_.
  // Writeback was started below this offset; touched only by the thread that writes (the
  // writer thread, or the owner on the inline path while nothing else writes).
  int64_t writeback_started_ = 0;
  absl::Status error_;  // First failed write not reported yet.
  std::thread writer_;
  std::thread hasher_thread_;
  // Touched by whoever set hashing_, or by the owner while the pipeline is idle.
  digest::Sha256 hasher_;
};

}  // namespace berth::content::internal

#endif  // BERTH_SERVICES_CONTENT_INGEST_PIPELINE_H_
