// Subscriber: receives berth events from NATS and hands them over as parsed Envelopes.
//
// For tests and for the gateway's Events.Subscribe (which applies containerd's filters on
// top). Like the publisher it never fails because the server is down: it connects and
// reconnects in the background, and nats.c re-subscribes after a reconnect. Events published
// while it was disconnected are not delivered (core NATS); replay those from the JetStream
// stream (jetstream.h).
//
//   SubscriberOptions options;
//   options.url = nats_url;
//   ASSIGN_OR_RETURN(auto sub, Subscriber::Create(options, [](const ReceivedEvent& e) { ... }));
//   RETURN_IF_ERROR(sub->Sync(std::chrono::seconds(5)));   // the server now routes to us
//
// Thread-safety: the callback runs on one nats.c delivery thread, one event at a time, in
// the order the server delivered them. Its exceptions are caught and counted as failures.
// No callback runs after the destructor returns. Accessors are safe from any thread.
#ifndef BERTH_LIB_EVENTS_SUBSCRIBER_H_
#define BERTH_LIB_EVENTS_SUBSCRIBER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/containerd/services/events/v1/events.pb.h"

namespace berth::events {

namespace internal {
class NatsConnection;
}  // namespace internal

// One event as it arrived.
struct ReceivedEvent {
  // The NATS subject, e.g. "berth.events.default.tasks.exit".
  std::string subject;
  // All NATS headers (Berth-Topic, Berth-Namespace, ...); a repeated key keeps its first value.
  std::map<std::string, std::string> headers;
  containerd::services::events::v1::Envelope envelope;
};

struct SubscriberOptions {
  // Server URL(s), comma-separated.
  std::string url = "nats://127.0.0.1:4222";
  // Subject to subscribe to; NamespaceSubject(ns) narrows it to one namespace.
  std::string subject = "berth.events.>";
  // Connection name shown by the server's monitoring.
  std::string client_name = "berth-subscriber";
  // Pause between reconnect attempts.
  std::chrono::milliseconds reconnect_wait{250};
};

class Subscriber {
 public:
  using Callback = std::function<void(const ReceivedEvent&)>;

  // Subscribes; OK even while the server is unreachable. InvalidArgument for an empty
  // subject or callback, or a malformed URL.
  static absl::StatusOr<std::unique_ptr<Subscriber>> Create(SubscriberOptions options,
                                                            Callback callback);

  // Unsubscribes and closes the connection; waits for a running callback to return.
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Round trip to the server: once it returns OK, the server knows the subscription and
  // every event published after this call is delivered. Unavailable when not connected,
  // DeadlineExceeded after `timeout`.
  absl::Status Sync(std::chrono::milliseconds timeout);

  bool Connected() const;
  // Events handed to the callback.
  uint64_t received() const { return received_.load(); }
  // Messages that were not an Envelope (skipped), and callbacks that threw.
  uint64_t malformed() const { return malformed_.load(); }

 private:
  Subscriber() = default;
  void Deliver(ReceivedEvent event);

  struct Subscription;
  SubscriberOptions options_;
  Callback callback_;
  std::unique_ptr<internal::NatsConnection> conn_;
  std::unique_ptr<Subscription> sub_;
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> malformed_{0};
};

}  // namespace berth::events

#endif  // BERTH_LIB_EVENTS_SUBSCRIBER_H_
