// ShimClient: berth-runtime's end of one berth-shim's API (proto/berth/shim/v1/shim.proto,
// framing in shim/frame.h) over the shim's unix socket.
//
// Calls go over one connection, one at a time (the shim answers in order anyway); a broken
// connection is reopened by the next call. Events come over a second connection read by a
// thread of its own: each Event is given to the handler, and acknowledged to the shim only
// when the handler returns OK (it has made the event durable), so the shim sends it again
// after a reconnect otherwise.
//
// Thread-safety: Call may be used from any thread (calls are serialised); Subscribe once;
// Close from any thread but the event thread.
#ifndef BERTH_SERVICES_RUNTIME_SHIM_CLIENT_H_
#define BERTH_SERVICES_RUNTIME_SHIM_CLIENT_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/berth/shim/v1/shim.pb.h"

namespace berth::runtime {

class ShimClient {
 public:
  using EventHandler = std::function<absl::Status(const berth::shim::v1::Event&)>;

  // Connects to the shim at `socket` and checks it answers Connect within `timeout`.
  // Unavailable naming the socket when nothing (or something else) answers.
  static absl::StatusOr<std::unique_ptr<ShimClient>> Connect(
      const std::string& socket, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Close().
  ~ShimClient();
  ShimClient(const ShimClient&) = delete;
  ShimClient& operator=(const ShimClient&) = delete;

  // Sends `request` and returns the shim's response; a non-zero response code is returned as
  // that absl status with the shim's message. Unavailable when the shim cannot be reached or
  // the connection breaks; DeadlineExceeded after `timeout`.
  absl::StatusOr<berth::shim::v1::Response> Call(
      const berth::shim::v1::Request& request,
      std::chrono::milliseconds timeout = std::chrono::seconds(60));

  // Starts the event thread. `on_closed` runs (on that thread) once when the event stream
  // ends other than through Close(): the shim went away. Unavailable when the subscription
  // cannot be opened.
  absl::Status Subscribe(EventHandler handler, std::function<void()> on_closed);

  // Stops the event thread (without calling on_closed) and closes both connections.
  void Close();

  // What Connect learned.
  const berth::shim::v1::ConnectResponse& info() const { return info_; }
  const std::string& socket() const { return socket_; }

 private:
  explicit ShimClient(std::string socket) : socket_(std::move(socket)) {}
  void EventLoop(int fd, EventHandler handler, std::function<void()> on_closed);

  const std::string socket_;
  berth::shim::v1::ConnectResponse info_;
  std::mutex call_mu_;
  int call_fd_ = -1;  // guarded by call_mu_
  std::mutex event_mu_;
  int event_fd_ = -1;  // guarded by event_mu_
  std::atomic<bool> closing_{false};
  std::thread event_thread_;
};

// Connects a SOCK_STREAM unix socket to `path` (non-abstract). The fd, or an errno-derived
// status.
absl::StatusOr<int> DialUnix(const std::string& path);

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_SHIM_CLIENT_H_
