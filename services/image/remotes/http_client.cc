#include "services/image/remotes/http_client.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "lib/status/status.h"
#include "services/image/remotes/pusher.h"

namespace berth::remotes {
namespace {

// How far the body may run ahead of the reader before the transfer is paused.
constexpr std::size_t kMaxBuffered = 1 << 20;
// How long one wait for socket activity lasts before cancellation is checked again.
constexpr std::chrono::milliseconds kPollSlice(200);

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

void GlobalInit() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

NetErrorKind KindOf(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return NetErrorKind::kConnect;
    case CURLE_SSL_CONNECT_ERROR:
      return NetErrorKind::kTls;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_CLIENTCERT:
      return NetErrorKind::kTlsVerify;
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_READ_ERROR:
      return NetErrorKind::kTransfer;
    default:
      return NetErrorKind::kOther;
  }
}

// $no_proxy / $NO_PROXY plus loopback, computed once.
const std::string& NoProxy() {
  static const std::string value = [] {
    std::string v = "localhost,127.0.0.0/8,::1";
    for (const char* name : {"no_proxy", "NO_PROXY"}) {
      const char* env = std::getenv(name);
      if (env != nullptr && env[0] != '\0') {
        if (std::string_view(env) == "*") return std::string("*");
        v += ",";
        v += env;
        break;
      }
    }
    return v;
  }();
  return value;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// URLs

std::string Url::Origin() const {
  std::string h = host;
  bool has_port;
  if (!h.empty() && h.front() == '[') {
    has_port = h.find("]:") != std::string::npos;
  } else {
    has_port = h.find(':') != std::string::npos;
  }
  if (!has_port) h += scheme == "https" ? ":443" : ":80";
  return scheme + "://" + h;
}

absl::StatusOr<Url> ParseUrl(std::string_view s) {
  auto bad = [&](std::string_view reason) {
    std::string shown(s.substr(0, 200));
    return absl::InvalidArgumentError(fmt::format("invalid URL {:?}: {}", shown, reason));
  };
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return bad("spaces or control characters");
    }
  }
  std::size_t sep = s.find("://");
  if (sep == std::string_view::npos) return bad("not an absolute URL");
  Url url;
  url.scheme = Lower(s.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    return bad(fmt::format("scheme {:?} is not http or https", url.scheme));
  }
  std::string_view rest = s.substr(sep + 3);
  std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos) return bad("user information not allowed");
  if (authority.empty()) return bad("empty host");
  url.host = Lower(authority);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  std::size_t hash = tail.find('#');
  if (hash != std::string_view::npos) tail = tail.substr(0, hash);
  url.path_query = std::string(tail);
  if (url.path_query.empty() || url.path_query[0] != '/') url.path_query = "/" + url.path_query;
  return url;
}

absl::StatusOr<Url> ResolveLocation(const Url& base, std::string_view location) {
  location = Trim(location);
  if (location.empty()) return absl::InvalidArgumentError("empty Location header");
  if (location.find("://") != std::string_view::npos) {
    std::size_t sep = location.find("://");
    std::size_t first_special = location.find_first_of("/?#");
    if (first_special == std::string_view::npos || first_special > sep) {
      return ParseUrl(location);
    }
  }
  if (location.substr(0, 2) == "//") return ParseUrl(base.scheme + ":" + std::string(location));
  if (location[0] == '/') return ParseUrl(base.scheme + "://" + base.host + std::string(location));
  // A relative path: replace the last segment of the base path.
  std::string path = base.path_query.substr(0, base.path_query.find('?'));
  path = path.substr(0, path.rfind('/') + 1);
  return ParseUrl(base.scheme + "://" + base.host + path + std::string(location));
}

bool ForwardCredentials(const Url& from, const Url& to) { return from.Origin() == to.Origin(); }

std::string QueryEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string TlsSettings::Key() const {
  std::string key = skip_verify ? "insecure" : "verify";
  for (const std::string& ca : ca_files) key += "|ca=" + ca;
  for (const ClientCertificate& c : client_certificates) key += "|cert=" + c.cert + "," + c.key;
  return key;
}

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

