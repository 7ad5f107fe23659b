// Output helpers of the berth command: tables, sizes, ages, labels, errors, signals.
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "cli/cli.h"
#include "fmt/format.h"

namespace berth::cli {
namespace {

const char* CodeText(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kNotFound:
      return "not found";
    case absl::StatusCode::kAlreadyExists:
      return "already exists";
    case absl::StatusCode::kInvalidArgument:
      return "invalid argument";
    case absl::StatusCode::kFailedPrecondition:
      return "failed precondition";
    case absl::StatusCode::kUnavailable:
      return "unavailable: is the berth suite running?";
    case absl::StatusCode::kUnimplemented:
      return "not implemented";
    case absl::StatusCode::kDeadlineExceeded:
      return "deadline exceeded";
    case absl::StatusCode::kCancelled:
      return "cancelled";
    case absl::StatusCode::kPermissionDenied:
      return "permission denied";
    case absl::StatusCode::kResourceExhausted:
      return "resource exhausted";
    default:
      return "error";
  }
}

}  // namespace

const Client& Env::client() {
  if (!client_) {
    ClientOptions options;
    options.default_namespace = globals.ns;
    if (globals.timeout_seconds > 0) {
      options.timeout = std::chrono::seconds(globals.timeout_seconds);
    }
    if (!globals.fifo_dir.empty()) options.fifo_dir = globals.fifo_dir;
    client_.emplace(globals.address, options);
  }
  return *client_;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "berth: %s (%s)\n", std::string(status.message()).c_str(),
               CodeText(status.code()));
  return 1;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "berth: %s\n", message.c_str());
  return 2;
}

void Table::Print(std::FILE* out, bool quiet) const {
  if (quiet) {
    for (size_t i = 1; i < rows_.size(); ++i) {
      if (!rows_[i].empty()) std::fprintf(out, "%s\n", rows_[i][0].c_str());
    }
    return;
  }
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::fprintf(out, "%s\n", line.c_str());
  }
}

std::string HumanSize(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string HumanAge(Time t) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - t)
                  .count();
  if (secs < 0) secs = 0;
  if (secs < 2) return "1 second ago";
  if (secs < 60) return fmt::format("{} seconds ago", secs);
  if (secs < 120) return "About a minute ago";
  if (secs < 3600) return fmt::format("{} minutes ago", secs / 60);
  if (secs < 7200) return "About an hour ago";
  if (secs < 48 * 3600) return fmt::format("{} hours ago", secs / 3600);
  return fmt::format("{} days ago", secs / 86400);
}

std::string FormatTime(Time t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ns / 1000000000);
  long nanos = static_cast<long>(ns % 1000000000);
  if (nanos < 0) {
    nanos += 1000000000;
    --secs;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09d}Z", buf, nanos);
}

std::string FormatLabels(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ",";
    out += k + "=" + v;
  }
  return out;
}

Labels ParseLabels(const std::vector<std::string>& args) {
  Labels out;
  for (const std::string& a : args) {
    size_t eq = a.find('=');
    if (eq == std::string::npos) {
      out[a] = "";
    } else {
      out[a.substr(0, eq)] = a.substr(eq + 1);
    }
  }
  return out;
}

void PrintJson(const nlohmann::json& j) { std::printf("%s\n", j.dump(4).c_str()); }

absl::StatusOr<int> ParseSignal(const std::string& s) {
  if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int n = std::atoi(s.c_str());
    if (n > 0 && n < 65) return n;
  }
  std::string name = s;
  std::transform(name.begin(), name.end(), name.begin(), ::toupper);
  if (name.compare(0, 3, "SIG") == 0) name = name.substr(3);
  static const std::pair<const char*, int> kSignals[] = {
      {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
      {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
      {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
      {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
      {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
      {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
      {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
      {"PWR", SIGPWR},       {"SYS", SIGSYS},
  };
  for (const auto& [n, v] : kSignals) {
    if (name == n) return v;
  }
  return absl::InvalidArgumentError(fmt::format("invalid signal {:?}", s));
}

}  // namespace berth::cli
