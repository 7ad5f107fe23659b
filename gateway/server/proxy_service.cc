#include "gateway/server/proxy_service.h"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

#include "gateway/known_services.h"
#include "lib/context/call_context.h"
#include "lib/log/log.h"
#include "lib/server/health_wire.h"
#include "lib/status/grpc_status.h"

namespace berth::gateway {
namespace {

using grpc::ByteBuffer;
using Shape = Router::Shape;

bool HasPrefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// Whether a metadata key may be copied from one call to the other: not HTTP/2 pseudo
// headers, not gRPC's own (grpc-timeout, grpc-status, grpc-encoding, ...), not what the
// transport sets for each hop.
bool Forwardable(std::string_view key) {
  if (key.empty() || key[0] == ':' || HasPrefix(key, "grpc-")) return false;
  return key != "content-type" && key != "te" && key != "user-agent" && key != "host" &&
         key != "accept-encoding" && key != "content-encoding";
}

std::string_view View(const grpc::string_ref& s) { return std::string_view(s.data(), s.size()); }

std::string String(const grpc::string_ref& s) { return std::string(s.data(), s.size()); }

// The context of the backend call: the client's deadline and cancellation (gRPC propagates
// both from the server call) and its metadata.
std::unique_ptr<grpc::ClientContext> BackendContext(const grpc::CallbackServerContext& ctx) {
  std::unique_ptr<grpc::ClientContext> client = grpc::ClientContext::FromCallbackServerContext(ctx);
  for (const auto& [key, value] : ctx.client_metadata()) {
    if (Forwardable(View(key))) client->AddMetadata(String(key), String(value));
  }
  return client;
}

// How long the health check after an Unavailable may take (a backend that does not answer
// within it counts as down).
constexpr std::chrono::seconds kProbeTimeout(2);
const std::string kHealthCheckMethod = "/grpc.health.v1.Health/Check";

// Unavailable means either that the backend is down or went away mid-call (gRPC made the
// status up), or that the backend answered it (a locked ingest, which the client retries).
// The status cannot tell them apart, so ask the backend's health service on the same channel:
// a backend that answers SERVING sent the status itself. Calls `done(status to return)`.
void ResolveUnavailable(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                        grpc::Status status, std::function<void(grpc::Status)> done) {
  struct Probe {
    grpc::ClientContext ctx;
    ByteBuffer request;
    ByteBuffer response;
  };
  auto* probe = new Probe();
  probe->ctx.set_deadline(std::chrono::system_clock::now() + kProbeTimeout);
  probe->request = server::health_wire::EncodeRequest("");
  grpc::GenericStub stub(channel);
  stub.UnaryCall(
      &probe->ctx, kHealthCheckMethod, grpc::StubOptions(), &probe->request, &probe->response,
      [probe, service, status = std::move(status),
       done = std::move(done)](grpc::Status result) mutable {
        absl::StatusOr<server::HealthStatus> health =
            server::health_wire::DecodeResponse(probe->response);
        delete probe;
        if (result.ok() && health.ok() && *health == server::HealthStatus::kServing) {
          done(std::move(status));
          return;
        }
        log::Debug("backend unavailable service={:?} error={:?}", service, status.error_message());
        done(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          UnavailableMessage(service, status.error_message()),
                          status.error_details()));
      });
}

// With log level trace, a forwarded call logs its method and how long it took, from the
// reactor's creation to OnDone (the status sent): where a client's time went, call by call.
class CallTimer {
 public:
  explicit CallTimer(const std::string& method)
      : method_(log::Enabled(log::Level::kTrace) ? &method : nullptr),
        start_(method_ != nullptr ? std::chrono::steady_clock::now()
                                  : std::chrono::steady_clock::time_point()) {}
  void Done() const {
    if (method_ == nullptr) return;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start_)
                        .count();
    log::Trace("forwarded method={} us={}", *method_, us);
  }

 private:
  const std::string* method_;  // Outlives the call (the route's or the context's); null: off.
  std::chrono::steady_clock::time_point start_;
};

