#include "gateway/server/gateway_admin_service.h"

#include <nats/nats.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "fmt/format.h"
#include "gateway/event_filter.h"
#include "lib/events/nats_message.h"
#include "lib/filters/filters.h"
#include "lib/status/grpc_status.h"
#include "lib/status/status.h"

namespace berth::gateway {
namespace {

namespace v1 = berth::gateway::v1;
namespace evpb = containerd::services::events::v1;

// One ReplayEvents call: a thread opens a cursor, reads it in batches and writes the matching
// events one at a time; as an EventSink it learns of the hub's shutdown.
class Replay final : public grpc::ServerWriteReactor<v1::ReplayedEvent>, public EventSink {
 public:
  Replay(const EventSource* source, EventHub* hub, filters::Filter filter, uint64_t since,
         bool follow, const ReplayOptions& options)
      : source_(source),
        hub_(hub),
        filter_(std::move(filter)),
        since_(since),
        follow_(follow),
        options_(options) {}

  void Start() {
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

  void Deliver(const evpb::Envelope& /*envelope*/) override {}  // The cursor sees events.

  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    hub_closed_ = true;
    if (cursor_ != nullptr) cursor_->Interrupt();
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
    if (cursor_ != nullptr) cursor_->Interrupt();
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
    std::unique_ptr<EventCursor> cursor;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cursor = std::move(cursor_);
    }
    cursor.reset();  // Outside the lock: closing a consumer talks to the server.
    if (registered_) hub_->Remove(this);
    Finish(status);  // Last: OnDone may delete this.
  }

