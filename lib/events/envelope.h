// Building and checking containerd event Envelopes (shared by every Publisher).
//
// Thread-safety: pure functions.
#ifndef BERTH_LIB_EVENTS_ENVELOPE_H_
#define BERTH_LIB_EVENTS_ENVELOPE_H_

#include <string>

#include "absl/status/statusor.h"
#include "proto/containerd/services/events/v1/events.pb.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace berth::events {

using containerd::services::events::v1::Envelope;

// An Envelope stamped now (UTC) carrying `event` as Any{type_url, serialized event}, after
// checking namespace, topic and type_url (InvalidArgument naming the bad one).
absl::StatusOr<Envelope> MakeEnvelope(const std::string& ns, const std::string& topic,
                                      const google::protobuf::Message& event, std::string type_url);

// Checks what containerd's Forward checks: a valid namespace and topic, a timestamp that is
// set (not zero, not Go's zero time -62135596800 s), and an event with a type_url.
// InvalidArgument naming the problem otherwise.
[[nodiscard]] absl::Status ValidateEnvelope(const Envelope& envelope);

}  // namespace berth::events

#endif  // BERTH_LIB_EVENTS_ENVELOPE_H_
