#include "services/snapshot/diff/stream.h"

#include <isa-l/igzip_lib.h>
#include <zstd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::snapshot::diff {

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kGzip:
      return "gzip";
    case Compression::kZstd:
      return "zstd";
    default:
      return "none";
  }
}

absl::StatusOr<Compression> CompressionForMediaType(std::string_view media_type) {
  static constexpr std::string_view kNone[] = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.docker.image.rootfs.diff.tar",
  };
  static constexpr std::string_view kGzip[] = {
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  };
  static constexpr std::string_view kZstd[] = {
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  };
  for (std::string_view t : kNone) {
    if (media_type == t) return Compression::kNone;
  }
  for (std::string_view t : kGzip) {
    if (media_type == t) return Compression::kGzip;
  }
  for (std::string_view t : kZstd) {
    if (media_type == t) return Compression::kZstd;
  }
  return UnimplementedError(
      fmt::format("unsupported diff media type {}", Quote(std::string(media_type))));
}

Compression DetectCompression(std::string_view head) {
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
      static_cast<unsigned char>(head[1]) == 0x8b) {
    return Compression::kGzip;
  }
  if (head.size() >= 4) {
    const auto* b = reinterpret_cast<const unsigned char*>(head.data());
    if (b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) return Compression::kZstd;
    if ((b[0] & 0xf0) == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18) {
      return Compression::kZstd;  // A skippable frame first.
    }
  }
  return Compression::kNone;
}

namespace {

class VerifyingReader : public ChunkSource {
 public:
  VerifyingReader(ReadAtFn read, std::int64_t size, digest::Digest expected, size_t chunk)
      : read_(std::move(read)), size_(size), verifier_(size, std::move(expected)), buf_(chunk) {}

  absl::StatusOr<std::string_view> Next() override {
    if (offset_ >= size_) {
      if (!verified_) {
        verified_ = true;
        RETURN_IF_ERROR(verifier_.Verify());
      }
      return std::string_view();
    }
    size_t want = static_cast<size_t>(std::min<std::int64_t>(buf_.size(), size_ - offset_));
    ASSIGN_OR_RETURN(size_t n, read_(buf_.data(), want, offset_));
    if (n == 0) {
      return DataLossError(
          fmt::format("read layer: unexpected end of blob at offset {} of {}", offset_, size_));
    }
    std::string_view chunk(buf_.data(), n);
    RETURN_IF_ERROR(verifier_.Update(chunk));
    offset_ += static_cast<std::int64_t>(n);
    return chunk;
  }

 private:
  ReadAtFn read_;
  std::int64_t size_;
  std::int64_t offset_ = 0;
  digest::Verifier verifier_;
  bool verified_ = false;
  std::vector<char> buf_;
};

class StringSource : public ChunkSource {
 public:
  StringSource(std::string_view data, size_t chunk) : data_(data), chunk_(chunk) {}
  absl::StatusOr<std::string_view> Next() override {
    std::string_view out = data_.substr(0, chunk_);
    data_.remove_prefix(out.size());
    return out;
  }

 private:
  std::string_view data_;
  size_t chunk_;
};

// Serves the chunks of `in` with the ability to look at the first bytes first.
class PeekingSource {
 public:
  explicit PeekingSource(std::unique_ptr<ChunkSource> in) : in_(std::move(in)) {}

  // The first chunk (non-empty unless the stream is empty), without consuming it.
  absl::StatusOr<std::string_view> Peek() {
    if (!peeked_) {
      ASSIGN_OR_RETURN(pending_, in_->Next());
      peeked_ = true;
    }
    return pending_;
  }
  absl::StatusOr<std::string_view> Next() {
    if (peeked_) {
      peeked_ = false;
      return pending_;
    }
    return in_->Next();
  }

 private:
  std::unique_ptr<ChunkSource> in_;
  bool peeked_ = false;
  std::string_view pending_;
};

class GzipSource : public ChunkSource {
 public:
  explicit GzipSource(std::unique_ptr<PeekingSource> in)
      : in_(std::move(in)), state_(std::make_unique<inflate_state>()), out_(1 << 20) {
    isal_inflate_init(state_.get());
    state_->crc_flag = ISAL_GZIP;
  }

