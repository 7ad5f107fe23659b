// Authorizer: the registry authentication state for one registry endpoint and one set of
// credentials — which scheme the registry asked for, and Bearer tokens cached per scope
// (containerd's dockerAuthorizer). Internal to services/image/remotes.
//
// Flow: the first request to an endpoint goes out anonymous. A 401 carries challenges
// (WWW-Authenticate); HandleChallenge learns them: Basic -> later requests carry
// "Basic base64(user:password)"; Bearer -> a token is fetched from the challenge's realm with
// its service and the union of the request's and the challenge's scopes (GET with Basic
// credentials when there are some, or an OAuth2 POST with grant_type=refresh_token for an
// identity token), cached per scope set until shortly before it expires, and sent as
// "Bearer <token>". Repeating a request with the same credentials cannot help, so the caller
// retries only while HandleChallenge says so.
//
// Thread-safety: safe to use from many threads at once.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_AUTH_H_
#define BERTH_SERVICES_IMAGE_REMOTES_AUTH_H_

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "services/image/remotes/credentials.h"
#include "services/image/remotes/http_client.h"

namespace berth::remotes {

// An Authorization header value and whether it was made for this very request (a fresh token
// or Basic credentials: retrying with it again after a 401 cannot help).
struct Authorization {
  std::string value;
  bool fresh = false;
};

class Authorizer {
 public:
  // `host` names the endpoint in messages ("127.0.0.1:5000"). `tls`, `headers` and
  // `connect_timeout` are used for requests to the token realm as well (containerd sends them
  // there too).
  Authorizer(HttpClient* http, std::string host, Credentials credentials, TlsSettings tls,
             std::vector<std::pair<std::string, std::string>> headers,
             std::chrono::milliseconds connect_timeout);

  // The Authorization value for a request needing `scopes`: empty before the endpoint has
  // challenged; Basic; or a Bearer token (from the cache, or fetched now). Errors from the
  // token server: Unauthenticated (credentials rejected), PermissionDenied (403), Unavailable
  // (network, 5xx), InvalidArgument (a realm that is not an http(s) URL, a response without a
  // token).
  absl::StatusOr<Authorization> Authorize(const CallContext& ctx,
                                          const std::vector<std::string>& scopes);

  // Learns from a 401 response to a request that carried `sent` and needed `*scopes` (the
  // challenge's own scopes are added to it). OK means "retry the request": a new scheme or
  // token is ready to try. Unauthenticated when no retry can help — no credentials for a Basic
  // challenge, Basic credentials rejected, a fresh token refused — and PermissionDenied when
  // a fresh token was refused with error="insufficient_scope". The message names the host and
  // the user.
  absl::Status HandleChallenge(const CallContext& ctx, const HttpResponse& response,
                               const Authorization& sent, std::vector<std::string>* scopes);

 private:
  struct Token {
    std::string value;
    std::chrono::steady_clock::time_point expires;
  };

  absl::StatusOr<Token> FetchToken(const CallContext& ctx, const std::vector<std::string>& scopes,
                                   const std::string& realm, const std::string& service);

  HttpClient* http_;
  const std::string host_;
  const Credentials credentials_;
  const TlsSettings tls_;
  const std::vector<std::pair<std::string, std::string>> headers_;
  const std::chrono::milliseconds connect_timeout_;

  std::mutex mu_;
  std::string scheme_;                   // "", "basic" or "bearer"; guarded by mu_
  std::string realm_;                    // guarded by mu_
  std::string service_;                  // guarded by mu_
  std::map<std::string, Token> tokens_;  // by merged scope set; guarded by mu_
};

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_AUTH_H_