  // Why the replay must stop now, if it must.
  std::optional<grpc::Status> Stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return grpc::Status(grpc::StatusCode::CANCELLED, "replay cancelled");
    if (hub_closed_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "events: server is shutting down");
    }
    return std::nullopt;
  }

  grpc::Status Loop() {
    absl::StatusOr<std::unique_ptr<EventCursor>> opened = (*source_)(since_);
    if (!opened.ok()) return ToGrpcStatus(opened.status());
    EventCursor* cursor = opened->get();
    {
      std::lock_guard<std::mutex> lock(mu_);
      cursor_ = *std::move(opened);
      if (cancelled_ || hub_closed_) cursor_->Interrupt();
    }
    bool caught_up = false;
    while (true) {
      if (std::optional<grpc::Status> stop = Stopped()) return *stop;
      const std::chrono::milliseconds wait =
          follow_ && caught_up ? options_.follow_wait : std::chrono::milliseconds(0);
      absl::StatusOr<EventCursor::Batch> batch = cursor->Next(options_.batch, wait);
      if (!batch.ok()) {
        if (std::optional<grpc::Status> stop = Stopped()) return *stop;
        return ToGrpcStatus(batch.status());
      }
      for (events::StoredEvent& stored : batch->events) {
        EnvelopeAdaptor adaptor(stored.event.envelope);
        if (!filter_.Match(adaptor)) continue;
        current_.set_sequence(stored.seq);
        *current_.mutable_envelope() = std::move(stored.event.envelope);
        if (!Write()) return grpc::Status(grpc::StatusCode::CANCELLED, "replay cancelled");
      }
      caught_up = batch->caught_up;
      // Everything stored is sent.
      if (caught_up && !follow_) return grpc::Status::OK;
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
  const uint64_t since_;
  const bool follow_;
  const ReplayOptions options_;
  bool registered_ = false;
  std::thread thread_;
  v1::ReplayedEvent current_;  // written by the replay thread while no write is pending

  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<EventCursor> cursor_;  // guarded by mu_; used by the replay thread
  bool hub_closed_ = false;              // guarded by mu_
  bool cancelled_ = false;               // guarded by mu_
  bool writing_ = false;                 // guarded by mu_
  bool write_ok_ = true;                 // guarded by mu_
};

class FailedReplay final : public grpc::ServerWriteReactor<v1::ReplayedEvent> {
 public:
  explicit FailedReplay(grpc::Status s) { Finish(std::move(s)); }
  void OnDone() override { delete this; }
};

// --- JetStream ---------------------------------------------------------------------------

// How long one wait for a message lasts before the cursor looks at Interrupt() again (a
// local wait on nats.c's queue: nothing goes to the server).
constexpr std::chrono::milliseconds kInterruptCheck(100);

// A nats.c status (and JetStream error code) as absl: `op "url": <nats text>`.
absl::Status NatsError(natsStatus s, jsErrCode code, const std::string& op,
                       const std::string& url) {
  std::string message = fmt::format("{} {:?}: {}", op, url, natsStatus_GetText(s));
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0' && last == s) message += fmt::format(": {}", detail);
  if (code == JSStreamNotFoundErr) return NotFoundError(message);
  if (code != 0) {
    return FailedPreconditionError(
        fmt::format("{} (jetstream error {})", message, static_cast<int>(code)));
  }
  switch (s) {
    case NATS_TIMEOUT:
      return DeadlineExceededError(message);
    case NATS_NOT_FOUND:
      return NotFoundError(message);
    case NATS_NO_RESPONDERS:
      return FailedPreconditionError(message + " (is JetStream enabled on the server?)");
    case NATS_NO_SERVER:
    case NATS_CONNECTION_CLOSED:
    case NATS_IO_ERROR:
    case NATS_NOT_YET_CONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_DRAINING:
      return UnavailableError(message);
    default:
      return InternalError(message);
  }
}

// The replays' one connection: made when first needed (and again if nats.c ever gives it up),
// reconnecting forever; nats.c re-subscribes the cursors' consumers after a reconnect.
class ReplayConnection {
 public:
  ReplayConnection(std::string url, std::chrono::milliseconds timeout)
      : url_(std::move(url)), timeout_(timeout) {}
  ~ReplayConnection() {
    if (conn_ != nullptr) natsConnection_Destroy(conn_);
    if (options_ != nullptr) natsOptions_Destroy(options_);
  }
  ReplayConnection(const ReplayConnection&) = delete;
  ReplayConnection& operator=(const ReplayConnection&) = delete;

  const std::string& url() const { return url_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // A JetStream context on the connection (the caller destroys it). Unavailable when the
  // server cannot be reached now.
  absl::StatusOr<jsCtx*> JetStream() {
    std::lock_guard<std::mutex> lock(mu_);
    if (conn_ != nullptr && natsConnection_IsClosed(conn_)) {
      natsConnection_Destroy(conn_);  // Subscriptions still on it keep what they need.
      conn_ = nullptr;
    }
    natsStatus s = NATS_OK;
    if (conn_ == nullptr) {
      if (options_ == nullptr) {
        s = natsOptions_Create(&options_);
        if (s == NATS_OK) s = natsOptions_SetURL(options_, url_.c_str());
        if (s == NATS_OK) s = natsOptions_SetName(options_, "berth-gateway-replay");
        if (s == NATS_OK) s = natsOptions_SetTimeout(options_, timeout_.count());
        if (s == NATS_OK) s = natsOptions_SetAllowReconnect(options_, true);
        if (s == NATS_OK) s = natsOptions_SetMaxReconnect(options_, -1);
        if (s == NATS_OK) s = natsOptions_SetReconnectWait(options_, 250);
        if (s != NATS_OK) {
          natsOptions_Destroy(options_);
          options_ = nullptr;
          return InvalidArgumentError(
              fmt::format("replay events: nats url {:?}: {}", url_, natsStatus_GetText(s)));
        }
      }
      s = natsConnection_Connect(&conn_, options_);
      if (s != NATS_OK) {
        conn_ = nullptr;
        return UnavailableError(
            fmt::format("replay events: connect to {:?}: {}", url_, natsStatus_GetText(s)));
      }
    }
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = timeout_.count();
    jsCtx* js = nullptr;
    s = natsConnection_JetStream(&js, conn_, &js_options);
    if (s != NATS_OK) return NatsError(s, static_cast<jsErrCode>(0), "open jetstream on", url_);
    return js;
  }

 private:
  const std::string url_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  natsOptions* options_ = nullptr;  // guarded by mu_
  natsConnection* conn_ = nullptr;  // guarded by mu_
};

// A cursor over one ordered push consumer: the server sends the stored events from the
// start sequence on, then each new one as it is stored; nats.c handles flow control and
// heartbeats and recreates the consumer past the last sequence seen after a gap or a
// reconnect. Each message's metadata says how many more the consumer has to deliver, which
// is how the cursor knows it is caught up.
class JetStreamCursor final : public EventCursor {
 public:
  static absl::StatusOr<std::unique_ptr<EventCursor>> Open(
      const std::shared_ptr<ReplayConnection>& nats, const std::string& stream,
      uint64_t first_seq) {
    std::unique_ptr<JetStreamCursor> c(new JetStreamCursor(nats, stream, first_seq));
    RETURN_IF_ERROR(c->Subscribe());
    return std::unique_ptr<EventCursor>(std::move(c));
  }

  ~JetStreamCursor() override {
    if (sub_ != nullptr) {
      natsSubscription_Unsubscribe(sub_);  // Deletes the consumer (else the server would).
      natsSubscription_Destroy(sub_);
    }
    if (js_ != nullptr) jsCtx_Destroy(js_);
  }

  absl::StatusOr<Batch> Next(size_t max, std::chrono::milliseconds wait) override {
    Batch batch;
    while (batch.events.size() < max) {
      std::chrono::milliseconds timeout(0);  // Caught up with some read: take what arrived.
      if (!caught_up_) {
        timeout = nats_->timeout();  // The server has more for us.
      } else if (batch.events.empty()) {
        timeout = wait;
      }
      natsMsg* msg = nullptr;
      natsStatus s = NextMsg(&msg, timeout);
      if (interrupted_.load()) {
        if (msg != nullptr) natsMsg_Destroy(msg);
        return CancelledError(fmt::format("replay stream {:?}: interrupted", stream_));
      }
      if (s == NATS_TIMEOUT) {
        if (caught_up_) break;
        // The server said more were pending, yet none came: ask again (the stream's limits
        // may have removed them meanwhile).
        ASSIGN_OR_RETURN(uint64_t pending, Pending());
        if (pending > 0) {
          return UnavailableError(
              fmt::format("replay stream {:?} on {:?}: no event for {} ms while {} are pending",
                          stream_, nats_->url(), nats_->timeout().count(), pending));
        }
        caught_up_ = true;
        continue;
      }
      // A sequence mismatch or dropped messages: nats.c resets the ordered consumer itself.
      if (s == NATS_MISMATCH || s == NATS_SLOW_CONSUMER) continue;
      if (s != NATS_OK) {
        return NatsError(s, static_cast<jsErrCode>(0),
                         fmt::format("replay stream {:?} on", stream_), nats_->url());
      }
      std::unique_ptr<natsMsg, void (*)(natsMsg*)> owned(msg, natsMsg_Destroy);
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) continue;  // Not a stream message.
      const uint64_t seq = meta->Sequence.Stream;
      caught_up_ = meta->NumPending == 0;
      jsMsgMetaData_Destroy(meta);
      if (seq < next_) continue;  // Seen before a consumer reset.
      next_ = seq + 1;
      absl::StatusOr<events::ReceivedEvent> event = events::ParseNatsMessage(msg);
      if (!event.ok()) continue;  // Not an Envelope: not one of ours.
      batch.events.push_back(events::StoredEvent{seq, *std::move(event)});
    }
    batch.caught_up = caught_up_;
    return batch;
  }

  void Interrupt() override { interrupted_.store(true); }

 private:
  JetStreamCursor(std::shared_ptr<ReplayConnection> nats, std::string stream, uint64_t first_seq)
      : nats_(std::move(nats)),
        stream_(std::move(stream)),
        next_(std::max<uint64_t>(first_seq, 1)) {}

  absl::Status Subscribe() {
    ASSIGN_OR_RETURN(js_, nats_->JetStream());
    const std::string op = fmt::format("replay stream {:?} on", stream_);
    // The consumer's filter: the stream's subject.
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&info, js_, stream_.c_str(), nullptr, &code);
    if (s != NATS_OK) return NatsError(s, code, op, nats_->url());
    std::string subject;
    const int subjects = info->Config != nullptr ? info->Config->SubjectsLen : 0;
    if (subjects == 1) subject = info->Config->Subjects[0];
    jsStreamInfo_Destroy(info);
    if (subject.empty()) {
      return FailedPreconditionError(
          fmt::format("replay stream {:?}: it stores {} subjects; one (berth.events.>) is expected",
                      stream_, subjects));
    }

    jsSubOptions options;
    jsSubOptions_Init(&options);
    options.Stream = stream_.c_str();
    options.Ordered = true;
    if (next_ > 1) {
      options.Config.DeliverPolicy = js_DeliverByStartSequence;
      options.Config.OptStartSeq = next_;
    } else {
      options.Config.DeliverPolicy = js_DeliverAll;
    }
    code = static_cast<jsErrCode>(0);
    s = js_SubscribeSync(&sub_, js_, subject.c_str(), nullptr, &options, &code);
    if (s != NATS_OK) {
      sub_ = nullptr;
      return NatsError(s, code, op, nats_->url());
    }
    // The server holds this many for us now (those already sent are queued here before its
    // answer arrives: one connection, in order).
    ASSIGN_OR_RETURN(uint64_t pending, Pending());
    caught_up_ = pending == 0;
    return absl::OkStatus();
  }

  // What the consumer has yet to deliver, as the server says.
  absl::StatusOr<uint64_t> Pending() {
    jsConsumerInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = natsSubscription_GetConsumerInfo(&info, sub_, nullptr, &code);
    if (s != NATS_OK) {
      return NatsError(s, code, fmt::format("replay stream {:?} consumer on", stream_),
                       nats_->url());
    }
    const uint64_t pending = info->NumPending;
    jsConsumerInfo_Destroy(info);
    return pending;
  }

  // natsSubscription_NextMsg in slices, so that Interrupt() is seen within kInterruptCheck.
  natsStatus NextMsg(natsMsg** msg, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      const std::chrono::milliseconds slice =
          std::max(std::chrono::milliseconds(0), std::min(left, kInterruptCheck));
      natsStatus s = natsSubscription_NextMsg(msg, sub_, slice.count());
      if (s != NATS_TIMEOUT || slice >= left || interrupted_.load()) return s;
    }
  }

  const std::shared_ptr<ReplayConnection> nats_;
  const std::string stream_;
  jsCtx* js_ = nullptr;
  natsSubscription* sub_ = nullptr;
  uint64_t next_;           // the reading thread only
  bool caught_up_ = false;  // the reading thread only
  std::atomic<bool> interrupted_{false};
};

}  // namespace

EventSource JetStreamEventSource(std::string nats_url, std::string stream,
                                 std::chrono::milliseconds timeout) {
  auto nats = std::make_shared<ReplayConnection>(std::move(nats_url), timeout);
  return [nats, name = std::move(stream)](
             uint64_t first_seq) -> absl::StatusOr<std::unique_ptr<EventCursor>> {
    return JetStreamCursor::Open(nats, name, first_seq);
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
