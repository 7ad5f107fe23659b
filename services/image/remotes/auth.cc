#include "services/image/remotes/auth.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "lib/status/status.h"
#include "nlohmann/json.hpp"
#include "services/image/remotes/www_authenticate.h"

namespace berth::remotes {
namespace {

constexpr std::int64_t kMaxTokenResponse = 1 << 20;
constexpr std::chrono::seconds kDefaultTokenLifetime(60);

std::string ScopeKey(const std::vector<std::string>& scopes) {
  std::string key;
  for (const std::string& s : MergeScopes(scopes)) {
    if (!key.empty()) key += ' ';
    key += s;
  }
  return key;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

std::vector<std::string> SplitSpaces(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t sp = s.find(' ', start);
    if (sp == std::string_view::npos) sp = s.size();
    if (sp > start) out.emplace_back(s.substr(start, sp - start));
    start = sp + 1;
  }
  return out;
}

}  // namespace

Authorizer::Authorizer(HttpClient* http, std::string host, Credentials credentials, TlsSettings tls,
                       std::vector<std::pair<std::string, std::string>> headers,
                       std::chrono::milliseconds connect_timeout)
    : http_(http),
      host_(std::move(host)),
      credentials_(std::move(credentials)),
      tls_(std::move(tls)),
      headers_(std::move(headers)),
      connect_timeout_(connect_timeout) {}

absl::StatusOr<Authorization> Authorizer::Authorize(const CallContext& ctx,
                                                    const std::vector<std::string>& scopes) {
  std::string key = ScopeKey(scopes);
  std::string realm, service;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (scheme_.empty()) return Authorization{};
    if (scheme_ == "basic") {
      if (credentials_.username.empty() && credentials_.password.empty()) return Authorization{};
      std::string pair = credentials_.username + ":" + credentials_.password;
      return Authorization{"Basic " + absl::Base64Escape(pair), true};
    }
    auto it = tokens_.find(key);
    if (it != tokens_.end()) {
      if (it->second.expires > std::chrono::steady_clock::now()) {
        return Authorization{"Bearer " + it->second.value, false};
      }
      tokens_.erase(it);
    }
    realm = realm_;
    service = service_;
  }
  ASSIGN_OR_RETURN(Token token, FetchToken(ctx, scopes, realm, service));
  std::string value = "Bearer " + token.value;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tokens_[key] = std::move(token);
  }
  return Authorization{std::move(value), true};
}

absl::Status Authorizer::HandleChallenge(const CallContext& ctx, const HttpResponse& response,
                                         const Authorization& sent,
                                         std::vector<std::string>* scopes) {
  std::vector<Challenge> challenges;
  std::string parse_error;
  for (const std::string& header : response.HeaderValues("www-authenticate")) {
    auto parsed = ParseWwwAuthenticate(header);
    if (!parsed.ok()) {
      parse_error = std::string(parsed.status().message());
      continue;
    }
    challenges.insert(challenges.end(), parsed->begin(), parsed->end());
  }
  const Challenge* bearer = nullptr;
  const Challenge* basic = nullptr;
  for (const Challenge& c : challenges) {
    if (c.scheme == "bearer" && bearer == nullptr) bearer = &c;
    if (c.scheme == "basic" && basic == nullptr) basic = &c;
  }
  std::string user = credentials_.username.empty()
                         ? (credentials_.identity_token.empty() ? std::string("anonymous")
                                                                : std::string("identity token"))
                         : fmt::format("user {:?}", credentials_.username);
  if (bearer != nullptr) {
    std::string realm = bearer->Param("realm");
    if (realm.empty()) {
      return absl::UnauthenticatedError(
          fmt::format("authenticate to {:?}: Bearer challenge without a realm", host_));
    }
    std::string old_key = ScopeKey(*scopes);
    for (std::string& s : SplitSpaces(bearer->Param("scope"))) scopes->push_back(std::move(s));
    std::string new_key = ScopeKey(*scopes);
    if (sent.fresh && StartsWith(sent.value, "Bearer ") && old_key == new_key) {
      std::string error = bearer->Param("error");
      std::string reason = fmt::format(
          "authorization to {:?} failed: a fresh token for {:?} ({}) was refused{}", host_, new_key,
          user, error.empty() ? "" : fmt::format(" (error={:?})", error));
      if (error == "insufficient_scope") return absl::PermissionDeniedError(reason);
      return absl::UnauthenticatedError(reason);
    }
    std::lock_guard<std::mutex> lock(mu_);
    scheme_ = "bearer";
    realm_ = realm;
    service_ = bearer->Param("service");
    tokens_.erase(old_key);
    tokens_.erase(new_key);
    return absl::OkStatus();
  }
  if (basic != nullptr) {
    if (credentials_.username.empty() && credentials_.password.empty()) {
      return absl::UnauthenticatedError(fmt::format(
          "authorization to {:?} failed: it requires authentication (Basic realm={:?}) and no "
          "credentials are configured for it",
          host_, basic->Param("realm")));
    }
    if (StartsWith(sent.value, "Basic ")) {
      return absl::UnauthenticatedError(
          fmt::format("authorization to {:?} failed: credentials of {} rejected", host_, user));
    }
    std::lock_guard<std::mutex> lock(mu_);
    scheme_ = "basic";
    return absl::OkStatus();
  }
  if (!parse_error.empty()) {
    return absl::UnauthenticatedError(
        fmt::format("authorization to {:?} failed: {}", host_, parse_error));
  }
  std::string schemes;
  for (const Challenge& c : challenges) schemes += (schemes.empty() ? "" : ", ") + c.scheme;
  return absl::UnauthenticatedError(
      fmt::format("authorization to {:?} failed: 401 with {}", host_,
                  schemes.empty() ? std::string("no WWW-Authenticate challenge")
                                  : fmt::format("unsupported challenge schemes ({})", schemes)));
}

