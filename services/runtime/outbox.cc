#include "services/runtime/outbox.h"

#include <cstdlib>
#include <memory>

#include "fmt/format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "proto/berth/runtime/v1/records.pb.h"
#include "services/runtime/schema.h"
#include "services/runtime/timestamps.h"

namespace berth::runtime {
namespace {

// The stored event as a message of its own type (every event type berth publishes is
// compiled in); null when the type is unknown or the bytes do not parse.
std::unique_ptr<google::protobuf::Message> Decode(const std::string& type_url,
                                                  const std::string& value) {
  const google::protobuf::Descriptor* descriptor =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
          type_url.substr(type_url.rfind('/') + 1));
  if (descriptor == nullptr) return nullptr;
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor);
  if (prototype == nullptr) return nullptr;
  std::unique_ptr<google::protobuf::Message> message(prototype->New());
  if (!message->ParseFromString(value)) return nullptr;
  return message;
}

}  // namespace

Outbox::Outbox(store::Store* db, events::Publisher* publisher, std::function<bool()> drained,
               OutboxOptions options)
    : db_(db), publisher_(publisher), drained_(std::move(drained)), options_(options) {}

Outbox::~Outbox() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

absl::Status Outbox::Start() {
  struct Left {
    uint64_t seq;
    berth::runtime::v1::OutboxRecord record;
  };
  std::vector<Left> left;
  RETURN_IF_ERROR(
      db_->Scan(schema::OutboxPrefix(), [&](std::string_view key, std::string_view value) {
        std::string k(key);
        uint64_t seq = std::strtoull(k.substr(k.rfind('/') + 1).c_str(), nullptr, 10);
        Left l{seq, {}};
        if (!l.record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          log::Error("dropping corrupt outbox record key={:?}", k);
          (void)db_->Delete(key);
          return true;
        }
        left.push_back(std::move(l));
        return true;
      }));
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Left& l : left) next_seq_ = std::max(next_seq_, l.seq + 1);
  }
  for (const Left& l : left) {
    log::Info("replaying event left by the previous run topic={:?} namespace={:?}",
              l.record.topic(), l.record.namespace_());
    std::lock_guard<std::mutex> lock(mu_);
    HandOff(l.seq, l.record.namespace_(), l.record.topic(), l.record.event().type_url(),
            l.record.event().value());
  }
  sweeper_ = std::thread([this] { Sweep(); });
  return absl::OkStatus();
}

void Outbox::HandOff(uint64_t seq, const std::string& ns, const std::string& topic,
                     const std::string& type_url, const std::string& value) {
  if (publisher_ != nullptr) {
    std::unique_ptr<google::protobuf::Message> event = Decode(type_url, value);
    if (event == nullptr) {
      log::Error("dropping outbox event of unknown type type_url={:?}", type_url);
      handed_.push_back(seq);
      return;
    }
    absl::Status s = publisher_->Publish(ns, topic, *event, type_url);
    if (!s.ok()) {
      // Not retried: Publish only fails for events that can never be published (invalid) or
      // once the publisher is closed (shutting down: the record stays for the next start).
      log::Warn("publish failed topic={:?} error={:?}", topic, s.ToString());
      if (!IsInvalidArgument(s)) return;
    }
  }
  handed_.push_back(seq);
}

absl::Status Outbox::Add(const std::string& ns, const std::string& topic,
                         const google::protobuf::Message& event, const std::string& type_url,
                         const std::vector<std::pair<std::string, std::string>>& extra) {
  berth::runtime::v1::OutboxRecord record;
  record.set_namespace_(ns);
  record.set_topic(topic);
  record.mutable_event()->set_type_url(type_url);
  record.mutable_event()->set_value(event.SerializeAsString());
  record.set_created_at_unix_nanos(NowUnixNanos());
  // The lock keeps hand-off order = seq order = Add order.
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t seq = next_seq_++;
  store::Batch batch;
  batch.Put(schema::OutboxKey(seq), record.SerializeAsString());
  for (const auto& [key, value] : extra) batch.Put(key, value);
  RETURN_IF_ERROR(db_->Write(batch));
  HandOff(seq, ns, topic, type_url, record.event().value());
  cv_.notify_all();
  return absl::OkStatus();
}

size_t Outbox::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return handed_.size();
}

void Outbox::Sweep() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.sweep_interval);
    if (stopping_ || handed_.empty()) continue;
    // Everything handed over before this check has left the publisher's queue when it reports
    // drained afterwards.
    std::vector<uint64_t> batch = handed_;
    lock.unlock();
    bool sent = !drained_ || drained_();
    if (sent) {
      store::Batch deletes;
      for (uint64_t seq : batch) deletes.Delete(schema::OutboxKey(seq));
      // Not synced: a removal lost to a power loss only publishes the event again at the next
      // start, which at-least-once delivery allows.
      absl::Status s = db_->Write(deletes, store::Durability::kBuffered);
      if (!s.ok()) log::Warn("outbox cleanup failed error={:?}", s.ToString());
      lock.lock();
      if (s.ok()) {
        handed_.erase(handed_.begin(), handed_.begin() + static_cast<long>(batch.size()));
      }
      continue;
    }
    lock.lock();
  }
}

}  // namespace berth::runtime
