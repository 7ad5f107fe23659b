// EventsService: containerd.services.events.v1.Events, served by the gateway on NATS.
//
//  - Publish: stamps the event now under the call's namespace (required) and publishes it;
//    the topic must be `/comp/comp...` of identifiers, the event must carry a type_url
//    (InvalidArgument otherwise).
//  - Forward: publishes a complete envelope (namespace, topic, non-zero timestamp, event).
//  - Subscribe: every event of every namespace that matches the filters (containerd's
//    syntax over `topic`, `namespace`, `event.<field>`; event_filter.h), from the moment
//    the call arrives, until the client goes away — the stream never ends on its own (ctr
//    treats its end as an error). Ends with Unavailable when the gateway shuts down. A
//    client that does not keep up loses the oldest undelivered events beyond
//    `max_queued` (counted, logged once per stream).
//    berth's own event types (type URLs in the `berth.` package, e.g. /content/commit's
//    berth.content.v1.ContentCommit) go only to subscribers that send the metadata
//    `berth-events: all` (berth's client does): containerd's clients cannot decode them,
//    and ctr prints a warning for each one it receives. Types anyone else publishes are
//    delivered as containerd delivers them.
// Without an event bus (no publisher / hub) every method is Unavailable.
//
// Thread-safety: gRPC calls it from many threads.
#ifndef BERTH_GATEWAY_SERVER_EVENTS_SERVICE_H_
#define BERTH_GATEWAY_SERVER_EVENTS_SERVICE_H_

#include <atomic>
#include <cstddef>

#include "gateway/event_hub.h"
#include "lib/events/publisher.h"
#include "proto/containerd/services/events/v1/events.grpc.pb.h"

namespace berth::gateway {

// Metadata a Subscribe call sends to also receive berth's own event types.
inline constexpr char kBerthEventsMetadataKey[] = "berth-events";
inline constexpr char kBerthEventsAll[] = "all";

class EventsService final : public containerd::services::events::v1::Events::CallbackService {
 public:
  // Neither owned; both may be null (no event bus). `max_queued`: events held per
  // Subscribe stream for a slow client.
  EventsService(events::Publisher* publisher, EventHub* hub, size_t max_queued = 10000)
      : publisher_(publisher), hub_(hub), max_queued_(max_queued) {}

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* ctx,
                                    const containerd::services::events::v1::PublishRequest* req,
                                    google::protobuf::Empty* resp) override;
  grpc::ServerUnaryReactor* Forward(grpc::CallbackServerContext* ctx,
                                    const containerd::services::events::v1::ForwardRequest* req,
                                    google::protobuf::Empty* resp) override;
  grpc::ServerWriteReactor<containerd::services::events::v1::Envelope>* Subscribe(
      grpc::CallbackServerContext* ctx,
      const containerd::services::events::v1::SubscribeRequest* req) override;

  // Events dropped for slow subscribers, over all streams.
  uint64_t dropped() const { return dropped_.load(); }

 private:
  events::Publisher* publisher_;
  EventHub* hub_;
  size_t max_queued_;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_EVENTS_SERVICE_H_