// Finishes a call at once with an error (no route, invalid namespace).
template <typename Reactor>
class ErrorReactor final : public Reactor {
 public:
  explicit ErrorReactor(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

// A unary call: the request was read with the call, the backend call is one gRPC batch
// (GenericStub::UnaryCall), and the answer goes back in one batch with Finish. Three
// completions instead of a stream's eight or so: this is what keeps the hop's latency low.
class UnaryProxyCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryProxyCall(grpc::CallbackServerContext* ctx, const std::string& method,
                 std::shared_ptr<grpc::Channel> channel, std::string service,
                 const ByteBuffer* request, ByteBuffer* response, ProxyOptions::AfterForward after)
      : timer_(method),
        ctx_(ctx),
        channel_(std::move(channel)),
        service_(std::move(service)),
        client_ctx_(BackendContext(*ctx)),
        after_(std::move(after)) {
    grpc::GenericStub stub(channel_);
    stub.UnaryCall(client_ctx_.get(), method, grpc::StubOptions(), request, response,
                   [this](grpc::Status s) { OnBackendDone(std::move(s)); });
  }

  void OnCancel() override { client_ctx_->TryCancel(); }
  void OnDone() override {
    timer_.Done();
    Unref();
  }

 private:
  void OnBackendDone(grpc::Status status) {
    if (!ctx_->IsCancelled()) {
      for (const auto& [key, value] : client_ctx_->GetServerInitialMetadata()) {
        if (Forwardable(View(key))) ctx_->AddInitialMetadata(String(key), String(value));
      }
      for (const auto& [key, value] : client_ctx_->GetServerTrailingMetadata()) {
        if (Forwardable(View(key))) ctx_->AddTrailingMetadata(String(key), String(value));
      }
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        ResolveUnavailable(channel_, service_, std::move(status), [this](grpc::Status s) {
          Finish(std::move(s));
          Unref();
        });
        return;
      }
    }
    if (status.ok() && after_) {
      after_([this](absl::Status s) {
        Finish(s.ok() ? grpc::Status::OK : ToGrpcStatus(s));
        Unref();
      });
      return;
    }
    Finish(std::move(status));
    Unref();
  }

  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  const CallTimer timer_;
  grpc::CallbackServerContext* ctx_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string service_;
  std::unique_ptr<grpc::ClientContext> client_ctx_;
  ProxyOptions::AfterForward after_;  // ProxyOptions::on_forward's continuation, or null
  // The server side (OnDone) and the backend call (its completion) each hold one.
  std::atomic<int> refs_{2};
};

// A streaming call, forwarded as a bidi stream on both sides. The server side is this
// reactor, the backend side a client reactor owned by it. Both sides' reactions run on
// gRPC's threads, possibly concurrently; mu_ guards the state, and apart from sending the
// initial metadata no gRPC operation is started while holding it.
//
// With `single_request` (unary and server-streaming methods: the client sends exactly one
// message), the backend call's headers wait for that message and go out with it and the
// half-close in one write (StartWriteLast).
//
// Lifetime: two references, one per side; the server side's is dropped in OnDone, the
// backend side's once the server call has been finished with the backend's status.
class ProxyCall final : public grpc::ServerBidiReactor<ByteBuffer, ByteBuffer> {
 public:
  // `method` is the full path ("/pkg.Service/Method") and must outlive the call.
  ProxyCall(grpc::CallbackServerContext* ctx, const std::string& method,
            std::shared_ptr<grpc::Channel> channel, std::string service, bool single_request,
            ProxyOptions::AfterForward after)
      : timer_(method),
        ctx_(ctx),
        channel_(std::move(channel)),
        service_(std::move(service)),
        single_request_(single_request),
        client_ctx_(BackendContext(*ctx)),
        backend_(this),
        after_(std::move(after)) {
    if (single_request_) client_ctx_->set_initial_metadata_corked(true);
    grpc::GenericStub stub(channel_);
    stub.PrepareBidiStreamingCall(client_ctx_.get(), method, grpc::StubOptions(), &backend_);
    // One hold per direction: the backend call must not end (OnDone) while this side may
    // still start operations on it from the server side's reactions.
    backend_.AddMultipleHolds(2);
    backend_read_pending_ = true;
    backend_.StartRead(&response_);
    backend_.StartCall();
    server_read_pending_ = true;
    StartRead(&request_);
  }

  // --- server side (the client of the gateway) ---

