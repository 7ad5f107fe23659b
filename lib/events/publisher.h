// Publisher: how berth services announce state changes (containerd's events.Publisher).
//
// Every service publishes through this interface; NatsPublisher (nats_publisher.h) puts the
// events on NATS, RecordingPublisher (recording_publisher.h) keeps them in memory for unit
// tests of the services.
//
// Thread-safety: implementations are safe to call from any number of threads at once.
#ifndef BERTH_LIB_EVENTS_PUBLISHER_H_
#define BERTH_LIB_EVENTS_PUBLISHER_H_

#include <string>

#include "absl/status/status.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace containerd::services::events::v1 {
class Envelope;
}  // namespace containerd::services::events::v1

namespace berth::events {

class Publisher {
 public:
  virtual ~Publisher() = default;

  // Wraps `event` in a containerd Envelope {timestamp: now (UTC), namespace: ns, topic,
  // event: Any{type_url, value: event serialized}} and publishes it. `type_url` is used
  // exactly as given: containerd writes bare message names ("containerd.events.TaskExit",
  // no "type.googleapis.com/" prefix; containerd-api.md §1.4) and ctr drops anything else.
  //
  // Never waits for the event bus: OK means the event was accepted for delivery (it may
  // wait in a bounded buffer while the bus is down), not that anyone received it.
  // InvalidArgument for an invalid namespace or topic (containerd's rules, topics.h), an
  // empty type_url, or an event too large to publish; Unavailable once the publisher is
  // closed.
  virtual absl::Status Publish(const std::string& ns, const std::string& topic,
                               const google::protobuf::Message& event, std::string type_url) = 0;

  // Publishes a complete envelope as is (containerd's Events.Forward, used for events that
  // shims and other services already stamped). Same contract as Publish; additionally
  // InvalidArgument when the envelope has no timestamp or no event.
  virtual absl::Status Forward(const containerd::services::events::v1::Envelope& envelope) = 0;
};

}  // namespace berth::events

#endif  // BERTH_LIB_EVENTS_PUBLISHER_H_
