// PublishingStore: an image::Store decorator that announces changes on the event bus, as
// containerd's images service does (reference/containerd-api.md §5; note the package: image
// events live in containerd.services.images.v1, not containerd.events):
//
//   /images/create  containerd.services.images.v1.ImageCreate{name, labels}   after Create
//   /images/update  containerd.services.images.v1.ImageUpdate{name, labels}    after Update
//   /images/delete  containerd.services.images.v1.ImageDelete{name}            after Delete
//
// Labels are those of the image as stored. Failed calls publish nothing. Publishing never
// fails the call: the change has happened, so an event the publisher refuses is logged and
// dropped (the publisher counts its own drops).
//
// Thread-safety: as the wrapped store; the publisher must be thread-safe.
#ifndef BERTH_SERVICES_IMAGE_PUBLISHING_STORE_H_
#define BERTH_SERVICES_IMAGE_PUBLISHING_STORE_H_

#include <string>
#include <vector>

#include "services/image/store.h"

namespace berth::events {
class Publisher;
}  // namespace berth::events

namespace berth::image {

inline constexpr char kCreateTopic[] = "/images/create";
inline constexpr char kUpdateTopic[] = "/images/update";
inline constexpr char kDeleteTopic[] = "/images/delete";
inline constexpr char kCreateEventType[] = "containerd.services.images.v1.ImageCreate";
inline constexpr char kUpdateEventType[] = "containerd.services.images.v1.ImageUpdate";
inline constexpr char kDeleteEventType[] = "containerd.services.images.v1.ImageDelete";

class PublishingStore final : public Store {
 public:
  // Neither is owned; both must outlive this store.
  PublishingStore(Store* store, events::Publisher* publisher)
      : store_(store), publisher_(publisher) {}

  absl::StatusOr<Image> Get(const CallContext& call, const std::string& name) override {
    return store_->Get(call, name);
  }
  absl::StatusOr<std::vector<Image>> List(const CallContext& call,
                                          const std::vector<std::string>& filters) override {
    return store_->List(call, filters);
  }
  absl::StatusOr<Image> Create(const CallContext& call, Image image) override;
  absl::StatusOr<Image> Update(const CallContext& call, Image update,
                               const std::vector<std::string>& fieldpaths) override;
  absl::Status Delete(const CallContext& call, const std::string& name) override;

 private:
  Store* store_;
  events::Publisher* publisher_;
};

}  // namespace berth::image

#endif  // BERTH_SERVICES_IMAGE_PUBLISHING_STORE_H_