  void OnReadDone(bool ok) override {
    enum { kNothing, kForward, kForwardLast, kHalfClose } action = kNothing;
    {
      std::lock_guard<std::mutex> lock(mu_);
      server_read_pending_ = false;
      if (requests_done_) {
        // The backend call is over: drop what the client still sends.
      } else if (ok) {
        backend_write_pending_ = true;
        action = single_request_ ? kForwardLast : kForward;
      } else {
        // The client half-closed (or went away): so does the backend call.
        requests_done_ = true;
        action = kHalfClose;
      }
    }
    switch (action) {
      case kForward:
        backend_.StartWrite(&request_);
        break;
      case kForwardLast:
        backend_.StartWriteLast(&request_, grpc::WriteOptions());
        break;
      case kHalfClose:
        backend_.StartWritesDone();
        backend_.RemoveHold();
        break;
      case kNothing:
        break;
    }
  }

  void OnWriteDone(bool ok) override {
    bool read_next = false;
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      server_write_pending_ = false;
      if (ok && !cancelled_) {
        backend_read_pending_ = true;
        read_next = true;
      } else if (!responses_done_) {
        // The client is gone: stop reading from the backend and cancel its call.
        responses_done_ = true;
        release = true;
      }
    }
    if (read_next) {
      backend_.StartRead(&response_);
    } else if (release) {
      client_ctx_->TryCancel();
      backend_.RemoveHold();
    }
  }

  void OnCancel() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
    }
    // The client went away or the deadline passed: the backend call goes too. Its OnDone
    // then finishes this side (every call must be finished, even a cancelled one).
    client_ctx_->TryCancel();
  }

  void OnDone() override {
    timer_.Done();
    Unref();
  }

  // --- backend side ---

  void OnBackendMetadata(bool ok) {
    bool write = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (ok && !cancelled_) {
        for (const auto& [key, value] : client_ctx_->GetServerInitialMetadata()) {
          if (Forwardable(View(key))) ctx_->AddInitialMetadata(String(key), String(value));
        }
        // Under the lock: a response write (which would carry the initial metadata itself)
        // can only start once metadata_done_ is set below, so the metadata is sent exactly
        // once. Starting the operation never runs a reaction inline.
        StartSendInitialMetadata();
      }
      metadata_done_ = true;
      if (response_waiting_) {
        response_waiting_ = false;
        server_write_pending_ = true;
        write = true;
      }
    }
    if (write) StartWrite(&response_);
  }

  void OnBackendRead(bool ok) {
    enum { kNothing, kWrite, kRelease, kReleaseBoth } action = kNothing;
    {
      std::lock_guard<std::mutex> lock(mu_);
      backend_read_pending_ = false;
      if (ok && !cancelled_) {
        if (metadata_done_) {
          server_write_pending_ = true;
          action = kWrite;
        } else {
          // Initial metadata must reach the client before the first message.
          response_waiting_ = true;
        }
      } else {
        // The backend ended its side (status on its way), or the client is gone.
        responses_done_ = true;
        action = kRelease;
        // A backend that ends the call takes no more requests: let go of the request
        // direction too, unless a write is still in flight (its completion does it), so the
        // client gets the status even while it keeps its side open.
        if (!requests_done_ && !backend_write_pending_) {
          requests_done_ = true;
          action = kReleaseBoth;
        }
      }
    }
    if (action == kWrite) {
      StartWrite(&response_);
    } else if (action == kRelease || action == kReleaseBoth) {
      backend_.RemoveHold();
      if (action == kReleaseBoth) backend_.RemoveHold();
    }
  }

  void OnBackendWrite(bool ok) {
    bool read_next = false;
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      backend_write_pending_ = false;
      if (ok && !single_request_ && !responses_done_ && !cancelled_) {
        server_read_pending_ = true;
        read_next = true;
      } else if (!requests_done_) {
        // The backend broke, or the single request went out with the half-close.
        requests_done_ = true;
        release = true;
      }
    }
    if (read_next) {
      StartRead(&request_);
    } else if (release) {
      backend_.RemoveHold();
    }
  }

  void OnBackendDone(const grpc::Status& status) {
    bool resolve = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!cancelled_) {
        for (const auto& [key, value] : client_ctx_->GetServerTrailingMetadata()) {
          if (Forwardable(View(key))) ctx_->AddTrailingMetadata(String(key), String(value));
        }
        resolve = status.error_code() == grpc::StatusCode::UNAVAILABLE;
      }
    }
    if (!resolve) {
      if (status.ok() && after_) {
        after_([this](absl::Status s) {
          Finish(s.ok() ? grpc::Status::OK : ToGrpcStatus(s));
          Unref();
        });
        return;
      }
      Finish(status);
      Unref();
      return;
    }
    ResolveUnavailable(channel_, service_, status, [this](grpc::Status s) {
      Finish(std::move(s));
      Unref();
    });
  }

 private:
  class BackendSide final : public grpc::ClientBidiReactor<ByteBuffer, ByteBuffer> {
   public:
    explicit BackendSide(ProxyCall* call) : call_(call) {}
    void OnReadInitialMetadataDone(bool ok) override { call_->OnBackendMetadata(ok); }
    void OnReadDone(bool ok) override { call_->OnBackendRead(ok); }
    void OnWriteDone(bool ok) override { call_->OnBackendWrite(ok); }
    void OnDone(const grpc::Status& status) override { call_->OnBackendDone(status); }

   private:
    ProxyCall* call_;
  };

  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  const CallTimer timer_;
  grpc::CallbackServerContext* ctx_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string service_;
  const bool single_request_;
  std::unique_ptr<grpc::ClientContext> client_ctx_;
  BackendSide backend_;
  ProxyOptions::AfterForward after_;  // ProxyOptions::on_forward's continuation, or null
  std::atomic<int> refs_{2};

  // One message buffer per direction: at most one message in flight each way.
  ByteBuffer request_;
  ByteBuffer response_;

  std::mutex mu_;
  // guarded by mu_:
  bool server_read_pending_ = false;    // StartRead on the client's stream outstanding
  bool backend_write_pending_ = false;  // StartWrite on the backend stream outstanding
  bool requests_done_ = false;          // request direction over, its hold released
  bool backend_read_pending_ = false;   // StartRead on the backend stream outstanding
  bool server_write_pending_ = false;   // StartWrite on the client's stream outstanding
  bool responses_done_ = false;         // response direction over, its hold released
  bool response_waiting_ = false;       // a response read, waiting for initial metadata
  bool metadata_done_ = false;          // backend's initial metadata handled
  bool cancelled_ = false;              // the client cancelled or went away
};

