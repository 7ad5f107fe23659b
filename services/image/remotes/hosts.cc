#include "services/image/remotes/hosts.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <optional>

#include "lib/status/status.h"

namespace berth::remotes {
namespace {

constexpr std::size_t kMaxHostsFileSize = 1 << 20;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (!name.empty() && name[0] == '/') return std::string(name);
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out += '/';
  out += name;
  return out;
}

// Go's path.Clean for the URL path part (no "." or ".." segments survive, no double slashes).
std::string CleanPath(std::string_view p) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= p.size()) {
    std::size_t slash = p.find('/', start);
    if (slash == std::string_view::npos) slash = p.size();
    std::string_view seg = p.substr(start, slash - start);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.emplace_back(seg);
    }
    start = slash + 1;
  }
  std::string out;
  for (const std::string& s : parts) out += "/" + s;
  return out.empty() ? "/" : out;
}

// What a hosts.toml table says, before defaults.
struct HostEntry {
  std::string url;  // the table key or `server`; empty for a top level without `server`
  std::optional<std::uint32_t> capabilities;
  std::vector<std::string> ca_files;
  std::vector<ClientCertificate> client_certificates;
  std::optional<bool> skip_verify;
  std::vector<std::pair<std::string, std::string>> headers;
  bool override_path = false;
  std::chrono::milliseconds dial_timeout{0};
  bool tls_configured = false;
};

class FileParser {
 public:
  FileParser(std::string_view file, std::string_view dir) : file_(file), dir_(dir) {}

  absl::Status Error(std::string_view key, std::string_view reason) const {
    return absl::InvalidArgumentError(fmt::format("hosts.toml {:?}: {}: {}", file_, key, reason));
  }