std::vector<std::string> HttpResponse::HeaderValues(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (k == name) out.push_back(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pools

// One pooled connection: a multi handle (whose connection cache keeps the connections alive)
// driving one easy handle.
struct HttpStream::Conn {
  CURLM* multi = nullptr;
  CURL* easy = nullptr;
  bool attached = false;

  Conn() {
    multi = curl_multi_init();
    easy = curl_easy_init();
  }
  ~Conn() {
    if (attached) curl_multi_remove_handle(multi, easy);
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (multi != nullptr) curl_multi_cleanup(multi);
  }
};

struct HttpClient::Pool {
  std::mutex mu;
  std::vector<std::unique_ptr<HttpStream::Conn>> idle;  // guarded by mu
  std::size_t max_idle = 8;
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks;
  std::vector<X509*> extra_cas;
  TlsSettings tls;

  ~Pool() {
    idle.clear();
    if (share != nullptr) curl_share_cleanup(share);
    for (X509* x : extra_cas) X509_free(x);
  }

  std::unique_ptr<HttpStream::Conn> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!idle.empty()) {
        auto conn = std::move(idle.back());
        idle.pop_back();
        return conn;
      }
    }
    auto conn = std::make_unique<HttpStream::Conn>();
    if (conn->multi == nullptr || conn->easy == nullptr) return nullptr;
    return conn;
  }

  void Release(std::unique_ptr<HttpStream::Conn> conn) {
    std::lock_guard<std::mutex> lock(mu);
    if (idle.size() < max_idle) idle.push_back(std::move(conn));
  }

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
    static_cast<Pool*>(self)->share_locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) {
    static_cast<Pool*>(self)->share_locks[data].unlock();
  }

  // Adds the extra CAs to the trust store libcurl built from the system bundle, so that
  // `ca` in hosts.toml extends the system pool instead of replacing it.
  static CURLcode SslCtx(CURL*, void* ssl_ctx, void* self) {
    auto* pool = static_cast<Pool*>(self);
    X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
    for (X509* x : pool->extra_cas) {
      if (X509_STORE_add_cert(store, x) != 1) {
        // A certificate already in the store is not an error.
        ERR_clear_error();
      }
    }
    return CURLE_OK;
  }
};

namespace {

absl::Status LoadCaFile(const std::string& path, std::vector<X509*>* out) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) return ErrnoToStatus("read CA file", path, errno);
  std::size_t before = out->size();
  while (X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr)) out->push_back(x);
  ERR_clear_error();  // PEM_read_X509 ends with a "no start line" error at EOF.
  std::fclose(f);
  if (out->size() == before) {
    return absl::InvalidArgumentError(
        fmt::format("read CA file {:?}: no PEM certificate in it", path));
  }
  return absl::OkStatus();
}

}  // namespace

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) { GlobalInit(); }

HttpClient::~HttpClient() = default;

