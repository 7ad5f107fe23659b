// HttpClient: the HTTP layer of the registry client, on libcurl + OpenSSL. Internal to
// services/image/remotes (the registry client builds on it; nothing else should).
//
// Connection reuse: for every endpoint (origin plus TLS settings) the client keeps a pool of
// idle connections. A pooled connection is a libcurl multi handle with one easy handle: the
// multi handle's connection cache keeps the TCP/TLS connections alive between requests
// (HTTP/1.1 keep-alive, or one HTTP/2 connection where the server offers h2 through ALPN), so
// consecutive blobs from one registry reuse connections. All connections of an endpoint share
// one curl share handle for DNS results and TLS sessions. Each request takes a connection from
// the pool for its duration and gives it back when done; a pool keeps at most
// HttpOptions::max_idle_connections.
//
// A request runs on the calling thread: Open drives the transfer until the final response's
// status and headers are in, HttpStream::Read drives it until bytes are available. Bytes are
// buffered at most ~1 MiB ahead of the reader (libcurl pauses the transfer beyond that), so a
// slow consumer gets backpressure instead of memory growth.
//
// Redirects are followed by this layer, not by libcurl, so that the rule is explicit: the
// Authorization header is sent only to the origin (scheme, host, port) it was meant for and is
// dropped on a redirect to any other origin (CVE-2020-15157 bug class: registry credentials
// must not reach blob storage or any other host); a redirect from https to http is refused;
// only http and https URLs are followed, at most `max_redirects` times.
//
// Thread-safety: HttpClient is safe to use from many threads at once. An HttpStream is used by
// one thread at a time and must be destroyed before the HttpClient that opened it.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_HTTP_CLIENT_H_
#define BERTH_SERVICES_IMAGE_REMOTES_HTTP_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "services/image/remotes/hosts.h"

namespace berth::remotes {

class BlobReader;

// The parts of a URL the client needs. Hosts are lowercased; IPv6 literals keep brackets.
struct Url {
  std::string scheme;      // "http" or "https"
  std::string host;        // host[:port] as written (no userinfo)
  std::string path_query;  // "/v2/..?a=b", always starting with '/'

  // scheme://hostname:port with the default port made explicit: the unit of trust for
  // credentials.
  std::string Origin() const;
  std::string ToString() const { return scheme + "://" + host + path_query; }
};

// Parses an absolute http(s) URL. InvalidArgument for other schemes, userinfo, an empty host,
// spaces or control characters.
absl::StatusOr<Url> ParseUrl(std::string_view url);

// Resolves a Location header against the URL of the request that got it (absolute URL,
// scheme-relative "//host/p", absolute path "/p", or relative path). Same errors as ParseUrl.
absl::StatusOr<Url> ResolveLocation(const Url& base, std::string_view location);

// Whether a request that carried credentials for `from` may carry them to `to` after a
// redirect: only when both have the same origin.
bool ForwardCredentials(const Url& from, const Url& to);

// Percent-encodes a query parameter value (RFC 3986 unreserved characters stay).
std::string QueryEscape(std::string_view s);

// TLS settings of a request (from the RegistryHost it is for).
struct TlsSettings {
  std::vector<std::string> ca_files;
  std::vector<ClientCertificate> client_certificates;
  bool skip_verify = false;

  // Identifies the settings in the pool key.
  std::string Key() const;
};

struct HttpOptions {
  // Connect timeout when a request does not set one.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
  // A transfer that moves no byte for this long fails with Unavailable (libcurl's
  // LOW_SPEED_LIMIT/TIME with a limit of 1 byte/s).
  std::chrono::seconds stall_timeout{30};
  // Idle connections (multi handles) kept per endpoint.
  std::size_t max_idle_connections = 8;
  // User-Agent header.
  std::string user_agent = "berth/0.1";
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  // Headers other than Authorization; sent on every hop, in order.
  std::vector<std::pair<std::string, std::string>> headers;
  // Value of the Authorization header, sent only to the origin of `url` (see file comment).
  std::string authorization;
  // A request body from memory (POST forms, manifests)...
  std::string body;
  bool has_body = false;
  // ...or `body_length` bytes of `body_reader` from `body_offset` (blob uploads). The reader
  // must stay valid until the response is complete.
  BlobReader* body_reader = nullptr;
  std::int64_t body_offset = 0;
  std::int64_t body_length = 0;
  TlsSettings tls;
  // Zero: HttpOptions::connect_timeout.
  std::chrono::milliseconds connect_timeout{0};
  // Redirects to follow; 0 returns a 3xx response as it is.
  int max_redirects = 10;
};

struct HttpResponse {
  int status = 0;
  // The URL of the final request (after redirects).
  std::string url;
  // Header names lowercased, in the order received.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // "HTTP/1.1" or "HTTP/2".
  std::string http_version;

