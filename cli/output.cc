// Output helpers of the berth command: tables, progress, sizes, ages, labels, errors, signals.
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <utility>

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

ProgressPrinter::ProgressPrinter(std::FILE* out, bool tty, bool quiet)
    : out_(out),
      tty_(tty),
      quiet_(quiet),
      start_(std::chrono::steady_clock::now()),
      drawn_at_(start_) {}

int64_t ProgressPrinter::bytes() const {
  int64_t sum = 0;
  for (const Blob& b : blobs_) sum += std::max(b.total, b.offset);
  return sum;
}

void ProgressPrinter::Line(const std::string& kind, const Fields& fields) {
  std::string line = kind;
  for (const auto& [k, v] : fields) {
    if (v.empty()) continue;
    line += tty_ ? fmt::format(" {}", v) : fmt::format(" {}={}", k, v);
  }
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void ProgressPrinter::Note(const std::string& kind, const Fields& fields) {
  if (quiet_) return;
  Line(kind, fields);
  drawn_ = 0;  // The bars, if any, are drawn anew below the line.
}

void ProgressPrinter::Update(const Step& step) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  bool changed = false;
  if (!step.key.empty()) {
    auto it = std::find_if(blobs_.begin(), blobs_.end(),
                           [&](const Blob& b) { return b.key == step.key; });
    if (it == blobs_.end()) {
      Blob b;
      b.key = step.key;
      b.first = now;
      b.last = now;
      blobs_.push_back(b);
      it = blobs_.end() - 1;
      changed = true;
    }
    if (!step.role.empty()) it->role = step.role;
    if (!step.label.empty()) it->label = step.label;
    if (step.total > 0) it->total = step.total;
    if (step.moving && step.offset != it->offset) {
      it->offset = step.offset;
      it->last = now;
    }
    if (step.complete) {
      if (it->total > 0 && it->offset != it->total) {
        it->offset = it->total;
        it->last = now;
      }
      if (it->offset == 0) it->last = it->first;  // nothing moved: no speed
    }
    changed = changed || it->state != step.kind;
    it->state = step.kind;
  }
  if (tty_) {
    if (!step.key.empty()) Redraw(changed);
    return;
  }
  if (step.moving && !step.key.empty()) {
    // At most one line per blob per 10% (and the last one).
    int64_t& last = printed_[step.key];
    if (step.total > 0 && step.offset < step.total && step.offset - last < step.total / 10) {
      return;
    }
    last = step.offset;
  }
  Line(step.kind, step.fields);
}

void ProgressPrinter::Summary() {
  if (quiet_) return;
  if (tty_) {
    Redraw(/*force=*/true);
    return;
  }
  Line("total", {{"blobs", std::to_string(blobs())}, {"bytes", std::to_string(bytes())}});
}

void ProgressPrinter::Redraw(bool force) {
  const auto now = std::chrono::steady_clock::now();
  // Byte counts come often: redraw them ten times a second; a new state at once.
  if (!force && drawn_ > 0 && now - drawn_at_ < std::chrono::milliseconds(100)) return;
  drawn_at_ = now;
  auto speed = [](int64_t bytes, std::chrono::steady_clock::duration d) -> std::string {
    const double secs = std::chrono::duration<double>(d).count();
    if (bytes <= 0 || secs <= 0) return "-";
    return HumanSize(static_cast<int64_t>(static_cast<double>(bytes) / secs)) + "/s";
  };
  std::string out;
  if (drawn_ > 0) out += fmt::format("\x1b[{}A", drawn_);
  int64_t done = 0, total = 0;
  for (const Blob& b : blobs_) {
    done += b.offset;
    total += std::max(b.total, b.offset);
    const int width = 30;
    int filled = b.total > 0 ? static_cast<int>(width * b.offset / b.total) : 0;
    filled = std::clamp(filled, 0, width);
    const std::string& label = b.label.empty() ? b.key : b.label;
    out +=
        fmt::format("\x1b[2K{:<8} {:<19.19} [{}{}] {:>10}/{:<10} {:>12} {}\n", b.role, label,
                    std::string(filled, '='), std::string(width - filled, ' '), HumanSize(b.offset),
                    HumanSize(b.total), speed(b.offset, b.last - b.first), b.state);
  }
  const auto elapsed = now - start_;
  out +=
      fmt::format("\x1b[2Ktotal    {:>10}/{:<10} {:.1f}s {}\n", HumanSize(done), HumanSize(total),
                  std::chrono::duration<double>(elapsed).count(), speed(done, elapsed));
  drawn_ = static_cast<int>(blobs_.size()) + 1;
  std::fputs(out.c_str(), out_);
  std::fflush(out_);
}

namespace {

// The bar's label for a digest: its hex (the algorithm is always sha256 here).
std::string DigestLabel(const std::string& dgst) {
  const size_t colon = dgst.find(':');
  return colon == std::string::npos ? dgst : dgst.substr(colon + 1);
}

}  // namespace

void PrintPullProgress(ProgressPrinter& printer, const PullProgress& p) {
  ProgressPrinter::Fields fields = {{"ref", p.ref}, {"role", p.role}, {"digest", p.digest}};
  if (p.kind == PullProgress::Kind::kDownloading || p.total > 0) {
    fields.push_back({"offset", std::to_string(p.offset)});
    fields.push_back({"total", std::to_string(p.total)});
  }
  fields.push_back({"snapshot", p.snapshot});
  fields.push_back({"image", p.image});
  if (p.kind == PullProgress::Kind::kResolving) {
    printer.Note(PullProgressKindName(p.kind), fields);
    return;
  }
  ProgressPrinter::Step step;
  step.kind = PullProgressKindName(p.kind);
  step.key = p.digest;
  step.role = p.role;
  step.label = DigestLabel(p.digest);
  step.offset = p.offset;
  step.total = p.total;
  step.moving = p.kind == PullProgress::Kind::kDownloading;
  step.complete = p.kind == PullProgress::Kind::kDone || p.kind == PullProgress::Kind::kExists ||
                  p.kind == PullProgress::Kind::kUnpacked;
  step.fields = std::move(fields);
  printer.Update(step);
}

void PrintArchiveProgress(ProgressPrinter& printer, const ArchiveProgress& p) {
  ProgressPrinter::Step step;
  step.kind = ArchiveProgressKindName(p.kind);
  step.key = p.path;
  step.role = p.role;
  step.label = p.digest.empty() ? p.path : DigestLabel(p.digest);
  step.offset = p.offset;
  step.total = p.total;
  step.moving = p.kind == ArchiveProgress::Kind::kCopying;
  step.complete =
      p.kind == ArchiveProgress::Kind::kDone || p.kind == ArchiveProgress::Kind::kExists;
  step.fields = {{"role", p.role},
                 {"digest", p.digest},
                 {"path", p.path},
                 {"offset", std::to_string(p.offset)},
                 {"total", std::to_string(p.total)}};
  printer.Update(step);
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