  absl::StatusOr<std::vector<std::string>> Paths(const toml::node& node, std::string_view key) {
    std::vector<std::string> out;
    if (auto s = node.value<std::string>(); s && node.is_string()) {
      out.push_back(JoinPath(dir_, *s));
      return out;
    }
    if (const toml::array* arr = node.as_array()) {
      for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::node& item = *arr->get(i);
        if (!item.is_string()) {
          return Error(fmt::format("{}[{}]", key, i), "must be a string");
        }
        out.push_back(JoinPath(dir_, *item.value<std::string>()));
      }
      return out;
    }
    return Error(key, "must be a string or an array of strings");
  }

  absl::Status Entry(const toml::table& table, std::string_view prefix, bool top_level,
                     HostEntry* entry) {
    auto key_name = [&](std::string_view k) {
      return prefix.empty() ? std::string(k) : fmt::format("{}.{}", prefix, k);
    };
    for (const auto& [k, node] : table) {
      std::string_view key = k.str();
      std::string name = key_name(key);
      if (key == "host") {
        if (top_level) continue;  // handled by the caller
        return Error(name, "nested host tables are not allowed");
      }
      if (key == "server") {
        if (!top_level) continue;  // containerd ignores it inside a host table
        if (!node.is_string()) return Error(name, "must be a string");
        entry->url = *node.value<std::string>();
      } else if (key == "capabilities") {
        const toml::array* arr = node.as_array();
        if (arr == nullptr) return Error(name, "must be an array of strings");
        std::uint32_t caps = 0;
        for (std::size_t i = 0; i < arr->size(); ++i) {
          const toml::node& item = *arr->get(i);
          std::optional<std::string> v =
              item.is_string() ? item.value<std::string>() : std::nullopt;
          if (!v) return Error(fmt::format("{}[{}]", name, i), "must be a string");
          if (*v == "pull") {
            caps |= kCapabilityPull;
          } else if (*v == "resolve") {
            caps |= kCapabilityResolve;
          } else if (*v == "push") {
            caps |= kCapabilityPush;
          } else {
            return Error(fmt::format("{}[{}]", name, i),
                         fmt::format("unknown capability {:?} (want pull, resolve or push)", *v));
          }
        }
        entry->capabilities = caps;
      } else if (key == "ca") {
        ASSIGN_OR_RETURN(entry->ca_files, Paths(node, name));
        entry->tls_configured = true;
      } else if (key == "client") {
        RETURN_IF_ERROR(Client(node, name, entry));
        entry->tls_configured = true;
      } else if (key == "skip_verify") {
        if (!node.is_boolean()) return Error(name, "must be a boolean");
        entry->skip_verify = *node.value<bool>();
        entry->tls_configured = true;
      } else if (key == "override_path") {
        if (!node.is_boolean()) return Error(name, "must be a boolean");
        entry->override_path = *node.value<bool>();
      } else if (key == "dial_timeout") {
        if (!node.is_string()) return Error(name, "must be a duration string such as \"1s\"");
        auto d = ParseGoDuration(*node.value<std::string>());
        if (!d.ok()) return Error(name, std::string(d.status().message()));
        entry->dial_timeout = *d;
      } else if (key == "header") {
        const toml::table* headers = node.as_table();
        if (headers == nullptr) return Error(name, "must be a table");
        std::vector<std::pair<const toml::key*, const toml::node*>> ordered;
        for (const auto& [hk, hv] : *headers) ordered.emplace_back(&hk, &hv);
        std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
          const auto& sa = a.first->source().begin;
          const auto& sb = b.first->source().begin;
          return std::tie(sa.line, sa.column) < std::tie(sb.line, sb.column);
        });
        for (const auto& [hk, hv] : ordered) {
          std::string hname = fmt::format("{}.{}", name, hk->str());
          if (hv->is_string()) {
            entry->headers.emplace_back(std::string(hk->str()), *hv->value<std::string>());
          } else if (const toml::array* arr = hv->as_array()) {
            for (std::size_t i = 0; i < arr->size(); ++i) {
              const toml::node& item = *arr->get(i);
              if (!item.is_string()) {
                return Error(fmt::format("{}[{}]", hname, i), "must be a string");
              }
              entry->headers.emplace_back(std::string(hk->str()), *item.value<std::string>());
            }
          } else {
            return Error(hname, "must be a string or an array of strings");
          }
        }
      }
      // Anything else: ignored, as containerd's decoder ignores unknown keys.
    }
    return absl::OkStatus();
  }

  absl::Status Client(const toml::node& node, std::string_view name, HostEntry* entry) {
    if (node.is_string()) {
      entry->client_certificates.push_back({JoinPath(dir_, *node.value<std::string>()), ""});
      return absl::OkStatus();
    }
    const toml::array* arr = node.as_array();
    if (arr == nullptr) {
      return Error(name, "must be a string, an array of strings or an array of [cert, key]");
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const toml::node& item = *arr->get(i);
      std::string item_name = fmt::format("{}[{}]", name, i);
      if (item.is_string()) {
        entry->client_certificates.push_back({JoinPath(dir_, *item.value<std::string>()), ""});
        continue;
      }
      const toml::array* pair = item.as_array();
      if (pair == nullptr) return Error(item_name, "must be a string or a [cert, key] array");
      if (pair->empty() || pair->size() > 2) {
        return Error(item_name, fmt::format("invalid client cert pair: got {} elements, expected 2",
                                            pair->size()));
      }
      ClientCertificate cc;
      for (std::size_t j = 0; j < pair->size(); ++j) {
        const toml::node& part = *pair->get(j);
        if (!part.is_string())
          return Error(fmt::format("{}[{}]", item_name, j), "must be a string");
        std::string v = *part.value<std::string>();
        if (j == 0) {
          if (v.empty()) return Error(fmt::format("{}[0]", item_name), "certificate path is empty");
          cc.cert = JoinPath(dir_, v);
        } else if (!v.empty()) {
          cc.key = JoinPath(dir_, v);
        }
      }
      entry->client_certificates.push_back(std::move(cc));
    }
    return absl::OkStatus();
  }

  // Turns an entry with a URL into an endpoint (no defaults for an empty URL).
  absl::StatusOr<RegistryHost> Endpoint(const HostEntry& entry, std::string_view key) const {
    RegistryHost h;
    std::string url = entry.url;
    if (url.find("://") == std::string::npos) url = "https://" + url;
    std::size_t scheme_end = url.find("://");
    h.scheme = url.substr(0, scheme_end);
    for (char& c : h.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (h.scheme != "http" && h.scheme != "https") {
      return Error(key, fmt::format("unsupported scheme {:?} in {:?} (want http or https)",
                                    h.scheme, entry.url));
    }
    std::string rest = url.substr(scheme_end + 3);
    std::size_t slash = rest.find('/');
    h.host = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash);
    std::size_t query = h.host.find_first_of("?#@");
    if (h.host.empty() || query != std::string::npos) {
      return Error(key, fmt::format("invalid host in {:?}", entry.url));
    }
    if (path.find_first_of("?#") != std::string::npos) {
      return Error(key, fmt::format("query or fragment not allowed in {:?}", entry.url));
    }
    if (!path.empty()) {
      path = CleanPath(path);
      if (path == "/") path.clear();
    }
    if (entry.override_path) {
      h.path = path;
    } else if (path.empty()) {
      h.path = "/v2";
    } else {
      h.path = EndsWith(path, "/v2") ? path : path + "/v2";
    }
    ApplyCommon(entry, &h);
    return h;
  }

  static void ApplyCommon(const HostEntry& entry, RegistryHost* h) {
    h->capabilities = entry.capabilities.value_or(kAllCapabilities);
    h->ca_files = entry.ca_files;
    h->client_certificates = entry.client_certificates;
    if (entry.skip_verify.has_value()) h->skip_verify = *entry.skip_verify;
    h->headers = entry.headers;
    h->dial_timeout = entry.dial_timeout;
    if (h->scheme == "http" && entry.tls_configured) h->tls_first = true;
  }

 private:
  std::string file_;
  std::string dir_;
};

}  // namespace