absl::StatusOr<std::shared_ptr<HttpClient::Pool>> HttpClient::PoolFor(const Url& url,
                                                                      const TlsSettings& tls) {
  std::string key = url.Origin() + "#" + tls.Key();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pools_.find(key);
  if (it != pools_.end()) return it->second;
  auto pool = std::make_shared<Pool>();
  pool->max_idle = options_.max_idle_connections;
  pool->tls = tls;
  for (const std::string& ca : tls.ca_files) RETURN_IF_ERROR(LoadCaFile(ca, &pool->extra_cas));
  pool->share = curl_share_init();
  if (pool->share == nullptr) return absl::ResourceExhaustedError("curl_share_init failed");
  curl_share_setopt(pool->share, CURLSHOPT_LOCKFUNC, &Pool::Lock);
  curl_share_setopt(pool->share, CURLSHOPT_UNLOCKFUNC, &Pool::Unlock);
  curl_share_setopt(pool->share, CURLSHOPT_USERDATA, pool.get());
  curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(pool->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  pools_.emplace(key, pool);
  return pool;
}

absl::StatusOr<std::unique_ptr<HttpStream>> HttpClient::OpenOnce(const CallContext& ctx,
                                                                 const HttpRequest& request,
                                                                 const Url& url,
                                                                 NetErrorKind* kind) {
  ASSIGN_OR_RETURN(std::shared_ptr<Pool> pool, PoolFor(url, request.tls));
  std::unique_ptr<HttpStream> stream(new HttpStream());
  absl::Status st = stream->Start(ctx, request, url, std::move(pool), options_);
  if (!st.ok()) {
    if (kind != nullptr) *kind = stream->kind_;
    return st;
  }
  return stream;
}

absl::StatusOr<std::unique_ptr<HttpStream>> HttpClient::Open(const CallContext& ctx,
                                                             HttpRequest request,
                                                             NetErrorKind* kind) {
  if (kind != nullptr) *kind = NetErrorKind::kNone;
  ASSIGN_OR_RETURN(Url url, ParseUrl(request.url));
  for (int hop = 0;; ++hop) {
    ASSIGN_OR_RETURN(std::unique_ptr<HttpStream> stream, OpenOnce(ctx, request, url, kind));
    int status = stream->response().status;
    bool redirect =
        status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    std::string location = stream->response().Header("location");
    if (!redirect || location.empty() || request.max_redirects <= 0) return stream;
    if (hop >= request.max_redirects) {
      return absl::FailedPreconditionError(
          fmt::format("{} {:?}: stopped after {} redirects", request.method, request.url, hop));
    }
    auto next = ResolveLocation(url, location);
    if (!next.ok()) {
      return absl::InvalidArgumentError(fmt::format("{} {:?}: bad redirect: {}", request.method,
                                                    url.ToString(),
                                                    std::string(next.status().message())));
    }
    if (url.scheme == "https" && next->scheme == "http") {
      return absl::PermissionDeniedError(
          fmt::format("{} {:?}: redirect from https to http ({:?}) refused", request.method,
                      url.ToString(), next->ToString()));
    }
    if (!ForwardCredentials(url, *next)) request.authorization.clear();
    if (status == 303 && request.method != "HEAD") {
      request.method = "GET";
      request.has_body = false;
      request.body.clear();
      request.body_reader = nullptr;
    }
    url = *std::move(next);
    request.url = url.ToString();
  }
}

absl::StatusOr<HttpResponse> HttpClient::Do(const CallContext& ctx, HttpRequest request,
                                            std::int64_t max_body, NetErrorKind* kind) {
  bool head = request.method == "HEAD";
  ASSIGN_OR_RETURN(std::unique_ptr<HttpStream> stream, Open(ctx, std::move(request), kind));
  HttpResponse response = stream->response();
  if (!head) {
    auto body = stream->ReadAll(max_body);
    if (!body.ok()) {
      if (kind != nullptr) *kind = stream->kind();
      return body.status();
    }
    response.body = *std::move(body);
  }
  return response;
}

// ---------------------------------------------------------------------------------------------
// HttpStream

HttpStream::~HttpStream() {
  if (conn_ != nullptr) {
    if (conn_->attached) {
      curl_multi_remove_handle(conn_->multi, conn_->easy);
      conn_->attached = false;
    }
    // The easy handle points into this stream (callbacks, header list): clear that before
    // the connection goes back to the pool.
    curl_easy_reset(conn_->easy);
    if (pool_ != nullptr) pool_->Release(std::move(conn_));
  }
  if (header_list_ != nullptr) curl_slist_free_all(static_cast<curl_slist*>(header_list_));
}

absl::Status HttpStream::Start(const CallContext& ctx, const HttpRequest& request, const Url& url,
                               std::shared_ptr<HttpClient::Pool> pool, const HttpOptions& options) {
  ctx_ = ctx;
  pool_ = std::move(pool);
  method_ = request.method;
  url_ = url.ToString();
  response_.url = url_;
  conn_ = pool_->Acquire();
  if (conn_ == nullptr) {
    kind_ = NetErrorKind::kOther;
    return absl::ResourceExhaustedError("curl handle allocation failed");
  }
  CURL* easy = conn_->easy;
  curl_easy_reset(easy);
  curl_easy_setopt(easy, CURLOPT_URL, url_.c_str());
  curl_easy_setopt(easy, CURLOPT_SHARE, pool_->share);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  // Proxies come from the environment as usual, but loopback never goes through one (Go's
  // ProxyFromEnvironment, which containerd uses, has the same rule).
  curl_easy_setopt(easy, CURLOPT_NOPROXY, NoProxy().c_str());
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options.user_agent.c_str());
  auto connect_timeout =
      request.connect_timeout.count() > 0 ? request.connect_timeout : options.connect_timeout;
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.stall_timeout.count()));
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HttpStream::OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &HttpStream::OnWrite);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, this);

  // TLS.
  if (request.tls.skip_verify) {
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!pool_->extra_cas.empty()) {
    // The CA cache would hand the store we add to to other handles: keep it per handle.
    curl_easy_setopt(easy, CURLOPT_CA_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, &HttpClient::Pool::SslCtx);
    curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, pool_.get());
  }
  if (!request.tls.client_certificates.empty()) {
    const ClientCertificate& cc = request.tls.client_certificates.front();
    curl_easy_setopt(easy, CURLOPT_SSLCERT, cc.cert.c_str());
    curl_easy_setopt(easy, CURLOPT_SSLKEY, cc.key.empty() ? cc.cert.c_str() : cc.key.c_str());
  }

  // Method and body.
  curl_slist* headers = nullptr;
  if (request.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (request.has_body || request.body_reader != nullptr) {
    if (request.body_reader != nullptr) {
      body_reader_ = request.body_reader;
      body_offset_ = request.body_offset;
      body_length_ = request.body_length;
    } else {
      body_ = request.body;
      body_length_ = static_cast<std::int64_t>(body_.size());
    }
    curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_length_));
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, &HttpStream::OnRead);
    curl_easy_setopt(easy, CURLOPT_READDATA, this);
    if (request.method != "PUT") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    // No "Expect: 100-continue" round trip before bodies.
    headers = curl_slist_append(headers, "Expect:");
  } else if (request.method != "GET") {
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, fmt::format("{}: {}", name, value).c_str());
  }
  if (!request.authorization.empty()) {
    headers =
        curl_slist_append(headers, fmt::format("Authorization: {}", request.authorization).c_str());
  }
  header_list_ = headers;
  if (headers != nullptr) curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);

  CURLMcode mc = curl_multi_add_handle(conn_->multi, easy);
  if (mc != CURLM_OK) {
    kind_ = NetErrorKind::kOther;
    return absl::InternalError(
        fmt::format("{} {:?}: curl_multi_add_handle: {}", method_, url_, curl_multi_strerror(mc)));
  }
  conn_->attached = true;
  RETURN_IF_ERROR(Drive(/*want_headers=*/true));
  if (!headers_done_) {
    if (done_ && result_ != CURLE_OK) return TransferError();
    kind_ = NetErrorKind::kTransfer;
    return absl::UnavailableError(
        fmt::format("{} {:?}: connection closed before a response", method_, url_));
  }
  return absl::OkStatus();
}

