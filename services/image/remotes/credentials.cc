#include "services/image/remotes/credentials.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/escaping.h"
#include "lib/status/status.h"
#include "nlohmann/json.hpp"

namespace berth::remotes {
namespace {

using Json = nlohmann::json;

// A config.json is a few kilobytes; refuse to read something absurd.
constexpr std::size_t kMaxConfigSize = 4 << 20;

// "https://index.docker.io/v1/" -> "index.docker.io"; "host:5000" stays.
std::string HostOfKey(std::string_view key) {
  std::size_t scheme = key.find("://");
  if (scheme != std::string_view::npos) key.remove_prefix(scheme + 3);
  std::size_t slash = key.find('/');
  if (slash != std::string_view::npos) key = key.substr(0, slash);
  return std::string(key);
}

bool IsDockerHub(std::string_view host) {
  return host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io";
}

}  // namespace

absl::StatusOr<DockerConfig> DockerConfig::Load(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus("docker config", path, errno);
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoToStatus("docker config", path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigSize) {
      close(fd);
      return absl::InvalidArgumentError(
          fmt::format("docker config {:?}: larger than {} bytes", path, kMaxConfigSize));
    }
  }
  close(fd);
  return Parse(text, path);
}

absl::StatusOr<DockerConfig> DockerConfig::Parse(std::string_view json, std::string_view source) {
  auto error = [&](std::string_view reason) {
    return absl::InvalidArgumentError(fmt::format("docker config {:?}: {}", source, reason));
  };
  Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return error("not valid JSON");
  if (!doc.is_object()) return error("not a JSON object");
  DockerConfig config;
  auto auths = doc.find("auths");
  if (auths == doc.end() || auths->is_null()) return config;
  if (!auths->is_object()) return error("\"auths\" must be an object");
  for (const auto& item : auths->items()) {
    // Named copies, not a structured binding: C++17 lambdas cannot capture those (clang).
    const std::string& key = item.key();
    const Json& entry = item.value();
    if (!entry.is_object()) return error(fmt::format("auths.{:?}: must be an object", key));
    Credentials creds;
    auto str = [&](const char* field, std::string* out) -> absl::Status {
      auto it = entry.find(field);
      if (it == entry.end() || it->is_null()) return absl::OkStatus();
      if (!it->is_string()) {
        return error(fmt::format("auths.{:?}.{}: must be a string", key, field));
      }
      *out = it->get<std::string>();
      return absl::OkStatus();
    };
    std::string auth;
    RETURN_IF_ERROR(str("auth", &auth));
    RETURN_IF_ERROR(str("username", &creds.username));
    RETURN_IF_ERROR(str("password", &creds.password));
    RETURN_IF_ERROR(str("identitytoken", &creds.identity_token));
    if (!auth.empty()) {
      std::string decoded;
      if (!absl::Base64Unescape(auth, &decoded)) {
        return error(fmt::format("auths.{:?}.auth: not base64", key));
      }
      std::size_t colon = decoded.find(':');
      if (colon == std::string::npos) {
        return error(fmt::format("auths.{:?}.auth: not base64 of \"user:password\"", key));
      }
      creds.username = decoded.substr(0, colon);
      creds.password = decoded.substr(colon + 1);
    }
    // An identity token comes with a placeholder user ("<token>"); the token is what counts.
    if (creds.empty()) continue;
    config.auths_[HostOfKey(key)] = std::move(creds);
  }
  return config;
}

Credentials DockerConfig::Lookup(std::string_view host) const {
  auto it = auths_.find(std::string(host));
  if (it != auths_.end()) return it->second;
  if (IsDockerHub(host)) {
    for (const char* alias : {"index.docker.io", "docker.io", "registry-1.docker.io"}) {
      it = auths_.find(alias);
      if (it != auths_.end()) return it->second;
    }
  }
  return Credentials();
}

CredentialsFunc DockerConfig::AsFunc() const {
  DockerConfig copy = *this;
  return [copy = std::move(copy)](const std::string& host) -> absl::StatusOr<Credentials> {
    return copy.Lookup(host);
  };
}

CredentialsFunc StaticCredentials(Credentials credentials) {
  return [credentials = std::move(credentials)](const std::string&) -> absl::StatusOr<Credentials> {
    return credentials;
  };
}

}  // namespace berth::remotes
