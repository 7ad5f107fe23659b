#include "services/image/remotes/registry.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "lib/digest/digest.h"
#include "lib/log/log.h"
#include "lib/reference/reference.h"
#include "lib/status/status.h"
#include "nlohmann/json.hpp"
#include "services/image/remotes/auth.h"
#include "services/image/remotes/http_client.h"
#include "services/image/remotes/manifest.h"
#include "services/image/remotes/media_types.h"
#include "services/image/remotes/www_authenticate.h"

namespace berth::remotes {
namespace {

// Error bodies are read for their registry error codes, and no further.
constexpr std::int64_t kMaxErrorBody = 64 << 10;

// One request to a registry endpoint, before URL, auth and retries are worked out.
struct RequestSpec {
  std::string method = "GET";
  // After the endpoint's API root: "/library/busybox/manifests/latest".
  std::string path;
  // When set (upload locations the registry handed out), the URL to use instead of
  // base + path; it already carries its own query.
  std::string absolute_url;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool has_body = false;
  BlobReader* reader = nullptr;
  std::int64_t reader_offset = 0;
  std::int64_t reader_length = 0;
  // Whether the request may be sent again after a network failure or a 5xx (false for upload
  // steps whose effect on the upload session is unknown after a failure).
  bool retry = true;
};

// A failure of one endpoint, for the combined error.
struct EndpointError {
  std::string host;
  absl::Status status;
};

absl::Status Combine(std::string_view op, std::string_view object,
                     const std::vector<EndpointError>& errors) {
  if (errors.empty()) {
    return absl::FailedPreconditionError(fmt::format("{} {:?}: no endpoint to try", op, object));
  }
  std::string msg = fmt::format("{} {:?}: ", op, object);
  if (errors.size() == 1) {
    msg += std::string(errors[0].status.message());
  } else {
    for (std::size_t i = 0; i < errors.size(); ++i) {
      if (i > 0) msg += "; ";
      msg += fmt::format("{}: {}", errors[i].host, std::string(errors[i].status.message()));
    }
  }
  // The last endpoint is the upstream (or the last mirror): its answer decides the code.
  return absl::Status(errors.back().status.code(), msg);
}

// "MANIFEST_UNKNOWN: manifest unknown; ..." from a registry error body, or "".
std::string RegistryErrors(std::string_view body, std::string* first_code) {
  nlohmann::json doc =
      nlohmann::json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return "";
  auto errors = doc.find("errors");
  if (errors == doc.end() || !errors->is_array()) return "";
  std::string out;
  for (const auto& e : *errors) {
    if (!e.is_object()) continue;
    std::string code, message;
    if (auto c = e.find("code"); c != e.end() && c->is_string()) code = c->get<std::string>();
    if (auto m = e.find("message"); m != e.end() && m->is_string()) {
      message = m->get<std::string>();
    }
    if (first_code != nullptr && first_code->empty()) *first_code = code;
    if (!out.empty()) out += "; ";
    out += code.empty() ? message : (message.empty() ? code : code + ": " + message);
    if (out.size() > 512) break;
  }
  return out;
}

// What a status means, for errors whose response had no registry error body (HEAD).
std::string ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 416:
      return "range not satisfiable";
    case 429:
      return "too many requests";
    case 500:
      return "internal server error";
    case 502:
      return "bad gateway";
    case 503:
      return "service unavailable";
    case 504:
      return "gateway timeout";
    default:
      return "";
  }
}

// The error for a response that is not what the request wanted.
absl::Status ResponseError(std::string_view method, const HttpResponse& resp,
                           std::string_view body) {
  std::string code_name;
  std::string details = RegistryErrors(body, &code_name);
  if (details.empty()) details = ReasonPhrase(resp.status);
  std::string msg = fmt::format("{} {:?}: HTTP {}{}", method, resp.url, resp.status,
                                details.empty() ? "" : " (" + details + ")");
  if (code_name == "DIGEST_INVALID" || code_name == "SIZE_INVALID") {
    return absl::DataLossError(msg);
  }
  switch (resp.status) {
    case 400:
      return absl::InvalidArgumentError(msg);
    case 401:
      return absl::UnauthenticatedError(msg);
    case 403:
      return absl::PermissionDeniedError(msg);
    case 404:
      return absl::NotFoundError(msg);
    case 405:
      return absl::UnimplementedError(msg);
    case 409:
      return absl::FailedPreconditionError(msg);
    case 416:
      return absl::OutOfRangeError(msg);
    case 429:
      return absl::UnavailableError(msg);
    default:
      break;
  }
  if (resp.status >= 500) return absl::UnavailableError(msg);
  return absl::UnknownError(msg);
}

absl::Status ErrorFromStream(std::string_view method, HttpStream& stream) {
  auto body = stream.ReadAll(kMaxErrorBody);
  return ResponseError(method, stream.response(), body.ok() ? *body : std::string());
}

// Reads what is left of a small response so that its connection can be reused (a transfer
// abandoned mid-body closes its connection).
void Drain(HttpStream& stream) { (void)stream.ReadAll(kMaxErrorBody); }

bool RetryableStatus(int status) {
  return status == 429 || (status >= 500 && status != 501 && status != 505);
}

