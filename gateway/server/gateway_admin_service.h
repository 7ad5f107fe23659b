// GatewayAdminService: the whole berth.gateway.v1.GatewayAdmin (proto/berth/gateway/v1/admin.proto)
// as the gateway serves it. GarbageCollect is handed to the GC's service (gateway/gc
// AdminService); ReplayEvents is served here: the events kept in the JetStream stream
// (`berth-events`), from a sequence on, filtered as Events.Subscribe filters, and with
// `follow` the new ones as they are stored.
//
// Each replay reads the stream through an EventCursor of its own, opened at the requested
// sequence: over JetStream (JetStreamEventSource) one ordered consumer on one shared
// connection, which the server fills in bulk and keeps feeding as events are stored, so
// following needs no polling. The replay writes one event at a time (a slow client slows
// the reading — the consumer's flow control holds the server back; nothing is dropped).
//
// Thread-safety: gRPC calls it from many threads; each ReplayEvents call runs on a thread of
// its own. EventCursor: one thread reads, Interrupt from any.
#ifndef BERTH_GATEWAY_SERVER_GATEWAY_ADMIN_SERVICE_H_
#define BERTH_GATEWAY_SERVER_GATEWAY_ADMIN_SERVICE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/event_hub.h"
#include "lib/events/jetstream.h"
#include "proto/berth/gateway/v1/admin.grpc.pb.h"

namespace berth::gateway {

// One replay's reader of the stored events, positioned at a stream sequence.
class EventCursor {
 public:
  struct Batch {
    // Events in stream order, each with a sequence past the previous read's.
    std::vector<events::StoredEvent> events;
    // Nothing stored after the last of `events` (or, when empty, from the cursor's position
    // on) as far as the stream said when this read ended: a replay without follow ends here.
    bool caught_up = false;
  };

  virtual ~EventCursor() = default;

  // Reads up to `max` events (> 0) from the cursor's position on, in order, and moves the
  // position past them. Events the stream is known to hold are waited for (bounded by the
  // source's own timeout); once caught up, waits up to `wait` for a new event to be stored
  // (zero: returns at once) and returns an empty batch if none was. Cancelled after
  // Interrupt(); Unavailable / DeadlineExceeded when the server cannot be reached.
  virtual absl::StatusOr<Batch> Next(size_t max, std::chrono::milliseconds wait) = 0;

  // Makes a running Next return soon, and every later one at once, with Cancelled. Safe
  // from any thread; does not block.
  virtual void Interrupt() = 0;
};

// Opens a cursor at stream sequence `first_seq` (0 or 1: the oldest event kept; sequences
// removed by the stream's limits are skipped). NotFound when the stream does not exist;
// Unavailable when the server cannot be reached. Called from the replay threads, possibly at
// the same time.
using EventSource = std::function<absl::StatusOr<std::unique_ptr<EventCursor>>(uint64_t first_seq)>;

// An EventSource over stream `stream` of the NATS server at `nats_url`: one connection,
// made on the first replay and shared by all of them (reconnecting, the cursors' ordered
// consumers resume where they were), and per cursor one ordered push consumer (no acks,
// flow control) from `first_seq`, filtered to the stream's subject (a stream of several
// subjects is FailedPrecondition). `timeout` bounds connecting, each JetStream API call and a
// wait for an event the stream is known to hold.
EventSource JetStreamEventSource(std::string nats_url, std::string stream,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(5));

struct ReplayOptions {
  // Most events read from the cursor at a time.
  size_t batch = 256;
  // Following: longest a read waits for a new event before the replay waits again (a
  // cancellation or the hub's shutdown interrupts the wait; no NATS traffic either way).
  std::chrono::milliseconds follow_wait = std::chrono::seconds(30);
};

class GatewayAdminService final : public berth::gateway::v1::GatewayAdmin::CallbackService {
 public:
  // None owned; each must outlive the service. `gc`: serves GarbageCollect (null:
  // Unimplemented). `source` null: no event bus (ReplayEvents -> Unavailable). `hub` may be
  // null; its Shutdown ends the following replays with Unavailable (they never end on their
  // own otherwise).
  GatewayAdminService(berth::gateway::v1::GatewayAdmin::CallbackService* gc, EventSource source,
                      EventHub* hub, ReplayOptions options = {});

  grpc::ServerUnaryReactor* GarbageCollect(
      grpc::CallbackServerContext* ctx, const berth::gateway::v1::GarbageCollectRequest* req,
      berth::gateway::v1::GarbageCollectResponse* resp) override;

  grpc::ServerWriteReactor<berth::gateway::v1::ReplayedEvent>* ReplayEvents(
      grpc::CallbackServerContext* ctx,
      const berth::gateway::v1::ReplayEventsRequest* req) override;

 private:
  berth::gateway::v1::GatewayAdmin::CallbackService* gc_;
  EventSource source_;
  EventHub* hub_;
  ReplayOptions options_;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_GATEWAY_ADMIN_SERVICE_H_
