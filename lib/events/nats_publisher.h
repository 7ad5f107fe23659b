// NatsPublisher: the Publisher every berth service uses, publishing on NATS (nats.c).
//
// Each event becomes a containerd Envelope published on `berth.events.<ns>.<topic>`
// (topics.h) with headers Berth-Topic and Berth-Namespace. Publish() never waits for the
// server: it validates, serializes and queues the event, and one background thread sends
// the queue in order. While NATS is unreachable the queue holds up to max_buffered_events;
// past that the oldest are dropped and counted. The connection reconnects forever; on every
// (re)connect the optional JetStream stream is ensured first, then the queue drains, oldest
// first, so order is kept across an outage without restarting anything.
//
// Delivery is at most once, as core NATS is: an event already written to the socket when
// the server dies is lost. Everything published once the publisher has seen the disconnect
// waits in the queue (or, for up to reconnect_buffer_bytes, in nats.c's own reconnect
// buffer, which is flushed ahead of the queue on reconnect) and is counted.
//
//   NatsPublisherOptions options;
//   options.url = config.nats_url;
//   options.client_name = "berth-content";
//   options.stream = StreamOptions();              // keep events in JetStream for replay
//   ASSIGN_OR_RETURN(auto publisher, NatsPublisher::Create(options));
//   RETURN_IF_ERROR(publisher->Publish(ns, "/content/delete", event,
//                                      "containerd.events.ContentDelete"));
//
// Counters for lib/metrics: published() (handed to NATS), dropped() (lost to a full buffer,
// refused by the server, or still queued at Close), buffered() (waiting now).
//
// Thread-safety: Publish, Forward, Close and the accessors are safe from any thread.
#ifndef BERTH_LIB_EVENTS_NATS_PUBLISHER_H_
#define BERTH_LIB_EVENTS_NATS_PUBLISHER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/events/jetstream.h"
#include "lib/events/publisher.h"

namespace berth::events {

namespace internal {
class NatsConnection;
}  // namespace internal

struct NatsPublisherOptions {
  // Server URL(s), comma-separated.
  std::string url = "nats://127.0.0.1:4222";
  // Connection name the server shows in its monitoring (e.g. "berth-content").
  std::string client_name = "berth";
  // Events held while they cannot be sent; when full, the oldest is dropped and counted.
  size_t max_buffered_events = 10000;
  // Largest serialized envelope accepted; larger ones are refused with InvalidArgument
  // (NATS's default max_payload is 1 MiB).
  size_t max_event_bytes = 1 << 20;
  // Pause between reconnect attempts.
  std::chrono::milliseconds reconnect_wait{250};
  // Bytes nats.c itself may hold while it is reconnecting (before the publisher noticed
  // the disconnect); the rest waits in the event queue.
  int reconnect_buffer_bytes = 64 << 10;
  // When set, this JetStream stream is created or updated on every (re)connect, before any
  // buffered event is sent. Failure is logged; events are still published.
  std::optional<StreamOptions> stream;
  // How long Close() keeps sending what is buffered while connected.
  std::chrono::milliseconds close_timeout{2000};
};

class NatsPublisher : public Publisher {
 public:
  // Starts connecting in the background and returns at once; OK even when no server is
  // reachable. InvalidArgument for max_buffered_events == 0 or a malformed URL.
  static absl::StatusOr<std::unique_ptr<NatsPublisher>> Create(NatsPublisherOptions options);

  // Close(), then releases the connection.
  ~NatsPublisher() override;
  NatsPublisher(const NatsPublisher&) = delete;
  NatsPublisher& operator=(const NatsPublisher&) = delete;

  // Publisher. InvalidArgument also when the envelope exceeds max_event_bytes.
  absl::Status Publish(const std::string& ns, const std::string& topic,
                       const google::protobuf::Message& event, std::string type_url) override;
  absl::Status Forward(const containerd::services::events::v1::Envelope& envelope) override;

  // Stops accepting events (later calls return Unavailable), sends what is buffered for up
  // to close_timeout while connected, counts what is left as dropped, and stops the sender.
  // Idempotent.
  void Close();

  // Events handed to the NATS connection.
  uint64_t published() const { return published_.load(); }
  // Events lost: buffer overflow, refused by the server, or left at Close.
  uint64_t dropped() const { return dropped_.load(); }
  // Events waiting to be sent now.
  uint64_t buffered() const;
  // Whether the publisher currently sees a live connection.
  bool connected() const;

 private:
  struct Pending {
    std::string subject;
    std::string ns;
    std::string topic;
    std::string payload;  // Serialized Envelope.
  };

  explicit NatsPublisher(NatsPublisherOptions options);
  absl::Status Enqueue(const containerd::services::events::v1::Envelope& envelope);
  void OnConnected();
  void OnDisconnected();
  void Run();
  // Returns true when the event left (sent, or dropped for good), false to retry it later.
  bool Send(const Pending& event);
  void DropOldestLocked();

  const NatsPublisherOptions options_;
  std::unique_ptr<internal::NatsConnection> conn_;
  std::thread sender_;

  mutable std::mutex mu_;
  std::condition_variable wake_;  // Sender: work, a (re)connect, or stop.
  std::condition_variable idle_;  // Close: the queue ran empty.
  std::deque<Pending> queue_;
  bool in_flight_ = false;     // The sender holds one event outside the queue.
  bool connected_ = false;     // As last reported by nats.c's callbacks.
  uint64_t epoch_ = 0;         // Bumped on every (re)connect.
  uint64_t stream_epoch_ = 0;  // Epoch in which the stream was last ensured.
  bool closing_ = false;       // No new events.
  bool stopping_ = false;      // Sender exits.
  bool drop_logged_ = false;   // One warning per outage.

  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace berth::events

#endif  // BERTH_LIB_EVENTS_NATS_PUBLISHER_H_