  absl::StatusOr<std::string_view> Next() override {
    if (done_) return std::string_view();
    state_->next_out = reinterpret_cast<uint8_t*>(out_.data());
    state_->avail_out = static_cast<uint32_t>(out_.size());
    while (state_->avail_out > 0) {
      if (state_->block_state == ISAL_BLOCK_FINISH) {
        // End of one gzip member: another may follow (concatenated members are one stream).
        if (input_.empty() && !input_eof_) RETURN_IF_ERROR(Fill());
        if (input_.empty()) {
          done_ = true;
          break;
        }
        if (DetectCompression(input_) != Compression::kGzip) {
          if (std::all_of(input_.begin(), input_.end(), [](char c) { return c == 0; })) {
            // Zero padding after the last member, as some tools write: ignore it.
            input_ = {};
            continue;
          }
          return DataLossError("gzip: trailing garbage after the compressed stream");
        }
        isal_inflate_reset(state_.get());
        state_->crc_flag = ISAL_GZIP;
      }
      if (input_.empty() && !input_eof_) RETURN_IF_ERROR(Fill());
      state_->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(input_.data()));
      state_->avail_in = static_cast<uint32_t>(input_.size());
      const uint32_t before_out = state_->avail_out;
      int rc = isal_inflate(state_.get());
      input_.remove_prefix(input_.size() - state_->avail_in);
      if (rc < 0 || rc == ISAL_NEED_DICT) return DataLossError(GzipError(rc));
      if (state_->block_state == ISAL_BLOCK_FINISH) continue;
      if (input_.empty() && input_eof_ && state_->avail_out == before_out) {
        return DataLossError("gzip: unexpected end of compressed stream");
      }
    }
    size_t n = out_.size() - state_->avail_out;
    if (n == 0 && done_) return std::string_view();
    return std::string_view(out_.data(), n);
  }

 private:
  absl::Status Fill() {
    ASSIGN_OR_RETURN(input_, in_->Next());
    if (input_.empty()) input_eof_ = true;
    return absl::OkStatus();
  }

  static std::string GzipError(int rc) {
    switch (rc) {
      case ISAL_INVALID_BLOCK:
        return "gzip: invalid deflate block";
      case ISAL_INVALID_SYMBOL:
        return "gzip: invalid deflate symbol";
      case ISAL_INVALID_LOOKBACK:
        return "gzip: invalid lookback distance";
      case ISAL_INVALID_WRAPPER:
        return "gzip: invalid gzip header";
      case ISAL_UNSUPPORTED_METHOD:
        return "gzip: unsupported compression method";
      case ISAL_INCORRECT_CHECKSUM:
        return "gzip: checksum mismatch";
      case ISAL_NEED_DICT:
        return "gzip: stream needs a preset dictionary";
      default:
        return fmt::format("gzip: inflate error {}", rc);
    }
  }

  std::unique_ptr<PeekingSource> in_;
  std::unique_ptr<inflate_state> state_;
  std::vector<char> out_;
  std::string_view input_;
  bool input_eof_ = false;
  bool done_ = false;
};

class ZstdSource : public ChunkSource {
 public:
  explicit ZstdSource(std::unique_ptr<PeekingSource> in)
      : in_(std::move(in)), ctx_(ZSTD_createDStream()), out_(ZSTD_DStreamOutSize()) {
    ZSTD_initDStream(ctx_);
  }
  ~ZstdSource() override { ZSTD_freeDStream(ctx_); }

  absl::StatusOr<std::string_view> Next() override {
    if (done_) return std::string_view();
    ZSTD_outBuffer out = {out_.data(), out_.size(), 0};
    while (out.pos < out.size) {
      if (input_.empty() && !input_eof_) {
        ASSIGN_OR_RETURN(input_, in_->Next());
        if (input_.empty()) input_eof_ = true;
      }
      if (input_.empty() && input_eof_) {
        // Everything consumed; the decoder may still hold output.
        ZSTD_inBuffer in = {nullptr, 0, 0};
        size_t before = out.pos;
        size_t rc = ZSTD_decompressStream(ctx_, &out, &in);
        if (ZSTD_isError(rc)) {
          return DataLossError(fmt::format("zstd: {}", ZSTD_getErrorName(rc)));
        }
        if (out.pos == before) {
          if (last_rc_ != 0) return DataLossError("zstd: unexpected end of compressed stream");
          done_ = true;
          break;
        }
        continue;
      }
      ZSTD_inBuffer in = {input_.data(), input_.size(), 0};
      size_t rc = ZSTD_decompressStream(ctx_, &out, &in);
      if (ZSTD_isError(rc)) return DataLossError(fmt::format("zstd: {}", ZSTD_getErrorName(rc)));
      last_rc_ = rc;
      input_.remove_prefix(in.pos);
    }
    if (out.pos == 0 && done_) return std::string_view();
    return std::string_view(out_.data(), out.pos);
  }