absl::StatusOr<Authorizer::Token> Authorizer::FetchToken(const CallContext& ctx,
                                                         const std::vector<std::string>& scopes,
                                                         const std::string& realm,
                                                         const std::string& service) {
  auto realm_url = ParseUrl(realm);
  if (!realm_url.ok()) {
    return absl::InvalidArgumentError(fmt::format("fetch token for {:?}: bad realm: {}", host_,
                                                  std::string(realm_url.status().message())));
  }
  std::vector<std::string> merged = MergeScopes(scopes);
  HttpRequest req;
  req.tls = tls_;
  req.headers = headers_;
  req.connect_timeout = connect_timeout_;
  std::string sep = realm_url->path_query.find('?') == std::string::npos ? "?" : "&";
  if (!credentials_.identity_token.empty()) {
    // OAuth2 refresh-token grant (what `docker login` stores as identitytoken).
    std::string scope_joined;
    for (const std::string& s : merged) scope_joined += (scope_joined.empty() ? "" : " ") + s;
    req.method = "POST";
    req.url = realm_url->ToString();
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    req.body = fmt::format(
        "grant_type=refresh_token&refresh_token={}&service={}&scope={}"
        "&client_id=berth",
        QueryEscape(credentials_.identity_token), QueryEscape(service), QueryEscape(scope_joined));
    req.has_body = true;
  } else {
    std::string query;
    if (!service.empty()) query += "service=" + QueryEscape(service);
    for (const std::string& s : merged)
      query += (query.empty() ? "" : "&") + ("scope=" + QueryEscape(s));
    req.url = realm_url->ToString() + (query.empty() ? "" : sep + query);
    if (!credentials_.username.empty() || !credentials_.password.empty()) {
      req.authorization =
          "Basic " + absl::Base64Escape(credentials_.username + ":" + credentials_.password);
    }
  }
  ASSIGN_OR_RETURN(HttpResponse resp, http_->Do(ctx, std::move(req), kMaxTokenResponse));
  std::string user = credentials_.username.empty()
                         ? std::string("anonymous")
                         : fmt::format("user {:?}", credentials_.username);
  if (resp.status != 200) {
    std::string reason = fmt::format("fetch token for {:?} from {:?} ({}): HTTP {}", host_, realm,
                                     user, resp.status);
    if (resp.status == 401) return absl::UnauthenticatedError(reason);
    if (resp.status == 403) return absl::PermissionDeniedError(reason);
    if (resp.status == 429 || resp.status >= 500) return absl::UnavailableError(reason);
    return absl::UnauthenticatedError(reason);
  }
  nlohmann::json doc = nlohmann::json::parse(resp.body.begin(), resp.body.end(), nullptr,
                                             /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(
        fmt::format("fetch token for {:?} from {:?}: response is not a JSON object", host_, realm));
  }
  Token token;
  for (const char* field : {"token", "access_token"}) {
    auto it = doc.find(field);
    if (it != doc.end() && it->is_string() && !it->get<std::string>().empty()) {
      token.value = it->get<std::string>();
      break;
    }
  }
  if (token.value.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("fetch token for {:?} from {:?}: response has no token", host_, realm));
  }
  for (char c : token.value) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(fmt::format(
          "fetch token for {:?} from {:?}: token has spaces or control characters", host_, realm));
    }
  }
  std::chrono::seconds lifetime = kDefaultTokenLifetime;
  auto expires = doc.find("expires_in");
  if (expires != doc.end() && expires->is_number_integer() && expires->get<std::int64_t>() > 0) {
    lifetime = std::chrono::seconds(std::min<std::int64_t>(expires->get<std::int64_t>(), 86400));
  }
  // Renew a little before the server's expiry, so a token does not lapse in flight.
  auto margin =
      std::min<std::chrono::steady_clock::duration>(lifetime / 10, std::chrono::seconds(30));
  token.expires = std::chrono::steady_clock::now() + lifetime - margin;
  return token;
}

}  // namespace berth::remotes
