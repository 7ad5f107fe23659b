// Filtering containerd event Envelopes the way containerd's Events.Subscribe does.
//
// Field paths: `topic`, `namespace` (present when non-empty) and `event.<field>...`, which
// looks inside the event: the Any is decoded when its type is a containerd event berth knows
// (proto/containerd/events, including images' `containerd.services.images.v1.Image*`), and
// the path names the event's proto fields as containerd's generated Field() methods do:
// string fields (present when non-empty), nested messages (`event.runtime.name`) and string
// maps (`event.labels.<key>`, the rest of the path joined with '.'). Numbers, booleans,
// timestamps and events of unknown type are never present — as in containerd.
//
// Thread-safety: EnvelopeAdaptor is used by one thread; KnownEventType is pure.
#ifndef BERTH_GATEWAY_EVENT_FILTER_H_
#define BERTH_GATEWAY_EVENT_FILTER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/filters/filters.h"
#include "proto/containerd/services/events/v1/events.pb.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace berth::gateway {

class EnvelopeAdaptor final : public filters::Adaptor {
 public:
  // `envelope` must outlive the adaptor. The event is decoded on first use.
  explicit EnvelopeAdaptor(const containerd::services::events::v1::Envelope& envelope);
  ~EnvelopeAdaptor() override;

  std::optional<std::string> Field(const std::vector<std::string>& path) const override;

 private:
  const containerd::services::events::v1::Envelope& envelope_;
  mutable bool decoded_ = false;
  mutable std::unique_ptr<google::protobuf::Message> event_;
};

// Whether `type_url` (bare or prefixed) names an event type the adaptor can decode.
bool KnownEventType(std::string_view type_url);

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_EVENT_FILTER_H_
