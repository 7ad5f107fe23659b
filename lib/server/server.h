// Server: the gRPC bootstrap every berth service's main() uses. It builds a grpc::Server
// from a ServerConfig and owns its lifecycle:
//
//  - listens on a unix socket (parent directory created 0700 if missing; a stale socket
//    file is replaced only when nothing answers on it, a live one is refused; the socket is
//    chmod 0660 after bind; never an abstract socket) or on TCP, optionally with TLS (mutual
//    TLS with required client certificates when the config names a CA);
//  - 16 MiB max message size each way, as containerd;
//  - serves grpc.health.v1.Health (HealthService): SERVING once started, NOT_SERVING from
//    the moment shutdown begins, when open Watch streams are also ended;
//  - registers the caller's services and interceptor factories (metrics, ...);
//  - tells systemd READY=1 / STOPPING=1 when $NOTIFY_SOCKET is set, and writes the
//    ready-file (containing the bound address) when configured;
//  - shuts down gracefully on SIGTERM/SIGINT: stop accepting calls, give in-flight calls
//    `shutdown_timeout`, then cancel them; a second signal, or calls that still do not end
//    after a further grace, end the process.
//
// A service's main():
//
//   int main(int argc, char** argv) {
//     if (absl::Status s = server::BlockShutdownSignals(); !s.ok()) ...  // before any thread
//     ... parse flags, LoadSection(...), log::Init(...), build the service ...
//     server::ServerOptions options;
//     options.services.push_back(&content_service);
//     absl::StatusOr<std::unique_ptr<server::Server>> server =
//         server::Server::Start(config.server, std::move(options));
//     if (!server.ok()) { log::Error("{}", server.status().ToString()); return 1; }
//     return (*server)->Run().ok() ? 0 : 1;
//   }
//
// Thread-safety: all methods may be called from any thread; Shutdown() and Wait() may be
// called concurrently and repeatedly.
#ifndef BERTH_LIB_SERVER_SERVER_H_
#define BERTH_LIB_SERVER_SERVER_H_

#include <grpcpp/server.h>
#include <grpcpp/support/server_interceptor.h>
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/server/config.h"
#include "lib/server/health_service.h"

namespace berth::server {

// Largest message accepted or sent, each way: containerd's default (16 MiB).
inline constexpr int kMaxMessageSize = 16 << 20;

struct ServerOptions {
  // Services to serve (sync or callback API). Not owned; they must outlive the Server.
  std::vector<grpc::Service*> services;
  // Interceptor factories, run in order for every call (lib/metrics provides one).
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
};

class Server {
 public:
  // Validates the config, prepares the listener, starts serving, marks the health service
  // SERVING, notifies systemd and writes the ready-file. Errors:
  //  - InvalidArgument: bad address; unreadable or mismatched TLS files name the file;
  //  - FailedPrecondition: another process serves the unix socket, or its path exists and is
  //    not a socket;
  //  - Unavailable: gRPC could not bind (port in use, ...);
  //  - errno-derived codes (ErrnoToStatus) for mkdir/chmod/ready-file failures.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Server>> Start(ServerConfig config,
                                                                     ServerOptions options);

  // Shuts down (see Shutdown) if that has not happened yet.
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The address being served, in config syntax, with the bound port for `tcp://host:0`:
  // "unix:///run/berth/content.sock", "tcp://127.0.0.1:43121".
  const std::string& address() const { return address_; }
  // The bound TCP port (useful with port 0); 0 on a unix socket.
  int port() const { return port_; }
  // The health service, to report per-service status ("" is the whole server). Valid until
  // the Server is destroyed; updates after shutdown began are ignored.
  HealthService* health() { return &health_; }

  // Graceful shutdown: health NOT_SERVING (open Watch streams are ended), STOPPING=1 to
  // systemd, ready-file removed, no new calls accepted, in-flight calls get
  // `shutdown_timeout` and are then cancelled; the unix socket file is removed if it is still
  // ours. Returns when the gRPC server has stopped. gRPC also waits, within the same
  // timeout, for connected clients to acknowledge its GOAWAY; an idle gRPC C++ client does
  // that on its backup poll (every 5 s), so a shutdown can take that long with idle clients.
  // Idempotent; concurrent callers all return once it is done.
  void Shutdown();

  // Blocks until Shutdown() has completed (called by anyone).
  void Wait();

  // Serves until SIGTERM or SIGINT (or Shutdown() from another thread), then shuts down.
  // While shutting down, a second signal or calls still running `shutdown_timeout` + 5 s
  // after the first end the process with exit status 1 (logged). Requires SIGTERM and
  // SIGINT to be blocked in the calling thread (BlockShutdownSignals()), else
  // FailedPrecondition without serving. OK after a clean shutdown.
  [[nodiscard]] absl::Status Run();

 private:
  Server() = default;
  absl::Status StartInternal(ServerOptions options);

  ServerConfig config_;
  ListenAddress listen_;
  // Declared before server_: destroyed after the grpc::Server that serves it.
  HealthService health_;
  std::string address_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  // Identity of the socket file we bound, so shutdown only removes our own.
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
  bool socket_bound_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  enum class State { kServing, kStopping, kStopped };
  State state_ = State::kServing;  // guarded by mu_
};

// Blocks SIGTERM and SIGINT in the calling thread, and so in every thread it creates later,
// so that Server::Run() can take them with sigwait() in an ordinary thread instead of doing
// work in an async signal handler. Call first thing in main(), before anything (gRPC, NATS,
// RocksDB) starts threads: a thread with the signals unblocked would be killed by them.
[[nodiscard]] absl::Status BlockShutdownSignals();

}  // namespace berth::server

#endif  // BERTH_LIB_SERVER_SERVER_H_
