// Registry credentials: what the registry client authenticates with, and reading them from a
// Docker `config.json` (`~/.docker/config.json`, also what `docker login` and Kubernetes pull
// secrets write).
//
//   {"auths": {"https://index.docker.io/v1/": {"auth": "<base64 user:pass>"},
//              "registry.example.com:5000":   {"identitytoken": "<refresh token>"}}}
//
// Credentials never come from hosts.toml (containerd keeps them out of it too): they come
// from a config file like this one, or from the request that asked for a pull or push.
// Credential helpers (`credsStore`, `credHelpers`) would mean running programs named by the
// file; berth does not run them, and a host they cover gets no credentials from the file.
//
// Thread-safety: Credentials is a value; DockerConfig is immutable after Load/Parse and safe
// to share between threads.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_CREDENTIALS_H_
#define BERTH_SERVICES_IMAGE_REMOTES_CREDENTIALS_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::remotes {

struct Credentials {
  // Basic auth pair; also what a token server gets (Basic) when asked for a Bearer token.
  std::string username;
  std::string password;
  // An OAuth2 refresh token (`identitytoken` in config.json): exchanged at the token realm
  // for access tokens with grant_type=refresh_token.
  std::string identity_token;

  bool empty() const { return username.empty() && password.empty() && identity_token.empty(); }
};

// Returns the credentials for a registry host ("registry.example.com:5000", "docker.io",
// "registry-1.docker.io"): empty Credentials for anonymous access. An error fails the request
// that needed them. Called from the threads that make requests; must be thread-safe.
using CredentialsFunc = std::function<absl::StatusOr<Credentials>(const std::string& host)>;

// The `auths` of a Docker config.json.
class DockerConfig {
 public:
  // Reads and parses `path`. NotFound when the file does not exist (callers usually treat that
  // as "no credentials"), other errno codes as ErrnoToStatus maps them, Parse's errors.
  static absl::StatusOr<DockerConfig> Load(const std::string& path);

  // Parses config.json text. InvalidArgument `docker config "<source>": <reason>` for
  // invalid JSON, `auths` that is not an object, an entry whose `auth` is not base64 of
  // `user:password`, or fields of the wrong type. Entries are keyed by host: a key written as
  // a URL ("https://index.docker.io/v1/") is reduced to its host ("index.docker.io").
  static absl::StatusOr<DockerConfig> Parse(std::string_view json,
                                            std::string_view source = "config.json");

  // The credentials for `host`, or empty Credentials when the file has none. Docker Hub's
  // names are one registry: docker.io, index.docker.io and registry-1.docker.io find an
  // entry saved under any of them.
  Credentials Lookup(std::string_view host) const;

  // Lookup as a CredentialsFunc (the returned function holds a copy of the entries).
  CredentialsFunc AsFunc() const;

  // The hosts the file has credentials for, after reduction to hosts.
  std::size_t size() const { return auths_.size(); }

 private:
  std::map<std::string, Credentials> auths_;
};

// The same credentials for every host (what `ctr --user user:password` does).
CredentialsFunc StaticCredentials(Credentials credentials);

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_CREDENTIALS_H_
