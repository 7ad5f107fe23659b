// RecordingPublisher: a Publisher that keeps what it is given in memory, for unit tests of
// services that publish events (no NATS needed). It applies the same validation as
// NatsPublisher, so a service test also catches bad topics and namespaces.
//
//   RecordingPublisher events;
//   ContentService service(&events, ...);
//   ... service.Delete(...);
//   ASSERT_EQ(events.Envelopes().size(), 1u);
//   EXPECT_EQ(events.Envelopes()[0].topic(), "/content/delete");
//
// Thread-safety: all methods are safe from any thread.
#ifndef BERTH_LIB_EVENTS_RECORDING_PUBLISHER_H_
#define BERTH_LIB_EVENTS_RECORDING_PUBLISHER_H_

#include <mutex>
#include <string>
#include <vector>

#include "lib/events/envelope.h"
#include "lib/events/publisher.h"

namespace berth::events {

class RecordingPublisher : public Publisher {
 public:
  absl::Status Publish(const std::string& ns, const std::string& topic,
                       const google::protobuf::Message& event, std::string type_url) override;
  absl::Status Forward(const Envelope& envelope) override;

  // Every envelope accepted so far, in order.
  std::vector<Envelope> Envelopes() const;
  void Clear();
  // Makes later Publish/Forward calls fail with `status` after validation (OK to undo).
  void FailWith(absl::Status status);

 private:
  mutable std::mutex mu_;
  std::vector<Envelope> envelopes_;
  absl::Status fail_;
};

}  // namespace berth::events

#endif  // BERTH_LIB_EVENTS_RECORDING_PUBLISHER_H_
