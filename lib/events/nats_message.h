// Turning a received nats.c message into a ReceivedEvent: lib/events' subscribers and
// JetStream readers, and the gateway's replay reader.
//
// Thread-safety: pure function (reads the message only).
#ifndef BERTH_LIB_EVENTS_NATS_MESSAGE_H_
#define BERTH_LIB_EVENTS_NATS_MESSAGE_H_

#include <nats/nats.h>

#include "absl/status/statusor.h"
#include "lib/events/subscriber.h"

namespace berth::events {

// Subject, headers and parsed Envelope of `msg` (not consumed). InvalidArgument when the
// payload is not an Envelope.
absl::StatusOr<ReceivedEvent> ParseNatsMessage(natsMsg* msg);

}  // namespace berth::events

#endif  // BERTH_LIB_EVENTS_NATS_MESSAGE_H_
