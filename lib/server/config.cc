#include "lib/server/config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <tuple>
#include <utility>

#include "lib/log/log.h"

namespace berth::server {
namespace {

std::string_view TypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    case toml::node_type::array:
      return "array";
    case toml::node_type::table:
      return "table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// A table key as written in a TOML table header: bare when it can be, quoted otherwise.
std::string KeyForName(std::string_view key) {
  bool bare = !key.empty();
  for (char c : key) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      bare = false;
    }
  }
  return bare ? std::string(key) : fmt::format("{:?}", key);
}

absl::Status ConfigError(std::string_view file, std::string_view reason) {
  return absl::InvalidArgumentError(fmt::format("config {:?}: {}", file, reason));
}

bool IsAbsolutePath(const std::string& path) { return !path.empty() && path[0] == '/'; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// ConfigFile

absl::StatusOr<ConfigFile> ConfigFile::Load(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus("config", path, errno);
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoToStatus("config", path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return Parse(text, path);
}

absl::StatusOr<ConfigFile> ConfigFile::Parse(std::string_view text, std::string path) {
  try {
    auto table = std::make_shared<toml::table>(toml::parse(text, std::string_view(path)));
    return ConfigFile(std::move(path), std::shared_ptr<const void>(std::move(table)));
  } catch (const toml::parse_error& e) {
    return ConfigError(path, fmt::format("line {}, column {}: {}", e.source().begin.line,
                                         e.source().begin.column, e.description()));
  }
}

// ---------------------------------------------------------------------------------------------
// ConfigSection

struct ConfigSection::State {
  // Keeps the parsed document alive.
  std::shared_ptr<const void> document;
  // The table; null when the section is absent from the file.
  const toml::table* table = nullptr;
  std::string file;
  std::string name;
  std::set<std::string, std::less<>> known;
  std::vector<std::unique_ptr<ConfigSection>> children;

  absl::Status Error(std::string_view key, std::string_view reason) const {
    return ConfigError(file, fmt::format("[{}] {}: {}", name, key, reason));
  }
  absl::Status WrongType(std::string_view key, std::string_view expected,
                         const toml::node& node) const {
    return Error(key, fmt::format("expected {}, got {}", expected, TypeName(node.type())));
  }
  // Marks `key` known and returns its node, or null when absent.
  const toml::node* Get(std::string_view key) {
    if (known.find(key) == known.end()) known.emplace(key);
    return table == nullptr ? nullptr : table->get(key);
  }
};

ConfigSection::ConfigSection(std::unique_ptr<State> state) : state_(std::move(state)) {}
ConfigSection::ConfigSection(ConfigSection&&) noexcept = default;
ConfigSection& ConfigSection::operator=(ConfigSection&&) noexcept = default;
ConfigSection::~ConfigSection() = default;

absl::StatusOr<ConfigSection> ConfigFile::Section(const std::string& name) const {
  const auto* root = static_cast<const toml::table*>(document_.get());
  auto state = std::make_unique<ConfigSection::State>();
  state->document = document_;
  state->file = path_;
  state->name = KeyForName(name);
  if (const toml::node* node = root->get(name); node != nullptr) {
    state->table = node->as_table();
    if (state->table == nullptr) {
      return ConfigError(
          path_, fmt::format("{}: expected a table, got {}", state->name, TypeName(node->type())));
    }
  }
  return ConfigSection(std::move(state));
}

absl::StatusOr<std::string> ConfigSection::GetString(std::string_view key,
                                                     std::string default_value) {
  const toml::node* node = state_->Get(key);
  if (node == nullptr) return default_value;
  const auto* value = node->as_string();
  if (value == nullptr) return state_->WrongType(key, "a string", *node);
  return value->get();
}

absl::StatusOr<int64_t> ConfigSection::GetInt(std::string_view key, int64_t default_value,
                                              int64_t min, int64_t max) {
  const toml::node* node = state_->Get(key);
  if (node == nullptr) return default_value;
  const auto* value = node->as_integer();
  if (value == nullptr) return state_->WrongType(key, "an integer", *node);
  const int64_t v = value->get();
  if (v < min || v > max) {
    return state_->Error(key, fmt::format("{} is out of range [{}, {}]", v, min, max));
  }
  return v;
}

absl::StatusOr<bool> ConfigSection::GetBool(std::string_view key, bool default_value) {
  const toml::node* node = state_->Get(key);
  if (node == nullptr) return default_value;
  const auto* value = node->as_boolean();
  if (value == nullptr) return state_->WrongType(key, "a boolean", *node);
  return value->get();
}

absl::StatusOr<std::chrono::nanoseconds> ConfigSection::GetDuration(
    std::string_view key, std::chrono::nanoseconds default_value) {
  const toml::node* node = state_->Get(key);
  if (node == nullptr) return default_value;
  const auto* value = node->as_string();
  if (value == nullptr) {
    return state_->WrongType(key, "a duration string such as \"30s\"", *node);
  }
  absl::StatusOr<std::chrono::nanoseconds> d = ParseDuration(value->get());
  if (!d.ok()) return state_->Error(key, std::string(d.status().message()));
  return *d;
}

absl::StatusOr<std::vector<std::string>> ConfigSection::GetStringArray(
    std::string_view key, std::vector<std::string> default_value) {
  const toml::node* node = state_->Get(key);
  if (node == nullptr) return default_value;
  const auto* array = node->as_array();
  if (array == nullptr) return state_->WrongType(key, "an array of strings", *node);
  std::vector<std::string> out;
  out.reserve(array->size());
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const auto* value = element.as_string();
    if (value == nullptr) {
      return state_->WrongType(fmt::format("{}[{}]", key, i), "a string", element);
    }
    out.push_back(value->get());
  }
  return out;
}

absl::StatusOr<ConfigSection*> ConfigSection::GetTable(std::string_view key) {
  const toml::node* node = state_->Get(key);
  auto child = std::make_unique<State>();
  child->document = state_->document;
  child->file = state_->file;
  child->name = state_->name + "." + KeyForName(key);
  if (node != nullptr) {
    child->table = node->as_table();
    if (child->table == nullptr) return state_->WrongType(key, "a table", *node);
  }
  state_->children.push_back(std::unique_ptr<ConfigSection>(new ConfigSection(std::move(child))));
  return state_->children.back().get();
}

bool ConfigSection::Has(std::string_view key) const {
  return state_->table != nullptr && state_->table->contains(key);
}

std::vector<std::string> ConfigSection::Keys() const {
  std::vector<std::string> keys;
  if (state_->table == nullptr) return keys;
  for (const auto& [k, v] : *state_->table) keys.emplace_back(k.str());
  return keys;
}

void ConfigSection::MarkKnown(std::string_view key) {
  if (state_->known.find(key) == state_->known.end()) state_->known.emplace(key);
}

absl::Status ConfigSection::InvalidValue(std::string_view key, std::string_view reason) const {
  return state_->Error(key, reason);
}

absl::Status ConfigSection::CheckUnknownKeys() const {
  if (state_->table != nullptr) {
    std::vector<std::string> unknown;
    for (const auto& [k, v] : *state_->table) {
      if (state_->known.find(k.str()) == state_->known.end()) unknown.emplace_back(k.str());
    }
    if (unknown.size() == 1) return state_->Error(unknown[0], "unknown key");
    if (!unknown.empty()) {
      return state_->Error(unknown[0],
                           fmt::format("unknown key (also unknown: {})",
                                       fmt::join(unknown.begin() + 1, unknown.end(), ", ")));
    }
  }
  for (const auto& child : state_->children) RETURN_IF_ERROR(child->CheckUnknownKeys());
  return absl::OkStatus();
}

bool ConfigSection::present() const { return state_->table != nullptr; }
const std::string& ConfigSection::name() const { return state_->name; }
const std::string& ConfigSection::file() const { return state_->file; }

// ---------------------------------------------------------------------------------------------
// Durations

absl::StatusOr<std::chrono::nanoseconds> ParseDuration(std::string_view text) {
  auto bad = [&](std::string_view reason) {
    return absl::InvalidArgumentError(fmt::format("invalid duration {:?}: {}", text, reason));
  };
  if (text.empty()) return bad("empty");
  if (text == "0") return std::chrono::nanoseconds(0);
  if (text[0] == '-') return bad("must not be negative");
  long double total = 0;
  size_t i = 0;
  const size_t n = text.size();
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < n) {
    const size_t number_start = i;
    while (i < n && is_digit(text[i])) ++i;
    const size_t int_digits = i - number_start;
    size_t frac_digits = 0;
    if (i < n && text[i] == '.') {
      ++i;
      while (i < n && is_digit(text[i])) {
        ++i;
        ++frac_digits;
      }
    }
    if (int_digits == 0 && frac_digits == 0) {
      return bad(fmt::format("expected a number at {:?}", text.substr(number_start)));
    }
    const std::string number(text.substr(number_start, i - number_start));
    const long double value = std::strtold(number.c_str(), nullptr);
    const size_t unit_start = i;
    while (i < n && !is_digit(text[i]) && text[i] != '.') ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    long double scale;
    if (unit.empty()) {
      return bad("missing unit (use ns, us, ms, s, m or h)");
    } else if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      scale = 1e3;
    } else if (unit == "ms") {
      scale = 1e6;
    } else if (unit == "s") {
      scale = 1e9;
    } else if (unit == "m") {
      scale = 60e9;
    } else if (unit == "h") {
      scale = 3600e9;
    } else {
      return bad(fmt::format("unknown unit {:?} (use ns, us, ms, s, m or h)", unit));
    }
    total += value * scale;
  }
  if (total >= static_cast<long double>(std::numeric_limits<int64_t>::max())) {
    return bad("too large");
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(total)));
}

