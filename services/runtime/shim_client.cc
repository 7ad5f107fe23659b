#include "services/runtime/shim_client.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "fmt/format.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "services/runtime/shim/frame.h"

namespace berth::runtime {

namespace sv1 = berth::shim::v1;

absl::StatusOr<int> DialUnix(const std::string& path) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path[0] != '/' || path.size() >= sizeof addr.sun_path) {
    return InvalidArgumentError(fmt::format("dial {:?}: not a usable socket path", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoToStatus("socket", path, errno);
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(fd);
    // A missing or dead socket means the shim is not there.
    if (err == ENOENT || err == ECONNREFUSED) {
      return UnavailableError(fmt::format("dial shim {:?}: {}", path, std::strerror(err)));
    }
    return ErrnoToStatus("dial shim", path, err);
  }
  return fd;
}

absl::StatusOr<std::unique_ptr<ShimClient>> ShimClient::Connect(const std::string& socket,
                                                                std::chrono::milliseconds timeout) {
  std::unique_ptr<ShimClient> client(new ShimClient(socket));
  sv1::Request req;
  req.mutable_connect();
  ASSIGN_OR_RETURN(sv1::Response resp, client->Call(req, timeout));
  client->info_ = resp.connect();
  return client;
}

ShimClient::~ShimClient() { Close(); }

absl::StatusOr<sv1::Response> ShimClient::Call(const sv1::Request& request,
                                               std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> lock(call_mu_);
  if (call_fd_ < 0) {
    ASSIGN_OR_RETURN(call_fd_, DialUnix(socket_));
  }
  int timeout_ms = static_cast<int>(timeout.count());
  int err = shim::WriteFrame(call_fd_, request.SerializeAsString(), timeout_ms);
  std::string payload;
  if (err == 0) err = shim::ReadFrame(call_fd_, &payload, timeout_ms);
  if (err != 0) {
    close(call_fd_);
    call_fd_ = -1;
    if (err == ETIMEDOUT) {
      return DeadlineExceededError(fmt::format("shim {:?}: no reply in time", socket_));
    }
    return UnavailableError(fmt::format("shim {:?}: {}", socket_, std::strerror(err)));
  }
  sv1::Response resp;
  if (!resp.ParseFromString(payload)) {
    return InternalError(fmt::format("shim {:?}: malformed reply", socket_));
  }
  if (resp.code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(resp.code()), resp.message());
  }
  return resp;
}

absl::Status ShimClient::Subscribe(EventHandler handler, std::function<void()> on_closed) {
  ASSIGN_OR_RETURN(int fd, DialUnix(socket_));
  sv1::Request req;
  req.mutable_subscribe();
  if (int err = shim::WriteFrame(fd, req.SerializeAsString(), 5000); err != 0) {
    close(fd);
    return UnavailableError(fmt::format("subscribe to shim {:?}: {}", socket_, strerror(err)));
  }
  {
    std::lock_guard<std::mutex> lock(event_mu_);
    event_fd_ = fd;
  }
  event_thread_ = std::thread(
      [this, fd, handler = std::move(handler), on_closed = std::move(on_closed)]() mutable {
        EventLoop(fd, std::move(handler), std::move(on_closed));
      });
  return absl::OkStatus();
}

void ShimClient::EventLoop(int fd, EventHandler handler, std::function<void()> on_closed) {
  for (;;) {
    std::string payload;
    int err = shim::ReadFrame(fd, &payload, -1);
    if (err != 0) break;
    sv1::Event event;
    if (!event.ParseFromString(payload)) {
      log::Error("malformed event from shim socket={:?}", socket_);
      continue;
    }
    absl::Status s = handler(event);
    if (!s.ok()) {
      log::Error("event from shim not handled (it will be sent again) socket={:?} error={:?}",
                 socket_, s.ToString());
      continue;
    }
    sv1::Request ack;
    ack.mutable_ack()->set_seq(event.seq());
    if (shim::WriteFrame(fd, ack.SerializeAsString(), 5000) != 0) break;
  }
  if (!closing_.load() && on_closed) on_closed();
}

void ShimClient::Close() {
  closing_.store(true);
  {
    std::lock_guard<std::mutex> lock(event_mu_);
    if (event_fd_ >= 0) shutdown(event_fd_, SHUT_RDWR);
  }
  if (event_thread_.joinable()) {
    // From the event thread itself (a handler closing its own client) it cannot be joined; it
    // ends on its next read of the closed socket and, seeing closing_, calls nothing.
    if (event_thread_.get_id() == std::this_thread::get_id()) {
      event_thread_.detach();
    } else {
      event_thread_.join();
    }
  }
  {
    std::lock_guard<std::mutex> lock(event_mu_);
    if (event_fd_ >= 0) {
      close(event_fd_);
      event_fd_ = -1;
    }
  }
  std::lock_guard<std::mutex> lock(call_mu_);
  if (call_fd_ >= 0) {
    close(call_fd_);
    call_fd_ = -1;
  }
}

}  // namespace berth::runtime
