// ProxyService: the gateway's byte-level forwarder. Registered as the server's callback
// generic service, it receives every call whose method the gateway does not serve itself
// and forwards it, without decoding a message, to the backend the Router names.
//
// Streaming calls are forwarded as bidi streams on both sides (a server-streaming call is a
// bidi stream with one request on the wire, so one code path serves every streaming shape;
// when the method is known to take one request, it goes to the backend together with the
// headers and the half-close). Unary methods of the registered form take a shorter path: the
// request arrives read, the backend call is one GenericStub::UnaryCall, and the answer goes
// back with the status — three gRPC completions per call instead of about eight, which is
// most of the hop's latency. Per call:
//  - request metadata (`containerd-namespace`, `containerd-lease`, anything not reserved by
//    HTTP/2 or gRPC) goes to the backend; the backend's initial and trailing metadata and its
//    status come back unchanged;
//  - the deadline and cancellation propagate both ways: the client going away cancels the
//    backend call, the backend failing ends the client's call with its status;
//  - flow control: one message in flight each way; the next request is read from the client
//    only once the previous one was written to the backend, and the next response is read
//    from the backend only once the previous one was written to the client, so a stream is
//    never buffered in the gateway, and a slow side slows the other through HTTP/2 flow
//    control;
//  - a backend that cannot be reached gives Unavailable
//    `service containerd.services.content.v1.Content unavailable: <gRPC's reason>`;
//  - a method of a service no backend serves gives Unimplemented.
//
// Thread-safety: CreateReactor is called by gRPC from any thread; each call's state is
// guarded by its own mutex; the Router and hooks must outlive the service.
#ifndef BERTH_GATEWAY_SERVER_PROXY_SERVICE_H_
#define BERTH_GATEWAY_SERVER_PROXY_SERVICE_H_

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <functional>
#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/router.h"

namespace berth::gateway {

struct ProxyOptions {
  // Called before a call that is not a read is forwarded, with the value of its
  // `containerd-namespace` metadata ("" when absent): the gateway's implicit namespace
  // creation. An error ends the call with that status instead of forwarding it.
  std::function<absl::Status(const std::string& ns)> on_write;

  // What the client gets once the backend answered: OK passes the backend's answer on, an
  // error replaces it.
  using Reply = std::function<void(absl::Status status)>;
  // Runs once the backend answered a call with OK; the client's answer waits until it calls
  // `reply` (from any thread).
  using AfterForward = std::function<void(Reply reply)>;
  // Called before a call that is not a read is forwarded (after on_write), with its method
  // ("/pkg.Service/Method"), the value of its `containerd-namespace` metadata ("" when
  // absent) and, for a unary call on the unary fast path, its request message (nullptr
  // otherwise; the hook must not keep it). It may return an AfterForward for the call (or
  // nullptr). The garbage collector uses it to collect after deleting calls, and to answer a
  // delete with `sync` only once it collected (gateway/gc/proxy_hook.h).
  std::function<AfterForward(const std::string& method, const std::string& ns,
                             const grpc::ByteBuffer* request)>
      on_forward;
};

// Serves as a generic service (every method of every routed service, including methods the
// gateway has no .proto for) or, for servers that only take grpc::Service, as a service
// with one registered handler per method of the routed services (RegisteredService).
class ProxyService final : public grpc::CallbackGenericService {
 public:
  // `router` must outlive the service.
  ProxyService(Router* router, ProxyOptions options);

  // grpc::CallbackGenericService: routes by ctx->method().
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

  // The same forwarding as a grpc::Service registering, by name, each method of each
  // service the Router routes (methods from the descriptors in known_services.h), except the
  // services named in `local` (served by the gateway itself). With `unary_fast_path`, unary
  // methods take the unary path (ForwardUnary); without, every method is a bidi stream.
  // InvalidArgument when a routed service is not a known containerd service. The result must
  // not outlive this object.
  absl::StatusOr<std::unique_ptr<grpc::Service>> RegisteredService(
      const std::set<std::string>& local = {}, bool unary_fast_path = true);

  // Starts forwarding one call along `route` as a stream; `method` ("/pkg.Service/Method")
  // must outlive the call. Used by both forms above.
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Forward(
      grpc::CallbackServerContext* ctx, const std::string& method, const Router::Route& route);

  // Forwards a unary call whose request gRPC has read already (registered form, unary
  // methods): one backend batch, the reply sent with the status.
  grpc::ServerUnaryReactor* ForwardUnary(grpc::CallbackServerContext* ctx,
                                         const std::string& method, const Router::Route& route,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response);

 private:
  // Implicit namespace creation for writes (ProxyOptions::on_write).
  absl::Status BeforeForward(const grpc::CallbackServerContext& ctx, const Router::Route& route);
  // ProxyOptions::on_forward for writes; nullptr for reads or without a hook.
  ProxyOptions::AfterForward OnForward(const grpc::CallbackServerContext& ctx,
                                       const std::string& method, const Router::Route& route,
                                       const grpc::ByteBuffer* request);

  Router* router_;
  ProxyOptions options_;
};

// The message of the Unavailable status a client sees when `service`'s backend cannot be
// reached: "service <service> unavailable: <reason>".
std::string UnavailableMessage(std::string_view service, std::string_view reason);

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_SERVER_PROXY_SERVICE_H_