bool RetryableKind(NetErrorKind kind) {
  return kind == NetErrorKind::kConnect || kind == NetErrorKind::kTransfer;
}

std::optional<std::chrono::milliseconds> RetryAfter(const HttpResponse& resp) {
  std::string v = resp.Header("retry-after");
  if (v.empty()) return std::nullopt;
  bool digits = std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(c) != 0; });
  if (digits && v.size() < 9) return std::chrono::seconds(std::stol(v));
  time_t when = curl_getdate(v.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  auto delta = std::chrono::system_clock::from_time_t(when) - std::chrono::system_clock::now();
  if (delta.count() < 0) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(delta);
}

std::optional<std::int64_t> ParseInt64(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// containerd's isProxy: an endpoint serves the reference's registry as a mirror when it is
// another host (docker.io's own endpoint registry-1.docker.io is not a mirror).
std::string NamespaceFor(const RegistryHost& h, const std::string& domain) {
  if (h.host == domain) return "";
  if (domain == "docker.io" && h.host == "registry-1.docker.io") return "";
  return domain;
}

bool ValidTag(std::string_view tag) {
  if (tag.empty() || tag.size() > reference::kTagMaxLength) return false;
  for (std::size_t i = 0; i < tag.size(); ++i) {
    char c = tag[i];
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
              (i > 0 && (c == '.' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

std::string WithQuery(const std::string& url, std::string_view param) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + std::string(param);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Shared state

class RegistryResolver::Shared {
 public:
  explicit Shared(RegistryOptions o)
      : options(std::move(o)),
        http(HttpOptions{options.connect_timeout, options.stall_timeout,
                         options.max_idle_connections, options.user_agent}) {}

  // Sends one request to endpoint `h` with authentication, retries and fallback to http for
  // tls_first endpoints, and returns the stream of the final response, whatever its status
  // (except 401s that auth resolved and statuses that were retried away).
  absl::StatusOr<std::unique_ptr<HttpStream>> Send(const CallContext& ctx, const RegistryHost& h,
                                                   const std::string& ns, const RequestSpec& spec,
                                                   std::vector<std::string> scopes);

  // Send, then the body (at most max_body bytes; none for HEAD).
  absl::StatusOr<HttpResponse> SendRead(const CallContext& ctx, const RegistryHost& h,
                                        const std::string& ns, const RequestSpec& spec,
                                        const std::vector<std::string>& scopes,
                                        std::int64_t max_body) {
    ASSIGN_OR_RETURN(auto stream, Send(ctx, h, ns, spec, scopes));
    HttpResponse resp = stream->response();
    if (spec.method != "HEAD") {
      ASSIGN_OR_RETURN(resp.body, stream->ReadAll(max_body));
    }
    return resp;
  }

  // Waits before retry number `attempt` (0-based): `hint` (Retry-After) when given, else the
  // exponential backoff with jitter. Cancelled / DeadlineExceeded from ctx.
  absl::Status Backoff(const CallContext& ctx, int attempt,
                       std::optional<std::chrono::milliseconds> hint);

  TlsSettings TlsFor(const RegistryHost& h) const {
    return TlsSettings{h.ca_files, h.client_certificates, h.skip_verify};
  }

  absl::StatusOr<std::shared_ptr<Authorizer>> AuthorizerFor(const RegistryHost& h);

  std::string SchemeFor(const RegistryHost& h) {
    if (!h.tls_first) return h.scheme;
    std::lock_guard<std::mutex> lock(mu);
    return plain_http.count(h.host) > 0 ? "http" : "https";
  }

  const RegistryOptions options;
  HttpClient http;

 private:
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Authorizer>> authorizers;  // guarded by mu
  std::set<std::string> plain_http;  // tls_first hosts that do not speak TLS; guarded by mu
};

absl::StatusOr<std::shared_ptr<Authorizer>> RegistryResolver::Shared::AuthorizerFor(
    const RegistryHost& h) {
  Credentials creds;
  if (options.credentials) {
    auto c = options.credentials(h.host);
    if (!c.ok()) {
      return Annotate(c.status(), fmt::format("credentials for {:?}", h.host));
    }
    creds = *std::move(c);
  }
  TlsSettings tls = TlsFor(h);
  std::string key = fmt::format(
      "{}|{}|{}", h.host, tls.Key(),
      digest::FromBytes(creds.username + '\0' + creds.password + '\0' + creds.identity_token)
          .ToString());
  for (const auto& [name, value] : h.headers) key += "|" + name + "=" + value;
  std::lock_guard<std::mutex> lock(mu);
  auto it = authorizers.find(key);
  if (it != authorizers.end()) return it->second;
  auto auth = std::make_shared<Authorizer>(
      &http, h.host, std::move(creds), std::move(tls), h.headers,
      h.dial_timeout.count() > 0 ? h.dial_timeout : options.connect_timeout);
  authorizers.emplace(key, auth);
  return auth;
}

absl::Status RegistryResolver::Shared::Backoff(const CallContext& ctx, int attempt,
                                               std::optional<std::chrono::milliseconds> hint) {
  std::chrono::milliseconds wait;
  if (hint.has_value()) {
    wait = *hint;
  } else {
    double base = static_cast<double>(options.initial_backoff.count());
    for (int i = 0; i < attempt && base < options.max_backoff.count(); ++i) base *= 2;
    base = std::min(base, static_cast<double>(options.max_backoff.count()));
    thread_local std::mt19937 rng(std::random_device{}());
    std::uniform_real_distribution<double> jitter(0.75, 1.25);
    wait = std::chrono::milliseconds(static_cast<std::int64_t>(base * jitter(rng)));
  }
  auto until = std::chrono::steady_clock::now() + wait;
  for (;;) {
    if (ctx.IsCancelled()) return absl::CancelledError("cancelled while waiting to retry");
    if (std::chrono::system_clock::now() >= ctx.deadline) {
      return absl::DeadlineExceededError("deadline exceeded while waiting to retry");
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return absl::OkStatus();
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(until - now, std::chrono::milliseconds(100)));
  }
}

absl::StatusOr<std::unique_ptr<HttpStream>> RegistryResolver::Shared::Send(
    const CallContext& ctx, const RegistryHost& h, const std::string& ns, const RequestSpec& spec,
    std::vector<std::string> scopes) {
  ASSIGN_OR_RETURN(std::shared_ptr<Authorizer> auth, AuthorizerFor(h));
  int attempt = 0;
  int challenges = 0;
  for (;;) {
    std::string scheme = SchemeFor(h);
    std::string url;
    if (!spec.absolute_url.empty()) {
      url = spec.absolute_url;
      // A location handed out over https stays https; over a host known to be plain http,
      // the registry already wrote http.
    } else {
      url = scheme + "://" + h.host + h.path + spec.path;
    }
    std::vector<std::pair<std::string, std::string>> query = spec.query;
    if (!ns.empty() && spec.absolute_url.empty()) query.emplace_back("ns", ns);
    for (const auto& [k, v] : query) url = WithQuery(url, QueryEscape(k) + "=" + QueryEscape(v));

    ASSIGN_OR_RETURN(Authorization authz, auth->Authorize(ctx, scopes));
    HttpRequest req;
    req.method = spec.method;
    req.url = url;
    req.headers = h.headers;
    req.headers.insert(req.headers.end(), spec.headers.begin(), spec.headers.end());
    // Credentials only for the endpoint itself: an absolute URL on another origin gets none.
    if (!spec.absolute_url.empty()) {
      auto target = ParseUrl(url);
      auto self = ParseUrl(scheme + "://" + h.host + "/");
      if (!target.ok() || !self.ok() || !ForwardCredentials(*self, *target)) authz = {};
    }
    req.authorization = authz.value;
    req.body = spec.body;
    req.has_body = spec.has_body;
    req.body_reader = spec.reader;
    req.body_offset = spec.reader_offset;
    req.body_length = spec.reader_length;
    req.tls = TlsFor(h);
    req.connect_timeout = h.dial_timeout;

    NetErrorKind kind = NetErrorKind::kNone;
    auto stream = http.Open(ctx, std::move(req), &kind);
    if (!stream.ok()) {
      if (kind == NetErrorKind::kTls && h.tls_first && scheme == "https" &&
          spec.absolute_url.empty()) {
        log::Debug("registry endpoint speaks no TLS, using plain http host={:?}", h.host);
        std::lock_guard<std::mutex> lock(mu);
        plain_http.insert(h.host);
        continue;
      }
      if (spec.retry && RetryableKind(kind) && attempt + 1 < options.max_attempts) {
        log::Debug("registry request failed, retrying attempt={} error={:?}", attempt + 1,
                   std::string(stream.status().message()));
        RETURN_IF_ERROR(Backoff(ctx, attempt++, std::nullopt));
        continue;
      }
      return stream.status();
    }
    const HttpResponse& resp = (*stream)->response();
    if (resp.status == 401 && challenges < 3) {
      ++challenges;
      RETURN_IF_ERROR(auth->HandleChallenge(ctx, resp, authz, &scopes));
      Drain(**stream);
      continue;
    }
    if (resp.status == 403 && !authz.value.empty()) {
      auto body = (*stream)->ReadAll(kMaxErrorBody);
      return absl::PermissionDeniedError(std::string(
          ResponseError(spec.method, resp, body.ok() ? *body : std::string()).message()));
    }
    if (spec.retry && RetryableStatus(resp.status) && attempt + 1 < options.max_attempts) {
      std::optional<std::chrono::milliseconds> hint = RetryAfter(resp);
      if (hint.has_value() && *hint > options.max_retry_after) return std::move(*stream);
      log::Debug("registry answered {}, retrying url={:?} attempt={}", resp.status, resp.url,
                 attempt + 1);
      Drain(**stream);
      stream->reset();
      RETURN_IF_ERROR(Backoff(ctx, attempt++, hint));
      continue;
    }
    return std::move(*stream);
  }
}

namespace {

using SharedPtr = std::shared_ptr<RegistryResolver::Shared>;

// A repository: the parsed reference and its endpoints for one purpose.
struct Repository {
  reference::Reference ref;
  std::vector<RegistryHost> hosts;
};

absl::StatusOr<Repository> OpenRepository(const SharedPtr& shared, std::string_view ref,
                                          Capability capability) {
  Repository repo;
  ASSIGN_OR_RETURN(repo.ref, reference::Reference::ParseNormalized(ref));
  ASSIGN_OR_RETURN(std::vector<RegistryHost> hosts,
                   ConfigureHosts(repo.ref.domain, shared->options.hosts));
  for (RegistryHost& h : hosts) {
    if (h.Can(capability)) repo.hosts.push_back(std::move(h));
  }
  if (repo.hosts.empty()) {
    std::string_view what = capability == kCapabilityPull      ? "pull"
                            : capability == kCapabilityResolve ? "resolve"
                                                               : "push";
    return absl::FailedPreconditionError(
        fmt::format("{:?}: no endpoint of {:?} has the {} capability", ref, repo.ref.domain, what));
  }
  return repo;
}

// ---------------------------------------------------------------------------------------------
// Resolve

absl::StatusOr<Descriptor> ResolveOn(const SharedPtr& shared, const CallContext& ctx,
                                     const RegistryHost& h, const reference::Reference& ref,
                                     const std::string& object) {
  std::string ns = NamespaceFor(h, ref.domain);
  std::vector<std::string> scopes = {RepositoryScope(ref.path, false)};
  RequestSpec spec;
  spec.path = "/" + ref.path + "/manifests/" + object;
  spec.headers = {{"Accept", std::string(kManifestAcceptHeader)}};

  spec.method = "HEAD";
  ASSIGN_OR_RETURN(auto head, shared->Send(ctx, h, ns, spec, scopes));
  const HttpResponse& hr = head->response();
  if (hr.status == 200) {
    std::string ct(MediaTypeBase(hr.Header("content-type")));
    if (IsSchema1Type(ct)) {
      return absl::UnimplementedError(fmt::format(
          "{:?} is a Docker image manifest v2 schema 1 ({:?}): not supported, push the image "
          "again with a current client to convert it",
          hr.url, ct));
    }
    std::optional<std::int64_t> size = ParseInt64(hr.Header("content-length"));
    if (size && *size > kMaxManifestSize) {
      return absl::InvalidArgumentError(fmt::format(
          "{:?}: manifest is {} bytes, over the {} byte limit", hr.url, *size, kMaxManifestSize));
    }
    std::string dcd = hr.Header("docker-content-digest");
    if (!ref.digest.empty() && !dcd.empty() && dcd != ref.digest.ToString()) {
      return absl::DataLossError(fmt::format("{:?}: registry answered with digest {} for {}",
                                             hr.url, dcd, ref.digest.ToString()));
    }
    auto parsed = digest::Digest::Parse(dcd);
    digest::Digest d =
        !ref.digest.empty() ? ref.digest : (parsed.ok() ? *parsed : digest::Digest());
    if (!d.empty() && IsManifestOrIndexType(ct) && size.has_value()) {
      Descriptor desc;
      desc.media_type = ct;
      desc.digest = d;
      desc.size = *size;
      return desc;
    }
    // Not enough in the headers: GET the document and work it out from the bytes.
  } else if (hr.status != 405 && hr.status != 501) {
    return ErrorFromStream("HEAD", *head);
  }
  head.reset();

  spec.method = "GET";
  ASSIGN_OR_RETURN(auto get, shared->Send(ctx, h, ns, spec, scopes));
  if (get->response().status != 200) return ErrorFromStream("GET", *get);
  const HttpResponse& gr = get->response();
  auto body = get->ReadAll(kMaxManifestSize);
  if (!body.ok()) {
    if (IsResourceExhausted(body.status())) {
      return absl::InvalidArgumentError(
          fmt::format("{:?}: manifest over the {} byte limit", gr.url, kMaxManifestSize));
    }
    return body.status();
  }
  digest::Digest computed = digest::FromBytes(*body);
  std::string dcd = gr.Header("docker-content-digest");
  if (!dcd.empty() && dcd != computed.ToString()) {
    return absl::DataLossError(fmt::format(
        "digest mismatch for {} from {:?}: got {} (Docker-Content-Digest does not match the bytes)",
        dcd, gr.url, computed.ToString()));
  }
  if (!ref.digest.empty() && computed != ref.digest) {
    return absl::DataLossError(fmt::format("digest mismatch for {} from {:?}: got {}",
                                           ref.digest.ToString(), gr.url, computed.ToString()));
  }
  auto doc = ParseDocument(*body, gr.Header("content-type"));
  if (!doc.ok()) return Annotate(doc.status(), fmt::format("{:?}", gr.url));
  Descriptor desc;
  desc.media_type = doc->media_type;
  desc.digest = computed;
  desc.size = static_cast<std::int64_t>(body->size());
  return desc;
}

// ---------------------------------------------------------------------------------------------
// Fetch

// Opens `desc` on one endpoint at `offset`: manifests from /manifests/ (then /blobs/), other
// content from /blobs/. Checks the status, Content-Range and Content-Length.
absl::StatusOr<std::unique_ptr<HttpStream>> OpenBlob(const SharedPtr& shared,
                                                     const CallContext& ctx, const RegistryHost& h,
                                                     const reference::Reference& ref,
                                                     const Descriptor& desc, std::int64_t offset) {
  std::string ns = NamespaceFor(h, ref.domain);
  std::vector<std::string> scopes = {RepositoryScope(ref.path, false)};
  std::vector<std::string> kinds;
  if (IsManifestOrIndexType(desc.media_type)) kinds.push_back("manifests");
  kinds.push_back("blobs");
  absl::Status last;
  for (std::size_t k = 0; k < kinds.size(); ++k) {
    RequestSpec spec;
    spec.path = "/" + ref.path + "/" + kinds[k] + "/" + desc.digest.ToString();
    if (kinds[k] == "manifests") {
      spec.headers.emplace_back("Accept", desc.media_type + ", */*");
    }
    if (offset > 0) spec.headers.emplace_back("Range", fmt::format("bytes={}-", offset));
    ASSIGN_OR_RETURN(auto stream, shared->Send(ctx, h, ns, spec, scopes));
    const HttpResponse& resp = stream->response();
    if (resp.status == 404 && k + 1 < kinds.size()) {
      last = ErrorFromStream("GET", *stream);
      continue;
    }
    if (resp.status == 416 && offset == desc.size && offset > 0) {
      // The caller has every byte already: nothing left to stream.
      return std::unique_ptr<HttpStream>();
    }
    if (resp.status != 200 && resp.status != 206) return ErrorFromStream("GET", *stream);
    std::optional<std::int64_t> length = ParseInt64(resp.Header("content-length"));
    std::int64_t skip = 0;
    if (resp.status == 206) {
      std::string range = resp.Header("content-range");
      std::string want = fmt::format("bytes {}-", offset);
      if (range.compare(0, want.size(), want) != 0) {
        return absl::DataLossError(
            fmt::format("fetch {} from {:?}: asked for bytes from {}, got Content-Range {:?}",
                        desc.digest.ToString(), resp.url, offset, range));
      }
    } else {
      skip = offset;  // The server ignored the Range header: drop what the caller has.
    }
    std::int64_t expected = resp.status == 206 ? desc.size - offset : desc.size;
    if (length.has_value() && *length != expected) {
      return absl::DataLossError(
          fmt::format("size mismatch for {} from {:?}: registry sends {} bytes, expected {}",
                      desc.digest.ToString(), resp.url, *length, expected));
    }
    char buf[65536];
    while (skip > 0) {
      ASSIGN_OR_RETURN(std::size_t n,
                       stream->Read(buf, static_cast<std::size_t>(std::min<std::int64_t>(
                                             skip, static_cast<std::int64_t>(sizeof(buf))))));
      if (n == 0) {
        return absl::DataLossError(fmt::format("fetch {} from {:?}: blob ends before offset {}",
                                               desc.digest.ToString(), resp.url, offset));
      }
      skip -= static_cast<std::int64_t>(n);
    }
    return stream;
  }
  return last;
}

class BlobStream : public ReadStream {
 public:
  BlobStream(SharedPtr shared, CallContext ctx, RegistryHost host, reference::Reference ref,
             Descriptor desc, std::int64_t offset, std::unique_ptr<HttpStream> http)
      : shared_(std::move(shared)),
        ctx_(std::move(ctx)),
        host_(std::move(host)),
        ref_(std::move(ref)),
        desc_(std::move(desc)),
        start_(offset),
        offset_(offset),
        http_(std::move(http)),
        url_(http_ != nullptr ? http_->response().url : std::string()) {}

  absl::StatusOr<std::size_t> Read(char* buf, std::size_t n) override {
    if (!error_.ok()) return error_;
    if (n == 0) return 0;
    if (offset_ == desc_.size) {
      if (!finished_) RETURN_IF_ERROR(Finish());
      return 0;
    }
    for (;;) {
      std::size_t want = static_cast<std::size_t>(
          std::min<std::int64_t>(static_cast<std::int64_t>(n), desc_.size - offset_));
      auto got = http_ != nullptr ? http_->Read(buf, want) : absl::StatusOr<std::size_t>(0);
      absl::Status err;
      if (got.ok() && *got > 0) {
        if (start_ == 0) hasher_.Update(buf, *got);
        offset_ += static_cast<std::int64_t>(*got);
        // The last bytes are only handed out once the whole blob checked out.
        if (offset_ == desc_.size) RETURN_IF_ERROR(Finish());
        return *got;
      }
      if (got.ok()) {
        err = absl::UnavailableError(
            fmt::format("GET {:?}: connection closed at byte {} of {}", url_, offset_, desc_.size));
      } else {
        err = got.status();
      }
      bool resumable = IsUnavailable(err) &&
                       (got.ok() || (http_ != nullptr && http_->kind() == NetErrorKind::kTransfer));
      if (!resumable || resumes_ + 1 >= shared_->options.max_attempts) {
        return Fail(Annotate(err, fmt::format("fetch {}", desc_.digest.ToString())));
      }
      ++resumes_;
      log::Info("blob download broke, resuming digest={:?} offset={} url={:?} error={:?}",
                desc_.digest.ToString(), offset_, url_, std::string(err.message()));
      http_.reset();
      if (absl::Status st = shared_->Backoff(ctx_, resumes_ - 1, std::nullopt); !st.ok()) {
        return Fail(st);
      }
      auto reopened = OpenBlob(shared_, ctx_, host_, ref_, desc_, offset_);
      if (!reopened.ok()) {
        return Fail(Annotate(reopened.status(), fmt::format("fetch {}: resume at byte {}",
                                                            desc_.digest.ToString(), offset_)));
      }
      http_ = *std::move(reopened);
      if (http_ != nullptr) url_ = http_->response().url;
    }
  }

  std::int64_t offset() const override { return offset_; }
  std::string url() const override { return url_; }

 private:
  // All bytes are in: no more may follow, and the digest must match.
  absl::Status Finish() {
    finished_ = true;
    char extra[1];
    auto more = http_ != nullptr ? http_->Read(extra, 1) : absl::StatusOr<std::size_t>(0);
    if (more.ok() && *more > 0) {
      return Fail(absl::DataLossError(
          fmt::format("size mismatch for {} from {:?}: more than the expected {} bytes",
                      desc_.digest.ToString(), url_, desc_.size)));
    }
    if (start_ == 0) {
      digest::Digest got = hasher_.Sum();
      if (got != desc_.digest) {
        return Fail(
            absl::DataLossError(fmt::format("digest mismatch for {} from {:?}: got {}",
                                            desc_.digest.ToString(), url_, got.ToString())));
      }
    }
    http_.reset();  // Gives the connection back to the pool.
    return absl::OkStatus();
  }

  absl::Status Fail(absl::Status st) {
    error_ = st;
    http_.reset();
    return st;
  }

  SharedPtr shared_;
  CallContext ctx_;
  RegistryHost host_;
  reference::Reference ref_;
  Descriptor desc_;
  std::int64_t start_;
  std::int64_t offset_;
  std::unique_ptr<HttpStream> http_;
  std::string url_;
  digest::Sha256 hasher_;
  absl::Status error_;
  bool finished_ = false;
  int resumes_ = 0;
};

class RegistryFetcher : public Fetcher {
 public:
  RegistryFetcher(SharedPtr shared, Repository repo)
      : shared_(std::move(shared)), repo_(std::move(repo)) {}

  using Fetcher::Fetch;

  absl::StatusOr<std::unique_ptr<ReadStream>> Fetch(const CallContext& ctx, const Descriptor& desc,
                                                    std::int64_t offset) override {
    RETURN_IF_ERROR(ValidateDescriptor(desc));
    if (offset < 0 || offset > desc.size) {
      return absl::InvalidArgumentError(fmt::format("fetch {}: offset {} outside 0..{}",
                                                    desc.digest.ToString(), offset, desc.size));
    }
    if (IsSchema1Type(desc.media_type)) {
      return absl::UnimplementedError(fmt::format(
          "fetch {}: Docker image manifest v2 schema 1 is not supported", desc.digest.ToString()));
    }
    std::vector<EndpointError> errors;
    for (const RegistryHost& h : repo_.hosts) {
      auto stream = OpenBlob(shared_, ctx, h, repo_.ref, desc, offset);
      if (stream.ok()) {
        return std::unique_ptr<ReadStream>(std::make_unique<BlobStream>(
            shared_, ctx, h, repo_.ref, desc, offset, *std::move(stream)));
      }
      if (IsCancelled(stream.status()) || IsDeadlineExceeded(stream.status())) {
        return stream.status();
      }
      errors.push_back({h.host, stream.status()});
    }
    return Combine("fetch", desc.digest.ToString(), errors);
  }

 private:
  SharedPtr shared_;
  Repository repo_;
};

// ---------------------------------------------------------------------------------------------
// Push

class RegistryPusher : public Pusher {
 public:
  RegistryPusher(SharedPtr shared, Repository repo)
      : shared_(std::move(shared)), repo_(std::move(repo)) {}

  absl::StatusOr<PushResult> Push(const CallContext& ctx, const Descriptor& desc,
                                  BlobReader& reader, const PushOptions& options) override {
    RETURN_IF_ERROR(ValidateDescriptor(desc));
    bool manifest = IsManifestOrIndexType(desc.media_type);
    if (!options.tag.empty() && !ValidTag(options.tag)) {
      return absl::InvalidArgumentError(
          fmt::format("push {}: invalid tag {:?}", desc.digest.ToString(), options.tag));
    }
    if (options.chunk_size < 0) {
      return absl::InvalidArgumentError("push: chunk_size must not be negative");
    }
    std::string manifest_bytes;
    if (manifest) {
      if (desc.size > kMaxManifestSize) {
        return absl::InvalidArgumentError(
            fmt::format("push {}: manifest is {} bytes, over the {} byte limit",
                        desc.digest.ToString(), desc.size, kMaxManifestSize));
      }
      manifest_bytes.resize(static_cast<std::size_t>(desc.size));
      std::size_t got = 0;
      while (got < manifest_bytes.size()) {
        ASSIGN_OR_RETURN(std::size_t n,
                         reader.ReadAt(manifest_bytes.data() + got, manifest_bytes.size() - got,
                                       static_cast<std::int64_t>(got)));
        if (n == 0) break;
        got += n;
      }
      manifest_bytes.resize(got);
      RETURN_IF_ERROR(VerifyContent(desc, manifest_bytes, "push source"));
    }
    std::vector<EndpointError> errors;
    for (const RegistryHost& h : repo_.hosts) {
      auto r = manifest ? PushManifest(ctx, h, desc, manifest_bytes, options)
                        : PushBlob(ctx, h, desc, reader, options);
      if (r.ok()) return r;
      if (IsCancelled(r.status()) || IsDeadlineExceeded(r.status())) return r.status();
      errors.push_back({h.host, r.status()});
    }
    return Combine("push", desc.digest.ToString(), errors);
  }

 private:
  absl::StatusOr<PushResult> PushManifest(const CallContext& ctx, const RegistryHost& h,
                                          const Descriptor& desc, const std::string& bytes,
                                          const PushOptions& options) {
    std::string ns = NamespaceFor(h, repo_.ref.domain);
    std::vector<std::string> scopes = {RepositoryScope(repo_.ref.path, true)};
    std::string object = options.tag.empty() ? desc.digest.ToString() : options.tag;
    if (options.tag.empty()) {
      RequestSpec head;
      head.method = "HEAD";
      head.path = "/" + repo_.ref.path + "/manifests/" + object;
      head.headers = {{"Accept", desc.media_type}};
      ASSIGN_OR_RETURN(auto resp, shared_->SendRead(ctx, h, ns, head, scopes, 0));
      if (resp.status == 200) return PushResult::kAlreadyExists;
      if (resp.status != 404) return ResponseError("HEAD", resp, "");
    }
    RequestSpec put;
    put.method = "PUT";
    put.path = "/" + repo_.ref.path + "/manifests/" + object;
    put.headers = {{"Content-Type", desc.media_type}};
    put.body = bytes;
    put.has_body = true;
    ASSIGN_OR_RETURN(auto resp, shared_->SendRead(ctx, h, ns, put, scopes, kMaxErrorBody));
    if (resp.status != 201 && resp.status != 200) return ResponseError("PUT", resp, resp.body);
    std::string dcd = resp.Header("docker-content-digest");
    if (!dcd.empty() && dcd != desc.digest.ToString()) {
      return absl::DataLossError(fmt::format("push {} to {:?}: the registry stored it as {}",
                                             desc.digest.ToString(), resp.url, dcd));
    }
    return PushResult::kUploaded;
  }

  absl::StatusOr<PushResult> PushBlob(const CallContext& ctx, const RegistryHost& h,
                                      const Descriptor& desc, BlobReader& reader,
                                      const PushOptions& options) {
    const std::string& path = repo_.ref.path;
    std::string ns = NamespaceFor(h, repo_.ref.domain);
    std::vector<std::string> scopes = {RepositoryScope(path, true)};
    bool mount = !options.mount_from.empty() && options.mount_from != path;
    if (mount) scopes.push_back(RepositoryScope(options.mount_from, false));

    RequestSpec head;
    head.method = "HEAD";
    head.path = "/" + path + "/blobs/" + desc.digest.ToString();
    ASSIGN_OR_RETURN(auto exists, shared_->SendRead(ctx, h, ns, head, scopes, 0));
    if (exists.status == 200) return PushResult::kAlreadyExists;
    if (exists.status != 404) return ResponseError("HEAD", exists, "");

    for (int attempt = 0;; ++attempt) {
      auto r = Upload(ctx, h, ns, scopes, desc, reader, options, mount && attempt == 0);
      if (r.ok() || !IsUnavailable(r.status()) || attempt + 1 >= shared_->options.max_attempts) {
        return r;
      }
      log::Info("blob upload failed, starting over digest={:?} attempt={} error={:?}",
                desc.digest.ToString(), attempt + 1, std::string(r.status().message()));
      RETURN_IF_ERROR(shared_->Backoff(ctx, attempt, std::nullopt));
    }
  }

  // One upload session: POST (or mount), then PUT or PATCHes + PUT.
  absl::StatusOr<PushResult> Upload(const CallContext& ctx, const RegistryHost& h,
                                    const std::string& ns, const std::vector<std::string>& scopes,
                                    const Descriptor& desc, BlobReader& reader,
                                    const PushOptions& options, bool mount) {
    const std::string& path = repo_.ref.path;
    std::string location;
    std::string base_url;
    if (mount) {
      RequestSpec post;
      post.method = "POST";
      post.path = "/" + path + "/blobs/uploads/";
      post.query = {{"mount", desc.digest.ToString()}, {"from", options.mount_from}};
      post.has_body = true;
      ASSIGN_OR_RETURN(auto resp, shared_->SendRead(ctx, h, ns, post, scopes, kMaxErrorBody));
      if (resp.status == 201) return PushResult::kMounted;
      if (resp.status == 202) {
        location = resp.Header("location");
        base_url = resp.url;
      }
      // Anything else: the mount is an optimisation; upload normally.
    }
    if (location.empty()) {
      RequestSpec post;
      post.method = "POST";
      post.path = "/" + path + "/blobs/uploads/";
      post.has_body = true;
      ASSIGN_OR_RETURN(auto resp, shared_->SendRead(ctx, h, ns, post, scopes, kMaxErrorBody));
      if (resp.status != 202) return ResponseError("POST", resp, resp.body);
      location = resp.Header("location");
      base_url = resp.url;
      if (location.empty()) {
        return absl::UnknownError(
            fmt::format("POST {:?}: 202 without a Location header", resp.url));
      }
    }
    ASSIGN_OR_RETURN(std::string url, Resolve(base_url, location));

    if (options.chunk_size > 0) {
      std::int64_t offset = 0;
      while (offset < desc.size) {
        std::int64_t len = std::min(options.chunk_size, desc.size - offset);
        RequestSpec patch;
        patch.method = "PATCH";
        patch.absolute_url = url;
        patch.headers = {{"Content-Type", "application/octet-stream"},
                         {"Content-Range", fmt::format("{}-{}", offset, offset + len - 1)}};
        patch.reader = &reader;
        patch.reader_offset = offset;
        patch.reader_length = len;
        patch.retry = false;
        ASSIGN_OR_RETURN(auto resp, shared_->SendRead(ctx, h, ns, patch, scopes, kMaxErrorBody));
        if (resp.status != 202) return ResponseError("PATCH", resp, resp.body);
        std::string next = resp.Header("location");
        if (!next.empty()) {
          ASSIGN_OR_RETURN(url, Resolve(resp.url, next));
        }
        offset += len;
      }
    }
    RequestSpec put;
    put.method = "PUT";
    put.absolute_url = WithQuery(url, "digest=" + QueryEscape(desc.digest.ToString()));
    put.headers = {{"Content-Type", "application/octet-stream"}};
    put.retry = false;
    if (options.chunk_size > 0) {
      put.has_body = true;  // empty: the bytes went in the PATCHes
    } else {
      put.reader = &reader;
      put.reader_length = desc.size;
    }
    ASSIGN_OR_RETURN(auto resp, shared_->SendRead(ctx, h, ns, put, scopes, kMaxErrorBody));
    if (resp.status != 201 && resp.status != 204) {
      absl::Status st = ResponseError("PUT", resp, resp.body);
      if (IsDataLoss(st)) {
        return absl::DataLossError(
            fmt::format("push {}: the registry computed another digest for the bytes sent: {}",
                        desc.digest.ToString(), std::string(st.message())));
      }
      return st;
    }
    std::string dcd = resp.Header("docker-content-digest");
    if (!dcd.empty() && dcd != desc.digest.ToString()) {
      return absl::DataLossError(fmt::format("push {} to {:?}: the registry stored it as {}",
                                             desc.digest.ToString(), resp.url, dcd));
    }
    return PushResult::kUploaded;
  }

  static absl::StatusOr<std::string> Resolve(const std::string& base, const std::string& location) {
    ASSIGN_OR_RETURN(Url b, ParseUrl(base));
    ASSIGN_OR_RETURN(Url u, ResolveLocation(b, location));
    if (b.scheme == "https" && u.scheme == "http") {
      return absl::PermissionDeniedError(fmt::format(
          "upload location {:?} from {:?} would leave https: refused", u.ToString(), base));
    }
    return u.ToString();
  }

  SharedPtr shared_;
  Repository repo_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// RegistryResolver

RegistryResolver::RegistryResolver(RegistryOptions options)
    : shared_(std::make_shared<Shared>(std::move(options))) {}

RegistryResolver::~RegistryResolver() = default;

absl::StatusOr<Resolved> RegistryResolver::Resolve(const CallContext& ctx, std::string_view ref) {
  ASSIGN_OR_RETURN(Repository repo, OpenRepository(shared_, ref, kCapabilityResolve));
  std::string object = repo.ref.digest.empty() ? repo.ref.tag : repo.ref.digest.ToString();
  std::string name = repo.ref.String();
  if (object.empty()) {
    return absl::InvalidArgumentError(fmt::format("resolve {:?}: no tag or digest", name));
  }
  std::vector<EndpointError> errors;
  for (const RegistryHost& h : repo.hosts) {
    auto desc = ResolveOn(shared_, ctx, h, repo.ref, object);
    if (desc.ok()) return Resolved{name, *std::move(desc)};
    if (IsCancelled(desc.status()) || IsDeadlineExceeded(desc.status())) return desc.status();
    errors.push_back({h.host, desc.status()});
  }
  return Combine("resolve", name, errors);
}

absl::StatusOr<std::unique_ptr<Fetcher>> RegistryResolver::NewFetcher(const CallContext& ctx,
                                                                      std::string_view ref) {
  ASSIGN_OR_RETURN(Repository repo, OpenRepository(shared_, ref, kCapabilityPull));
  return std::unique_ptr<Fetcher>(std::make_unique<RegistryFetcher>(shared_, std::move(repo)));
}

absl::StatusOr<std::unique_ptr<Pusher>> RegistryResolver::NewPusher(const CallContext& ctx,
                                                                    std::string_view ref) {
  ASSIGN_OR_RETURN(Repository repo, OpenRepository(shared_, ref, kCapabilityPush));
  return std::unique_ptr<Pusher>(std::make_unique<RegistryPusher>(shared_, std::move(repo)));
}

}  // namespace berth::remotes
