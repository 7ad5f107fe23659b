// Framing of the shim protocol (proto/berth/shim/v1/shim.proto): each message travels as a
// 4-byte big-endian length followed by that many bytes of one serialized protobuf message.
//
// Used by both ends: berth-shim (non-blocking sockets, FrameReader) and berth-runtime's shim
// client (blocking sockets, ReadFrame/WriteFrame). Plain C++ and errno on purpose: the shim
// links nothing but libc, libstdc++ and protobuf-lite.
//
// Thread-safety: free functions are safe from any thread on distinct fds; a FrameReader
// belongs to one thread.
#ifndef BERTH_SERVICES_RUNTIME_SHIM_FRAME_H_
#define BERTH_SERVICES_RUNTIME_SHIM_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace berth::shim {

// Largest payload accepted; a bigger length prefix is a protocol error.
inline constexpr uint32_t kMaxFrameBytes = 4u << 20;

// Appends the frame for `payload` (length prefix + bytes) to `out`.
void AppendFrame(const std::string& payload, std::string* out);

// Writes one frame to a blocking fd, waiting at most `timeout_ms` (< 0: forever) for the
// socket to take it. Returns 0, or an errno (ETIMEDOUT, EPIPE, EMSGSIZE, ...).
int WriteFrame(int fd, const std::string& payload, int timeout_ms);

// Reads one frame from a blocking or non-blocking fd, waiting at most `timeout_ms` (< 0:
// forever) in total. Returns 0 and fills `payload`, or an errno: ECONNRESET for a clean EOF
// before a whole frame, EMSGSIZE for an oversized length, ETIMEDOUT, ...
int ReadFrame(int fd, std::string* payload, int timeout_ms);

// Incremental decoder for a non-blocking socket: feed it what read() returned, take whole
// frames out.
class FrameReader {
 public:
  // Adds bytes read from the socket.
  void Feed(const char* data, size_t size) { buffer_.append(data, size); }
  // Moves the next whole frame into `payload`: 1 when one was taken, 0 when more bytes are
  // needed, -1 for a protocol error (oversized frame).
  int Next(std::string* payload);
  // Bytes buffered but not yet taken.
  size_t buffered() const { return buffer_.size() - offset_; }

 private:
  std::string buffer_;
  size_t offset_ = 0;
};

}  // namespace berth::shim

#endif  // BERTH_SERVICES_RUNTIME_SHIM_FRAME_H_
