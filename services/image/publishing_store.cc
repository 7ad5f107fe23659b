#include "services/image/publishing_store.h"

#include <utility>

#include "lib/events/publisher.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "proto/containerd/events/image.pb.h"

namespace berth::image {
namespace {

namespace imagespb = containerd::services::images::v1;

void Publish(events::Publisher* publisher, const std::string& ns, const char* topic,
             const google::protobuf::Message& event, const char* type_url) {
  if (absl::Status s = publisher->Publish(ns, topic, event, type_url); !s.ok()) {
    log::Warn("event not published topic={} namespace={:?} error={:?}", topic, ns, s.ToString());
  }
}

}  // namespace

absl::StatusOr<Image> PublishingStore::Create(const CallContext& call, Image image) {
  absl::StatusOr<Image> created = store_->Create(call, std::move(image));
  if (!created.ok()) return created;
  imagespb::ImageCreate event;
  event.set_name(created->name());
  *event.mutable_labels() = created->labels();
  Publish(publisher_, call.ns, kCreateTopic, event, kCreateEventType);
  return created;
}

absl::StatusOr<Image> PublishingStore::Update(const CallContext& call, Image update,
                                              const std::vector<std::string>& fieldpaths) {
  absl::StatusOr<Image> updated = store_->Update(call, std::move(update), fieldpaths);
  if (!updated.ok()) return updated;
  imagespb::ImageUpdate event;
  event.set_name(updated->name());
  *event.mutable_labels() = updated->labels();
  Publish(publisher_, call.ns, kUpdateTopic, event, kUpdateEventType);
  return updated;
}

absl::Status PublishingStore::Delete(const CallContext& call, const std::string& name) {
  RETURN_IF_ERROR(store_->Delete(call, name));
  imagespb::ImageDelete event;
  event.set_name(name);
  Publish(publisher_, call.ns, kDeleteTopic, event, kDeleteEventType);
  return absl::OkStatus();
}

}  // namespace berth::image