// The call's namespace (the first `containerd-namespace` value, as containerd), or "".
std::string NamespaceOf(const grpc::CallbackServerContext& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.lower_bound(kNamespaceMetadataKey);
  if (it != md.end() && it->first == kNamespaceMetadataKey) return String(it->second);
  return "";
}

}  // namespace

std::string UnavailableMessage(std::string_view service, std::string_view reason) {
  return fmt::format("service {} unavailable: {}", service, reason);
}

ProxyService::ProxyService(Router* router, ProxyOptions options)
    : router_(router), options_(std::move(options)) {}

absl::Status ProxyService::BeforeForward(const grpc::CallbackServerContext& ctx,
                                         const Router::Route& route) {
  if (route.read || !options_.on_write) return absl::OkStatus();
  return options_.on_write(NamespaceOf(ctx));
}

ProxyOptions::AfterForward ProxyService::OnForward(const grpc::CallbackServerContext& ctx,
                                                   const std::string& method,
                                                   const Router::Route& route,
                                                   const ByteBuffer* request) {
  if (route.read || !options_.on_forward) return nullptr;
  return options_.on_forward(method, NamespaceOf(ctx), request);
}

grpc::ServerBidiReactor<ByteBuffer, ByteBuffer>* ProxyService::Forward(
    grpc::CallbackServerContext* ctx, const std::string& method, const Router::Route& route) {
  if (absl::Status s = BeforeForward(*ctx, route); !s.ok()) {
    return new ErrorReactor<grpc::ServerBidiReactor<ByteBuffer, ByteBuffer>>(ToGrpcStatus(s));
  }
  // Unary and server-streaming clients send exactly one message.
  const bool single = route.shape == Shape::kUnary || route.shape == Shape::kServerStreaming;
  return new ProxyCall(ctx, method, route.backend->Pick(route.read), std::string(route.service),
                       single, OnForward(*ctx, method, route, nullptr));
}

