#include "gateway/event_hub.h"

#include <utility>
#include <vector>

#include "lib/events/subscriber.h"

namespace berth::gateway {

absl::StatusOr<std::unique_ptr<EventHub>> EventHub::Create(const std::string& nats_url) {
  std::unique_ptr<EventHub> hub(new EventHub());
  events::SubscriberOptions options;
  options.url = nats_url;
  options.client_name = "berth-gateway";
  EventHub* raw = hub.get();
  absl::StatusOr<std::unique_ptr<events::Subscriber>> sub = events::Subscriber::Create(
      options, [raw](const events::ReceivedEvent& e) { raw->Dispatch(e.envelope); });
  if (!sub.ok()) return sub.status();
  hub->subscriber_ = std::move(*sub);
  return hub;
}

std::unique_ptr<EventHub> EventHub::ForTesting() {
  return std::unique_ptr<EventHub>(new EventHub());
}

EventHub::~EventHub() {
  // Stop deliveries first: the subscriber's callback uses this object.
  subscriber_.reset();
  Shutdown();
}

absl::Status EventHub::Add(EventSink* sink) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutdown_) return absl::UnavailableError("events: server is shutting down");
  sinks_.insert(sink);
  return absl::OkStatus();
}

void EventHub::Remove(EventSink* sink) {
  std::lock_guard<std::mutex> lock(mu_);
  sinks_.erase(sink);
}

void EventHub::Dispatch(const containerd::services::events::v1::Envelope& envelope) {
  std::lock_guard<std::mutex> lock(mu_);
  for (EventSink* sink : sinks_) sink->Deliver(envelope);
}

absl::Status EventHub::Sync(std::chrono::milliseconds timeout) {
  if (subscriber_ == nullptr) return absl::OkStatus();
  return subscriber_->Sync(timeout);
}

void EventHub::Shutdown() {
  // Under the lock, as Dispatch: a sink being removed (and destroyed) waits for it.
  std::lock_guard<std::mutex> lock(mu_);
  shutdown_ = true;
  for (EventSink* sink : sinks_) sink->Close();
  sinks_.clear();
}

size_t EventHub::sinks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sinks_.size();
}

}  // namespace berth::gateway
