#include "tests/fault/fault_testing.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>

#include "lib/digest/digest.h"
#include "lib/status/status.h"
#include "lib/testing/http_get.h"
#include "lib/testing/wait_for.h"
#include "services/content/store.h"
#include "services/snapshot/snapshotter.h"

namespace berth::fault {

bool ProcessAlive(pid_t pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  // Plain read(2): the file can vanish under us (ESRCH), which a stream would throw for.
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return false;
  std::string stat(buf, static_cast<size_t>(n));
  // "pid (comm) S ...": the state follows the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return false;
  return stat[close + 2] != 'Z' && stat[close + 2] != 'X';
}

absl::StatusOr<pid_t> FaultSuite::Pid(const std::string& name) const {
  std::string text = client_testing::ReadFile(Path("run/" + name + ".pid"));
  pid_t pid = 0;
  try {
    pid = static_cast<pid_t>(std::stol(text));
  } catch (...) {
    return NotFoundError(fmt::format("pid of {}: no pid file", name));
  }
  if (!ProcessAlive(pid))
    return NotFoundError(fmt::format("pid of {}: {} is not running", name, pid));
  return pid;
}

absl::Status FaultSuite::KillAndWait(const std::string& name, int sig) {
  ASSIGN_OR_RETURN(pid_t pid, Pid(name));
  if (::kill(pid, sig) != 0) return ErrnoToStatus("kill", name, errno);
  if (!testing::WaitFor([&] { return !ProcessAlive(pid); }, std::chrono::seconds(30))) {
    return absl::DeadlineExceededError(
        fmt::format("kill {} (pid {}) with signal {}: still running", name, pid, sig));
  }
  return absl::OkStatus();
}

absl::Status FaultSuite::Kill9(const std::string& name) { return KillAndWait(name, SIGKILL); }
absl::Status FaultSuite::Terminate(const std::string& name) { return KillAndWait(name, SIGTERM); }

absl::StatusOr<int> FaultSuite::MetricsPort(const std::string& name) {
  const char* up = std::getenv("BERTH_SOURCE_DIR");
  std::string berth_up =
      std::string(up != nullptr && *up != '\0' ? up : BERTH_SOURCE_DIR_FALLBACK) +
      "/deploy/berth-up";
  client_testing::RunResult r = suite_.Run({berth_up, "status", root()});
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + " ", 0) != 0) continue;
    const std::string marker = "metrics http://127.0.0.1:";
    size_t at = line.find(marker);
    if (at == std::string::npos) break;
    return std::atoi(line.c_str() + at + marker.size());
  }
  return NotFoundError(
      fmt::format("metrics of {}: not in berth-up status:\n{}{}", name, r.out, r.err));
}

absl::StatusOr<double> FaultSuite::Metric(const std::string& name, const std::string& metric) {
  ASSIGN_OR_RETURN(int port, MetricsPort(name));
  ASSIGN_OR_RETURN(testing::HttpResponse reply, testing::HttpGet("127.0.0.1", port, "/metrics"));
  std::istringstream lines(reply.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(metric + " ", 0) == 0) return std::stod(line.substr(metric.size() + 1));
  }
  return NotFoundError(fmt::format("metric {} of {}: not served", metric, name));
}

std::vector<std::string> CorruptBlobs(const std::string& content_root, int* count) {
  std::vector<std::string> bad;
  const std::string dir = content_root + "/blobs/sha256";
  if (count != nullptr) *count = 0;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    bad.push_back(fmt::format("opendir {}: {}", dir, std::strerror(errno)));
    return bad;
  }
  std::vector<char> buf(1 << 20);
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (count != nullptr) ++*count;
    const std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      bad.push_back(fmt::format("open {}: {}", path, std::strerror(errno)));
      continue;
    }
    digest::Sha256 hasher;
    ssize_t n;
    while ((n = ::read(fd, buf.data(), buf.size())) > 0) hasher.Update(buf.data(), n);
    ::close(fd);
    if (n < 0) {
      bad.push_back(fmt::format("read {}", path));
      continue;
    }
    std::string got = hasher.Finish().ToString();
    if (got != "sha256:" + name) bad.push_back(fmt::format("{} hashes to {}", path, got));
  }
  ::closedir(d);
  return bad;
}

std::string PseudoRandomBytes(size_t size, uint64_t seed) {
  std::string out(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  for (size_t i = 0; i < size; i += 8) {
    // xorshift64*
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t v = x * 0x2545F4914F6CDD1Dull;
    std::memcpy(&out[i], &v, std::min<size_t>(8, size - i));
  }
  return out;
}

absl::Status WaitServing(const Client& client, std::chrono::milliseconds timeout) {
  absl::Status last;
  auto answers = [](const absl::Status& s) { return s.ok() || absl::IsNotFound(s); };
  bool ok = testing::WaitFor(
      [&] {
        last = client.Images().List().status();
        if (!answers(last)) return false;
        last = client.ListContainers().status();
        if (!answers(last)) return false;
        last = client.ContentStore().Walk(client.Context(), {},
                                          [](const content::Info&) { return absl::OkStatus(); });
        if (!answers(last)) return false;
        std::shared_ptr<snapshot::Snapshotter> sn = client.SnapshotService();
        last = sn->Stat(client.Context(), "fault-no-such-snapshot").status();
        return answers(last);
      },
      timeout);
  if (ok) return absl::OkStatus();
  return absl::DeadlineExceededError("backends not serving through the gateway: " +
                                     last.ToString());
}

absl::StatusOr<Envelope> NextWithin(EventStream& stream, std::chrono::milliseconds timeout) {
  std::future<absl::StatusOr<Envelope>> next =
      std::async(std::launch::async, [&stream] { return stream.Next(); });
  if (next.wait_for(timeout) == std::future_status::ready) return next.get();
  stream.Cancel();
  (void)next.get();
  return absl::DeadlineExceededError("no event within the timeout");
}

std::unique_ptr<Client> FaultSuite::NewClient(const std::string& ns) const {
  ClientOptions options;
  options.fifo_dir = Path("fifo");
  auto client = std::make_unique<Client>(socket(), options);
  *client = client->WithNamespace(ns);
  return client;
}

absl::StatusOr<Image> ImportArchive(const Client& client, const std::string& archive) {
  int fd = ::open(archive.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus("open", archive, errno);
  absl::StatusOr<std::vector<Image>> images = client.Import(fd, ImportOptions{});
  ::close(fd);
  if (!images.ok()) return images.status();
  if (images->size() != 1) return absl::InternalError("import " + archive + ": want one image");
  return (*images)[0];
}

}  // namespace berth::fault
