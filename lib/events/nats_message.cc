#include "lib/events/nats_message.h"

#include "lib/status/status.h"

namespace berth::events {

absl::StatusOr<ReceivedEvent> ParseNatsMessage(natsMsg* msg) {
  ReceivedEvent event;
  const char* subject = natsMsg_GetSubject(msg);
  event.subject = subject != nullptr ? subject : "";
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
    for (int i = 0; i < count; ++i) {
      const char* value = nullptr;
      if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK && value != nullptr) {
        event.headers.emplace(keys[i], value);
      }
    }
    free(keys);  // The array is ours; the strings belong to the message.
  }
  const char* data = natsMsg_GetData(msg);
  const int length = natsMsg_GetDataLength(msg);
  if (!event.envelope.ParseFromArray(data, length)) {
    return InvalidArgumentError("event on " + Quote(event.subject) + ": payload of " +
                                std::to_string(length) + " bytes is not an Envelope");
  }
  return event;
}

}  // namespace berth::events