absl::Status HttpStream::TransferError() const {
  if (!read_error_.ok()) return read_error_;
  auto code = static_cast<CURLcode>(result_);
  std::string reason = errbuf_[0] != '\0' ? std::string(errbuf_) : curl_easy_strerror(code);
  if (code == CURLE_OPERATION_TIMEDOUT && reason.find("than") != std::string::npos) {
    reason += " (stalled: no bytes moved)";
  }
  return absl::UnavailableError(fmt::format("{} {:?}: {}", method_, url_, reason));
}

absl::Status HttpStream::Drive(bool want_headers) {
  for (;;) {
    // Bytes already buffered are handed out before a failure that came after them.
    if (want_headers ? headers_done_ : buf_pos_ < buf_.size()) return absl::OkStatus();
    if (done_) {
      if (conn_->attached) {
        curl_multi_remove_handle(conn_->multi, conn_->easy);
        conn_->attached = false;
        if (result_ != CURLE_OK) {
          kind_ = KindOf(static_cast<CURLcode>(result_));
          final_status_ = TransferError();
        }
      }
      return final_status_;
    }
    if (paused_) {
      paused_ = false;
      curl_easy_pause(conn_->easy, CURLPAUSE_CONT);
      continue;
    }
    int running = 0;
    CURLMcode mc = curl_multi_perform(conn_->multi, &running);
    if (mc != CURLM_OK) {
      kind_ = NetErrorKind::kOther;
      return absl::InternalError(
          fmt::format("{} {:?}: curl_multi_perform: {}", method_, url_, curl_multi_strerror(mc)));
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(conn_->multi, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == conn_->easy) {
        done_ = true;
        result_ = msg->data.result;
      }
    }
    if (done_ || (want_headers ? headers_done_ : buf_pos_ < buf_.size())) continue;
    if (ctx_.IsCancelled()) {
      kind_ = NetErrorKind::kOther;
      return absl::CancelledError(fmt::format("{} {:?}: cancelled", method_, url_));
    }
    auto wait = kPollSlice;
    if (ctx_.deadline != std::chrono::system_clock::time_point::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          ctx_.deadline - std::chrono::system_clock::now());
      if (left.count() <= 0) {
        kind_ = NetErrorKind::kOther;
        return absl::DeadlineExceededError(
            fmt::format("{} {:?}: deadline exceeded", method_, url_));
      }
      wait = std::min(wait, left);
    }
    curl_multi_poll(conn_->multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
  }
}

