// Outbox: events that must not be lost (task exits) go through here. Add() writes the event
// to RocksDB (synced) before it returns — so the shim's report can be acknowledged — and
// hands it to the publisher; the record is removed only once the publisher reports that
// everything handed to it before has left its queue. Records left by a crash are published
// again by Replay() at start: delivery is at least once (a crash between NATS taking the
// event and the record's removal publishes it twice).
//
// Events are handed to the publisher in Add() order and on the calling thread, so an exit
// is always published before a later /tasks/delete of the same task.
//
// Thread-safety: all methods are safe from any thread.
#ifndef BERTH_SERVICES_RUNTIME_OUTBOX_H_
#define BERTH_SERVICES_RUNTIME_OUTBOX_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "lib/events/publisher.h"
#include "lib/store/store.h"

namespace berth::runtime {

struct OutboxOptions {
  // How often sent records are looked for and removed.
  std::chrono::milliseconds sweep_interval{200};
};

class Outbox {
 public:
  // `publisher` may be null (no events: records are removed at once). `drained` returns true
  // when every event handed to the publisher so far has been sent (NatsPublisher: connected()
  // && buffered() == 0); unset means "as soon as Publish returned OK". Not owned.
  Outbox(store::Store* db, events::Publisher* publisher, std::function<bool()> drained,
         OutboxOptions options = {});
  // Stops the sweeper; records not yet confirmed stay for the next start.
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Publishes the records a previous run left, oldest first, and starts the sweeper. Call
  // once, before Add.
  absl::Status Start();

  // Persists the event (with `extra` written in the same batch: keys -> values) and hands it
  // to the publisher. OK once it is durable, whatever the publisher said.
  absl::Status Add(const std::string& ns, const std::string& topic,
                   const google::protobuf::Message& event, const std::string& type_url,
                   const std::vector<std::pair<std::string, std::string>>& extra = {});

  // Records not yet confirmed sent (for tests and metrics).
  size_t pending() const;

 private:
  void Sweep();
  void HandOff(uint64_t seq, const std::string& ns, const std::string& topic,
               const std::string& type_url, const std::string& value);

  store::Store* db_;
  events::Publisher* publisher_;
  std::function<bool()> drained_;
  OutboxOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_seq_ = 1;
  std::vector<uint64_t> handed_;  // Seqs handed to the publisher, not yet removed.
  bool stopping_ = false;
  std::thread sweeper_;
};

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_OUTBOX_H_
