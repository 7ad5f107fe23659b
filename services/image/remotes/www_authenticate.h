// Parsing of `WWW-Authenticate` challenges (RFC 9110 §11.6.1) as registries send them, and the
// token scopes of the Docker registry token protocol.
//
//   WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io",
//                     scope="repository:library/ubuntu:pull"
//   WWW-Authenticate: Basic realm="Registry Realm"
//
// A header may carry several challenges separated by commas ("Basic realm=x, Bearer
// realm=y,service=z"), and a response may carry several headers; ParseWwwAuthenticate takes
// one header value at a time. Scheme and parameter names are matched case-insensitively and
// returned lowercased; values are returned as sent, quoted strings unescaped.
//
// Thread-safety: pure functions over values.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_WWW_AUTHENTICATE_H_
#define BERTH_SERVICES_IMAGE_REMOTES_WWW_AUTHENTICATE_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::remotes {

struct Challenge {
  // Lowercased: "basic", "bearer", ...
  std::string scheme;
  // Lowercased names -> values: "realm", "service", "scope", "error", ...
  std::map<std::string, std::string> params;
  // The token68 form (`Negotiate abc==`), when the challenge used it instead of parameters.
  std::string token68;

  // params[name] or "" when absent.
  std::string Param(const std::string& name) const;
};

// Parses one header value into its challenges, in order. InvalidArgument
// `invalid WWW-Authenticate header "<value>": <reason>` for an empty header, a missing scheme,
// an unterminated quoted string, a parameter without a value, a repeated parameter or
// characters outside the grammar. The header is cut to 200 bytes in messages.
absl::StatusOr<std::vector<Challenge>> ParseWwwAuthenticate(std::string_view header);

// The scope for a repository: "repository:<path>:pull" or, with `push`, "...:pull,push".
std::string RepositoryScope(std::string_view path, bool push);

// Merges scope strings the way the token protocol wants them in one request: identical
// resources are merged with their actions unioned and sorted ("repository:a:pull" +
// "repository:a:push" -> "repository:a:pull,push"); the result is sorted, so it can serve as a
// cache key. Scopes that do not have the `type:name:actions` form are kept as they are.
std::vector<std::string> MergeScopes(const std::vector<std::string>& scopes);

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_WWW_AUTHENTICATE_H_
