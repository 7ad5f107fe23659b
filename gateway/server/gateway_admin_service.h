// GatewayAdminService: the whole berth.gateway.v1.GatewayAdmin (proto/berth/gateway/v1/admin.proto)
// as the gateway serves it. GarbageCollect is handed to the GC's service (gateway/gc
// AdminService); ReplayEvents is served here: the events kept in the JetStream stream
// (`berth-events`), from a sequence on, filtered as Events.Subscribe filters, and with
// `follow` the new ones as they are stored.
//
// Replay reads the stream in batches through an EventSource and writes one event at a time
// (a slow client slows the reading; nothing is dropped). Following, it waits for the
// EventHub to see a new event (or `poll_interval`, in case the hub's copy arrived before the
// stream stored it) and reads again from the next sequence.
//
// Thread-safety: gRPC calls it from many threads; each ReplayEvents call runs on a thread of
// its own.
#ifndef BERTH_GATEWAY_SERVER_GATEWAY_ADMIN_SERVICE_H_
#define BERTH_GATEWAY_SERVER_GATEWAY_ADMIN_SERVICE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/event_hub.h"
#include "lib/events/jetstream.h"
#include "proto/berth/gateway/v1/admin.grpc.pb.h"

namespace berth::gateway {

// Reads up to `max_events` stored events with sequence >= `first_seq`, in order (as
// events::ReplayStream). Empty: nothing stored from `first_seq` on. Called from the replay
// threads, one call at a time per replay.
using EventSource = std::function<absl::StatusOr<std::vector<events::StoredEvent>>(
    uint64_t first_seq, size_t max_events)>;

// An EventSource over stream `stream` of the NATS server at `nats_url` (events::ReplayStream).
EventSource JetStreamEventSource(std::string nats_url, std::string stream,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(5));

struct ReplayOptions {
  // Events read from the stream at a time.
  size_t batch = 256;
  // Following: longest wait before reading the stream again when the hub signals nothing.
  std::chrono::milliseconds poll_interval{1000};
};

class GatewayAdminService final : public berth::gateway::v1::GatewayAdmin::CallbackService {
 public:
  // None owned; each must outlive the service. `gc`: serves GarbageCollect (null:
  // Unimplemented). `source` null: no event bus (ReplayEvents -> Unavailable). `hub` may be
  // null (following then reads the stream every poll_interval), and its Shutdown ends the
  // following replays with Unavailable.
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