std::string RegistryHost::BaseUrl() const { return scheme + "://" + host + path; }

bool IsLocalhost(std::string_view host) {
  std::string_view h = host;
  if (!h.empty() && h.front() == '[') {
    std::size_t close = h.find(']');
    if (close == std::string_view::npos) return false;
    h = h.substr(1, close - 1);
    return h == "::1";
  }
  if (h == "::1") return true;  // a bare IPv6 literal has colons of its own
  std::size_t colon = h.rfind(':');
  if (colon != std::string_view::npos) h = h.substr(0, colon);
  if (h == "localhost") return true;
  // 127.0.0.0/8 as a dotted quad.
  if (h.substr(0, 4) != "127.") return false;
  int parts = 0;
  std::size_t start = 0;
  while (start <= h.size()) {
    std::size_t dot = h.find('.', start);
    if (dot == std::string_view::npos) dot = h.size();
    std::string_view p = h.substr(start, dot - start);
    if (p.empty() || p.size() > 3) return false;
    int v = 0;
    for (char c : p) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      v = v * 10 + (c - '0');
    }
    if (v > 255) return false;
    ++parts;
    start = dot + 1;
  }
  return parts == 4;
}

RegistryHost DefaultHost(std::string_view host, const HostsOptions& options) {
  RegistryHost h;
  h.path = "/v2";
  h.capabilities = kAllCapabilities;
  if (host == "docker.io") {
    h.scheme = "https";
    h.host = "registry-1.docker.io";
  } else if (IsLocalhost(host)) {
    h.host = std::string(host);
    h.scheme = "http";
    h.skip_verify = true;
    h.tls_first = true;
  } else {
    h.host = std::string(host);
    h.scheme = options.plain_http ? "http" : "https";
  }
  return h;
}

absl::StatusOr<std::vector<RegistryHost>> ParseHostsToml(std::string_view text,
                                                         std::string_view host,
                                                         std::string_view dir,
                                                         const HostsOptions& options,
                                                         std::string_view file) {
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(fmt::format("hosts.toml {:?}: line {}, column {}: {}", file,
                                                  e.source().begin.line, e.source().begin.column,
                                                  e.description()));
  }
  FileParser parser(file, dir);
  std::vector<RegistryHost> hosts;
  if (const toml::node* host_node = root.get("host")) {
    const toml::table* host_tables = host_node->as_table();
    if (host_tables == nullptr) return parser.Error("host", "must be a table of host tables");
    // toml++ keeps keys sorted; mirrors are tried in file order, so sort by source position.
    std::vector<std::pair<const toml::key*, const toml::node*>> ordered;
    for (const auto& [k, v] : *host_tables) ordered.emplace_back(&k, &v);
    std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
      const auto& sa = a.first->source().begin;
      const auto& sb = b.first->source().begin;
      return std::tie(sa.line, sa.column) < std::tie(sb.line, sb.column);
    });
    for (const auto& [k, v] : ordered) {
      std::string name = fmt::format("host.{:?}", k->str());
      const toml::table* t = v->as_table();
      if (t == nullptr) return parser.Error(name, "must be a table");
      HostEntry entry;
      entry.url = std::string(k->str());
      RETURN_IF_ERROR(parser.Entry(*t, name, /*top_level=*/false, &entry));
      if (entry.url.empty()) return parser.Error(name, "empty host URL");
      ASSIGN_OR_RETURN(RegistryHost h, parser.Endpoint(entry, name));
      hosts.push_back(std::move(h));
    }
  }
  HostEntry server;
  RETURN_IF_ERROR(parser.Entry(root, "", /*top_level=*/true, &server));
  if (!server.url.empty()) {
    ASSIGN_OR_RETURN(RegistryHost h, parser.Endpoint(server, "server"));
    hosts.push_back(std::move(h));
  } else {
    // The default upstream, with the top-level TLS settings and headers.
    RegistryHost h = DefaultHost(host, options);
    std::uint32_t caps = kAllCapabilities;
    bool tls_first = h.tls_first;
    FileParser::ApplyCommon(server, &h);
    h.capabilities = caps;  // containerd gives the default upstream every capability
    h.tls_first = h.tls_first || tls_first;
    hosts.push_back(std::move(h));
  }
  return hosts;
}

namespace {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus("read", path, errno);
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoToStatus("read", path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxHostsFileSize) {
      close(fd);
      return absl::InvalidArgumentError(
          fmt::format("hosts.toml {:?}: larger than {} bytes", path, kMaxHostsFileSize));
    }
  }
  close(fd);
  return text;
}

