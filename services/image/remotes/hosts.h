// Registry host configuration, compatible with containerd's hosts.toml directories
// ("certs.d"): for a registry host, the ordered list of endpoints to talk to — mirrors first,
// in file order, then the upstream server — each with its capabilities and TLS settings.
//
// Lookup for host H under each config root, in order (the first root with a match wins):
//   <root>/<H with ":port" written "_port_">/   (myreg.io_5000_, only when H has a port)
//   <root>/<H>/                                (myreg.io:5000)
//   <root>/_default/
// In the directory: `hosts.toml` if present (an unparsable file is an error, not ignored);
// else Docker's certs.d layout (`*.crt` = extra CAs, `*.cert` + `*.key` = client pair) for the
// upstream server. No directory: the default endpoint only.
//
// hosts.toml (see reference/registry-and-security.md §4):
//   server = "https://registry.example.com"   # upstream, tried last; default: the host itself
//   [host."https://mirror.example.com"]       # mirrors, tried in file order
//     capabilities = ["pull", "resolve"]       # default all of pull, resolve, push
//     ca = "mirror-ca.crt"                     # or a list; relative to the directory
//     client = [["client.cert", "client.key"]] # or "pem", ["pem1", "pem2"]; "" key = in cert
//     skip_verify = false
//     override_path = false                    # true: the URL path is the API root as given
//     dial_timeout = "1s"                      # Go duration
//     [host."https://mirror.example.com".header]
//       x-custom = "value"                     # or a list of values
// The same keys at the top level configure the server. A URL without a scheme is https; the
// path gets "/v2" appended unless override_path is set or it already ends in "/v2".
// Unknown keys are ignored as containerd ignores them (a file valid for containerd is valid
// for berth); wrong types, unknown capabilities and nested host tables are errors.
//
// Defaults without a server entry: docker.io -> https://registry-1.docker.io; localhost,
// 127.0.0.0/8 and ::1 -> http with TLS tried first and verification skipped (containerd's
// localhost rule); any other host -> https (http with HostsOptions::plain_http).
//
// Credentials are never read from hosts.toml: see credentials.h.
//
// Thread-safety: pure functions over values; ConfigureHosts reads the filesystem on every call
// (edits apply to the next resolve without a restart, as in containerd).
#ifndef BERTH_SERVICES_IMAGE_REMOTES_HOSTS_H_
#define BERTH_SERVICES_IMAGE_REMOTES_HOSTS_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::remotes {

// What an endpoint may be used for (a bit set).
enum Capability : std::uint32_t {
  kCapabilityPull = 1,     // fetch blobs and manifests by digest
  kCapabilityResolve = 2,  // resolve a tag to a digest (a trust decision: mirrors often lack it)
  kCapabilityPush = 4,     // upload
};
inline constexpr std::uint32_t kAllCapabilities =
    kCapabilityPull | kCapabilityResolve | kCapabilityPush;

// A client certificate and its key; an empty key means the key is in the certificate file.
struct ClientCertificate {
  std::string cert;
  std::string key;
  friend bool operator==(const ClientCertificate& a, const ClientCertificate& b) {
    return a.cert == b.cert && a.key == b.key;
  }
};

// One endpoint of a registry.
struct RegistryHost {
  // "https" or "http": the scheme of the endpoint's URLs.
  std::string scheme = "https";
  // host[:port] to connect to ("registry-1.docker.io", "127.0.0.1:5000", "[::1]:5000").
  std::string host;
  // API root path: "/v2" (or what override_path kept), without a trailing '/'.
  std::string path = "/v2";
  std::uint32_t capabilities = kAllCapabilities;
  // Extra CA certificate files (absolute paths), added to the system's trust store.
  std::vector<std::string> ca_files;
  // Client certificates (absolute paths). libcurl presents one: the first is used.
  std::vector<ClientCertificate> client_certificates;
  bool skip_verify = false;
  // For an http endpoint: speak TLS first and fall back to plain HTTP when the TLS handshake
  // fails (containerd's HTTPFallback: localhost, and http hosts configured with TLS options).
  bool tls_first = false;
  // Extra request headers, in file order (also sent to the token server).
  std::vector<std::pair<std::string, std::string>> headers;
  // Connect timeout; zero means the client's default.
  std::chrono::milliseconds dial_timeout{0};

  bool Can(Capability c) const { return (capabilities & c) != 0; }

  // scheme://host + path, e.g. "https://registry-1.docker.io/v2".
  std::string BaseUrl() const;
};

struct HostsOptions {
  // Config roots searched in order (containerd's config_path, ctr's --hosts-dir). Empty: no
  // hosts.toml is read and every registry gets its default endpoint.
  std::vector<std::string> config_paths;
  // Default endpoints use http instead of https (ctr --plain-http). hosts.toml entries keep
  // their own schemes.
  bool plain_http = false;
};

// The endpoints for registry host `host` (as in a reference: "docker.io", "localhost:5000"),
// mirrors first, in the order to try them. Errors: InvalidArgument
// `hosts.toml "<path>": <reason>` naming the key for a bad file; the errno of an unreadable
// directory or file as ErrnoToStatus maps it.
absl::StatusOr<std::vector<RegistryHost>> ConfigureHosts(std::string_view host,
                                                         const HostsOptions& options);

// Parses the text of a hosts.toml for `host`; `dir` is the directory it came from (relative
// `ca` and `client` paths resolve against it; `file` names it in errors). Returns the
// endpoints as ConfigureHosts does. Same errors.
absl::StatusOr<std::vector<RegistryHost>> ParseHostsToml(std::string_view text,
                                                         std::string_view host,
                                                         std::string_view dir,
                                                         const HostsOptions& options = {},
                                                         std::string_view file = "hosts.toml");

// The default endpoint of a registry host when no configuration names one (see above).
RegistryHost DefaultHost(std::string_view host, const HostsOptions& options = {});

// Splits a ":"-separated config path ("/etc/containerd/certs.d:/etc/docker/certs.d"),
// dropping empty parts.
std::vector<std::string> SplitConfigPath(std::string_view config_path);

// True for "localhost", 127.0.0.0/8 and ::1, with or without a port.
bool IsLocalhost(std::string_view host);

// Parses a Go duration ("1s", "500ms", "1m30s", "2h"). InvalidArgument for anything else,
// including negative durations.
absl::StatusOr<std::chrono::milliseconds> ParseGoDuration(std::string_view s);

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_HOSTS_H_
