#include "gateway/server/events_service.h"

#include <fmt/format.h>

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/event_filter.h"
#include "gateway/server/unary.h"
#include "lib/events/envelope.h"
#include "lib/events/topics.h"
#include "lib/filters/filters.h"
#include "lib/log/log.h"
#include "lib/status/grpc_status.h"
#include "lib/status/status.h"

namespace berth::gateway {
namespace {

namespace pb = containerd::services::events::v1;

absl::Status NoBus() { return absl::UnavailableError("events: no event bus configured"); }

// Whether `type_url` (bare or with a "host/" prefix) names a type of berth's own packages.
bool IsBerthType(const std::string& type_url) {
  const std::size_t slash = type_url.rfind('/');
  return type_url.compare(slash == std::string::npos ? 0 : slash + 1, 6, "berth.") == 0;
}

// Whether the Subscribe call asked for berth's own event types too.
bool WantsBerthTypes(const grpc::CallbackServerContext& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(kBerthEventsMetadataKey);
  return it != md.end() && it->second == kBerthEventsAll;
}

// One Subscribe stream: an EventSink that filters, queues, and writes one event at a time.
class SubscribeStream final : public grpc::ServerWriteReactor<pb::Envelope>, public EventSink {
 public:
  SubscribeStream(EventHub* hub, filters::Filter filter, bool berth_types, size_t max_queued,
                  std::atomic<uint64_t>* dropped)
      : hub_(hub),
        filter_(std::move(filter)),
        berth_types_(berth_types),
        max_queued_(max_queued),
        dropped_(dropped) {}

  // Registers with the hub; on failure finishes the call.
  void Start() {
    // Headers at once (before any event can be written, so never twice): a client that
    // waits for them knows the subscription is in place.
    StartSendInitialMetadata();
    absl::Status s = hub_->Add(this);
    if (!s.ok()) {
      removed_ = true;
      End(ToGrpcStatus(s));
    }
  }

  void Deliver(const pb::Envelope& envelope) override {
    if (!berth_types_ && IsBerthType(envelope.event().type_url())) return;
    EnvelopeAdaptor adaptor(envelope);
    if (!filter_.Match(adaptor)) return;
    bool write = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return;
      if (queue_.size() >= max_queued_) {
        queue_.pop_front();
        dropped_->fetch_add(1);
        if (!warned_) {
          warned_ = true;
          log::Warn("subscriber too slow, dropping events max_queued={}", max_queued_);
        }
      }
      queue_.push_back(envelope);
      if (!writing_) {
        writing_ = true;
        current_ = std::move(queue_.front());
        queue_.pop_front();
        write = true;
      }
    }
    if (write) StartWrite(&current_);
  }

  void Close() override {
    // Called by the hub under its lock when the gateway shuts down; we are no longer in it.
    removed_ = true;
    End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "events: server is shutting down"));
  }

  void OnWriteDone(bool ok) override {
    bool write = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok || done_) return;
      if (!queue_.empty()) {
        writing_ = true;
        current_ = std::move(queue_.front());
        queue_.pop_front();
        write = true;
      }
    }
    if (write) StartWrite(&current_);
  }

  void OnCancel() override {
    if (!removed_.exchange(true)) hub_->Remove(this);
    End(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    if (!removed_.exchange(true)) hub_->Remove(this);
    delete this;
  }

 private:
  void End(grpc::Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return;
      done_ = true;
    }
    Finish(std::move(status));
  }

  EventHub* hub_;
  const filters::Filter filter_;
  const bool berth_types_;  // Deliver berth's own event types too.
  const size_t max_queued_;
  std::atomic<uint64_t>* dropped_;
  std::atomic<bool> removed_{false};

  std::mutex mu_;
  std::deque<pb::Envelope> queue_;  // guarded by mu_
  pb::Envelope current_;            // being written; touched only by the writer
  bool writing_ = false;            // guarded by mu_
  bool done_ = false;               // guarded by mu_: Finish called
  bool warned_ = false;             // guarded by mu_
};

}  // namespace

grpc::ServerUnaryReactor* EventsService::Publish(grpc::CallbackServerContext* ctx,
                                                 const pb::PublishRequest* req,
                                                 google::protobuf::Empty*) {
  return Unary(ctx, true, [&](const CallContext& call) -> absl::Status {
    if (publisher_ == nullptr) return NoBus();
    RETURN_IF_ERROR(events::ValidateTopic(req->topic()));
    if (req->event().type_url().empty()) {
      return absl::InvalidArgumentError("event must have a type_url");
    }
    pb::Envelope envelope;
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    envelope.mutable_timestamp()->set_seconds(nanos / 1000000000);
    envelope.mutable_timestamp()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
    envelope.set_namespace_(call.ns);
    envelope.set_topic(req->topic());
    *envelope.mutable_event() = req->event();
    return publisher_->Forward(envelope);
  });
}

grpc::ServerUnaryReactor* EventsService::Forward(grpc::CallbackServerContext* ctx,
                                                 const pb::ForwardRequest* req,
                                                 google::protobuf::Empty*) {
  return Unary(ctx, false, [&](const CallContext&) -> absl::Status {
    if (publisher_ == nullptr) return NoBus();
    RETURN_IF_ERROR(events::ValidateEnvelope(req->envelope()));
    return publisher_->Forward(req->envelope());
  });
}

grpc::ServerWriteReactor<pb::Envelope>* EventsService::Subscribe(grpc::CallbackServerContext* ctx,
                                                                 const pb::SubscribeRequest* req) {
  class Failed final : public grpc::ServerWriteReactor<pb::Envelope> {
   public:
    explicit Failed(grpc::Status s) { Finish(std::move(s)); }
    void OnDone() override { delete this; }
  };
  if (hub_ == nullptr) return new Failed(ToGrpcStatus(NoBus()));
  absl::StatusOr<filters::Filter> filter =
      filters::ParseAll(std::vector<std::string>(req->filters().begin(), req->filters().end()));
  if (!filter.ok()) return new Failed(ToGrpcStatus(filter.status()));
  auto* stream =
      new SubscribeStream(hub_, *std::move(filter), WantsBerthTypes(*ctx), max_queued_, &dropped_);
  stream->Start();
  return stream;
}

}  // namespace berth::gateway
