#include "gateway/server/gateway_admin_service.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "gateway/event_filter.h"
#include "lib/filters/filters.h"
#include "lib/status/grpc_status.h"

namespace berth::gateway {
namespace {

namespace v1 = berth::gateway::v1;
namespace evpb = containerd::services::events::v1;

// One ReplayEvents call: a thread reads the stream and writes the matching events one at a
// time; as an EventSink it is woken when the hub sees a new event.
class Replay final : public grpc::ServerWriteReactor<v1::ReplayedEvent>, public EventSink {
 public:
  Replay(const EventSource* source, EventHub* hub, filters::Filter filter, uint64_t since,
         bool follow, const ReplayOptions& options)
      : source_(source),
        hub_(hub),
        filter_(std::move(filter)),
        next_(std::max<uint64_t>(since, 1)),
        follow_(follow),
        options_(options) {}

  void Start() {
    // Registered before the first read: an event stored after it wakes the wait.
    if (follow_ && hub_ != nullptr) {
      absl::Status s = hub_->Add(this);
      if (!s.ok()) {
        Finish(ToGrpcStatus(s));
        return;
      }
      registered_ = true;
    }
    thread_ = std::thread([this] { Run(); });
  }

  void Deliver(const evpb::Envelope& /*envelope*/) override {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
    cv_.notify_all();
  }

  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    hub_closed_ = true;
    cv_.notify_all();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    write_ok_ = ok;
    cv_.notify_all();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }

  void OnDone() override {
    if (thread_.joinable()) {
      if (thread_.get_id() == std::this_thread::get_id()) {
        thread_.detach();  // Finish's reaction ran inline on the replay thread.
      } else {
        thread_.join();
      }
    }
    delete this;
  }

 private:
  void Run() {
    grpc::Status status = Loop();
    if (registered_) hub_->Remove(this);
    Finish(status);  // Last: OnDone may delete this.
  }

  grpc::Status Loop() {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (cancelled_) return grpc::Status(grpc::StatusCode::CANCELLED, "replay cancelled");
      }
      absl::StatusOr<std::vector<events::StoredEvent>> batch = (*source_)(next_, options_.batch);
      if (!batch.ok()) return ToGrpcStatus(batch.status());
      for (events::StoredEvent& stored : *batch) {
        if (stored.seq < next_) continue;
        next_ = stored.seq + 1;
        EnvelopeAdaptor adaptor(stored.event.envelope);
        if (!filter_.Match(adaptor)) continue;
        current_.set_sequence(stored.seq);
        *current_.mutable_envelope() = std::move(stored.event.envelope);
        if (!Write()) return grpc::Status(grpc::StatusCode::CANCELLED, "replay cancelled");
      }
      if (batch->size() >= options_.batch) continue;
      // Everything stored is sent.
      if (!follow_) return grpc::Status::OK;
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, options_.poll_interval,
                   [this] { return wake_ || cancelled_ || hub_closed_; });
      if (hub_closed_) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "events: server is shutting down");
      }
      wake_ = false;
    }
  }

  // Writes current_ and waits for the write to finish; false when the call is gone.
  bool Write() {
    std::unique_lock<std::mutex> lock(mu_);
    if (cancelled_) return false;
    writing_ = true;
    lock.unlock();
    StartWrite(&current_);
    lock.lock();
    cv_.wait(lock, [this] { return !writing_; });
    return write_ok_ && !cancelled_;
  }

  const EventSource* source_;
  EventHub* hub_;
  filters::Filter filter_;
  uint64_t next_;  // replay thread only
  const bool follow_;
  const ReplayOptions options_;
  bool registered_ = false;
  std::thread thread_;
  v1::ReplayedEvent current_;  // written by the replay thread while no write is pending

  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;        // guarded by mu_
  bool hub_closed_ = false;  // guarded by mu_
  bool cancelled_ = false;   // guarded by mu_
  bool writing_ = false;     // guarded by mu_
  bool write_ok_ = true;     // guarded by mu_
};

class FailedReplay final : public grpc::ServerWriteReactor<v1::ReplayedEvent> {
 public:
  explicit FailedReplay(grpc::Status s) { Finish(std::move(s)); }
  void OnDone() override { delete this; }
};

}  // namespace

EventSource JetStreamEventSource(std::string nats_url, std::string stream,
                                 std::chrono::milliseconds timeout) {
  return [url = std::move(nats_url), name = std::move(stream), timeout](
             uint64_t first_seq,
             size_t max_events) -> absl::StatusOr<std::vector<events::StoredEvent>> {
    return events::ReplayStream(url, name, first_seq, max_events, timeout);
  };
}

GatewayAdminService::GatewayAdminService(v1::GatewayAdmin::CallbackService* gc, EventSource source,
                                         EventHub* hub, ReplayOptions options)
    : gc_(gc), source_(std::move(source)), hub_(hub), options_(options) {
  if (options_.batch == 0) options_.batch = 1;
}

grpc::ServerUnaryReactor* GatewayAdminService::GarbageCollect(grpc::CallbackServerContext* ctx,
                                                              const v1::GarbageCollectRequest* req,
                                                              v1::GarbageCollectResponse* resp) {
  if (gc_ != nullptr) return gc_->GarbageCollect(ctx, req, resp);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "gc: not served here"));
  return reactor;
}

grpc::ServerWriteReactor<v1::ReplayedEvent>* GatewayAdminService::ReplayEvents(
    grpc::CallbackServerContext* /*ctx*/, const v1::ReplayEventsRequest* req) {
  if (!source_) {
    return new FailedReplay(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                         "replay events: no event bus configured (nats_url)"));
  }
  absl::StatusOr<filters::Filter> filter =
      filters::ParseAll(std::vector<std::string>(req->filters().begin(), req->filters().end()));
  if (!filter.ok()) return new FailedReplay(ToGrpcStatus(filter.status()));
  auto* replay = new Replay(&source_, hub_, *std::move(filter), req->since_sequence(),
                            req->follow(), options_);
  replay->Start();
  return replay;
}

}  // namespace berth::gateway
