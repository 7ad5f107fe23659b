#include "lib/testing/http_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "lib/status/status.h"

namespace berth::testing {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits until `fd` is ready for `events` or the deadline passes.
absl::Status Await(int fd, short events, std::chrono::steady_clock::time_point deadline,
                   const std::string& what) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return DeadlineExceededError(what + ": timed out");
    struct pollfd pfd = {fd, events, 0};
    int r = poll(&pfd, 1, static_cast<int>(left.count()));
    if (r > 0) return absl::OkStatus();
    if (r < 0 && errno != EINTR) return ErrnoToStatus("poll", what, errno);
  }
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(const std::string& host, int port, const std::string& path,
                                     std::chrono::milliseconds timeout) {
  const std::string url = "http://" + host + ":" + std::to_string(port) + path;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return InvalidArgumentError("GET " + Quote(url) + ": host is not an IPv4 address");
  }
  Fd sock(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (sock.get() < 0) return ErrnoToStatus("socket", url, errno);
  if (connect(sock.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS) return ErrnoToStatus("connect", url, errno);
    RETURN_IF_ERROR(Await(sock.get(), POLLOUT, deadline, "connect " + Quote(url)));
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return ErrnoToStatus("connect", url, err);
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + host + ":" +
                              std::to_string(port) + "\r\nConnection: close\r\n\r\n";
  size_t sent = 0;
  while (sent < request.size()) {
    RETURN_IF_ERROR(Await(sock.get(), POLLOUT, deadline, "send " + Quote(url)));
    ssize_t n = send(sock.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return ErrnoToStatus("send", url, errno);
    if (n > 0) sent += static_cast<size_t>(n);
  }
  std::string reply;
  char buf[16384];
  for (;;) {
    RETURN_IF_ERROR(Await(sock.get(), POLLIN, deadline, "read " + Quote(url)));
    ssize_t n = read(sock.get(), buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return ErrnoToStatus("read", url, errno);
    }
    reply.append(buf, static_cast<size_t>(n));
  }
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  const size_t header_end = reply.find("\r\n\r\n");
  if (reply.rfind("HTTP/", 0) != 0 || header_end == std::string::npos) {
    return InternalError("GET " + Quote(url) + ": reply is not HTTP");
  }
  const size_t space = reply.find(' ');
  HttpResponse response;
  response.status = std::atoi(reply.c_str() + space + 1);
  response.body = reply.substr(header_end + 4);
  return response;
}

}  // namespace berth::testing
