#include "services/runtime/shim/frame.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace berth::shim {
namespace {

int64_t NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// Waits for `events` on fd until the absolute monotonic deadline (-1: none). 0 or errno.
int WaitFd(int fd, short events, int64_t deadline_ms) {
  for (;;) {
    int timeout = -1;
    if (deadline_ms >= 0) {
      int64_t left = deadline_ms - NowMs();
      if (left <= 0) return ETIMEDOUT;
      timeout = static_cast<int>(left);
    }
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return ETIMEDOUT;
    return 0;
  }
}

int WriteAll(int fd, const char* data, size_t size, int64_t deadline_ms) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        if (int err = WaitFd(fd, POLLOUT, deadline_ms); err != 0) return err;
        continue;
      }
      return errno;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

int ReadAll(int fd, char* data, size_t size, int64_t deadline_ms) {
  while (size > 0) {
    if (int err = WaitFd(fd, POLLIN, deadline_ms); err != 0) return err;
    ssize_t n = read(fd, data, size);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return errno;
    }
    if (n == 0) return ECONNRESET;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace

void AppendFrame(const std::string& payload, std::string* out) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  char header[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                    static_cast<char>(n >> 8), static_cast<char>(n)};
  out->append(header, 4);
  out->append(payload);
}

int WriteFrame(int fd, const std::string& payload, int timeout_ms) {
  if (payload.size() > kMaxFrameBytes) return EMSGSIZE;
  std::string frame;
  frame.reserve(payload.size() + 4);
  AppendFrame(payload, &frame);
  int64_t deadline = timeout_ms < 0 ? -1 : NowMs() + timeout_ms;
  return WriteAll(fd, frame.data(), frame.size(), deadline);
}

int ReadFrame(int fd, std::string* payload, int timeout_ms) {
  int64_t deadline = timeout_ms < 0 ? -1 : NowMs() + timeout_ms;
  unsigned char header[4];
  if (int err = ReadAll(fd, reinterpret_cast<char*>(header), 4, deadline); err != 0) return err;
  uint32_t n = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
               (uint32_t{header[2]} << 8) | uint32_t{header[3]};
  if (n > kMaxFrameBytes) return EMSGSIZE;
  payload->resize(n);
  if (n == 0) return 0;
  return ReadAll(fd, payload->data(), n, deadline);
}

int FrameReader::Next(std::string* payload) {
  size_t available = buffer_.size() - offset_;
  if (available < 4) return 0;
  const unsigned char* p = reinterpret_cast<const unsigned char*>(buffer_.data() + offset_);
  uint32_t n =
      (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  if (n > kMaxFrameBytes) return -1;
  if (available < 4 + size_t{n}) return 0;
  payload->assign(buffer_, offset_ + 4, n);
  offset_ += 4 + size_t{n};
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  } else if (offset_ > (64u << 10)) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return 1;
}

}  // namespace berth::shim