grpc::ServerUnaryReactor* ProxyService::ForwardUnary(grpc::CallbackServerContext* ctx,
                                                     const std::string& method,
                                                     const Router::Route& route,
                                                     const ByteBuffer* request,
                                                     ByteBuffer* response) {
  // A unary call whose client went away (or half-closed) before its request message arrived
  // reaches the handler with an empty ByteBuffer: gRPC's ByteBuffer "deserializer" accepts a
  // missing payload. Forwarding it would start a send with no message, which gRPC answers
  // with an assertion that aborts the whole gateway (GRPC_CALL_ERROR_INVALID_MESSAGE). ctr
  // cancels its pull-progress Content.Info calls when a pull ends, which hit this about once
  // in twenty `ctr images pull`s.
  if (!request->Valid()) {
    return new ErrorReactor<grpc::ServerUnaryReactor>(
        grpc::Status(grpc::StatusCode::INTERNAL, "unary call without a request message"));
  }
  if (absl::Status s = BeforeForward(*ctx, route); !s.ok()) {
    return new ErrorReactor<grpc::ServerUnaryReactor>(ToGrpcStatus(s));
  }
  return new UnaryProxyCall(ctx, method, route.backend->Pick(route.read),
                            std::string(route.service), request, response,
                            OnForward(*ctx, method, route, request));
}

grpc::ServerGenericBidiReactor* ProxyService::CreateReactor(
    grpc::GenericCallbackServerContext* ctx) {
  std::optional<Router::Route> route = router_->Find(ctx->method());
  if (!route.has_value()) {
    return new ErrorReactor<grpc::ServerGenericBidiReactor>(grpc::Status(
        grpc::StatusCode::UNIMPLEMENTED, fmt::format("unknown method {}", ctx->method())));
  }
  return Forward(ctx, ctx->method(), *route);
}

namespace {

// A grpc::Service whose methods are added at run time, each forwarding through the proxy.
class RegisteredProxy final : public grpc::Service {
 public:
  void Add(ProxyService* proxy, std::string path, Router::Route route, bool unary_fast_path) {
    auto entry = std::make_unique<Entry>();
    entry->path = std::move(path);
    // The route's views pointed into the caller's string: point them into ours.
    const size_t slash = entry->path.find('/', 1);
    route.service = std::string_view(entry->path).substr(1, slash - 1);
    route.method = std::string_view(entry->path).substr(slash + 1);
    entry->route = route;
    Entry* e = entry.get();
    entries_.push_back(std::move(entry));
    const int index = static_cast<int>(entries_.size() - 1);
    if (route.shape == Shape::kUnary && unary_fast_path) {
      // gRPC reads the request with the call; the reply goes out with the status.
      AddMethod(new grpc::internal::RpcServiceMethod(
          e->path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
      MarkMethodRawCallback(index, new grpc::internal::CallbackUnaryHandler<ByteBuffer, ByteBuffer>(
                                       [proxy, e](grpc::CallbackServerContext* ctx,
                                                  const ByteBuffer* request, ByteBuffer* response) {
                                         return proxy->ForwardUnary(ctx, e->path, e->route, request,
                                                                    response);
                                       }));
      return;
    }
    // Every streaming shape is registered as bidi: the server then hands the reactor the
    // raw stream whatever the method streams.
    AddMethod(new grpc::internal::RpcServiceMethod(
        e->path.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING, nullptr));
    MarkMethodRawCallback(index, new grpc::internal::CallbackBidiHandler<ByteBuffer, ByteBuffer>(
                                     [proxy, e](grpc::CallbackServerContext* ctx) {
                                       return proxy->Forward(ctx, e->path, e->route);
                                     }));
  }

 private:
  struct Entry {
    std::string path;
    Router::Route route;
  };
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<grpc::Service>> ProxyService::RegisteredService(
    const std::set<std::string>& local, bool unary_fast_path) {
  auto service = std::make_unique<RegisteredProxy>();
  for (const auto& backend : router_->backends()) {
    for (const std::string& name : backend->config().services) {
      if (local.count(name) != 0) continue;
      const google::protobuf::ServiceDescriptor* d = FindKnownService(name);
      if (d == nullptr) {
        return absl::InvalidArgumentError(
            fmt::format("backend {:?}: service {:?} is not a containerd service berth knows",
                        backend->name(), name));
      }
      for (int i = 0; i < d->method_count(); ++i) {
        std::string path = fmt::format("/{}/{}", name, d->method(i)->name());
        std::optional<Router::Route> route = router_->Find(path);
        if (!route.has_value()) continue;  // not reachable: Find parses what we built
        service->Add(this, std::move(path), *route, unary_fast_path);
      }
    }
  }
  return service;
}

}  // namespace berth::gateway