// Docker's certs.d layout: *.crt CAs, *.cert + *.key client pairs.
absl::StatusOr<std::vector<RegistryHost>> LoadCertsDir(const std::string& dir,
                                                       std::string_view host,
                                                       const HostsOptions& options) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoToStatus("read directory", dir, errno);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) names.emplace_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  RegistryHost h = DefaultHost(host, options);
  bool tls = false;
  for (const std::string& name : names) {
    if (EndsWith(name, ".crt")) {
      h.ca_files.push_back(JoinPath(dir, name));
      tls = true;
    } else if (EndsWith(name, ".cert")) {
      std::string key = name.substr(0, name.size() - 5) + ".key";
      if (!std::binary_search(names.begin(), names.end(), key)) {
        return absl::InvalidArgumentError(fmt::format(
            "certs.d {:?}: missing key {:?} for client certificate {:?}", dir, key, name));
      }
      h.client_certificates.push_back({JoinPath(dir, name), JoinPath(dir, key)});
      tls = true;
    } else if (EndsWith(name, ".key")) {
      std::string cert = name.substr(0, name.size() - 4) + ".cert";
      if (!std::binary_search(names.begin(), names.end(), cert)) {
        return absl::InvalidArgumentError(fmt::format(
            "certs.d {:?}: missing client certificate {:?} for key {:?}", dir, cert, name));
      }
    }
  }
  if (tls && h.scheme == "http") h.tls_first = true;
  return std::vector<RegistryHost>{h};
}

}  // namespace

absl::StatusOr<std::vector<RegistryHost>> ConfigureHosts(std::string_view host,
                                                         const HostsOptions& options) {
  if (host.empty() || host.find('/') != std::string_view::npos || host == "." || host == ".." ||
      host.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(fmt::format("configure hosts {:?}: invalid host", host));
  }
  std::vector<std::string> candidates;
  std::size_t colon = host.rfind(':');
  bool has_port = colon != std::string_view::npos && colon > 0 && host.back() != ']';
  for (const std::string& root : options.config_paths) {
    if (has_port) {
      candidates.push_back(
          JoinPath(root, fmt::format("{}_{}_", host.substr(0, colon), host.substr(colon + 1))));
    }
    candidates.push_back(JoinPath(root, host));
    candidates.push_back(JoinPath(root, "_default"));
  }
  for (const std::string& dir : candidates) {
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return ErrnoToStatus("configure hosts", dir, errno);
    }
    if (!S_ISDIR(st.st_mode)) continue;
    std::string file = dir + "/hosts.toml";
    auto text = ReadSmallFile(file);
    if (text.ok()) return ParseHostsToml(*text, host, dir, options, file);
    if (!IsNotFound(text.status())) return text.status();
    return LoadCertsDir(dir, host, options);
  }
  return std::vector<RegistryHost>{DefaultHost(host, options)};
}

std::vector<std::string> SplitConfigPath(std::string_view config_path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= config_path.size()) {
    std::size_t colon = config_path.find(':', start);
    if (colon == std::string_view::npos) colon = config_path.size();
    if (colon > start) out.emplace_back(config_path.substr(start, colon - start));
    start = colon + 1;
  }
  return out;
}

absl::StatusOr<std::chrono::milliseconds> ParseGoDuration(std::string_view s) {
  auto bad = [&]() {
    return absl::InvalidArgumentError(
        fmt::format("invalid duration {:?}: want a Go duration such as \"1s\" or \"500ms\"", s));
  };
  if (s.empty()) return bad();
  if (s == "0") return std::chrono::milliseconds(0);
  std::size_t i = 0;
  if (s[0] == '+') ++i;
  if (i < s.size() && s[i] == '-') {
    return absl::InvalidArgumentError(fmt::format("invalid duration {:?}: negative", s));
  }
  double total_ms = 0;
  bool any = false;
  while (i < s.size()) {
    std::size_t num_start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == num_start) return bad();
    std::string num(s.substr(num_start, i - num_start));
    if (std::count(num.begin(), num.end(), '.') > 1 || num == ".") return bad();
    double value = std::strtod(num.c_str(), nullptr);
    std::size_t unit_start = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string_view unit = s.substr(unit_start, i - unit_start);
    double factor;
    if (unit == "ns") {
      factor = 1e-6;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      factor = 1e-3;
    } else if (unit == "ms") {
      factor = 1;
    } else if (unit == "s") {
      factor = 1000;
    } else if (unit == "m") {
      factor = 60 * 1000;
    } else if (unit == "h") {
      factor = 3600 * 1000;
    } else {
      return bad();
    }
    total_ms += value * factor;
    any = true;
  }
  if (!any || total_ms > 1e15) return bad();
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(total_ms)));
}

}  // namespace berth::remotes
