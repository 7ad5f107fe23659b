#include "lib/events/nats_publisher.h"

#include <nats/nats.h>

#include "lib/events/envelope.h"
#include "lib/events/jetstream_internal.h"
#include "lib/events/nats_connection.h"
#include "lib/events/topics.h"
#include "lib/log/log.h"
#include "lib/status/status.h"

namespace berth::events {
namespace {

// How long one JetStream stream check may take on the sender thread.
constexpr std::chrono::seconds kStreamTimeout(5);
// How long Close() lets nats.c push out what it already holds.
constexpr std::chrono::seconds kFlushTimeout(1);

// Publish errors that retrying cannot fix: the event is dropped.
bool IsPermanent(natsStatus s) {
  switch (s) {
    case NATS_MAX_PAYLOAD:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_ARG:
    case NATS_NO_SERVER_SUPPORT:
    case NATS_NO_MEMORY:
      return true;
    default:
      return false;
  }
}

}  // namespace

NatsPublisher::NatsPublisher(NatsPublisherOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<NatsPublisher>> NatsPublisher::Create(NatsPublisherOptions options) {
  if (options.max_buffered_events == 0) {
    return InvalidArgumentError("create nats publisher: max_buffered_events must be > 0");
  }
  if (options.stream.has_value()) {
    if (options.stream->name.empty() || options.stream->subjects.empty()) {
      return InvalidArgumentError("create nats publisher: stream needs a name and subjects");
    }
  }
  std::unique_ptr<NatsPublisher> publisher(new NatsPublisher(std::move(options)));
  NatsPublisher* self = publisher.get();
  internal::ConnectionOptions conn;
  conn.url = self->options_.url;
  conn.name = self->options_.client_name;
  conn.reconnect_wait = self->options_.reconnect_wait;
  conn.reconnect_buffer_bytes = self->options_.reconnect_buffer_bytes;
  internal::Listener listener;
  listener.on_connected = [self] { self->OnConnected(); };
  listener.on_disconnected = [self] { self->OnDisconnected(); };
  ASSIGN_OR_RETURN(self->conn_, internal::NatsConnection::Connect(conn, std::move(listener)));
  self->sender_ = std::thread([self] { self->Run(); });
  return publisher;
}

NatsPublisher::~NatsPublisher() {
  Close();
  // Before the members the callbacks touch (mu_, wake_) are destroyed: the connection's
  // destructor waits until nats.c has made its last callback.
  conn_.reset();
}

absl::Status NatsPublisher::Publish(const std::string& ns, const std::string& topic,
                                    const google::protobuf::Message& event, std::string type_url) {
  ASSIGN_OR_RETURN(Envelope envelope, MakeEnvelope(ns, topic, event, std::move(type_url)));
  return Enqueue(envelope);
}

absl::Status NatsPublisher::Forward(const Envelope& envelope) {
  RETURN_IF_ERROR(ValidateEnvelope(envelope));
  return Enqueue(envelope);
}

absl::Status NatsPublisher::Enqueue(const Envelope& envelope) {
  Pending event;
  event.subject = SubjectFor(envelope.namespace_(), envelope.topic());
  event.ns = envelope.namespace_();
  event.topic = envelope.topic();
  if (!envelope.SerializeToString(&event.payload)) {
    return InternalError("publish " + Quote(event.topic) + ": envelope does not serialize");
  }
  if (event.payload.size() > options_.max_event_bytes) {
    return InvalidArgumentError("publish " + Quote(event.topic) + ": event of " +
                                std::to_string(event.payload.size()) + " bytes exceeds " +
                                std::to_string(options_.max_event_bytes));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (closing_) {
    return UnavailableError("publish " + Quote(event.topic) + ": publisher is closed");
  }
  if (queue_.size() >= options_.max_buffered_events) DropOldestLocked();
  queue_.push_back(std::move(event));
  wake_.notify_one();
  return absl::OkStatus();
}

void NatsPublisher::DropOldestLocked() {
  queue_.pop_front();
  dropped_.fetch_add(1);
  if (!drop_logged_) {
    drop_logged_ = true;
    log::Warn("event buffer full ({} events): dropping the oldest until nats is back url={:?}",
              options_.max_buffered_events, options_.url);
  }
}

void NatsPublisher::OnConnected() {
  std::lock_guard<std::mutex> lock(mu_);
  connected_ = true;
  ++epoch_;
  drop_logged_ = false;
  log::Info("events: connected to nats url={:?} buffered={} dropped={}", options_.url,
            queue_.size(), dropped_.load());
  wake_.notify_all();
}

void NatsPublisher::OnDisconnected() {
  std::lock_guard<std::mutex> lock(mu_);
  connected_ = false;
  log::Warn("events: lost nats url={:?}; buffering up to {} events", options_.url,
            options_.max_buffered_events);
  idle_.notify_all();
}

void NatsPublisher::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  auto need_stream = [this] { return options_.stream.has_value() && stream_epoch_ != epoch_; };
  for (;;) {
    wake_.wait(lock,
               [&] { return stopping_ || (connected_ && (need_stream() || !queue_.empty())); });
    if (stopping_) return;

    if (need_stream()) {
      // Before the first event of this connection, so the stream stores all of them.
      const uint64_t epoch = epoch_;
      lock.unlock();
      absl::Status s =
          internal::EnsureStreamOn(conn_->get(), options_.url, *options_.stream, kStreamTimeout);
      if (!s.ok()) log::Warn("events: cannot ensure jetstream stream: {}", s.ToString());
      lock.lock();
      stream_epoch_ = epoch;
      continue;
    }

    Pending event = std::move(queue_.front());
    queue_.pop_front();
    in_flight_ = true;
    const uint64_t epoch = epoch_;
    lock.unlock();
    const bool done = Send(event);
    lock.lock();
    in_flight_ = false;
    if (!done) {
      // Back to the front, where it was: order is kept. Newer events may have filled the
      // queue meanwhile; then this one is the oldest and goes.
      if (queue_.size() >= options_.max_buffered_events) {
        dropped_.fetch_add(1);
      } else {
        queue_.push_front(std::move(event));
      }
      // Wait for the reconnect, or retry after a pause in case nats.c's disconnect callback
      // is still on its way.
      wake_.wait_for(lock, options_.reconnect_wait, [&] { return stopping_ || epoch_ != epoch; });
    }
    if (queue_.empty()) idle_.notify_all();
  }
}

bool NatsPublisher::Send(const Pending& event) {
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, event.subject.c_str(), nullptr, event.payload.data(),
                                static_cast<int>(event.payload.size()));
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, kTopicHeader, event.topic.c_str());
  if (s == NATS_OK) s = natsMsgHeader_Set(msg, kNamespaceHeader, event.ns.c_str());
  if (s == NATS_OK) s = natsConnection_PublishMsg(conn_->get(), msg);
  natsMsg_Destroy(msg);
  if (s == NATS_OK) {
    published_.fetch_add(1);
    return true;
  }
  if (IsPermanent(s)) {
    dropped_.fetch_add(1);
    log::Error(
        "events: dropping event: {}",
        internal::FromNats(s, "publish " + Quote(event.subject) + " to", options_.url).ToString());
    return true;
  }
  return false;
}

void NatsPublisher::Close() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (closing_) return;
    closing_ = true;
    if (sender_.joinable()) {
      idle_.wait_for(lock, options_.close_timeout,
                     [this] { return (queue_.empty() && !in_flight_) || !connected_; });
    }
    stopping_ = true;
    wake_.notify_all();
  }
  if (sender_.joinable()) sender_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!queue_.empty()) {
      log::Warn("events: closing with {} undelivered events", queue_.size());
      dropped_.fetch_add(queue_.size());
      queue_.clear();
    }
  }
  if (conn_ != nullptr && conn_->Connected()) {
    (void)natsConnection_FlushTimeout(conn_->get(),
                                      std::chrono::milliseconds(kFlushTimeout).count());
  }
}

uint64_t NatsPublisher::buffered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + (in_flight_ ? 1 : 0);
}

bool NatsPublisher::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connected_;
}

}  // namespace berth::events
