#include "lib/events/jetstream.h"

#include <nats/nats.h>

#include <memory>

#include "lib/events/jetstream_internal.h"
#include "lib/events/nats_connection.h"
#include "lib/events/nats_message.h"
#include "lib/status/status.h"

namespace berth::events {
namespace {

using internal::FromNats;
using internal::NatsConnection;

// A JetStream context over a one-shot connection.
struct Js {
  std::unique_ptr<NatsConnection> conn;
  jsCtx* ctx = nullptr;
  ~Js() {
    if (ctx != nullptr) jsCtx_Destroy(ctx);
  }
};

absl::Status NewContext(natsConnection* conn, const std::string& url,
                        std::chrono::milliseconds timeout, jsCtx** ctx) {
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = timeout.count();
  return FromNats(natsConnection_JetStream(ctx, conn, &options), "open jetstream on", url);
}

absl::StatusOr<std::unique_ptr<Js>> OpenJs(const std::string& url,
                                           std::chrono::milliseconds timeout) {
  auto js = std::make_unique<Js>();
  ASSIGN_OR_RETURN(js->conn, NatsConnection::ConnectOnce(url, timeout));
  RETURN_IF_ERROR(NewContext(js->conn->get(), url, timeout, &js->ctx));
  return js;
}

// A JetStream API error: the server's code decides NotFound / FailedPrecondition.
absl::Status FromJs(natsStatus s, jsErrCode code, const std::string& op, const std::string& url) {
  if (s == NATS_OK) return absl::OkStatus();
  absl::Status status = FromNats(s, op, url);
  if (code == JSStreamNotFoundErr || code == JSNoMessageFoundErr) {
    return NotFoundError(std::string(status.message()));
  }
  if (s == NATS_NO_RESPONDERS) {
    return FailedPreconditionError(std::string(status.message()) +
                                   " (is JetStream enabled on the server?)");
  }
  if (code != 0) {
    return FailedPreconditionError(std::string(status.message()) + " (jetstream error " +
                                   std::to_string(code) + ")");
  }
  return status;
}

}  // namespace

absl::Status EnsureStream(const std::string& url, const StreamOptions& options,
                          std::chrono::milliseconds timeout) {
  if (options.name.empty()) return InvalidArgumentError("ensure stream: empty name");
  if (options.subjects.empty()) {
    return InvalidArgumentError("ensure stream " + Quote(options.name) + ": no subjects");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<NatsConnection> conn, NatsConnection::ConnectOnce(url, timeout));
  return internal::EnsureStreamOn(conn->get(), url, options, timeout);
}

namespace internal {

absl::Status EnsureStreamOn(natsConnection* conn, const std::string& url,
                            const StreamOptions& options, std::chrono::milliseconds timeout) {
  if (options.name.empty()) return InvalidArgumentError("ensure stream: empty name");
  if (options.subjects.empty()) {
    return InvalidArgumentError("ensure stream " + Quote(options.name) + ": no subjects");
  }
  Js js;
  RETURN_IF_ERROR(NewContext(conn, url, timeout, &js.ctx));

  std::vector<const char*> subjects;
  for (const std::string& subject : options.subjects) subjects.push_back(subject.c_str());
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = options.name.c_str();
  config.Subjects = subjects.data();
  config.SubjectsLen = static_cast<int>(subjects.size());
  config.Retention = js_LimitsPolicy;
  config.Discard = js_DiscardOld;
  config.MaxMsgs = options.max_msgs;
  config.MaxBytes = options.max_bytes;
  config.MaxAge = std::chrono::duration_cast<std::chrono::nanoseconds>(options.max_age).count();
  config.MaxMsgSize = options.max_msg_size;
  config.Storage = options.memory_storage ? js_MemoryStorage : js_FileStorage;
  config.Replicas = options.replicas;

  const std::string what = "stream " + Quote(options.name) + " on";
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js.ctx, options.name.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    info = nullptr;
    code = static_cast<jsErrCode>(0);
    s = js_UpdateStream(&info, js.ctx, &config, nullptr, &code);
    if (info != nullptr) jsStreamInfo_Destroy(info);
    return FromJs(s, code, "update " + what, url);
  }
  if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) {
    return FromJs(s, code, "look up " + what, url);
  }
  code = static_cast<jsErrCode>(0);
  s = js_AddStream(&info, js.ctx, &config, nullptr, &code);
  if (info != nullptr) jsStreamInfo_Destroy(info);
  return FromJs(s, code, "create " + what, url);
}

}  // namespace internal

absl::StatusOr<StreamState> GetStreamState(const std::string& url, const std::string& name,
                                           std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(std::unique_ptr<Js> js, OpenJs(url, timeout));
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js->ctx, name.c_str(), nullptr, &code);
  if (s != NATS_OK) return FromJs(s, code, "get stream " + Quote(name) + " on", url);
  StreamState state;
  state.messages = info->State.Msgs;
  state.bytes = info->State.Bytes;
  state.first_seq = info->State.FirstSeq;
  state.last_seq = info->State.LastSeq;
  jsStreamInfo_Destroy(info);
  return state;
}

absl::StatusOr<std::vector<StoredEvent>> ReplayStream(const std::string& url,
                                                      const std::string& name, uint64_t first_seq,
                                                      size_t max_events,
                                                      std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(std::unique_ptr<Js> js, OpenJs(url, timeout));
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js->ctx, name.c_str(), nullptr, &code);
  if (s != NATS_OK) return FromJs(s, code, "replay stream " + Quote(name) + " on", url);
  const uint64_t last = info->State.LastSeq;
  uint64_t seq = std::max(first_seq, info->State.FirstSeq);
  jsStreamInfo_Destroy(info);

  std::vector<StoredEvent> events;
  for (; seq <= last && events.size() < max_events; ++seq) {
    natsMsg* msg = nullptr;
    code = static_cast<jsErrCode>(0);
    s = js_GetMsg(&msg, js->ctx, name.c_str(), seq, nullptr, &code);
    if (s == NATS_NOT_FOUND || code == JSNoMessageFoundErr) continue;  // Deleted by limits.
    if (s != NATS_OK) {
      return FromJs(s, code, "replay stream " + Quote(name) + " seq " + std::to_string(seq) + " on",
                    url);
    }
    absl::StatusOr<ReceivedEvent> event = ParseNatsMessage(msg);
    natsMsg_Destroy(msg);
    if (!event.ok()) continue;  // Not an Envelope: not one of ours.
    events.push_back(StoredEvent{seq, std::move(event).value()});
  }
  return events;
}

}  // namespace berth::events
