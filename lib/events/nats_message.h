// Internal to lib/events: turning a received nats.c message into a ReceivedEvent.
//
// Thread-safety: pure function (reads the message only).
#ifndef BERTH_LIB_EVENTS_NATS_MESSAGE_H_
#define BERTH_LIB_EVENTS_NATS_MESSAGE_H_

#include <nats/nats.h>

#include "absl/status/statusor.h"
#include "lib/events/subscriber.h"

namespace berth::events::internal {

// Subject, headers and parsed Envelope of `msg` (not consumed). InvalidArgument when the
// payload is not an Envelope.
absl::StatusOr<ReceivedEvent> ParseMessage(natsMsg* msg);

}  // namespace berth::events::internal

#endif  // BERTH_LIB_EVENTS_NATS_MESSAGE_H_
