#include "lib/server/health_service.h"

#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/server_context.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace berth::server {
namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";
constexpr char kWatchMethod[] = "/grpc.health.v1.Health/Watch";

}  // namespace

// One Watch stream. gRPC holds a reference until OnDone; the service takes one more while it
// delivers an update outside its lock, so the reactor is deleted by whoever lets go last.
// Updates carry the service's change counter, so one that lost a race with a newer one is
// dropped instead of overwriting it. No lock is held while calling StartWrite or Finish:
// gRPC may run reactions (OnWriteDone, OnDone) inline in the calling thread.
class HealthService::Watcher final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  Watcher(HealthService* service, std::string name) : service_(service), name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Queues `status` for sending (only changes are sent); with `finish`, ends the stream
  // after it.
  void Update(HealthStatus status, uint64_t version, bool finish) {
    std::unique_lock<std::mutex> lock(mu_);
    if (finished_ || version < version_) return;
    version_ = version;
    pending_ = status;
    if (finish) finish_ = true;
    Pump(lock);
  }

  // Ends the stream at once with `status` (a bad request).
  void Fail(grpc::Status status) {
    std::unique_lock<std::mutex> lock(mu_);
    finished_ = true;
    lock.unlock();
    Finish(std::move(status));
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) cancelled_ = true;
    Pump(lock);
  }

  void OnCancel() override {
    std::unique_lock<std::mutex> lock(mu_);
    cancelled_ = true;
    Pump(lock);
  }

  void OnDone() override {
    service_->Unregister(this);
    Unref();
  }

 private:
  // Starts the next write or the Finish, if one is due and none is in flight. Releases
  // `lock` before calling into gRPC.
  void Pump(std::unique_lock<std::mutex>& lock) {
    if (writing_ || finished_) return;
    if (cancelled_) {
      finished_ = true;
      lock.unlock();
      Finish(grpc::Status::CANCELLED);
      return;
    }
    if (pending_.has_value()) {
      const HealthStatus status = *pending_;
      pending_.reset();
      if (!sent_any_ || status != sent_) {
        sent_any_ = true;
        sent_ = status;
        buffer_ = health_wire::EncodeResponse(status);
        writing_ = true;
        lock.unlock();
        StartWrite(&buffer_);  // buffer_ is left alone while writing_
        return;
      }
    }
    if (finish_) {
      finished_ = true;
      lock.unlock();
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down"));
    }
  }

  HealthService* const service_;
  const std::string name_;
  std::atomic<int> refs_{1};

  std::mutex mu_;
  uint64_t version_ = 0;                        // guarded by mu_
  std::optional<HealthStatus> pending_;         // guarded by mu_
  bool sent_any_ = false;                       // guarded by mu_
  HealthStatus sent_ = HealthStatus::kUnknown;  // guarded by mu_
  bool writing_ = false;                        // guarded by mu_
  bool cancelled_ = false;                      // guarded by mu_
  bool finish_ = false;                         // guarded by mu_
  bool finished_ = false;                       // guarded by mu_
  grpc::ByteBuffer buffer_;
};

HealthService::HealthService() {
  serving_[""] = false;
  AddMethod(new grpc::internal::RpcServiceMethod(kCheckMethod,
                                                 grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
  MarkMethodCallback(
      0, new grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
             [this](grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                    grpc::ByteBuffer* response) { return Check(ctx, request, response); }));
  AddMethod(new grpc::internal::RpcServiceMethod(
      kWatchMethod, grpc::internal::RpcMethod::SERVER_STREAMING, nullptr));
  MarkMethodCallback(
      1, new grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, grpc::ByteBuffer>(
             [this](grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request) {
               return Watch(ctx, request);
             }));
}

HealthService::~HealthService() = default;

HealthStatus HealthService::Status(const std::string& service_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = serving_.find(service_name);
  if (it == serving_.end()) return HealthStatus::kServiceUnknown;
  return it->second ? HealthStatus::kServing : HealthStatus::kNotServing;
}

void HealthService::SetServingStatus(const std::string& service_name, bool serving) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    serving_[service_name] = serving;
  }
  NotifyWatchers(service_name, false);
}

void HealthService::SetServingStatus(bool serving) {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    for (auto& [name, value] : serving_) {
      value = serving;
      names.push_back(name);
    }
  }
  for (const std::string& name : names) NotifyWatchers(name, false);
}

void HealthService::Shutdown() {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    shutdown_ = true;
    for (auto& [name, value] : serving_) value = false;
    // Watchers of names never set end too.
    for (Watcher* w : watchers_) names.push_back(w->name());
    for (const auto& [name, value] : serving_) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (const std::string& name : names) NotifyWatchers(name, true);
}

void HealthService::NotifyWatchers(const std::string& name, bool finish) {
  // The change counter is global: any later notification is newer than any earlier one.
  static std::atomic<uint64_t> next_version{1};
  std::vector<Watcher*> targets;
  HealthStatus status;
  uint64_t version;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = serving_.find(name);
    status = it == serving_.end() ? HealthStatus::kServiceUnknown
             : it->second         ? HealthStatus::kServing
                                  : HealthStatus::kNotServing;
    version = next_version.fetch_add(1);
    for (Watcher* w : watchers_) {
      if (w->name() == name) {
        w->Ref();
        targets.push_back(w);
      }
    }
  }
  for (Watcher* w : targets) {
    w->Update(status, version, finish);
    w->Unref();
  }
}

void HealthService::Unregister(Watcher* watcher) {
  std::lock_guard<std::mutex> lock(mu_);
  watchers_.erase(watcher);
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* ctx,
                                               const grpc::ByteBuffer* request,
                                               grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<std::string> name = health_wire::DecodeRequest(*request);
  if (!name.ok()) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(name.status().message())));
    return reactor;
  }
  const HealthStatus status = Status(*name);
  if (status == HealthStatus::kServiceUnknown) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown service"));
    return reactor;
  }
  *response = health_wire::EncodeResponse(status);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* HealthService::Watch(grpc::CallbackServerContext* ctx,
                                                                 const grpc::ByteBuffer* request) {
  absl::StatusOr<std::string> name = health_wire::DecodeRequest(*request);
  auto* watcher = new Watcher(this, name.ok() ? *name : "");
  if (!name.ok()) {
    watcher->Fail(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(name.status().message())));
    return watcher;
  }
  bool shutdown;
  {
    std::lock_guard<std::mutex> lock(mu_);
    watchers_.insert(watcher);
    shutdown = shutdown_;
  }
  // Sent through the normal path, so a concurrent change cannot be overtaken by this one.
  NotifyWatchers(*name, shutdown);
  return watcher;
}

}  // namespace berth::server
