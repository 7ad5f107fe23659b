// Byte streams for layer application: a layer blob flows through a chain of ChunkSources —
// read from the content store (verifying the blob's digest), decompress (detected by magic:
// gzip via ISA-L's streaming igzip inflater, zstd including multi-frame streams, or plain
// tar), hash (the diffID: sha256 of the whole uncompressed stream), optionally on a reader
// thread — and out into the tar parser.
//
// Chunks are handed over by view, not copied: a stage returns a view into its own buffer,
// valid until its next call. Only the prefetch stage copies (across its thread boundary).
//
// Thread-safety: a ChunkSource is used by one thread at a time. PrefetchSource runs its
// upstream on its own thread; it is itself used by one consumer thread.
#ifndef BERTH_SERVICES_SNAPSHOT_DIFF_STREAM_H_
#define BERTH_SERVICES_SNAPSHOT_DIFF_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/digest/digest.h"

namespace berth::snapshot::diff {

// A stream of bytes in chunks.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // The next chunk; an empty view at the end of the stream (and on every call after).
  // The view stays valid until the next call.
  [[nodiscard]] virtual absl::StatusOr<std::string_view> Next() = 0;
};

enum class Compression { kNone, kGzip, kZstd };

std::string_view CompressionName(Compression c);

// The compression a layer media type declares. OCI and Docker layer types (tar, +gzip,
// +zstd, nondistributable and foreign variants). Unimplemented
// `unsupported diff media type "<t>"` for anything else (encrypted layers included), as
// containerd.
[[nodiscard]] absl::StatusOr<Compression> CompressionForMediaType(std::string_view media_type);

// The compression the first bytes of a stream show: gzip (1f 8b), zstd (28 b5 2f fd, or a
// skippable frame 5? 2a 4d 18), otherwise none. Fewer than 4 bytes -> kNone.
Compression DetectCompression(std::string_view head);

// Reads `size` bytes through `read(buf, n, offset)` (a content ReaderAt) in chunks of
// `chunk_size`, feeding them to a digest::Verifier for `expected`; at the end of the stream
// the digest and size must match, else FailedPrecondition naming both (the Verifier's
// message), and a short read is DataLoss.
using ReadAtFn =
    std::function<absl::StatusOr<std::size_t>(char* buf, std::size_t n, std::int64_t offset)>;
std::unique_ptr<ChunkSource> NewVerifyingReader(ReadAtFn read, std::int64_t size,
                                                digest::Digest expected,
                                                std::size_t chunk_size = 1 << 20);

// A source over bytes in memory (tests, small inputs); `data` must outlive it.
std::unique_ptr<ChunkSource> NewStringSource(std::string_view data,
                                             std::size_t chunk_size = 1 << 20);

// Decompresses `in`, detecting the format from its first bytes. Corrupt or truncated input
// -> DataLoss naming the format and the reason. Concatenated gzip members and zstd frames
// are one stream, as gzip(1) and zstd(1) treat them.
std::unique_ptr<ChunkSource> NewDecompressor(std::unique_ptr<ChunkSource> in);

// Passes `in` through while computing the sha256 and size of everything that went by.
class DigestingSource : public ChunkSource {
 public:
  explicit DigestingSource(std::unique_ptr<ChunkSource> in) : in_(std::move(in)) {}
  absl::StatusOr<std::string_view> Next() override;
  // Digest and size of the bytes returned so far.
  digest::Digest Sum() const { return hash_.Sum(); }
  std::int64_t size() const { return static_cast<std::int64_t>(hash_.size()); }

 private:
  std::unique_ptr<ChunkSource> in_;
  digest::Sha256 hash_;
};

// Runs `in` on a reader thread, `depth` chunks ahead of the consumer, so that reading,
// verifying and decompressing overlap with what the consumer does. Destroying it stops the
// thread (after its current chunk) and then destroys `in`; stages of `in` (a
// DigestingSource) may be read by the consumer once it has seen the end of the stream.
std::unique_ptr<ChunkSource> NewPrefetchSource(std::unique_ptr<ChunkSource> in,
                                               std::size_t depth = 4);

// Reads `in` to its end, discarding the bytes (to finish digests).
[[nodiscard]] absl::Status Drain(ChunkSource& in);

// Receives a stream's bytes in order.
using ByteSink = std::function<absl::Status(std::string_view data)>;

// Compresses what is written to it and passes the result to a sink.
class Compressor {
 public:
  virtual ~Compressor() = default;
  // Compresses `data`; the sink's errors are returned.
  [[nodiscard]] virtual absl::Status Write(std::string_view data) = 0;
  // Ends the stream (gzip trailer, zstd frame end). No Write after it.
  [[nodiscard]] virtual absl::Status Close() = 0;
};

// gzip: ISA-L igzip level 1 with a gzip header and trailer (fast; gzip(1) reads it);
// zstd: level 3, one frame; kNone: passes bytes through.
std::unique_ptr<Compressor> NewCompressor(Compression c, ByteSink out);

}  // namespace berth::snapshot::diff

#endif  // BERTH_SERVICES_SNAPSHOT_DIFF_STREAM_H_
