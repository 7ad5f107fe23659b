#include "tests/security/security_testing.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "lib/digest/digest.h"

namespace berth::security_testing {
namespace {

namespace content = containerd::services::content::v1;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool IsNumber(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::shared_ptr<grpc::Channel> Dial(const std::string& socket, int max_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_bytes);
  args.SetMaxSendMessageSize(max_bytes);
  return grpc::CreateCustomChannel("unix://" + socket, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& ns, std::chrono::seconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!ns.empty()) ctx->AddMetadata("containerd-namespace", ns);
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

absl::StatusOr<std::string> WriteBlob(content::Content::Stub& stub, const std::string& ns,
                                      const std::string& data,
                                      const std::map<std::string, std::string>& labels,
                                      const std::string& ref) {
  const std::string dgst = digest::FromBytes(data).ToString();
  auto ctx = Ctx(ns);
  auto stream = stub.Write(ctx.get());
  content::WriteContentRequest req;
  req.set_action(content::COMMIT);
  req.set_ref(ref.empty() ? "sec-" + dgst : ref);
  req.set_total(static_cast<int64_t>(data.size()));
  req.set_expected(dgst);
  req.set_data(data);
  (*req.mutable_labels())["containerd.io/gc.root"] = "security-test";
  for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
  if (!stream->Write(req)) {
    return FromGrpc(stream->Finish());
  }
  stream->WritesDone();
  content::WriteContentResponse resp;
  while (stream->Read(&resp)) {
  }
  absl::Status s = FromGrpc(stream->Finish());
  if (!s.ok() && !absl::IsAlreadyExists(s)) return s;
  return dgst;
}

std::vector<pid_t> SuitePids(const std::string& root) {
  std::set<pid_t> pids;
  for (const std::string& n : ListDir(root + "/run")) {
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".pid") == 0) {
      const int pid = std::atoi(Slurp(root + "/run/" + n).c_str());
      if (pid > 0 && access(("/proc/" + std::to_string(pid)).c_str(), F_OK) == 0) pids.insert(pid);
    }
  }
  for (const std::string& n : ListDir("/proc")) {
    if (!IsNumber(n)) continue;
    std::string cmdline = Slurp("/proc/" + n + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(root) != std::string::npos) pids.insert(std::atoi(n.c_str()));
  }
  pids.erase(getpid());
  // Helpers of the test itself (the crash watcher's `sh`) mention the root too; keep only
  // berth's and nats' processes.
  std::vector<pid_t> out;
  for (pid_t pid : pids) {
    const std::string comm = Slurp(fmt::format("/proc/{}/comm", pid));
    if (comm.rfind("berth", 0) == 0 || comm.rfind("nats", 0) == 0 || comm.rfind("runc", 0) == 0) {
      out.push_back(pid);
    }
  }
  return out;
}

std::set<ino_t> SocketInodes(pid_t pid) {
  std::set<ino_t> inodes;
  const std::string dir = fmt::format("/proc/{}/fd", pid);
  for (const std::string& n : ListDir(dir)) {
    char buf[256];
    const ssize_t len = readlink((dir + "/" + n).c_str(), buf, sizeof(buf) - 1);
    if (len <= 0) continue;
    const std::string target(buf, static_cast<size_t>(len));
    if (target.rfind("socket:[", 0) == 0) {
      inodes.insert(static_cast<ino_t>(std::strtoull(target.c_str() + 8, nullptr, 10)));
    }
  }
  return inodes;
}

std::vector<UnixSocketEntry> ReadProcNetUnix() {
  std::vector<UnixSocketEntry> out;
  std::istringstream in(Slurp("/proc/net/unix"));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    // Num RefCount Protocol Flags Type St Inode [Path]
    std::istringstream fields(line);
    std::string num, ref, proto, flags, type, st;
    unsigned long long inode = 0;
    fields >> num >> ref >> proto >> flags >> type >> st >> inode;
    UnixSocketEntry e;
    e.inode = static_cast<ino_t>(inode);
    std::string path;
    std::getline(fields, path);
    const size_t start = path.find_first_not_of(' ');
    e.path = start == std::string::npos ? "" : path.substr(start);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> AbstractSocketsOf(const std::vector<pid_t>& pids) {
  std::map<ino_t, std::string> abstract;
  for (const UnixSocketEntry& e : ReadProcNetUnix()) {
    if (!e.path.empty() && e.path[0] == '@') abstract[e.inode] = e.path;
  }
  std::vector<std::string> found;
  for (pid_t pid : pids) {
    std::string comm = Slurp(fmt::format("/proc/{}/comm", pid));
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    for (ino_t inode : SocketInodes(pid)) {
      auto it = abstract.find(inode);
      if (it != abstract.end()) found.push_back(fmt::format("{} ({}): {}", pid, comm, it->second));
    }
  }
  return found;
}

absl::StatusOr<std::unique_ptr<Listener>> Listener::Start() {
  std::unique_ptr<Listener> l(new Listener());
  l->fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l->fd_ < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(l->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(l->fd_, 64) != 0) {
    return absl::InternalError("bind/listen");
  }
  socklen_t len = sizeof(addr);
  getsockname(l->fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  l->port_ = ntohs(addr.sin_port);
  if (pipe2(l->wake_, O_CLOEXEC) != 0) return absl::InternalError("pipe");
  l->thread_ = std::thread([p = l.get()] { p->Loop(); });
  return l;
}

Listener::~Listener() {
  if (thread_.joinable()) {
    (void)!write(wake_[1], "x", 1);
    thread_.join();
  }
  for (int fd : {fd_, wake_[0], wake_[1]}) {
    if (fd >= 0) close(fd);
  }
}

void Listener::Serve(const std::string& path, const std::string& content_type, std::string body,
                     int64_t declared_length) {
  std::lock_guard<std::mutex> lock(mu_);
  routes_[path] = Route{content_type, std::move(body), declared_length};
}

std::string Listener::received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

void Listener::Loop() {
  while (true) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) return;
    const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    connections_++;
    // Read what the client sends for a short while (its request), then refuse it.
    std::string got;
    char buf[4096];
    pollfd cfd = {c, POLLIN, 0};
    while (got.size() < (64 << 10) && poll(&cfd, 1, 500) > 0) {
      const ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
      if (got.find("\r\n\r\n") != std::string::npos) break;
    }
    std::string reply = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    std::istringstream request(got);
    std::string method, path;
    request >> method >> path;
    const size_t query = path.find('?');
    if (query != std::string::npos) path.resize(query);
    {
      std::lock_guard<std::mutex> lock(mu_);
      received_ += got;
      auto route = routes_.find(path);
      if (path == "/v2/" || path == "/v2") {
        reply =
            "HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n"
            "\r\n{}";
      } else if (route != routes_.end()) {
        const Route& r = route->second;
        const int64_t length =
            r.declared_length >= 0 ? r.declared_length : static_cast<int64_t>(r.body.size());
        reply = fmt::format(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nDocker-Content-Digest: {}\r\n"
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            r.content_type, digest::FromBytes(r.body).ToString(), length);
        if (method == "GET") reply += r.body;
      }
    }
    for (size_t off = 0; off < reply.size();) {
      const ssize_t n = send(c, reply.data() + off, reply.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(c);
  }
}

long RssKiB(pid_t pid) {
  std::istringstream in(Slurp(fmt::format("/proc/{}/status", pid)));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::string TreeFingerprint(const std::string& dir) {
  std::string out;
  for (const std::string& n : ListDir(dir)) {
    const std::string p = dir + "/" + n;
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) continue;
    out += fmt::format("{} mode={:o} uid={} gid={} nlink={} size={}", p, st.st_mode, st.st_uid,
                       st.st_gid, st.st_nlink, st.st_size);
    if (S_ISREG(st.st_mode)) out += " data=" + Slurp(p);
    out += "\n";
    if (S_ISDIR(st.st_mode)) out += TreeFingerprint(p);
  }
  return out;
}

}  // namespace berth::security_testing