absl::StatusOr<std::size_t> HttpStream::Read(char* buf, std::size_t n) {
  if (n == 0) return 0;
  if (buf_pos_ >= buf_.size()) {
    buf_.clear();
    buf_pos_ = 0;
    RETURN_IF_ERROR(Drive(/*want_headers=*/false));
    if (buf_pos_ >= buf_.size()) return 0;
  }
  std::size_t take = std::min(n, buf_.size() - buf_pos_);
  std::memcpy(buf, buf_.data() + buf_pos_, take);
  buf_pos_ += take;
  body_read_ += static_cast<std::int64_t>(take);
  return take;
}

absl::StatusOr<std::string> HttpStream::ReadAll(std::int64_t max) {
  std::string out;
  char buf[65536];
  for (;;) {
    ASSIGN_OR_RETURN(std::size_t n, Read(buf, sizeof(buf)));
    if (n == 0) return out;
    if (static_cast<std::int64_t>(out.size() + n) > max) {
      return absl::ResourceExhaustedError(
          fmt::format("{} {:?}: response body larger than {} bytes", method_, url_, max));
    }
    out.append(buf, n);
  }
}

std::size_t HttpStream::OnHeader(char* data, std::size_t size, std::size_t nitems, void* self) {
  auto* s = static_cast<HttpStream*>(self);
  std::size_t len = size * nitems;
  std::string_view line(data, len);
  if (line.substr(0, 5) == "HTTP/") {
    // A new status line: an interim 1xx response may come before the final one.
    s->response_.headers.clear();
    std::size_t sp = line.find(' ');
    s->response_.http_version = std::string(line.substr(0, sp));
    s->response_.status = 0;
    if (sp != std::string_view::npos) {
      std::string_view code = line.substr(sp + 1, 3);
      int status = 0;
      for (char c : code) {
        if (!std::isdigit(static_cast<unsigned char>(c))) break;
        status = status * 10 + (c - '0');
      }
      s->response_.status = status;
    }
    return len;
  }
  std::string_view trimmed = Trim(line);
  if (trimmed.empty()) {
    if (s->response_.status >= 200) s->headers_done_ = true;
    return len;
  }
  std::size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    s->response_.headers.emplace_back(Lower(Trim(line.substr(0, colon))),
                                      std::string(Trim(line.substr(colon + 1))));
  }
  return len;
}

std::size_t HttpStream::OnWrite(char* data, std::size_t size, std::size_t nmemb, void* self) {
  auto* s = static_cast<HttpStream*>(self);
  std::size_t len = size * nmemb;
  if (s->buf_.size() - s->buf_pos_ >= kMaxBuffered) {
    s->paused_ = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  s->buf_.append(data, len);
  return len;
}

std::size_t HttpStream::OnRead(char* data, std::size_t size, std::size_t nmemb, void* self) {
  auto* s = static_cast<HttpStream*>(self);
  std::size_t want = size * nmemb;
  std::int64_t left = s->body_length_ - s->body_sent_;
  if (left <= 0) return 0;
  want = static_cast<std::size_t>(std::min<std::int64_t>(left, static_cast<std::int64_t>(want)));
  if (s->body_reader_ == nullptr) {
    std::memcpy(data, s->body_.data() + s->body_sent_, want);
    s->body_sent_ += static_cast<std::int64_t>(want);
    return want;
  }
  auto n = s->body_reader_->ReadAt(data, want, s->body_offset_ + s->body_sent_);
  if (!n.ok()) {
    s->read_error_ = n.status();
    return CURL_READFUNC_ABORT;
  }
  if (*n == 0) {
    s->read_error_ = absl::DataLossError(
        fmt::format("{} {:?}: body source ended at offset {} of {}", s->method_, s->url_,
                    s->body_offset_ + s->body_sent_, s->body_offset_ + s->body_length_));
    return CURL_READFUNC_ABORT;
  }
  s->body_sent_ += static_cast<std::int64_t>(*n);
  return *n;
}

}  // namespace berth::remotes
