// The JetStream stream that keeps berth's events for replay.
//
// Core NATS delivers an event only to whoever is subscribed at that moment. The stream
// "berth-events" (README.md in this folder) also stores every event published on
// `berth.events.>`, bounded by count, bytes and age, so a monitoring tool can replay from a
// sequence number. EnsureStream creates it or brings its limits up to date; NatsPublisher
// can do that on every (re)connect (NatsPublisherOptions::stream).
//
// Thread-safety: free functions, safe from any thread; each call opens its own short-lived
// connection.
#ifndef BERTH_LIB_EVENTS_JETSTREAM_H_
#define BERTH_LIB_EVENTS_JETSTREAM_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/events/subscriber.h"

namespace berth::events {

struct StreamOptions {
  // Stream name.
  std::string name = "berth-events";
  // Subjects the stream stores.
  std::vector<std::string> subjects = {"berth.events.>"};
  // Limits; when one is reached the oldest events are discarded (limits retention,
  // discard old).
  int64_t max_msgs = 1000000;
  int64_t max_bytes = int64_t{1} << 30;  // 1 GiB
  std::chrono::seconds max_age = std::chrono::hours(24 * 7);
  // Largest single event the stream accepts.
  int32_t max_msg_size = 1 << 20;
  // File storage (survives a server restart) unless true.
  bool memory_storage = false;
  int replicas = 1;
};

// What a stream holds now.
struct StreamState {
  uint64_t messages = 0;
  uint64_t bytes = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
};

// One stored event and its stream sequence number.
struct StoredEvent {
  uint64_t seq = 0;
  ReceivedEvent event;
};

// Creates the stream, or updates an existing one to `options`. InvalidArgument for an empty
// name or no subjects; Unavailable when the server cannot be reached within `timeout`;
// FailedPrecondition when the server refuses (JetStream disabled, or a change it cannot
// make such as the storage type), with the server's reason.
absl::Status EnsureStream(const std::string& url, const StreamOptions& options = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(5));

// The state of stream `name`. NotFound when it does not exist.
absl::StatusOr<StreamState> GetStreamState(
    const std::string& url, const std::string& name = "berth-events",
    std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Reads up to `max_events` stored events with sequence >= `first_seq`, in order (sequences
// deleted by the limits are skipped). NotFound when the stream does not exist.
absl::StatusOr<std::vector<StoredEvent>> ReplayStream(
    const std::string& url, const std::string& name, uint64_t first_seq, size_t max_events,
    std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace berth::events

#endif  // BERTH_LIB_EVENTS_JETSTREAM_H_
