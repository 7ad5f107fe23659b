// berth's process log: one line format for every berth process, written to stderr so that
// systemd's journal (or the local launcher) collects it:
//
//   2026-11-29T04:10:00.123456Z info content[4242]: blob committed digest="sha256:ab.." size=512
//
// UTC timestamp with microseconds, level (trace|debug|info|warn|error|critical), process name
// and pid, then the message. By convention a message is a short lower-case sentence followed
// by ` key=value` pairs; format string values with `{:?}` so they come out quoted and escaped
// (`ref={:?}` -> `ref="docker.io/library/ubuntu:latest"`). Newlines in a message are written
// as `\n` so one call is always one journal entry.
//
// Why wrappers instead of spdlog in every file: this header only needs <fmt/core.h>, so the
// hundreds of files that log do not parse spdlog's headers or depend on its compile-time
// configuration (Debian's spdlog is a compiled library over an external fmt: the
// SPDLOG_COMPILED_LIB / SPDLOG_FMT_EXTERNAL defines must match), and the format lives in
// one place. spdlog is still the engine: Init() installs spdlog's default logger, so code
// that calls spdlog::info(...) directly (third-party or old code) prints the same lines.
//
// Thread-safety: Init() is meant to be called once at the top of main(), before other
// threads log; it may be called again (tests do) but not concurrently with logging. The
// logging functions are thread-safe and may be called before Init() (they then use spdlog's
// default logger and its format).
#ifndef BERTH_LIB_LOG_LOG_H_
#define BERTH_LIB_LOG_LOG_H_

#include <fmt/core.h>

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };

// Environment variable that overrides the configured level (for one-off debugging of a
// single service without editing the shared config file).
inline constexpr char kLevelEnv[] = "BERTH_LOG_LEVEL";

// Parses a level name: trace, debug, info, warn (or warning), error, critical, off; case
// sensitive, as written in config files. Anything else -> InvalidArgument naming the value
// and the accepted names.
[[nodiscard]] absl::StatusOr<Level> ParseLevel(std::string_view name);

// The name a level is printed and configured with ("warn", not "warning").
std::string_view LevelName(Level level);

// Sets up the process log: stderr, the berth line format, `process_name` and the pid in
// every line. The level is $BERTH_LOG_LEVEL when set and non-empty, else `level`, else
// "info". An invalid level -> InvalidArgument (naming BERTH_LOG_LEVEL when it came from
// there) and the previous setup stays in place.
[[nodiscard]] absl::Status Init(std::string process_name, std::string level);

// Whether a message at `level` would be written now.
bool Enabled(Level level);

// Writes one message at `level` (dropped when the level is not enabled).
void Write(Level level, std::string_view message);

// fmt-style logging: Info("image pulled ref={:?} layers={}", ref, n). Arguments are only
// formatted when the level is enabled; format strings are checked at compile time.
template <typename... Args>
void Log(Level level, fmt::format_string<Args...> format, Args&&... args) {
  if (Enabled(level)) Write(level, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void Trace(fmt::format_string<Args...> format, Args&&... args) {
  Log(Level::kTrace, format, std::forward<Args>(args)...);
}
template <typename... Args>
void Debug(fmt::format_string<Args...> format, Args&&... args) {
  Log(Level::kDebug, format, std::forward<Args>(args)...);
}
template <typename... Args>
void Info(fmt::format_string<Args...> format, Args&&... args) {
  Log(Level::kInfo, format, std::forward<Args>(args)...);
}
template <typename... Args>
void Warn(fmt::format_string<Args...> format, Args&&... args) {
  Log(Level::kWarn, format, std::forward<Args>(args)...);
}
template <typename... Args>
void Error(fmt::format_string<Args...> format, Args&&... args) {
  Log(Level::kError, format, std::forward<Args>(args)...);
}

}  // namespace berth::log

#endif  // BERTH_LIB_LOG_LOG_H_