 private:
  std::unique_ptr<PeekingSource> in_;
  ZSTD_DStream* ctx_;
  std::vector<char> out_;
  std::string_view input_;
  bool input_eof_ = false;
  bool done_ = false;
  size_t last_rc_ = 0;  // 0: the last frame was complete.
};

class PlainSource : public ChunkSource {
 public:
  explicit PlainSource(std::unique_ptr<PeekingSource> in) : in_(std::move(in)) {}
  absl::StatusOr<std::string_view> Next() override { return in_->Next(); }

 private:
  std::unique_ptr<PeekingSource> in_;
};

class Decompressor : public ChunkSource {
 public:
  explicit Decompressor(std::unique_ptr<ChunkSource> in)
      : in_(std::make_unique<PeekingSource>(std::move(in))) {}

  absl::StatusOr<std::string_view> Next() override {
    if (!impl_) {
      ASSIGN_OR_RETURN(std::string_view head, in_->Peek());
      switch (DetectCompression(head)) {
        case Compression::kGzip:
          impl_ = std::make_unique<GzipSource>(std::move(in_));
          break;
        case Compression::kZstd:
          impl_ = std::make_unique<ZstdSource>(std::move(in_));
          break;
        default:
          impl_ = std::make_unique<PlainSource>(std::move(in_));
          break;
      }
    }
    return impl_->Next();
  }

 private:
  std::unique_ptr<PeekingSource> in_;
  std::unique_ptr<ChunkSource> impl_;
};

class PrefetchSource : public ChunkSource {
 public:
  PrefetchSource(std::unique_ptr<ChunkSource> in, size_t depth)
      : in_(std::move(in)), depth_(std::max<size_t>(1, depth)) {
    thread_ = std::thread([this] { Run(); });
  }

  ~PrefetchSource() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  absl::StatusOr<std::string_view> Next() override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!current_.empty()) {
      free_.push_back(std::move(current_));
      current_.clear();
      cv_.notify_all();
    }
    cv_.wait(lock, [this] { return !ready_.empty() || finished_; });
    if (!ready_.empty()) {
      current_ = std::move(ready_.front());
      ready_.pop_front();
      cv_.notify_all();
      return std::string_view(current_);
    }
    if (!status_.ok()) return status_;
    return std::string_view();
  }

 private:
  void Run() {
    while (true) {
      std::string buf;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || ready_.size() < depth_; });
        if (stop_) break;
        if (!free_.empty()) {
          buf = std::move(free_.back());
          free_.pop_back();
        }
      }
      absl::StatusOr<std::string_view> chunk = in_->Next();
      std::lock_guard<std::mutex> lock(mu_);
      if (!chunk.ok() || chunk->empty()) {
        status_ = chunk.status();
        finished_ = true;
        cv_.notify_all();
        break;
      }
      buf.assign(chunk->data(), chunk->size());
      ready_.push_back(std::move(buf));
      cv_.notify_all();
    }
    // The upstream chain stays alive until the destructor: the consumer may still read
    // results from it (a DigestingSource's Sum) after the end of the stream.
  }

  std::unique_ptr<ChunkSource> in_;
  const size_t depth_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> ready_;  // Guarded by mu_.
  std::vector<std::string> free_;  // Guarded by mu_: buffers to reuse.
  std::string current_;            // Consumer's chunk.
  bool finished_ = false;          // Guarded by mu_.
  bool stop_ = false;              // Guarded by mu_.
  absl::Status status_;            // Guarded by mu_.
};

class PassCompressor : public Compressor {
 public:
  explicit PassCompressor(ByteSink out) : out_(std::move(out)) {}
  absl::Status Write(std::string_view data) override { return out_(data); }
  absl::Status Close() override { return absl::OkStatus(); }

 private:
  ByteSink out_;
};

class GzipCompressor : public Compressor {
 public:
  explicit GzipCompressor(ByteSink out)
      : out_(std::move(out)),
        stream_(std::make_unique<isal_zstream>()),
        level_buf_(ISAL_DEF_LVL1_DEFAULT),
        buf_(1 << 20) {
    isal_deflate_init(stream_.get());
    stream_->level = 1;
    stream_->level_buf = level_buf_.data();
    stream_->level_buf_size = static_cast<uint32_t>(level_buf_.size());
    stream_->gzip_flag = IGZIP_GZIP;
  }

