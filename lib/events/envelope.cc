#include "lib/events/envelope.h"

#include <chrono>

#include "lib/events/topics.h"
#include "lib/status/status.h"

namespace berth::events {
namespace {

// Go's zero time.Time as a protobuf Timestamp (containerd-api.md §1.5): "unset".
constexpr int64_t kGoZeroTimeSeconds = -62135596800;

}  // namespace

absl::StatusOr<Envelope> MakeEnvelope(const std::string& ns, const std::string& topic,
                                      const google::protobuf::Message& event,
                                      std::string type_url) {
  RETURN_IF_ERROR(ValidateNamespace(ns));
  RETURN_IF_ERROR(ValidateTopic(topic));
  if (type_url.empty()) {
    return InvalidArgumentError("publish " + Quote(topic) + ": empty event type_url");
  }
  Envelope envelope;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now);
  envelope.mutable_timestamp()->set_seconds(seconds.count());
  envelope.mutable_timestamp()->set_nanos(static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now - seconds).count()));
  envelope.set_namespace_(ns);
  envelope.set_topic(topic);
  // By hand, not Any::PackFrom: that would add the "type.googleapis.com/" prefix.
  envelope.mutable_event()->set_type_url(std::move(type_url));
  if (!event.SerializeToString(envelope.mutable_event()->mutable_value())) {
    return InvalidArgumentError("publish " + Quote(topic) + ": event " +
                                Quote(event.GetTypeName()) + " does not serialize");
  }
  return envelope;
}

absl::Status ValidateEnvelope(const Envelope& envelope) {
  RETURN_IF_ERROR(ValidateNamespace(envelope.namespace_()));
  RETURN_IF_ERROR(ValidateTopic(envelope.topic()));
  const auto& ts = envelope.timestamp();
  if (!envelope.has_timestamp() || (ts.seconds() == 0 && ts.nanos() == 0) ||
      ts.seconds() == kGoZeroTimeSeconds) {
    return InvalidArgumentError("forward " + Quote(envelope.topic()) +
                                ": envelope has no timestamp");
  }
  if (!envelope.has_event() || envelope.event().type_url().empty()) {
    return InvalidArgumentError("forward " + Quote(envelope.topic()) +
                                ": envelope has no event type_url");
  }
  return absl::OkStatus();
}

}  // namespace berth::events