  // The first value of header `name` (lowercase), or "".
  std::string Header(std::string_view name) const;
  std::vector<std::string> HeaderValues(std::string_view name) const;
};

// What kind of failure a network error was, for retry and fallback decisions.
enum class NetErrorKind {
  kNone,
  kConnect,    // could not connect (refused, unreachable, DNS, connect timeout)
  kTls,        // the TLS handshake failed (e.g. the server does not speak TLS)
  kTlsVerify,  // the server's certificate was not trusted, or a TLS setting is broken
  kTransfer,   // the connection broke or stalled during the exchange
  kOther,      // cancelled, deadline, bad request setup, ...
};

class HttpStream;

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request`, follows redirects as the file comment says, and returns once the final
  // response's status and headers are in; read the body from the stream. Any HTTP status is
  // a success here. Errors: Unavailable `<METHOD> "<url>": <libcurl reason>` for network and
  // TLS failures (`kind` tells which), PermissionDenied for an https -> http redirect,
  // InvalidArgument for a bad URL or Location, FailedPrecondition after too many redirects,
  // Cancelled / DeadlineExceeded from ctx. `kind` may be null.
  absl::StatusOr<std::unique_ptr<HttpStream>> Open(const CallContext& ctx, HttpRequest request,
                                                   NetErrorKind* kind = nullptr);

  // Open, then the whole body (at most `max_body` bytes: more is ResourceExhausted naming the
  // URL; the body is not read for HEAD).
  absl::StatusOr<HttpResponse> Do(const CallContext& ctx, HttpRequest request,
                                  std::int64_t max_body, NetErrorKind* kind = nullptr);

  const HttpOptions& options() const { return options_; }

  struct Pool;

 private:
  absl::StatusOr<std::unique_ptr<HttpStream>> OpenOnce(const CallContext& ctx,
                                                       const HttpRequest& request, const Url& url,
                                                       NetErrorKind* kind);
  absl::StatusOr<std::shared_ptr<Pool>> PoolFor(const Url& url, const TlsSettings& tls);

  HttpOptions options_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Pool>> pools_;  // guarded by mu_
};

// The body of one response, read as it arrives.
class HttpStream {
 public:
  ~HttpStream();
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  // Status, headers, final URL (the body field stays empty).
  const HttpResponse& response() const { return response_; }

  // Reads up to `n` bytes of the body; 0 at its end. Unavailable when the connection breaks
  // or stalls (`kind()` is then kTransfer), Cancelled / DeadlineExceeded from the context the
  // stream was opened with.
  absl::StatusOr<std::size_t> Read(char* buf, std::size_t n);

  // Reads the rest of the body, at most `max` bytes (ResourceExhausted beyond).
  absl::StatusOr<std::string> ReadAll(std::int64_t max);

  // Bytes of the body read so far.
  std::int64_t body_read() const { return body_read_; }

  // The kind of the last failure.
  NetErrorKind kind() const { return kind_; }

 private:
  friend class HttpClient;
  struct Conn;
  HttpStream() = default;

  absl::Status Start(const CallContext& ctx, const HttpRequest& request, const Url& url,
                     std::shared_ptr<HttpClient::Pool> pool, const HttpOptions& options);
  // Runs the transfer until the headers are complete (`want_headers`) or body bytes are
  // buffered, or it ends.
  absl::Status Drive(bool want_headers);
  absl::Status TransferError() const;

  static std::size_t OnHeader(char* data, std::size_t size, std::size_t nitems, void* self);
  static std::size_t OnWrite(char* data, std::size_t size, std::size_t nmemb, void* self);
  static std::size_t OnRead(char* data, std::size_t size, std::size_t nmemb, void* self);

  CallContext ctx_;
  std::shared_ptr<HttpClient::Pool> pool_;
  std::unique_ptr<Conn> conn_;
  std::string method_;
  std::string url_;
  HttpResponse response_;
  bool headers_done_ = false;
  bool done_ = false;
  bool paused_ = false;
  int result_ = 0;  // CURLcode
  std::string buf_;
  std::size_t buf_pos_ = 0;
  std::int64_t body_read_ = 0;
  NetErrorKind kind_ = NetErrorKind::kNone;
  // Upload state.
  std::string body_;
  BlobReader* body_reader_ = nullptr;
  std::int64_t body_offset_ = 0;
  std::int64_t body_length_ = 0;
  std::int64_t body_sent_ = 0;
  absl::Status read_error_;
  absl::Status final_status_;    // Sticky result once the transfer is done.
  void* header_list_ = nullptr;  // curl_slist*
  char errbuf_[256] = {};
};

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_HTTP_CLIENT_H_