  absl::Status Write(std::string_view data) override { return Deflate(data, false); }
  absl::Status Close() override { return Deflate({}, true); }

 private:
  absl::Status Deflate(std::string_view data, bool end) {
    stream_->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(data.data()));
    stream_->avail_in = static_cast<uint32_t>(data.size());
    stream_->end_of_stream = end ? 1 : 0;
    do {
      stream_->next_out = buf_.data();
      stream_->avail_out = static_cast<uint32_t>(buf_.size());
      int rc = isal_deflate(stream_.get());
      if (rc != COMP_OK) return InternalError(fmt::format("gzip: deflate error {}", rc));
      size_t n = buf_.size() - stream_->avail_out;
      if (n > 0) {
        RETURN_IF_ERROR(out_(std::string_view(reinterpret_cast<char*>(buf_.data()), n)));
      }
    } while (stream_->avail_in > 0 || (end && stream_->internal_state.state != ZSTATE_END));
    return absl::OkStatus();
  }

  ByteSink out_;
  std::unique_ptr<isal_zstream> stream_;
  std::vector<uint8_t> level_buf_;
  std::vector<uint8_t> buf_;
};

class ZstdCompressor : public Compressor {
 public:
  explicit ZstdCompressor(ByteSink out)
      : out_(std::move(out)), ctx_(ZSTD_createCCtx()), buf_(ZSTD_CStreamOutSize()) {
    ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, 3);
  }
  ~ZstdCompressor() override { ZSTD_freeCCtx(ctx_); }

  absl::Status Write(std::string_view data) override { return Compress(data, ZSTD_e_continue); }
  absl::Status Close() override { return Compress({}, ZSTD_e_end); }

 private:
  absl::Status Compress(std::string_view data, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in = {data.data(), data.size(), 0};
    while (true) {
      ZSTD_outBuffer out = {buf_.data(), buf_.size(), 0};
      size_t rc = ZSTD_compressStream2(ctx_, &out, &in, mode);
      if (ZSTD_isError(rc)) return InternalError(fmt::format("zstd: {}", ZSTD_getErrorName(rc)));
      if (out.pos > 0) RETURN_IF_ERROR(out_(std::string_view(buf_.data(), out.pos)));
      if (mode == ZSTD_e_end ? rc == 0 : in.pos == in.size) break;
    }
    return absl::OkStatus();
  }

  ByteSink out_;
  ZSTD_CCtx* ctx_;
  std::vector<char> buf_;
};

}  // namespace

std::unique_ptr<Compressor> NewCompressor(Compression c, ByteSink out) {
  switch (c) {
    case Compression::kGzip:
      return std::make_unique<GzipCompressor>(std::move(out));
    case Compression::kZstd:
      return std::make_unique<ZstdCompressor>(std::move(out));
    default:
      return std::make_unique<PassCompressor>(std::move(out));
  }
}

std::unique_ptr<ChunkSource> NewVerifyingReader(ReadAtFn read, std::int64_t size,
                                                digest::Digest expected, size_t chunk_size) {
  return std::make_unique<VerifyingReader>(std::move(read), size, std::move(expected), chunk_size);
}

std::unique_ptr<ChunkSource> NewStringSource(std::string_view data, size_t chunk_size) {
  return std::make_unique<StringSource>(data, chunk_size);
}

std::unique_ptr<ChunkSource> NewDecompressor(std::unique_ptr<ChunkSource> in) {
  return std::make_unique<Decompressor>(std::move(in));
}

absl::StatusOr<std::string_view> DigestingSource::Next() {
  ASSIGN_OR_RETURN(std::string_view chunk, in_->Next());
  hash_.Update(chunk);
  return chunk;
}

std::unique_ptr<ChunkSource> NewPrefetchSource(std::unique_ptr<ChunkSource> in, size_t depth) {
  return std::make_unique<PrefetchSource>(std::move(in), depth);
}

absl::Status Drain(ChunkSource& in) {
  while (true) {
    ASSIGN_OR_RETURN(std::string_view chunk, in.Next());
    if (chunk.empty()) return absl::OkStatus();
  }
}

}  // namespace berth::snapshot::diff
