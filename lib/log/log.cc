#include "lib/log/log.h"

#include <fmt/format.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <iterator>
#include <memory>

namespace berth::log {
namespace {

spdlog::level::level_enum ToSpdlog(Level level) {
  switch (level) {
    case Level::kTrace:
      return spdlog::level::trace;
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
    case Level::kCritical:
      return spdlog::level::critical;
    case Level::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::string_view SpdlogLevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// Formats every record as
//   2026-11-29T04:10:00.123456Z info content[4242]: message
// A whole-line formatter rather than an spdlog pattern: the process name is taken literally
// (a '%' in it would be a pattern flag), level names are berth's ("warn", "error"), and
// line breaks in the message are escaped so one record is one journal entry.
class LineFormatter final : public spdlog::formatter {
 public:
  LineFormatter(std::string process_name, pid_t pid)
      : process_name_(std::move(process_name)), pid_(pid) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using std::chrono::duration_cast;
    using std::chrono::microseconds;
    using std::chrono::seconds;
    const auto since_epoch = msg.time.time_since_epoch();
    const auto secs = duration_cast<seconds>(since_epoch);
    const auto micros = duration_cast<microseconds>(since_epoch - secs);
    const time_t t = static_cast<time_t>(secs.count());
    struct tm tm;
    gmtime_r(&t, &tm);
    auto out = std::back_inserter(dest);
    fmt::format_to(out, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z {} {}[{}]: ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, micros.count(),
                   SpdlogLevelName(msg.level), process_name_, pid_);
    for (char c : msg.payload) {
      if (c == '\n') {
        dest.append(std::string_view("\\n"));
      } else if (c == '\r') {
        dest.append(std::string_view("\\r"));
      } else {
        dest.push_back(c);
      }
    }
    dest.push_back('\n');
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(process_name_, pid_);
  }

 private:
  const std::string process_name_;
  const pid_t pid_;
};

}  // namespace

absl::StatusOr<Level> ParseLevel(std::string_view name) {
  if (name == "trace") return Level::kTrace;
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn" || name == "warning") return Level::kWarn;
  if (name == "error") return Level::kError;
  if (name == "critical") return Level::kCritical;
  if (name == "off") return Level::kOff;
  return absl::InvalidArgumentError(fmt::format(
      "log level {:?}: must be one of trace, debug, info, warn, error, critical, off", name));
}

std::string_view LevelName(Level level) { return SpdlogLevelName(ToSpdlog(level)); }

absl::Status Init(std::string process_name, std::string level) {
  std::string name = level.empty() ? "info" : level;
  const char* env = std::getenv(kLevelEnv);
  const bool from_env = env != nullptr && *env != '\0';
  if (from_env) name = env;
  absl::StatusOr<Level> parsed = ParseLevel(name);
  if (!parsed.ok()) {
    if (from_env) {
      return absl::InvalidArgumentError(std::string(kLevelEnv) + ": " +
                                        std::string(parsed.status().message()));
    }
    return parsed.status();
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(process_name, std::move(sink));
  logger->set_formatter(std::make_unique<LineFormatter>(process_name, getpid()));
  logger->set_level(ToSpdlog(*parsed));
  // stderr is unbuffered, but spdlog's sink also keeps nothing back: every record is written
  // when logged, so the last lines before a crash are not lost.
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

bool Enabled(Level level) { return spdlog::default_logger_raw()->should_log(ToSpdlog(level)); }

void Write(Level level, std::string_view message) {
  spdlog::default_logger_raw()->log(ToSpdlog(level),
                                    spdlog::string_view_t(message.data(), message.size()));
}

}  // namespace berth::log
