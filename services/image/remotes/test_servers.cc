#include "services/image/remotes/test_servers.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/testing/http_get.h"
#include "lib/testing/wait_for.h"

namespace berth::remotes::testing {
namespace {

int ListenLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0) {
    close(fd);
    return -1;
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 307:
      return "Temporary Redirect";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    default:
      return "Status";
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// TinyHttpServer

TinyHttpServer::TinyHttpServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ListenLoopback(&port_);
  if (listen_fd_ >= 0) thread_ = std::thread([this] { Serve(); });
}

TinyHttpServer::~TinyHttpServer() {
  stopping_ = true;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::vector<TinyRequest> TinyHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

void TinyHttpServer::Serve() {
  while (!stopping_) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;  // shut down
    }
    HandleConnection(fd);
    close(fd);
  }
}

void TinyHttpServer::HandleConnection(int fd) {
  std::string in;
  char buf[4096];
  while (in.find("\r\n\r\n") == std::string::npos && in.size() < (64 << 10)) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return;
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    in.append(buf, static_cast<std::size_t>(n));
  }
  TinyRequest req;
  std::istringstream lines(in.substr(0, in.find("\r\n\r\n")));
  std::string line;
  std::getline(lines, line);
  std::istringstream first(line);
  first >> req.method >> req.target;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    req.headers[name] = value;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(req);
  }
  TinyResponse resp = handler_(req);
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                                resp.status, ReasonPhrase(resp.status), resp.body.size());
  for (const auto& [k, v] : resp.headers) out += k + ": " + v + "\r\n";
  out += "\r\n";
  if (req.method != "HEAD") out += resp.body;
  SendAll(fd, out);
}

// ---------------------------------------------------------------------------------------------
// CuttingRelay

CuttingRelay::CuttingRelay(int target_port, std::int64_t cut_after)
    : target_port_(target_port), cut_after_(cut_after) {
  if (pipe2(stop_pipe_, O_CLOEXEC) != 0) return;
  listen_fd_ = ListenLoopback(&port_);
  if (listen_fd_ >= 0) thread_ = std::thread([this] { Accept(); });
}

CuttingRelay::~CuttingRelay() {
  stopping_ = true;
  if (stop_pipe_[1] >= 0) close(stop_pipe_[1]);  // wakes every pump's poll
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  std::vector<std::thread> pumps;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pumps.swap(pumps_);
  }
  for (std::thread& t : pumps) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  if (stop_pipe_[0] >= 0) close(stop_pipe_[0]);
}

void CuttingRelay::Accept() {
  while (!stopping_) {
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (errno == EINTR) continue;
      return;
    }
    ++connections_;
    std::lock_guard<std::mutex> lock(mu_);
    pumps_.emplace_back([this, client] { Pump(client); });
  }
}

void CuttingRelay::Pump(int client) {
  int server = ConnectLoopback(target_port_);
  if (server < 0) {
    close(client);
    return;
  }
  std::int64_t downstream = 0;
  char buf[16384];
  for (;;) {
    pollfd fds[3] = {{client, POLLIN, 0}, {server, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) break;
    if (fds[0].revents != 0) {
      ssize_t n = recv(client, buf, sizeof(buf), 0);
      if (n <= 0 || !SendAll(server, std::string_view(buf, static_cast<std::size_t>(n)))) break;
    }
    if (fds[1].revents != 0) {
      std::size_t want = sizeof(buf);
      bool cut = false;
      if (cuts_.load() == 0 && downstream + static_cast<std::int64_t>(want) > cut_after_) {
        want = static_cast<std::size_t>(cut_after_ - downstream);
        cut = true;
      }
      ssize_t n = want > 0 ? recv(server, buf, want, 0) : 0;
      if (n < 0 || (n == 0 && !cut)) break;
      if (!SendAll(client, std::string_view(buf, static_cast<std::size_t>(n)))) break;
      downstream += n;
      if (cut && downstream >= cut_after_) {
        int expected = 0;
        if (cuts_.compare_exchange_strong(expected, 1)) {
          // An abrupt close in the middle of a response: RST instead of FIN.
          linger lg{1, 0};
          setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
          break;
        }
      }
    }
  }
  close(server);
  close(client);
}

// ---------------------------------------------------------------------------------------------
// RegistryProcess

absl::StatusOr<std::unique_ptr<RegistryProcess>> RegistryProcess::Start(const std::string& config) {
  std::unique_ptr<RegistryProcess> r(new RegistryProcess());
  std::string path = r->dir_.Path("config.yml");
  {
    std::ofstream out(path);
    out << config;
    if (!out) return ErrnoToStatus("write", path, EIO);
  }
  berth::testing::ChildProcessOptions options;
  options.argv = {"/usr/bin/docker-registry", "serve", path};
  options.stdout_path = r->dir_.Path("registry.log");
  options.stderr_path = options.stdout_path;
  ASSIGN_OR_RETURN(berth::testing::ChildProcess child,
                   berth::testing::ChildProcess::Start(options));
  r->child_ = std::make_unique<berth::testing::ChildProcess>(std::move(child));
  bool up = berth::testing::WaitFor(
      [&] {
        std::string log = r->Logs();
        constexpr char kListening[] = "listening on 127.0.0.1:";
        std::size_t at = log.find(kListening);
        if (at != std::string::npos) {
          int port = 0;
          for (std::size_t i = at + sizeof(kListening) - 1;
               i < log.size() && std::isdigit(static_cast<unsigned char>(log[i])); ++i) {
            port = port * 10 + (log[i] - '0');
          }
          if (port > 0) {
            r->port_ = port;
            return true;
          }
        }
        return !r->child_->Running();
      },
      std::chrono::seconds(30));
  if (!up || r->port_ == 0) {
    return absl::InternalError("docker-registry did not start:\n" + r->Logs());
  }
  up = berth::testing::WaitFor(
      [&] {
        if (!r->child_->Running()) return true;
        return berth::testing::HttpGet("127.0.0.1", r->port_, "/v2/").ok();
      },
      std::chrono::seconds(30));
  if (!up || !r->child_->Running()) {
    return absl::InternalError("docker-registry does not answer:\n" + r->Logs());
  }
  return r;
}

RegistryProcess::~RegistryProcess() {
  if (child_ != nullptr && child_->Running()) (void)child_->Terminate(std::chrono::seconds(5));
}

std::string RegistryProcess::Logs() const { return ReadFile(dir_.Path("registry.log")); }

absl::Status Run(const std::vector<std::string>& argv) {
  berth::testing::TempDir dir("brun");
  berth::testing::ChildProcessOptions options;
  options.argv = argv;
  options.stderr_path = dir.Path("stderr");
  ASSIGN_OR_RETURN(berth::testing::ChildProcess child,
                   berth::testing::ChildProcess::Start(options));
  ASSIGN_OR_RETURN(int status, child.Wait(std::chrono::seconds(120)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(fmt::format("{} failed: {}", argv[0], child.ReadStderr()));
  }
  return absl::OkStatus();
}

int ClosedPort() {
  int port = 0;
  int fd = ListenLoopback(&port);
  if (fd >= 0) close(fd);
  return port;
}

}  // namespace berth::remotes::testing
