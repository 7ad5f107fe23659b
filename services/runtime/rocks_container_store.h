// RocksContainerStore: ContainerStore over berth's RocksDB store (lib/store), key tree in
// schema.h, publishing containerd's container events (/containers/create|update|delete with
// containerd.events.ContainerCreate|ContainerUpdate|ContainerDelete) when given a publisher.
// A failed publish is logged, never an error of the call (the record is the truth).
//
// Thread-safety: safe from any thread; one mutex orders the read-modify-write calls.
#ifndef BERTH_SERVICES_RUNTIME_ROCKS_CONTAINER_STORE_H_
#define BERTH_SERVICES_RUNTIME_ROCKS_CONTAINER_STORE_H_

#include <mutex>
#include <string>
#include <vector>

#include "lib/events/publisher.h"
#include "lib/store/store.h"
#include "services/runtime/container_store.h"

namespace berth::runtime {

class RocksContainerStore final : public ContainerStore {
 public:
  // `db` and `publisher` (may be null: no events) are not owned and must outlive the store.
  RocksContainerStore(store::Store* db, events::Publisher* publisher)
      : db_(db), publisher_(publisher) {}

  absl::StatusOr<Container> Get(const CallContext& call, const std::string& id) override;
  absl::StatusOr<std::vector<Container>> List(const CallContext& call,
                                              const std::vector<std::string>& filters) override;
  absl::StatusOr<Container> Create(const CallContext& call, Container container) override;
  absl::StatusOr<Container> Update(const CallContext& call, Container update,
                                   const std::vector<std::string>& fieldpaths) override;
  absl::Status Delete(const CallContext& call, const std::string& id) override;
  absl::StatusOr<int64_t> Count(const std::string& ns) override;

 private:
  absl::StatusOr<Container> Load(const std::string& ns, const std::string& id);
  void PublishEvent(const std::string& ns, const std::string& topic,
                    const google::protobuf::Message& event, const std::string& type_url);

  store::Store* db_;
  events::Publisher* publisher_;
  std::mutex mu_;  // Serialises Create/Update/Delete.
};

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_ROCKS_CONTAINER_STORE_H_
