#include "gateway/router.h"

#include <errno.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <unistd.h>

#include <utility>

#include "gateway/known_services.h"
#include "lib/log/log.h"
#include "lib/server/dial.h"
#include "lib/server/health_client.h"
#include "lib/server/server.h"
#include "lib/status/status.h"

namespace berth::gateway {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus("read tls file", path, errno);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return ErrnoToStatus("read tls file", path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeBackendChannel(
    const std::string& address, const std::optional<ClientTlsConfig>& tls,
    const ChannelOptions& options) {
  ASSIGN_OR_RETURN(server::ListenAddress parsed, server::ParseListenAddress(address));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(server::kMaxMessageSize);
  args.SetMaxSendMessageSize(server::kMaxMessageSize);
  server::SetReconnectBackoff(&args, options.reconnect_backoff_max);
  // A channel of its own per address: tests and replicas may point two channels at one
  // address and expect two connections.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Keep idle connections: the gateway's traffic is bursty and reconnecting costs latency.
  args.SetInt(GRPC_ARG_CLIENT_IDLE_TIMEOUT_MS, INT32_MAX);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tls.has_value()) {
    grpc::SslCredentialsOptions ssl;
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadPem(tls->ca));
    if (!tls->cert.empty()) {
      ASSIGN_OR_RETURN(ssl.pem_cert_chain, ReadPem(tls->cert));
      ASSIGN_OR_RETURN(ssl.pem_private_key, ReadPem(tls->key));
    }
    credentials = grpc::SslCredentials(ssl);
    if (!tls->server_name.empty()) args.SetSslTargetNameOverride(tls->server_name);
  }
  return grpc::CreateCustomChannel(parsed.GrpcTarget(), credentials, args);
}

absl::StatusOr<std::unique_ptr<Backend>> Backend::Create(BackendConfig config,
                                                         const ChannelOptions& options) {
  std::unique_ptr<Backend> b(new Backend());
  for (const std::string& address : config.addresses) {
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                     MakeBackendChannel(address, config.tls, options));
    b->channels_.push_back(std::move(channel));
  }
  if (b->channels_.empty()) {
    return absl::InvalidArgumentError(fmt::format("backend {:?}: no addresses", config.name));
  }
  for (const std::string& m : config.read_methods) {
    if (m.find('/') == std::string::npos) {
      b->read_any_.insert(m);
    } else {
      b->read_qualified_.insert(m);
    }
  }
  b->health_.assign(b->channels_.size(), absl::OkStatus());
  b->config_ = std::move(config);
  return b;
}

const std::shared_ptr<grpc::Channel>& Backend::Pick(bool read) {
  const size_t n = channels_.size();
  if (!read || n == 1) return channels_[0];
  // Round robin over the addresses that are up: a replica that the health checker saw down,
  // or whose channel is failing to connect, is skipped so that reads do not fail while
  // another instance could answer them. When none is up, plain round robin (the calls fail
  // with Unavailable, and the attempts let the channels reconnect).
  const uint64_t down = down_.load(std::memory_order_relaxed);
  const uint64_t start = next_.fetch_add(1, std::memory_order_relaxed);
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (i < 64 && (down >> i) & 1) continue;
    if (channels_[i]->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE) continue;
    return channels_[i];
  }
  return channels_[start % n];
}

bool Backend::IsRead(std::string_view service, std::string_view method) const {
  if (read_any_.find(method) != read_any_.end()) return true;
  if (read_qualified_.empty()) return false;
  std::string qualified;
  qualified.reserve(service.size() + 1 + method.size());
  qualified.append(service).append("/").append(method);
  return read_qualified_.find(qualified) != read_qualified_.end();
}

absl::Status Backend::Health(size_t i) const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_.at(i);
}

bool Backend::SetHealth(size_t i, absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool changed = health_.at(i).ok() != status.ok();
  if (i < 64) {
    const uint64_t bit = uint64_t{1} << i;
    if (status.ok()) {
      down_.fetch_and(~bit, std::memory_order_relaxed);
    } else {
      down_.fetch_or(bit, std::memory_order_relaxed);
    }
  }
  health_[i] = std::move(status);
  return changed;
}

