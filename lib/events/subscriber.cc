#include "lib/events/subscriber.h"

#include <nats/nats.h>

#include <condition_variable>
#include <mutex>

#include "lib/events/nats_connection.h"
#include "lib/events/nats_message.h"
#include "lib/status/status.h"

namespace berth::events {
namespace {

constexpr std::chrono::seconds kUnsubscribeWait(10);

}  // namespace

// The closure of nats.c's message and completion callbacks; see ~Subscriber.
struct Subscriber::Subscription {
  std::mutex mu;
  std::condition_variable complete_cv;
  bool complete = false;
  Subscriber* owner = nullptr;  // Null once the owner is gone.
  natsSubscription* sub = nullptr;

  static void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* self = static_cast<Subscription*>(closure);
    absl::StatusOr<ReceivedEvent> event = ParseNatsMessage(msg);
    natsMsg_Destroy(msg);
    std::lock_guard<std::mutex> lock(self->mu);
    if (self->owner == nullptr) return;
    if (!event.ok()) {
      self->owner->malformed_.fetch_add(1);
      return;
    }
    self->owner->Deliver(std::move(event).value());
  }

  static void OnComplete(void* closure) {
    auto* self = static_cast<Subscription*>(closure);
    std::lock_guard<std::mutex> lock(self->mu);
    self->complete = true;
    self->complete_cv.notify_all();
  }
};

absl::StatusOr<std::unique_ptr<Subscriber>> Subscriber::Create(SubscriberOptions options,
                                                               Callback callback) {
  if (options.subject.empty()) return InvalidArgumentError("subscribe: empty subject");
  if (!callback)
    return InvalidArgumentError("subscribe " + Quote(options.subject) + ": no callback");
  std::unique_ptr<Subscriber> self(new Subscriber());
  self->options_ = std::move(options);
  self->callback_ = std::move(callback);

  internal::ConnectionOptions conn;
  conn.url = self->options_.url;
  conn.name = self->options_.client_name;
  conn.reconnect_wait = self->options_.reconnect_wait;
  ASSIGN_OR_RETURN(self->conn_, internal::NatsConnection::Connect(conn, internal::Listener()));

  self->sub_ = std::make_unique<Subscription>();
  self->sub_->owner = self.get();
  // Subscribing works while disconnected too: nats.c sends it once connected.
  natsStatus s =
      natsConnection_Subscribe(&self->sub_->sub, self->conn_->get(), self->options_.subject.c_str(),
                               &Subscription::OnMessage, self->sub_.get());
  if (s == NATS_OK) {
    s = natsSubscription_SetOnCompleteCB(self->sub_->sub, &Subscription::OnComplete,
                                         self->sub_.get());
  }
  // Slow consumers lose messages rather than grow memory without bound.
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(self->sub_->sub, 65536, 256 << 20);
  if (s != NATS_OK) {
    absl::Status status =
        internal::FromNats(s, "subscribe " + Quote(self->options_.subject) + " on", conn.url);
    if (self->sub_->sub != nullptr) {
      natsSubscription_Unsubscribe(self->sub_->sub);
      natsSubscription_Destroy(self->sub_->sub);
      self->sub_->sub = nullptr;
    }
    return status;
  }
  return self;
}

Subscriber::~Subscriber() {
  if (sub_ == nullptr) return;
  if (sub_->sub != nullptr) {
    natsSubscription_Unsubscribe(sub_->sub);
    std::unique_lock<std::mutex> lock(sub_->mu);
    const bool complete =
        sub_->complete_cv.wait_for(lock, kUnsubscribeWait, [this] { return sub_->complete; });
    sub_->owner = nullptr;
    lock.unlock();
    natsSubscription_Destroy(sub_->sub);
    if (!complete) {
      // nats.c may still deliver with this closure; it now finds no owner. Leak it rather
      // than free memory nats.c can touch.
      (void)sub_.release();
    }
  }
  conn_.reset();
}

void Subscriber::Deliver(ReceivedEvent event) {
  try {
    callback_(event);
    received_.fetch_add(1);
  } catch (...) {
    malformed_.fetch_add(1);
  }
}

absl::Status Subscriber::Sync(std::chrono::milliseconds timeout) {
  if (!conn_->Connected()) {
    return UnavailableError("sync subscription " + Quote(options_.subject) + " with " +
                            Quote(options_.url) + ": not connected");
  }
  return internal::FromNats(natsConnection_FlushTimeout(conn_->get(), timeout.count()),
                            "sync subscription " + Quote(options_.subject) + " with", options_.url);
}

bool Subscriber::Connected() const { return conn_->Connected(); }

}  // namespace berth::events
