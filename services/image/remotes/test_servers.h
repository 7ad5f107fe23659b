// Test-only network helpers for the registry client's integration tests. None of them is a
// registry: the registry is always Debian's real docker-registry (lib/testing/registry.h).
//
//   TinyHttpServer  a loopback HTTP/1.1 server answering one request per connection from a
//                   handler and recording the requests: the blob storage a registry redirects
//                   to (to see which headers reach it), and the token issuer of a registry
//                   configured with `auth: token`.
//   CuttingRelay    a loopback TCP relay in front of a registry that cuts the first
//                   connection once it has carried a given number of response bytes: a
//                   connection broken mid-blob.
//   RegistryProcess docker-registry started with a config.yml the test writes (redirect
//                   middleware, token auth), serving a storage directory another registry
//                   filled.
//
// Thread-safety: each helper runs its own threads; the accessors are safe from the test's
// thread. Destructors stop everything they started, also when a test failed.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_TEST_SERVERS_H_
#define BERTH_SERVICES_IMAGE_REMOTES_TEST_SERVERS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/testing/child_process.h"
#include "lib/testing/temp_dir.h"

namespace berth::remotes::testing {

struct TinyRequest {
  std::string method;
  std::string target;                          // path and query as sent
  std::map<std::string, std::string> headers;  // names lowercased
};

struct TinyResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class TinyHttpServer {
 public:
  using Handler = std::function<TinyResponse(const TinyRequest&)>;

  // Binds 127.0.0.1:0 and starts serving with `handler` (called on the server's thread).
  explicit TinyHttpServer(Handler handler);
  ~TinyHttpServer();

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<TinyRequest> requests() const;

 private:
  void Serve();
  void HandleConnection(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<TinyRequest> requests_;  // guarded by mu_
  std::thread thread_;
};

class CuttingRelay {
 public:
  // Relays 127.0.0.1:<port()> to 127.0.0.1:<target_port>. The first connection whose
  // server-to-client bytes exceed `cut_after` is closed at that point (once).
  CuttingRelay(int target_port, std::int64_t cut_after);
  ~CuttingRelay();

  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  int cuts() const { return cuts_.load(); }

 private:
  void Accept();
  void Pump(int client);

  int target_port_;
  std::int64_t cut_after_;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> cuts_{0};
  std::mutex mu_;
  std::vector<std::thread> pumps_;  // guarded by mu_
  std::thread thread_;
};

class RegistryProcess {
 public:
  // Starts /usr/bin/docker-registry with `config` (YAML; must contain `addr: 127.0.0.1:0`
  // under `http:`), waits for it to listen and for GET /v2/ to answer (any HTTP status).
  static absl::StatusOr<std::unique_ptr<RegistryProcess>> Start(const std::string& config);
  ~RegistryProcess();

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string Logs() const;

 private:
  RegistryProcess() = default;

  berth::testing::TempDir dir_{"bregp"};
  std::unique_ptr<berth::testing::ChildProcess> child_;
  int port_ = 0;
};

// Runs a command to completion; InternalError with its stderr when it fails.
absl::Status Run(const std::vector<std::string>& argv);

// A TCP port on loopback that nothing listens on (bound, then closed).
int ClosedPort();

}  // namespace berth::remotes::testing

#endif  // BERTH_SERVICES_IMAGE_REMOTES_TEST_SERVERS_H_