absl::StatusOr<std::unique_ptr<Router>> Router::Create(const GatewayConfig& config) {
  std::unique_ptr<Router> r(new Router());
  ChannelOptions options;
  options.reconnect_backoff_max =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.reconnect_backoff_max);
  for (const BackendConfig& bc : config.backends) {
    ASSIGN_OR_RETURN(std::unique_ptr<Backend> b, Backend::Create(bc, options));
    for (const std::string& service : b->config().services) {
      if (!r->by_service_.emplace(service, b.get()).second) {
        return absl::InvalidArgumentError(
            fmt::format("service {:?} is served by two backends", service));
      }
      if (const google::protobuf::ServiceDescriptor* d = FindKnownService(service)) {
        for (int i = 0; i < d->method_count(); ++i) {
          const google::protobuf::MethodDescriptor* m = d->method(i);
          Shape shape = m->client_streaming()
                            ? (m->server_streaming() ? Shape::kBidi : Shape::kClientStreaming)
                            : (m->server_streaming() ? Shape::kServerStreaming : Shape::kUnary);
          r->shapes_.emplace(fmt::format("/{}/{}", service, m->name()), shape);
        }
      }
    }
    r->backends_.push_back(std::move(b));
  }
  return r;
}

Router::~Router() { StopHealthChecks(); }

void Router::StopHealthChecks() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (checker_.joinable()) checker_.join();
}

std::optional<Router::Route> Router::Find(std::string_view path) const {
  // "/package.Service/Method"
  if (path.size() < 4 || path[0] != '/') return std::nullopt;
  const size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == path.size()) {
    return std::nullopt;
  }
  const std::string_view service = path.substr(1, slash - 1);
  const std::string_view method = path.substr(slash + 1);
  if (method.find('/') != std::string_view::npos) return std::nullopt;
  auto it = by_service_.find(service);
  if (it == by_service_.end()) return std::nullopt;
  auto shape = shapes_.find(path);
  return Route{it->second, service, method, it->second->IsRead(service, method),
               shape == shapes_.end() ? Shape::kUnknown : shape->second};
}

void Router::CheckAll(std::chrono::milliseconds timeout) {
  if (reported_.size() != backends_.size()) {
    reported_.clear();
    for (const auto& b : backends_) reported_.emplace_back(b->size(), false);
  }
  for (size_t bi = 0; bi < backends_.size(); ++bi) {
    Backend& b = *backends_[bi];
    for (size_t i = 0; i < b.size(); ++i) {
      absl::Status status;
      absl::StatusOr<server::HealthStatus> h = server::CheckHealth(*b.channel(i), "", timeout);
      if (!h.ok()) {
        status = absl::UnavailableError(fmt::format("backend {:?} at {}: {}", b.name(),
                                                    b.config().addresses[i],
                                                    std::string(h.status().message())));
        // Try to connect again now rather than after the channel's backoff.
        grpc::experimental::ChannelResetConnectionBackoff(b.channel(i).get());
      } else if (*h != server::HealthStatus::kServing) {
        status = absl::UnavailableError(fmt::format("backend {:?} at {}: {}", b.name(),
                                                    b.config().addresses[i],
                                                    server::HealthStatusName(*h)));
      }
      const bool changed = b.SetHealth(i, status);
      if (changed || !reported_[bi][i]) {
        if (status.ok()) {
          log::Info("backend up backend={:?} address={:?}", b.name(), b.config().addresses[i]);
        } else {
          log::Warn("backend down backend={:?} address={:?} error={:?}", b.name(),
                    b.config().addresses[i], std::string(status.message()));
        }
        if (observer_) observer_(b, i, status);
        reported_[bi][i] = true;
      }
    }
  }
}

void Router::StartHealthChecks(std::chrono::milliseconds interval,
                               std::chrono::milliseconds timeout, HealthObserver observer) {
  observer_ = std::move(observer);
  CheckAll(timeout);
  checker_ = std::thread([this, interval, timeout] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
      lock.unlock();
      CheckAll(timeout);
      lock.lock();
    }
  });
}

}  // namespace berth::gateway
