// Internal to lib/events: JetStream administration over an existing connection.
//
// Thread-safety: safe from any thread that may use `conn` (nats.c connections are).
#ifndef BERTH_LIB_EVENTS_JETSTREAM_INTERNAL_H_
#define BERTH_LIB_EVENTS_JETSTREAM_INTERNAL_H_

#include <nats/nats.h>

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "lib/events/jetstream.h"

namespace berth::events::internal {

// EnsureStream (jetstream.h) on `conn`; `url` is only for messages.
absl::Status EnsureStreamOn(natsConnection* conn, const std::string& url,
                            const StreamOptions& options, std::chrono::milliseconds timeout);

}  // namespace berth::events::internal

#endif  // BERTH_LIB_EVENTS_JETSTREAM_INTERNAL_H_
