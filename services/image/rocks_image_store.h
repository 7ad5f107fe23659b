// RocksImageStore: image::Store over berth's RocksDB store (lib/store), one record per image
// per namespace, key tree in schema.h. Publishes nothing itself: PublishingStore
// (publishing_store.h) adds containerd's /images/* events.
//
// Thread-safety: safe from any thread; one mutex orders the read-modify-write calls (Create,
// Update, Delete), reads go straight to the database.
#ifndef BERTH_SERVICES_IMAGE_ROCKS_IMAGE_STORE_H_
#define BERTH_SERVICES_IMAGE_ROCKS_IMAGE_STORE_H_

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "lib/store/store.h"
#include "services/image/store.h"

namespace berth::image {

struct RocksImageStoreOptions {
  // The clock that stamps created_at / updated_at (tests make it deterministic).
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
};

class RocksImageStore final : public Store {
 public:
  // `db` is not owned and must outlive the store; its schema version must be
  // schema::kSchemaVersion (the caller opens it).
  explicit RocksImageStore(store::Store* db, RocksImageStoreOptions options = {})
      : db_(db), options_(std::move(options)) {}

  absl::StatusOr<Image> Get(const CallContext& call, const std::string& name) override;
  absl::StatusOr<std::vector<Image>> List(const CallContext& call,
                                          const std::vector<std::string>& filters) override;
  absl::StatusOr<Image> Create(const CallContext& call, Image image) override;
  absl::StatusOr<Image> Update(const CallContext& call, Image update,
                               const std::vector<std::string>& fieldpaths) override;
  absl::Status Delete(const CallContext& call, const std::string& name) override;

 private:
  // The stored image, NotFound `image "name": not found`.
  absl::StatusOr<Image> Load(const std::string& ns, const std::string& name) const;
  google::protobuf::Timestamp Now() const;

  store::Store* db_;
  RocksImageStoreOptions options_;
  std::mutex mu_;  // Serialises Create/Update/Delete.
};

}  // namespace berth::image

#endif  // BERTH_SERVICES_IMAGE_ROCKS_IMAGE_STORE_H_
