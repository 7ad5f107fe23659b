// PinStore: the image targets the garbage collector remembers for containers, in the
// gateway's RocksDB (gateway/schema.h):
//
//   v1/gc/pins/<namespace>/<hex of the image name>   the image's target digest (text)
//
// A container names its image only by name. When the image is deleted while the container
// exists, the collector still keeps the image's content (its target blob and what that
// refers to) through the pin, which the gateway records just before forwarding an
// Images.Delete, and refreshes at every collection for containers whose image exists. Pins
// that no container needs any more are dropped by the collection that notices it.
//
// Thread-safety: safe from any thread; the Store must outlive it.
#ifndef BERTH_GATEWAY_GC_PIN_STORE_H_
#define BERTH_GATEWAY_GC_PIN_STORE_H_

#include <map>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/store/store.h"

namespace berth::gateway::gc {

// (namespace, image name) -> target digest.
using Pins = std::map<std::pair<std::string, std::string>, std::string>;

class PinStore {
 public:
  explicit PinStore(store::Store* db) : db_(db) {}

  // Every pin. Errors from the store; a key that does not decode is skipped.
  absl::StatusOr<Pins> Load() const;
  // Sets the pin of (ns, image). InvalidArgument for an empty namespace, image or digest, or
  // a namespace containing '/'.
  absl::Status Put(const std::string& ns, const std::string& image, const std::string& digest);
  // Drops the pin of (ns, image); OK when there is none.
  absl::Status Delete(const std::string& ns, const std::string& image);

  // "v1/gc/pins/".
  static std::string Prefix();

 private:
  store::Store* db_;
};

}  // namespace berth::gateway::gc

#endif  // BERTH_GATEWAY_GC_PIN_STORE_H_