// ---------------------------------------------------------------------------------------------
// Addresses

std::string ListenAddress::GrpcTarget() const {
  if (kind == Kind::kUnix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

std::string ListenAddress::ToString() const {
  if (kind == Kind::kUnix) return "unix://" + path;
  return "tcp://" + GrpcTarget();
}

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view address) {
  auto bad = [&](std::string_view reason) {
    return absl::InvalidArgumentError(fmt::format("listen address {:?}: {}", address, reason));
  };
  constexpr std::string_view kUnix = "unix://";
  constexpr std::string_view kTcp = "tcp://";
  ListenAddress out;
  if (address.substr(0, kUnix.size()) == kUnix) {
    out.kind = ListenAddress::Kind::kUnix;
    out.path = std::string(address.substr(kUnix.size()));
    if (out.path.empty() || out.path[0] != '/') {
      return bad("the socket path must be absolute (unix:///run/berth/<service>.sock)");
    }
    if (out.path.find('\0') != std::string::npos) return bad("the socket path contains NUL");
    // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
    if (out.path.size() > 107) return bad("the socket path is longer than 107 bytes");
    return out;
  }
  if (address.substr(0, kTcp.size()) == kTcp) {
    out.kind = ListenAddress::Kind::kTcp;
    std::string_view rest = address.substr(kTcp.size());
    std::string_view port;
    if (!rest.empty() && rest[0] == '[') {
      const size_t close = rest.find(']');
      if (close == std::string_view::npos) return bad("missing ']' after the IPv6 address");
      out.host = std::string(rest.substr(1, close - 1));
      rest = rest.substr(close + 1);
      if (rest.empty() || rest[0] != ':') return bad("missing port (tcp://host:port)");
      port = rest.substr(1);
    } else {
      const size_t colon = rest.rfind(':');
      if (colon == std::string_view::npos) return bad("missing port (tcp://host:port)");
      out.host = std::string(rest.substr(0, colon));
      if (out.host.find(':') != std::string::npos) {
        return bad("an IPv6 address must be in brackets (tcp://[::1]:port)");
      }
      port = rest.substr(colon + 1);
    }
    if (out.host.empty()) return bad("missing host (tcp://host:port; 0.0.0.0 for all)");
    if (port.empty() || port.size() > 5) return bad("the port must be a number 0..65535");
    int value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return bad("the port must be a number 0..65535");
      value = value * 10 + (c - '0');
    }
    if (value > 65535) return bad("the port must be a number 0..65535");
    out.port = value;
    return out;
  }
  if (address.substr(0, 14) == "unix-abstract:" || address.substr(0, 6) == "unix:@") {
    return bad("abstract unix sockets are not supported (use unix:///path)");
  }
  return bad("must be unix:///path/to.sock or tcp://host:port");
}

