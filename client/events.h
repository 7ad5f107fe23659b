// Events as the server delivers them (Events.Subscribe), decoded where the type is known.
// Part of "client/berth.h".
//
//   ASSIGN_OR_RETURN(auto events, client.Subscribe({"topic~=\"/tasks/\""}));
//   while (true) {
//     ASSIGN_OR_RETURN(Envelope e, events->Next());
//     if (auto* exit = e.As<containerd::events::TaskExit>()) { ... exit->exit_status() ... }
//   }
//
// Known types: every containerd.events.* message (task, container, content, namespace,
// snapshot events) and containerd.services.images.v1.Image{Create,Update,Delete}; the type
// URL may be bare (containerd 1.6) or prefixed (`type.googleapis.com/...`).
//
// Client::ReplayEvents gives an EventReplay: the same envelopes, replayed from the gateway's
// JetStream stream, each with its stream sequence.
//
// Thread-safety: one thread reads an EventStream or EventReplay; Cancel() may be called from
// any thread.
#ifndef BERTH_CLIENT_EVENTS_H_
#define BERTH_CLIENT_EVENTS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/message.h"

namespace berth {

struct Envelope {
  Time timestamp;
  std::string ns;
  std::string topic;
  google::protobuf::Any event;
  // The event decoded, or null when its type is unknown or its bytes did not parse.
  std::shared_ptr<const google::protobuf::Message> decoded;

  // The decoded event as T, or null when it is another type.
  template <typename T>
  const T* As() const {
    return dynamic_cast<const T*>(decoded.get());
  }
  // The event as JSON with proto field names (what `ctr events` prints); "{}" for an
  // unknown type.
  std::string EventJson() const;
};

// Decodes an Any holding a known event type; null otherwise.
std::shared_ptr<const google::protobuf::Message> DecodeEvent(const google::protobuf::Any& any);

class EventStream {
 public:
  virtual ~EventStream() = default;
  // The next event; blocks. Cancelled after Cancel(); the server's status when the stream
  // ends (Unavailable when the server shut down).
  virtual absl::StatusOr<Envelope> Next() = 0;
  // Ends the stream; a blocked Next() returns Cancelled.
  virtual void Cancel() = 0;
};

// One event replayed from the gateway's event stream (Client::ReplayEvents).
struct ReplayedEvent {
  // Its JetStream stream sequence (what `berth events --since` takes).
  uint64_t sequence = 0;
  Envelope envelope;
};

class EventReplay {
 public:
  virtual ~EventReplay() = default;
  // The next event; blocks. OutOfRange when a replay without follow has sent every stored
  // event; Cancelled after Cancel(); otherwise the server's status when the stream ends.
  virtual absl::StatusOr<ReplayedEvent> Next() = 0;
  // Ends the replay; a blocked Next() returns Cancelled.
  virtual void Cancel() = 0;
};

}  // namespace berth

#endif  // BERTH_CLIENT_EVENTS_H_
