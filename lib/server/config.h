// berth's TOML configuration: one file (/etc/berth/config.toml by default) with one section
// per service (`[content]`, `[snapshot]`, `[image]`, `[runtime]`, `[gateway]`). Each service
// reads only its own section, through a service-specific parser built from the typed getters
// of ConfigSection, and gets the part every service shares (listen address, TLS, metrics,
// log level, directories) as a validated ServerConfig:
//
//   absl::StatusOr<ContentConfig> ParseContent(server::ConfigSection& s) {
//     ContentConfig c;
//     ASSIGN_OR_RETURN(c.server, server::ParseServerConfig(s));
//     ASSIGN_OR_RETURN(c.gc_interval, s.GetDuration("gc_interval", c.gc_interval));
//     return c;
//   }
//   ASSIGN_OR_RETURN(ContentConfig c,
//                    server::LoadSection<ContentConfig>(path, "content", ParseContent));
//
// Bad config fails fast with the file, section and key named:
//   config "/etc/berth/config.toml": [content] root: expected a string, got integer
// and a key in the section that no getter asked for is an error too (a misspelt key would
// otherwise be silently ignored): LoadSection checks that after the parser ran.
//
// Thread-safety: ConfigFile is immutable after Load/Parse and safe to share; a ConfigSection
// records which keys were read and must be used by one thread at a time.
#ifndef BERTH_LIB_SERVER_CONFIG_H_
#define BERTH_LIB_SERVER_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/status/status.h"

namespace berth::server {

inline constexpr char kDefaultConfigPath[] = "/etc/berth/config.toml";

class ConfigSection;

// A parsed TOML file.
class ConfigFile {
 public:
  // Reads and parses `path`. A missing file -> NotFound naming the path (other open/read
  // errors as ErrnoToStatus), a TOML syntax error -> InvalidArgument with line and column:
  //   config "/etc/berth/config.toml": line 3, column 8: <what is wrong>
  [[nodiscard]] static absl::StatusOr<ConfigFile> Load(const std::string& path);

  // Parses TOML text; `path` only names the document in error messages.
  [[nodiscard]] static absl::StatusOr<ConfigFile> Parse(std::string_view text, std::string path);

  // The top-level table `name` as a section. A section missing from the file is an empty
  // section (every getter returns its default; present() is false). A top-level `name` that
  // is not a table -> InvalidArgument.
  [[nodiscard]] absl::StatusOr<ConfigSection> Section(const std::string& name) const;

  const std::string& path() const { return path_; }

 private:
  ConfigFile(std::string path, std::shared_ptr<const void> document)
      : path_(std::move(path)), document_(std::move(document)) {}
  std::string path_;
  // The parsed toml::table (type-erased to keep toml++ out of this header); shared with the
  // sections so they stay valid after the ConfigFile is gone.
  std::shared_ptr<const void> document_;
};

// One table of the file (`[content]`, `[content.tls]`) with typed, validating getters.
// Every getter returns `default_value` when the key is absent, and InvalidArgument naming
// file, section and key when the value has the wrong type or does not validate. Getters mark
// the key as known for CheckUnknownKeys(), also when it is absent.
class ConfigSection {
 public:
  ConfigSection(ConfigSection&&) noexcept;
  ConfigSection& operator=(ConfigSection&&) noexcept;
  ~ConfigSection();

  // A TOML string.
  [[nodiscard]] absl::StatusOr<std::string> GetString(std::string_view key,
                                                      std::string default_value = "");
  // A TOML integer within [min, max].
  [[nodiscard]] absl::StatusOr<int64_t> GetInt(std::string_view key, int64_t default_value,
                                               int64_t min = std::numeric_limits<int64_t>::min(),
                                               int64_t max = std::numeric_limits<int64_t>::max());
  // A TOML boolean.
  [[nodiscard]] absl::StatusOr<bool> GetBool(std::string_view key, bool default_value);
  // A string in Go's duration syntax, as containerd's config uses: "30s", "100ms", "2m",
  // "1h30m", "1.5s", "0" (units ns, us, µs, ms, s, m, h); never negative.
  [[nodiscard]] absl::StatusOr<std::chrono::nanoseconds> GetDuration(
      std::string_view key, std::chrono::nanoseconds default_value);
  // An array whose elements are all strings.
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> GetStringArray(
      std::string_view key, std::vector<std::string> default_value = {});
  // A sub-table (`[content.tls]` or `tls = { ... }`). Never null: an absent key gives an empty
  // section with present() == false. The child is owned by this section, and its keys are
  // checked by this section's CheckUnknownKeys().
  [[nodiscard]] absl::StatusOr<ConfigSection*> GetTable(std::string_view key);

  // Whether the key is in the table (does not mark it known).
  bool Has(std::string_view key) const;
  // All keys of the table in file order, for map-like tables whose keys are data (such as
  // registry host names). Does not mark them known.
  std::vector<std::string> Keys() const;
  // Marks a key as known without reading it (for keys handled elsewhere).
  void MarkKnown(std::string_view key);

