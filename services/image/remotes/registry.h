// RegistryResolver: the Resolver, Fetcher and Pusher of the OCI distribution API (Docker
// registry v2), on libcurl + OpenSSL.
//
//   RegistryOptions options;
//   options.hosts.config_paths = {"/etc/berth/certs.d"};           // hosts.toml directories
//   options.credentials = DockerConfig::Load(path)->AsFunc();       // or StaticCredentials
//   auto resolver = std::make_unique<RegistryResolver>(options);
//
// What it does for every request (details in the interface headers):
//   - endpoints from hosts.toml (hosts.h), re-read per Resolve/NewFetcher/NewPusher: mirrors
//     in file order, then the upstream; Resolve uses those with the resolve capability, Fetch
//     those with pull, Push those with push; on any error the next endpoint is tried and the
//     final error lists each endpoint's failure with the last endpoint's code;
//   - `?ns=<registry host>` on requests to an endpoint that is not the reference's registry;
//   - https, or http (tls_first endpoints: TLS first, plain HTTP after a failed handshake,
//     remembered per endpoint);
//   - authentication: anonymous, then Basic or Bearer as the registry challenges (auth.h), with
//     credentials from RegistryOptions::credentials for the endpoint's host;
//   - retries with exponential backoff (doubling from initial_backoff, capped at max_backoff,
//     with jitter) on connection failures, broken transfers, 5xx (but 501/505) and 429 —
//     honouring Retry-After up to max_retry_after — at most max_attempts tries per request;
//   - redirects followed without forwarding credentials to another origin (http_client.h);
//   - status codes mapped to errors: 404 -> NotFound, 401 after auth -> Unauthenticated, 403
//     -> PermissionDenied, 400 -> InvalidArgument, 405 -> Unimplemented, 429/5xx ->
//     Unavailable, with the registry's error codes (MANIFEST_UNKNOWN, ...) and the URL in the
//     message.
//
// Thread-safety: RegistryResolver and the Fetchers and Pushers it makes are safe to use from
// many threads at once; they share one HttpClient (connection pools per endpoint) and one
// Authorizer (token cache) per endpoint and credentials. The resolver must outlive them.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_REGISTRY_H_
#define BERTH_SERVICES_IMAGE_REMOTES_REGISTRY_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "services/image/remotes/credentials.h"
#include "services/image/remotes/hosts.h"
#include "services/image/remotes/resolver.h"

namespace berth::remotes {

struct RegistryOptions {
  // Where endpoints come from (hosts.toml roots, plain_http).
  HostsOptions hosts;
  // Credentials per host; unset means anonymous everywhere.
  CredentialsFunc credentials;
  // Tries per request (1 = no retry).
  int max_attempts = 4;
  // Backoff before the second try; doubles each time up to max_backoff.
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(10)};
  // Longest Retry-After berth waits for; a 429/503 asking for more fails at once.
  std::chrono::milliseconds max_retry_after{std::chrono::seconds(60)};
  // Connect timeout when hosts.toml sets no dial_timeout.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
  // A transfer moving no byte for this long is broken (and resumed or retried).
  std::chrono::seconds stall_timeout{30};
  // Idle connections kept per endpoint.
  std::size_t max_idle_connections = 8;
  std::string user_agent = "berth/0.1";
};

class RegistryResolver : public Resolver {
 public:
  explicit RegistryResolver(RegistryOptions options);
  ~RegistryResolver() override;

  absl::StatusOr<Resolved> Resolve(const CallContext& ctx, std::string_view ref) override;
  absl::StatusOr<std::unique_ptr<Fetcher>> NewFetcher(const CallContext& ctx,
                                                      std::string_view ref) override;
  absl::StatusOr<std::unique_ptr<Pusher>> NewPusher(const CallContext& ctx,
                                                    std::string_view ref) override;

  // Shared state of the resolver and its fetchers and pushers (defined in registry.cc).
  class Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_REGISTRY_H_
