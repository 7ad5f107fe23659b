// Backend and Router: where the gateway sends the calls it does not serve itself.
//
// A Backend is one berth process (content, snapshot, ...) with one gRPC channel per
// configured address. The first address is the primary: it takes every call that is not a
// read. Reads (BackendConfig::read_methods) are spread round robin over all addresses, so
// read replicas of the content service share the load. Channels reconnect on their own
// (gRPC backoff capped by GatewayConfig::reconnect_backoff_max); a health checker thread
// checks every address each health_interval, keeps the result for Introspection and the
// availability metric, logs transitions, and resets the reconnect backoff of a channel that
// is down so a restarted backend is picked up at the next check at the latest.
//
// The Router maps a full method path `/package.Service/Method` to its Backend and says
// whether the method is a read.
//
// Thread-safety: after Create, Router and Backend are safe to use from any thread (the
// round-robin cursor and health are atomics / mutex-guarded).
#ifndef BERTH_GATEWAY_ROUTER_H_
#define BERTH_GATEWAY_ROUTER_H_

#include <grpcpp/channel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/config.h"

namespace berth::gateway {

// Options for the channels to backends.
struct ChannelOptions {
  // Upper bound of gRPC's reconnect backoff.
  std::chrono::milliseconds reconnect_backoff_max = std::chrono::seconds(1);
};

// Makes a channel to `address` (config syntax) with berth's message limits (16 MiB each
// way), a fast reconnect backoff and its own subchannel (no sharing between channels, so
// two channels to one address are two connections). InvalidArgument for a bad address,
// or TLS files that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeBackendChannel(
    const std::string& address, const std::optional<ClientTlsConfig>& tls,
    const ChannelOptions& options);

class Backend {
 public:
  static absl::StatusOr<std::unique_ptr<Backend>> Create(BackendConfig config,
                                                         const ChannelOptions& options);

  const BackendConfig& config() const { return config_; }
  const std::string& name() const { return config_.name; }

  // The channel for one call: the primary for writes, the next address round robin for
  // reads, skipping addresses that are down (last health check failed, or the channel is in
  // TRANSIENT_FAILURE) while another is up.
  const std::shared_ptr<grpc::Channel>& Pick(bool read);
  const std::shared_ptr<grpc::Channel>& primary() const { return channels_[0]; }

  // Number of addresses; channel(i) is the channel to config().addresses[i].
  size_t size() const { return channels_.size(); }
  const std::shared_ptr<grpc::Channel>& channel(size_t i) const { return channels_[i]; }

  // Whether `method` of `service` only reads (config read_methods).
  bool IsRead(std::string_view service, std::string_view method) const;

  // Result of the last health check of address i: OK when it answered SERVING, else the
  // error (Unavailable `backend "content" unix:///...: ...`). Before the first check: OK.
  absl::Status Health(size_t i) const;
  // OK when the primary is healthy, else its error.
  absl::Status Health() const { return Health(0); }
  // Records a health check result; returns true when it differs from the previous one
  // (up <-> down).
  bool SetHealth(size_t i, absl::Status status);

 private:
  Backend() = default;

  BackendConfig config_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::set<std::string, std::less<>> read_any_;        // "Info"
  std::set<std::string, std::less<>> read_qualified_;  // "pkg.Service/Info"
  std::atomic<uint64_t> next_{0};
  std::atomic<uint64_t> down_{0};  // bit i: address i failed its last health check (i < 64)
  mutable std::mutex mu_;
  std::vector<absl::Status> health_;  // guarded by mu_
};

class Router {
 public:
  // How a method streams, from its descriptor (known_services.h); kUnknown for methods of
  // services berth has no .proto for.
  enum class Shape { kUnknown, kUnary, kServerStreaming, kClientStreaming, kBidi };

  struct Route {
    Backend* backend;
    // The service part of the path ("containerd.services.content.v1.Content").
    std::string_view service;
    std::string_view method;
    bool read;
    Shape shape;
  };

  // Builds one Backend per config.backends entry. Errors from MakeBackendChannel.
  static absl::StatusOr<std::unique_ptr<Router>> Create(const GatewayConfig& config);

  // Stops the health checker.
  ~Router();

  // The route of a full method path "/package.Service/Method"; nullopt when the path is
  // malformed or no backend serves the service. The views point into `path`.
  std::optional<Route> Find(std::string_view path) const;

  const std::vector<std::unique_ptr<Backend>>& backends() const { return backends_; }

  // Called on every up/down transition of an address (from the health checker thread):
  // backend, address index, new health.
  using HealthObserver = std::function<void(const Backend&, size_t, const absl::Status&)>;

  // Checks every address once now (synchronously), then every `interval` on a thread of
  // its own until destruction. `observer` (may be empty) sees every result whose up/down
  // state changed, and the first result of each address.
  void StartHealthChecks(std::chrono::milliseconds interval, std::chrono::milliseconds timeout,
                         HealthObserver observer);

  // Stops the checker thread (waits for a running round); the observer is not called after
  // it returns. Idempotent; the destructor calls it.
  void StopHealthChecks();

  // One round of checks (what the thread runs); exposed for tests.
  void CheckAll(std::chrono::milliseconds timeout);

 private:
  Router() = default;

  std::vector<std::unique_ptr<Backend>> backends_;
  std::map<std::string, Backend*, std::less<>> by_service_;
  std::map<std::string, Shape, std::less<>> shapes_;  // "/pkg.Service/Method"
  HealthObserver observer_;
  std::vector<std::vector<bool>> reported_;  // first result reported; health thread only

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread checker_;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_ROUTER_H_
