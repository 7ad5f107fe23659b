#include "lib/events/recording_publisher.h"

#include "lib/status/status.h"

namespace berth::events {

absl::Status RecordingPublisher::Publish(const std::string& ns, const std::string& topic,
                                         const google::protobuf::Message& event,
                                         std::string type_url) {
  ASSIGN_OR_RETURN(Envelope envelope, MakeEnvelope(ns, topic, event, std::move(type_url)));
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(fail_);
  envelopes_.push_back(std::move(envelope));
  return absl::OkStatus();
}

absl::Status RecordingPublisher::Forward(const Envelope& envelope) {
  RETURN_IF_ERROR(ValidateEnvelope(envelope));
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(fail_);
  envelopes_.push_back(envelope);
  return absl::OkStatus();
}

std::vector<Envelope> RecordingPublisher::Envelopes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return envelopes_;
}

void RecordingPublisher::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  envelopes_.clear();
}

void RecordingPublisher::FailWith(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_ = std::move(status);
}

}  // namespace berth::events
