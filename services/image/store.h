// image::Store: containerd's image metadata (images.Store) — the named records behind
// containerd.services.images.v1.Images, per namespace. An image is only a record: a name, free
// form labels, and the target descriptor (media type, digest, size, annotations) of its root
// manifest or index in the content store; created/updated timestamps. Pulling, unpacking and
// garbage collection are other components' business.
//
//   ASSIGN_OR_RETURN(Image img, store.Create(call, image));   // AlreadyExists: name is taken
//   ASSIGN_OR_RETURN(img, store.Update(call, change, {"labels.k"}));
//   ASSIGN_OR_RETURN(std::vector<Image> all, store.List(call, {"name~=busybox"}));
//   RETURN_IF_ERROR(store.Delete(call, img.name()));
//
// Values are containerd's own `Image` message. Every method takes the CallContext of the call
// first; its namespace scopes the call (empty -> FailedPrecondition "namespace is required",
// not an identifier -> InvalidArgument "namespace validation: ..."). Namespaces never see each
// other's images.
//
// Names: containerd accepts any non-empty name (normally a reference such as
// "docker.io/library/busybox:1.36"). berth refuses, with InvalidArgument, an empty name, a
// name longer than kMaxNameLength bytes, one that is not valid UTF-8 and one containing ASCII
// control characters (so a name always prints on one line and fits a key).
//
// Labels and target annotations with an empty value are not stored (as containerd: writing
// "" is how a field mask deletes a key).
//
// Codes every method may return besides those listed: the namespace errors above, Internal /
// DataLoss / Unavailable from the database (lib/store).
//
// Thread-safety: implementations are safe to call from any number of threads.
#ifndef BERTH_SERVICES_IMAGE_STORE_H_
#define BERTH_SERVICES_IMAGE_STORE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "proto/containerd/services/images/v1/images.pb.h"

namespace berth::image {

using Image = containerd::services::images::v1::Image;

// Longest image name accepted, in bytes.
inline constexpr std::size_t kMaxNameLength = 4096;

class Store {
 public:
  virtual ~Store() = default;

  // The image `name`. NotFound `image "name": not found`; InvalidArgument for a bad name.
  virtual absl::StatusOr<Image> Get(const CallContext& call, const std::string& name) = 0;

  // Images of the namespace matching any of `filters` (containerd's filter syntax, lib/filters,
  // over the fields name, target.digest, target.mediatype, labels.<key>, annotations.<key>
  // — the target's annotations), sorted by name. No filters: all of them. InvalidArgument for
  // an unparsable filter.
  virtual absl::StatusOr<std::vector<Image>> List(const CallContext& call,
                                                  const std::vector<std::string>& filters) = 0;

  // Stores a new image and returns it as stored, with created_at = updated_at = now
  // (timestamps the caller sent are ignored). InvalidArgument for a bad name, a bad label
  // (lib/labels), a target whose digest does not parse (sha256 only), whose size is not
  // positive or whose media type is empty; AlreadyExists `image "name": already exists` when
  // the name is taken in the namespace.
  virtual absl::StatusOr<Image> Create(const CallContext& call, Image image) = 0;

  // Changes the stored image `update.name()` along `fieldpaths` (containerd's rules):
  //   "labels"            replace all labels with update's
  //   "labels.<k>"        set label k to update's value; absent or "" deletes k
  //   "target"            replace the whole target descriptor (annotations included)
  //   "annotations"       replace the target's annotations
  //   "annotations.<k>"   set target annotation k; absent or "" deletes k
  // No paths replaces labels and target at once. The result is validated as Create does and
  // returned with created_at kept and updated_at = now. InvalidArgument for an empty or bad
  // name, any other path (`cannot update "x" field on image "name"`) or an invalid result;
  // NotFound when the image does not exist.
  virtual absl::StatusOr<Image> Update(const CallContext& call, Image update,
                                       const std::vector<std::string>& fieldpaths) = 0;

  // Removes the record (the content and snapshots it refers to are garbage collection's
  // business). NotFound when absent; InvalidArgument for a bad name.
  virtual absl::Status Delete(const CallContext& call, const std::string& name) = 0;
};

// The rules every implementation shares.

// OK when `name` is acceptable as an image name (see the file comment), else InvalidArgument:
//   `image name must not be empty`
//   `image name "<name, cut>" is longer than 4096 bytes`
//   `image name "<name>" is not valid UTF-8` / `... contains a control character`
[[nodiscard]] absl::Status ValidateName(const std::string& name);

// OK when `image` may be stored (containerd's validateImage plus the name rule), else
// InvalidArgument naming the image and the field:
//   `image "n": labels: label key must not be empty`
//   `image "n": target.digest "x" invalid: invalid digest ...`
//   `image "n": target.size must be greater than zero`
//   `image "n": target.media_type must be set`
[[nodiscard]] absl::Status ValidateImage(const Image& image);

// Drops labels and target annotations whose value is "" (containerd never stores those).
void DropEmptyValues(Image* image);

// The value of filter field `path` of `image`, as containerd's image filter adaptor answers
// it: "name", "target.digest", "target.mediatype", "labels.<k...>" (components joined with
// '.'), "annotations.<k...>" (the target's annotations); nullopt for an empty value or any
// other path. `path` is never empty.
std::optional<std::string> FilterField(const Image& image, const std::vector<std::string>& path);

}  // namespace berth::image

#endif  // BERTH_SERVICES_IMAGE_STORE_H_