// ---------------------------------------------------------------------------------------------
// ServerConfig

ServerConfig DefaultServerConfig(std::string_view service) {
  ServerConfig c;
  c.address = fmt::format("unix:///run/berth/{}.sock", service);
  c.root = fmt::format("/var/lib/berth/{}", service);
  c.state = fmt::format("/run/berth/{}", service);
  return c;
}

absl::StatusOr<ServerConfig> ParseServerConfig(ConfigSection& s) {
  ServerConfig c = DefaultServerConfig(s.name());

  ASSIGN_OR_RETURN(c.address, s.GetString("address", c.address));
  if (absl::StatusOr<ListenAddress> a = ParseListenAddress(c.address); !a.ok()) {
    return s.InvalidValue("address", std::string(a.status().message()));
  }

  ASSIGN_OR_RETURN(ConfigSection * tls, s.GetTable("tls"));
  if (tls->present()) {
    TlsConfig t;
    ASSIGN_OR_RETURN(t.cert, tls->GetString("cert"));
    ASSIGN_OR_RETURN(t.key, tls->GetString("key"));
    ASSIGN_OR_RETURN(t.ca, tls->GetString("ca"));
    for (const auto& [key, value] :
         {std::pair<const char*, const std::string*>{"cert", &t.cert}, {"key", &t.key}}) {
      if (value->empty()) return tls->InvalidValue(key, "required when the tls table is present");
    }
    for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"cert", &t.cert},
                                     {"key", &t.key},
                                     {"ca", &t.ca}}) {
      if (!value->empty() && !IsAbsolutePath(*value)) {
        return tls->InvalidValue(key, fmt::format("{:?} is not an absolute path", *value));
      }
    }
    c.tls = std::move(t);
  }

  ASSIGN_OR_RETURN(c.metrics_address, s.GetString("metrics_address", c.metrics_address));
  if (!c.metrics_address.empty()) {
    absl::StatusOr<ListenAddress> m = ParseListenAddress("tcp://" + c.metrics_address);
    if (!m.ok()) {
      return s.InvalidValue("metrics_address",
                            fmt::format("{:?} must be host:port", c.metrics_address));
    }
  }

  ASSIGN_OR_RETURN(c.log_level, s.GetString("log_level", c.log_level));
  if (absl::StatusOr<log::Level> l = log::ParseLevel(c.log_level); !l.ok()) {
    return s.InvalidValue("log_level", std::string(l.status().message()));
  }

  ASSIGN_OR_RETURN(c.root, s.GetString("root", c.root));
  ASSIGN_OR_RETURN(c.state, s.GetString("state", c.state));
  ASSIGN_OR_RETURN(c.ready_file, s.GetString("ready_file", c.ready_file));
  for (const auto& [key, value, optional] :
       {std::tuple<const char*, const std::string*, bool>{"root", &c.root, false},
        {"state", &c.state, false},
        {"ready_file", &c.ready_file, true}}) {
    if (optional && value->empty()) continue;
    if (!IsAbsolutePath(*value)) {
      return s.InvalidValue(key, fmt::format("{:?} is not an absolute path", *value));
    }
  }

  ASSIGN_OR_RETURN(c.shutdown_timeout, s.GetDuration("shutdown_timeout", c.shutdown_timeout));
  if (c.shutdown_timeout <= std::chrono::nanoseconds(0)) {
    return s.InvalidValue("shutdown_timeout", "must be greater than 0");
  }
  return c;
}

}  // namespace berth::server
