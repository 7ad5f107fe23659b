// EventHub: the gateway's one NATS subscription to every berth event (`berth.events.>`),
// fanned out to the open Events.Subscribe streams.
//
// One subscription for all clients keeps NATS's work independent of how many `ctr events`
// run. Each stream registers an EventSink; the hub hands every event to every sink on the
// NATS delivery thread, in the order NATS delivered them, so a sink must only filter and
// queue (EventsService's streams keep a bounded queue of their own and drop the oldest for a
// client that does not keep up).
//
// Thread-safety: Add/Remove/Shutdown from any thread. After Remove(sink) returns, the hub
// does not call that sink again and no call to it is running.
#ifndef BERTH_GATEWAY_EVENT_HUB_H_
#define BERTH_GATEWAY_EVENT_HUB_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/containerd/services/events/v1/events.pb.h"

namespace berth::events {
class Subscriber;
struct ReceivedEvent;
}  // namespace berth::events

namespace berth::gateway {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // One event; must not block.
  virtual void Deliver(const containerd::services::events::v1::Envelope& envelope) = 0;
  // The hub is shutting down: the sink should end its stream. Called once, under the hub's
  // lock (like Deliver): it must not call back into the hub and must not block.
  virtual void Close() = 0;
};

class EventHub {
 public:
  // Subscribes to `berth.events.>` at `nats_url` (connecting in the background; OK while
  // NATS is down). InvalidArgument for a malformed URL.
  static absl::StatusOr<std::unique_ptr<EventHub>> Create(const std::string& nats_url);

  // An EventHub without NATS, fed through Dispatch() (tests).
  static std::unique_ptr<EventHub> ForTesting();

  ~EventHub();

  // Registers / unregisters a sink. Add after Shutdown -> Unavailable.
  absl::Status Add(EventSink* sink);
  void Remove(EventSink* sink);

  // Hands `envelope` to every sink (what the NATS callback does).
  void Dispatch(const containerd::services::events::v1::Envelope& envelope);

  // Waits until the NATS server knows the subscription (see Subscriber::Sync).
  absl::Status Sync(std::chrono::milliseconds timeout);

  // Closes every sink and refuses new ones (gateway shutdown: Subscribe streams never end
  // on their own).
  void Shutdown();

  size_t sinks() const;

 private:
  EventHub() = default;

  std::unique_ptr<events::Subscriber> subscriber_;
  mutable std::mutex mu_;
  std::set<EventSink*> sinks_;  // guarded by mu_
  bool shutdown_ = false;       // guarded by mu_
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_EVENT_HUB_H_