  // Error for a value that has the right type but is not acceptable, in the common format:
  //   config "<file>": [<section>] <key>: <reason>
  [[nodiscard]] absl::Status InvalidValue(std::string_view key, std::string_view reason) const;

  // InvalidArgument naming the first key, in this section or any sub-table obtained via
  // GetTable, that no getter asked for: `config "f": [content] roots: unknown key`.
  [[nodiscard]] absl::Status CheckUnknownKeys() const;

  // Whether the table exists in the file.
  bool present() const;
  // Dotted TOML name of the table: "content", "content.tls".
  const std::string& name() const;
  // Path of the file the section came from.
  const std::string& file() const;

 private:
  friend class ConfigFile;
  struct State;
  explicit ConfigSection(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Loads `path`, takes section `name`, runs `parse` on it, then fails on keys `parse` did not
// read. Errors from any step name the file (and section and key where there is one).
template <typename T>
absl::StatusOr<T> LoadSection(const std::string& path, const std::string& name,
                              const std::function<absl::StatusOr<T>(ConfigSection&)>& parse) {
  ASSIGN_OR_RETURN(ConfigFile file, ConfigFile::Load(path));
  ASSIGN_OR_RETURN(ConfigSection section, file.Section(name));
  ASSIGN_OR_RETURN(T value, parse(section));
  RETURN_IF_ERROR(section.CheckUnknownKeys());
  return value;
}

// Parses a duration in Go's syntax (see ConfigSection::GetDuration). Errors ->
// InvalidArgument: `invalid duration "30x": unknown unit "x"`.
[[nodiscard]] absl::StatusOr<std::chrono::nanoseconds> ParseDuration(std::string_view text);

// A listen or dial address as written in config: `unix:///run/berth/content.sock` or
// `tcp://host:port` (`tcp://[::1]:0`; port 0 binds any free port).
struct ListenAddress {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  // kUnix: absolute filesystem path of the socket (never an abstract socket).
  std::string path;
  // kTcp: host name or IP address; IPv6 without brackets.
  std::string host;
  // kTcp: port, 0..65535.
  int port = 0;

  // The target string gRPC's server builder and channels take: "unix:/abs/path",
  // "host:port" or "[v6]:port".
  std::string GrpcTarget() const;
  // The address in config syntax, with `port` as set.
  std::string ToString() const;
};

// Parses a ListenAddress. A relative or empty unix path, an abstract socket
// (`unix:@name`, `unix-abstract:`), a path longer than 107 bytes, any other scheme, a missing
// host or a bad port -> InvalidArgument naming the address.
[[nodiscard]] absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view address);

// TLS for a server's listener, `[<section>.tls]`. cert and key are required; ca turns on
// mutual TLS.
struct TlsConfig {
  // PEM file with the server's certificate chain (leaf first). Absolute path.
  std::string cert;
  // PEM file with the private key of `cert`. Absolute path.
  std::string key;
  // PEM file with the CAs that sign client certificates; when set, clients must present a
  // certificate signed by one of them (mutual TLS). Empty: server-side TLS only.
  std::string ca;
};

// What every berth service's section shares. In-class defaults are the service-independent
// ones; DefaultServerConfig(service) fills in the paths that carry the service's name.
struct ServerConfig {
  // Listen address (see ListenAddress). Default `unix:///run/berth/<service>.sock`.
  std::string address;
  // TLS for the listener; absent: plaintext (the normal case for a unix socket).
  std::optional<TlsConfig> tls;
  // Where Prometheus scrapes this process's metrics, "host:port"; empty: no metrics listener.
  std::string metrics_address;
  // Log level (trace, debug, info, warn, error, critical, off); $BERTH_LOG_LEVEL overrides it.
  std::string log_level = "info";
  // Directory for persistent data (RocksDB, blobs). Default `/var/lib/berth/<service>`.
  std::string root;
  // Directory for runtime state that does not survive a reboot (bundles, shim sockets).
  // Default `/run/berth/<service>`.
  std::string state;
  // File written (atomically, containing the bound address) once the server is serving, and
  // removed on shutdown; the local launcher waits for it. Empty: none. A --ready-file flag in
  // main() may override it.
  std::string ready_file;
  // How long in-flight calls may run after SIGTERM before they are cancelled.
  std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(10);
};

// ServerConfig with the per-service defaults filled in.
ServerConfig DefaultServerConfig(std::string_view service);

// Reads the shared keys (address, tls.{cert,key,ca}, metrics_address, log_level, root, state,
// ready_file, shutdown_timeout) from `section` over DefaultServerConfig(section.name()) and
// validates them: the address parses, tls has both cert and key, paths are absolute, the log
// level is known, metrics_address is host:port, shutdown_timeout > 0. Leaves the section's
// other keys to the service's parser.
[[nodiscard]] absl::StatusOr<ServerConfig> ParseServerConfig(ConfigSection& section);

}  // namespace berth::server

#endif  // BERTH_LIB_SERVER_CONFIG_H_
