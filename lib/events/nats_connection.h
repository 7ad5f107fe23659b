// Internal to lib/events: a nats.c connection with berth's settings and safe callback
// lifetimes. Not for use outside lib/events (it exposes nats.c types).
//
// Two kinds:
//  - Persistent (for publishers and subscribers): never fails because the server is down.
//    It connects in the background, reconnects forever, and tells a Listener about
//    (re)connects and disconnects.
//  - Once (for one-shot JetStream administration): connects now or fails with Unavailable.
//
// nats.c calls the listener from its own callback thread. The destructor closes the
// connection and waits for nats.c's "closed" callback, the last one it makes, so no
// callback can run after the destructor returns.
//
// Thread-safety: get() and Connected() are safe from any thread.
#ifndef BERTH_LIB_EVENTS_NATS_CONNECTION_H_
#define BERTH_LIB_EVENTS_NATS_CONNECTION_H_

#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::events::internal {

// Maps a nats.c status to absl: `op "url": <nats text>[: <last error detail>]`.
// NATS_TIMEOUT -> DeadlineExceeded; NATS_NO_SERVER, NATS_CONNECTION_CLOSED, NATS_IO_ERROR,
// NATS_NOT_YET_CONNECTED, NATS_STALE_CONNECTION, NATS_INSUFFICIENT_BUFFER,
// NATS_CONNECTION_DISCONNECTED -> Unavailable; NATS_NOT_FOUND -> NotFound; NATS_INVALID_ARG,
// NATS_INVALID_SUBJECT, NATS_MAX_PAYLOAD -> InvalidArgument; NATS_NO_MEMORY ->
// ResourceExhausted; NATS_NO_SERVER_SUPPORT -> Unimplemented; others -> Internal.
absl::Status FromNats(natsStatus status, std::string_view op, std::string_view url);

struct ConnectionOptions {
  // Server URL(s), comma-separated ("nats://127.0.0.1:4222").
  std::string url;
  // Connection name shown by the server's monitoring (e.g. "berth-content").
  std::string name;
  // Pause between reconnect attempts to the same server.
  std::chrono::milliseconds reconnect_wait{250};
  // Bytes nats.c itself holds while it is reconnecting (see nats_publisher.h).
  int reconnect_buffer_bytes = 64 << 10;
};

struct Listener {
  // The connection is up: first connect or a reconnect.
  std::function<void()> on_connected;
  // The connection went down (nats.c is reconnecting).
  std::function<void()> on_disconnected;
};

class NatsConnection {
 public:
  // Persistent connection: OK even when no server is reachable yet. InvalidArgument for a
  // malformed URL.
  static absl::StatusOr<std::unique_ptr<NatsConnection>> Connect(const ConnectionOptions& options,
                                                                 Listener listener);

  // One-shot connection: OK only if the server answered within `timeout`.
  static absl::StatusOr<std::unique_ptr<NatsConnection>> ConnectOnce(
      const std::string& url, std::chrono::milliseconds timeout);

  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  natsConnection* get() const { return conn_; }
  const std::string& url() const { return url_; }
  bool Connected() const;

 private:
  // What nats.c's callbacks see (their closure). Separate from the connection object so that
  // it can outlive it if nats.c never confirms the close.
  struct CallbackState {
    std::mutex mu;
    std::condition_variable closed_cv;
    bool closed = false;
    Listener listener;  // Called with mu held; cleared when the connection goes away.
  };

  NatsConnection() = default;
  static void OnConnected(natsConnection* nc, void* closure);
  static void OnDisconnected(natsConnection* nc, void* closure);
  static void OnClosed(natsConnection* nc, void* closure);

  std::string url_;
  natsConnection* conn_ = nullptr;
  natsOptions* options_ = nullptr;
  CallbackState* callbacks_ = nullptr;  // Owned; see the destructor.
};

}  // namespace berth::events::internal

#endif  // BERTH_LIB_EVENTS_NATS_CONNECTION_H_
