// BufferPool: recycles the large string buffers that carry ingest chunks from gRPC to the
// hashing thread, so steady-state ingest allocates nothing. Without it every 1 MiB chunk is a
// fresh allocation that the allocator may return to the kernel when freed, and the next one
// page-faults (and zero-fills) its memory again.
//
// The server swaps a pooled buffer into the request before reading the next message
// (protobuf parses into the capacity it finds), the store hands chunks to its HashPipeline,
// and the pipeline puts each buffer back once hashed.
//
// Thread-safety: Get and Put are safe from any thread.
#ifndef BERTH_SERVICES_CONTENT_BUFFER_POOL_H_
#define BERTH_SERVICES_CONTENT_BUFFER_POOL_H_

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace berth::content::internal {

class BufferPool {
 public:
  // Buffers kept, and the capacities worth keeping.
  static constexpr std::size_t kMaxBuffers = 32;
  static constexpr std::size_t kMinCapacity = 64 << 10;
  static constexpr std::size_t kMaxCapacity = 17 << 20;

  // The process-wide pool.
  static BufferPool& Global();

  // An empty string, with a recycled capacity when one is available.
  std::string Get();

  // Keeps `buffer`'s capacity for a later Get (contents are discarded); drops buffers that
  // are too small or too large to be worth keeping, or when the pool is full.
  void Put(std::string&& buffer);

 private:
  std::mutex mu_;
  std::vector<std::string> free_;
};

}  // namespace berth::content::internal

#endif  // BERTH_SERVICES_CONTENT_BUFFER_POOL_H_
