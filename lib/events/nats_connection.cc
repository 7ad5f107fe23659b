#include "lib/events/nats_connection.h"

#include "lib/status/status.h"

namespace berth::events::internal {
namespace {

// How long the destructor waits for nats.c's closed callback before giving up on it (and
// leaking the small callback state rather than risking a use after free).
constexpr std::chrono::seconds kCloseWait(10);

}  // namespace

absl::Status FromNats(natsStatus status, std::string_view op, std::string_view url) {
  if (status == NATS_OK) return absl::OkStatus();
  std::string message(op);
  if (!url.empty()) message += " " + Quote(url);
  message += ": ";
  message += natsStatus_GetText(status);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0' && last == status) {
    message += ": ";
    message += detail;
  }
  switch (status) {
    case NATS_TIMEOUT:
      return DeadlineExceededError(message);
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_IO_ERROR:
    case NATS_NOT_YET_CONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_INSUFFICIENT_BUFFER:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_DRAINING:
      return UnavailableError(message);
    case NATS_NOT_FOUND:
      return NotFoundError(message);
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_MAX_PAYLOAD:
      return InvalidArgumentError(message);
    case NATS_NO_MEMORY:
      return ResourceExhaustedError(message);
    case NATS_NO_SERVER_SUPPORT:
      return UnimplementedError(message);
    default:
      return InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<NatsConnection>> NatsConnection::Connect(
    const ConnectionOptions& options, Listener listener) {
  std::unique_ptr<NatsConnection> c(new NatsConnection());
  c->url_ = options.url;
  c->callbacks_ = new CallbackState();
  c->callbacks_->listener = std::move(listener);
  void* closure = c->callbacks_;
  natsStatus s = natsOptions_Create(&c->options_);
  if (s == NATS_OK) s = natsOptions_SetURL(c->options_, options.url.c_str());
  if (s == NATS_OK && !options.name.empty()) {
    s = natsOptions_SetName(c->options_, options.name.c_str());
  }
  // Reconnect forever: a service keeps running while NATS is down and catches up after.
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(c->options_, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(c->options_, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(c->options_, options.reconnect_wait.count());
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectBufSize(c->options_, options.reconnect_buffer_bytes);
  }
  // The first connect happens in the background too (NATS_NOT_YET_CONNECTED below).
  if (s == NATS_OK) {
    s = natsOptions_SetRetryOnFailedConnect(c->options_, true, &NatsConnection::OnConnected,
                                            closure);
  }
  if (s == NATS_OK)
    s = natsOptions_SetReconnectedCB(c->options_, &NatsConnection::OnConnected, closure);
  if (s == NATS_OK) {
    s = natsOptions_SetDisconnectedCB(c->options_, &NatsConnection::OnDisconnected, closure);
  }
  if (s == NATS_OK) s = natsOptions_SetClosedCB(c->options_, &NatsConnection::OnClosed, closure);
  if (s != NATS_OK) return FromNats(s, "configure nats connection to", options.url);

  s = natsConnection_Connect(&c->conn_, c->options_);
  if (s == NATS_OK) {
    // Connected right away: nats.c makes no connected callback in that case.
    OnConnected(c->conn_, closure);
  } else if (s != NATS_NOT_YET_CONNECTED) {
    return FromNats(s, "connect to nats", options.url);
  }
  return c;
}

absl::StatusOr<std::unique_ptr<NatsConnection>> NatsConnection::ConnectOnce(
    const std::string& url, std::chrono::milliseconds timeout) {
  std::unique_ptr<NatsConnection> c(new NatsConnection());
  c->url_ = url;
  natsStatus s = natsOptions_Create(&c->options_);
  if (s == NATS_OK) s = natsOptions_SetURL(c->options_, url.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(c->options_, timeout.count());
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(c->options_, false);
  if (s != NATS_OK) return FromNats(s, "configure nats connection to", url);
  s = natsConnection_Connect(&c->conn_, c->options_);
  if (s != NATS_OK) return FromNats(s, "connect to nats", url);
  return c;
}

NatsConnection::~NatsConnection() {
  bool forget_callbacks = false;
  if (conn_ != nullptr) {
    natsConnection_Close(conn_);
    if (callbacks_ != nullptr) {
      std::unique_lock<std::mutex> lock(callbacks_->mu);
      if (!callbacks_->closed_cv.wait_for(lock, kCloseWait,
                                          [this] { return callbacks_->closed; })) {
        // nats.c may still call back with this closure: stop the listener and leak the small
        // state rather than risk a use after free on nats.c's callback thread.
        callbacks_->listener = Listener();
        forget_callbacks = true;
      }
    }
    natsConnection_Destroy(conn_);
  }
  if (!forget_callbacks) delete callbacks_;
  if (options_ != nullptr) natsOptions_Destroy(options_);
}

bool NatsConnection::Connected() const {
  return conn_ != nullptr && natsConnection_Status(conn_) == NATS_CONN_STATUS_CONNECTED;
}

void NatsConnection::OnConnected(natsConnection*, void* closure) {
  auto* state = static_cast<CallbackState*>(closure);
  std::lock_guard<std::mutex> lock(state->mu);
  if (state->listener.on_connected) state->listener.on_connected();
}

void NatsConnection::OnDisconnected(natsConnection*, void* closure) {
  auto* state = static_cast<CallbackState*>(closure);
  std::lock_guard<std::mutex> lock(state->mu);
  if (state->listener.on_disconnected) state->listener.on_disconnected();
}

void NatsConnection::OnClosed(natsConnection*, void* closure) {
  auto* state = static_cast<CallbackState*>(closure);
  std::lock_guard<std::mutex> lock(state->mu);
  state->closed = true;
  state->closed_cv.notify_all();
}

}  // namespace berth::events::internal
