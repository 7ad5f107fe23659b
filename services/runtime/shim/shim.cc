#include "services/runtime/shim/shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace berth::shim {
namespace {

int64_t NowUnixNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void Log(const char* level, const std::string& message) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  std::fprintf(stderr, "%s.%06ldZ %s shim[%d]: %s\n", when, ts.tv_nsec / 1000, level, getpid(),
               message.c_str());
  std::fflush(stderr);
}

// Writes `data` to `path` atomically (temp file + rename). 0 or errno.
int WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return errno;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      unlink(tmp.c_str());
      return e;
    }
    off += static_cast<size_t>(n);
  }
  if (close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    return e;
  }
  return 0;
}

std::string ProcessName(const std::string& exec_id) {
  return exec_id.empty() ? "init" : "exec-" + exec_id;
}

const char* StatusName(v1::Status s) {
  switch (s) {
    case v1::CREATED:
      return "created";
    case v1::RUNNING:
      return "running";
    case v1::STOPPED:
      return "stopped";
    case v1::PAUSED:
      return "paused";
    case v1::PAUSING:
      return "pausing";
    default:
      return "unknown";
  }
}

// Exec ids come from berth-runtime (validated identifiers); refuse anything that could
// escape the bundle when used in a file name.
bool SafeExecId(const std::string& id) {
  if (id.empty() || id.size() > 76) return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-')) {
      return false;
    }
  }
  return id != "." && id != "..";
}

// The value of `key` in a "key value" lines file; 0 when absent.
uint64_t ReadKey(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string k;
  uint64_t v;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

// The memory cgroup directory of `pid` and whether it is cgroup v2, from /proc/<pid>/cgroup
// and /proc/self/mountinfo. "" when none is found.
std::string MemoryCgroup(pid_t pid, bool* v2) {
  std::ifstream cg("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line, v1_path, unified_path;
  bool have_unified = false;
  while (std::getline(cg, line)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",";
    if (controllers.find(",memory,") != std::string::npos) v1_path = line.substr(b + 1);
    if (b == a + 1) {
      unified_path = line.substr(b + 1);
      have_unified = true;
    }
  }
  std::ifstream mi("/proc/self/mountinfo");
  std::string v1_dir, v2_dir;
  while (std::getline(mi, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, dev, root, point, fstype, source, super;
    if (!(pre >> id >> parent >> dev >> root >> point) || !(post >> fstype >> source >> super)) {
      continue;
    }
    auto rel = [&](const std::string& path) {
      if (root != "/" && path.compare(0, root.size(), root) == 0) return path.substr(root.size());
      return path;
    };
    if (fstype == "cgroup" && ("," + super + ",").find(",memory,") != std::string::npos &&
        !v1_path.empty() && v1_dir.empty()) {
      v1_dir = point + rel(v1_path);
    }
    if (fstype == "cgroup2" && have_unified && v2_dir.empty()) v2_dir = point + rel(unified_path);
  }
  if (!v1_dir.empty()) {
    *v2 = false;
    return v1_dir;
  }
  *v2 = true;
  // A v2 hierarchy without the memory controller has no memory.events.
  if (!v2_dir.empty() && access((v2_dir + "/memory.events").c_str(), F_OK) == 0) return v2_dir;
  return "";
}

}  // namespace

Shim::Shim(ShimOptions options) : options_(std::move(options)), runtime_(options_.runtime) {}

Shim::~Shim() {
  for (auto& c : conns_) {
    if (c->fd >= 0) close(c->fd);
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  if (signal_fd_ >= 0) close(signal_fd_);
  if (oom_fd_ >= 0) close(oom_fd_);
}

void Shim::WatchOom(pid_t pid) {
  bool v2 = false;
  std::string dir = MemoryCgroup(pid, &v2);
  if (dir.empty()) {
    Log("info", "no memory cgroup found: OOM kills will not be reported");
    return;
  }
  if (v2) {
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return;
    std::string file = dir + "/memory.events";
    if (inotify_add_watch(fd, file.c_str(), IN_MODIFY) < 0) {
      close(fd);
      return;
    }
    oom_fd_ = fd;
    oom_file_ = file;
  } else {
    std::string file = dir + "/memory.oom_control";
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int ofd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    int cfd = open((dir + "/cgroup.event_control").c_str(), O_WRONLY | O_CLOEXEC);
    bool ok = efd >= 0 && ofd >= 0 && cfd >= 0;
    if (ok) {
      std::string reg = std::to_string(efd) + " " + std::to_string(ofd);
      ok = write(cfd, reg.data(), reg.size()) == static_cast<ssize_t>(reg.size());
    }
    if (ofd >= 0) close(ofd);
    if (cfd >= 0) close(cfd);
    if (!ok) {
      Log("warn", "cannot watch for OOM kills file=\"" + file + "\": " + strerror(errno));
      if (efd >= 0) close(efd);
      return;
    }
    oom_fd_ = efd;
    oom_file_ = file;
  }
  oom_dir_ = dir;
  oom_kills_ = ReadKey(oom_file_, "oom") + ReadKey(oom_file_, "oom_kill");
  Log("info", "watching for OOM kills file=\"" + oom_file_ + "\"");
}

void Shim::OnOomReadable() {
  char buf[4096];
  while (read(oom_fd_, buf, sizeof buf) > 0) {
  }
  if (access(oom_dir_.c_str(), F_OK) != 0) {
    // The cgroup is gone (v1 signals its removal through the same eventfd).
    close(oom_fd_);
    oom_fd_ = -1;
    return;
  }
  // v1 signals the eventfd when the cgroup hits OOM, before the kill is counted: every
  // signal is an OOM (containerd does the same). v2's memory.events changes for other reasons
  // too: only a grown oom/oom_kill count is one.
  bool v2 =
      oom_file_.size() >= 13 && oom_file_.compare(oom_file_.size() - 13, 13, "memory.events") == 0;
  if (v2) {
    uint64_t count = ReadKey(oom_file_, "oom") + ReadKey(oom_file_, "oom_kill");
    if (count <= oom_kills_) return;
    oom_kills_ = count;
  }
  Log("warn", "out of memory in the container's memory cgroup");
  v1::Event event;
  event.mutable_oom();
  QueueEvent(std::move(event));
}

Result Shim::Listen() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return ErrnoResult("sigprocmask", "", errno);
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) return ErrnoResult("signalfd", "", errno);

  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (options_.socket.empty() || options_.socket[0] != '/' ||
      options_.socket.size() >= sizeof addr.sun_path) {
    return Result::Error(kInvalidArgument, "listen \"" + options_.socket +
                                               "\": not an absolute path that fits " +
                                               "a unix socket address");
  }
  std::memcpy(addr.sun_path, options_.socket.c_str(), options_.socket.size() + 1);
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) return ErrnoResult("socket", options_.socket, errno);
  unlink(options_.socket.c_str());
  mode_t old = umask(0177);
  int rc = bind(listen_fd_, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr);
  int err = errno;
  umask(old);
  if (rc != 0) return ErrnoResult("bind", options_.socket, err);
  if (listen(listen_fd_, 64) != 0) return ErrnoResult("listen", options_.socket, errno);
  return Result::Ok();
}

int Shim::Run() {
  Log("info", "serving id=\"" + options_.id + "\" namespace=\"" + options_.ns + "\" runtime=\"" +
                  options_.runtime.binary + "\"");
  std::vector<struct pollfd> fds;
  for (;;) {
    if (exiting_) {
      bool pending = false;
      for (auto& c : conns_) pending = pending || (!c->closed && !c->out.empty());
      if (!pending) break;
    }
    fds.clear();
    fds.push_back({signal_fd_, POLLIN, 0});
    fds.push_back({exiting_ ? -1 : listen_fd_, POLLIN, 0});
    fds.push_back({oom_fd_, POLLIN, 0});
    for (auto& c : conns_) {
      c->index = static_cast<int>(fds.size());
      short events = exiting_ ? 0 : POLLIN;
      if (!c->out.empty()) events |= POLLOUT;
      fds.push_back({c->fd, events, 0});
    }
    for (Process* p : {init_.get()}) {
      if (p != nullptr && p->io != nullptr) p->io->AddPollFds(&fds);
    }
    for (auto& [id, p] : execs_) {
      if (p->io != nullptr) p->io->AddPollFds(&fds);
    }
    int n = poll(fds.data(), fds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      Log("error", std::string("poll: ") + strerror(errno));
      return 1;
    }
    // Stdio first: requests handled below may delete the processes these fds belong to.
    if (init_ != nullptr && init_->io != nullptr) init_->io->HandlePoll(fds);
    for (auto& [id, p] : execs_) {
      if (p->io != nullptr) p->io->HandlePoll(fds);
    }
    // An OOM kill is reported before the exit it causes, as containerd does.
    if (oom_fd_ >= 0 && fds[2].revents != 0) OnOomReadable();
    if (fds[0].revents != 0) {
      struct signalfd_siginfo info;
      while (read(signal_fd_, &info, sizeof info) == sizeof info) {
      }
      ReapChildren();
    }
    // Connections present when the poll set was built (Accept below appends).
    size_t count = conns_.size();
    for (size_t i = 0; i < count; ++i) {
      Conn* c = conns_[i].get();
      if (c->closed || c->index < 0) continue;
      short revents = fds[c->index].revents;
      if (revents & POLLOUT) Flush(c);
      if (!c->closed && (revents & (POLLIN | POLLHUP | POLLERR))) ReadFrom(c);
    }
    if (fds[1].revents & POLLIN) Accept();
    for (auto it = conns_.begin(); it != conns_.end();) {
      if ((*it)->closed) {
        if ((*it).get() == subscriber_) subscriber_ = nullptr;
        if ((*it)->fd >= 0) close((*it)->fd);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  unlink(options_.socket.c_str());
  Log("info", "shutting down id=\"" + options_.id + "\"");
  return 0;
}

void Shim::Accept() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    conns_.push_back(std::move(c));
  }
}

void Shim::ReadFrom(Conn* c) {
  char buf[16 << 10];
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n <= 0) {
      c->closed = true;
      return;
    }
    c->in.Feed(buf, static_cast<size_t>(n));
  }
  std::string payload;
  for (;;) {
    int got = c->in.Next(&payload);
    if (got < 0) {
      Log("warn", "closing a connection that sent an oversized frame");
      c->closed = true;
      return;
    }
    if (got == 0) break;
    v1::Request req;
    if (!req.ParseFromString(payload)) {
      v1::Response resp;
      resp.set_code(kInvalidArgument);
      resp.set_message("shim: malformed request");
      SendTo(c, resp.SerializeAsString());
      continue;
    }
    Handle(c, req);
    if (c->closed) return;
  }
}

void Shim::SendTo(Conn* c, const std::string& payload) {
  if (c->closed) return;
  AppendFrame(payload, &c->out);
  if (c->out.size() > (16u << 20)) {
    Log("warn", "closing a connection that does not read its replies");
    c->closed = true;
    return;
  }
  Flush(c);
}

void Shim::Flush(Conn* c) {
  while (!c->out.empty()) {
    ssize_t n = send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      c->closed = true;
      return;
    }
    c->out.erase(0, static_cast<size_t>(n));
  }
}

void Shim::Handle(Conn* c, const v1::Request& req) {
  v1::Response resp;
  Result r;
  switch (req.kind_case()) {
    case v1::Request::kConnect: {
      v1::ConnectResponse* out = resp.mutable_connect();
      out->set_shim_pid(static_cast<uint32_t>(getpid()));
      out->set_task_pid(init_ != nullptr ? static_cast<uint32_t>(init_->pid) : 0);
      out->set_version(kShimVersion);
      out->set_runtime_binary(options_.runtime.binary);
      break;
    }
    case v1::Request::kCreate:
      r = DoCreate(req.create(), &resp);
      break;
    case v1::Request::kStart:
      r = DoStart(req.start(), &resp);
      break;
    case v1::Request::kKill:
      r = DoKill(req.kill());
      break;
    case v1::Request::kExec:
      r = DoExec(req.exec());
      break;
    case v1::Request::kResizePty:
      r = DoResize(req.resize_pty());
      break;
    case v1::Request::kCloseIo:
      r = DoCloseIo(req.close_io());
      break;
    case v1::Request::kPause:
      r = DoPause(true);
      break;
    case v1::Request::kResume:
      r = DoPause(false);
      break;
    case v1::Request::kPids:
      r = DoPids(&resp);
      break;
    case v1::Request::kUpdate:
      r = DoUpdate(req.update());
      break;
    case v1::Request::kState:
      r = DoState(req.state(), &resp);
      break;
    case v1::Request::kDelete:
      r = DoDelete(req.delete_(), &resp);
      break;
    case v1::Request::kShutdown:
      r = DoShutdown(req.shutdown());
      break;
    case v1::Request::kSubscribe:
      Subscribe(c);
      return;
    case v1::Request::kAck: {
      for (auto it = unacked_.begin(); it != unacked_.end(); ++it) {
        if (it->first == req.ack().seq()) {
          unacked_.erase(it);
          break;
        }
      }
      return;  // Acks get no reply.
    }
    default:
      r = Result::Error(kUnimplemented, "shim: unknown request");
  }
  if (!r.ok()) {
    resp.Clear();
    resp.set_code(r.code);
    resp.set_message(r.message);
  }
  SendTo(c, resp.SerializeAsString());
}

void Shim::Subscribe(Conn* c) {
  if (subscriber_ != nullptr && subscriber_ != c) subscriber_->closed = true;
  subscriber_ = c;
  for (const auto& [seq, payload] : unacked_) SendTo(c, payload);
}

void Shim::QueueEvent(v1::Event event) {
  event.set_seq(next_seq_++);
  std::string payload = event.SerializeAsString();
  unacked_.emplace_back(event.seq(), payload);
  if (subscriber_ != nullptr) SendTo(subscriber_, payload);
}

Shim::Process* Shim::Find(const std::string& exec_id) {
  if (exec_id.empty()) return init_deleted_ ? nullptr : init_.get();
  auto it = execs_.find(exec_id);
  return it == execs_.end() ? nullptr : it->second.get();
}

Result Shim::FindOrError(const std::string& exec_id, Process** process) {
  *process = Find(exec_id);
  if (*process != nullptr) return Result::Ok();
  if (exec_id.empty()) {
    return Result::Error(kNotFound, "task \"" + options_.id + "\": not found");
  }
  return Result::Error(kNotFound,
                       "process \"" + exec_id + "\" of task \"" + options_.id + "\": not found");
}

void Shim::FillState(const Process& p, v1::ProcessState* s) const {
  s->set_exec_id(p.exec_id);
  s->set_pid(static_cast<uint32_t>(p.pid));
  s->set_status(p.status);
  *s->mutable_stdio() = p.stdio;
  s->set_exit_status(p.exit_status);
  s->set_exited_at_unix_nanos(p.exited_at);
}

std::string Shim::NextConsoleSocket() {
  return options_.socket + ".c" + std::to_string(++console_counter_);
}

Result Shim::DoCreate(const v1::CreateRequest& req, v1::Response* resp) {
  if (init_ != nullptr) {
    return Result::Error(kFailedPrecondition, "create \"" + options_.id + "\": already created");
  }
  const v1::Stdio& s = req.stdio();
  std::unique_ptr<ProcessIo> io;
  Result r = ProcessIo::Open(s.stdin(), s.stdout(), s.stderr(), s.terminal(),
                             s.terminal() ? NextConsoleSocket() : "", &io);
  if (!r.ok()) return r;
  pid_t pid = 0;
  int master = -1;
  r = runtime_.Create(io->stdio(), req.no_pivot_root(), req.no_new_keyring(), &pid, &master);
  if (!r.ok()) {
    Log("error", r.message);
    return r;
  }
  io->Started(master);
  WatchOom(pid);
  init_ = std::make_unique<Process>();
  init_->pid = pid;
  init_->status = v1::CREATED;
  init_->stdio = s;
  init_->io = std::move(io);
  resp->mutable_create()->set_pid(static_cast<uint32_t>(pid));
  Log("info", "created pid=" + std::to_string(pid));
  return Result::Ok();
}

Result Shim::DoStart(const v1::StartRequest& req, v1::Response* resp) {
  Process* p;
  if (Result r = FindOrError(req.exec_id(), &p); !r.ok()) return r;
  if (p->status != v1::CREATED) {
    return Result::Error(kFailedPrecondition, "start \"" + ProcessName(p->exec_id) + "\" of \"" +
                                                  options_.id + "\": process is " +
                                                  StatusName(p->status));
  }
  if (p->exec_id.empty()) {
    if (Result r = runtime_.Start(); !r.ok()) return r;
    if (p->status == v1::CREATED) p->status = v1::RUNNING;
  } else {
    if (init_ == nullptr || init_->status != v1::RUNNING) {
      return Result::Error(kFailedPrecondition, "start exec \"" + p->exec_id + "\": task \"" +
                                                    options_.id + "\" is not running");
    }
    const v1::Stdio& s = p->stdio;
    std::unique_ptr<ProcessIo> io;
    Result r = ProcessIo::Open(s.stdin(), s.stdout(), s.stderr(), s.terminal(),
                               s.terminal() ? NextConsoleSocket() : "", &io);
    if (!r.ok()) return r;
    std::string base = options_.bundle + "/" + ProcessName(p->exec_id);
    std::string spec_file = base + ".json";
    if (int err = WriteFileAtomic(spec_file, p->spec, 0600); err != 0) {
      return ErrnoResult("write exec spec", spec_file, err);
    }
    pid_t pid = 0;
    int master = -1;
    r = runtime_.Exec(spec_file, base + ".pid", io->stdio(), &pid, &master);
    unlink(spec_file.c_str());
    unlink((base + ".pid").c_str());
    if (!r.ok()) {
      Log("error", r.message);
      return r;
    }
    io->Started(master);
    p->io = std::move(io);
    p->pid = pid;
    p->status = v1::RUNNING;
  }
  resp->mutable_start()->set_pid(static_cast<uint32_t>(p->pid));
  return Result::Ok();
}

Result Shim::DoKill(const v1::KillRequest& req) {
  Process* p;
  if (Result r = FindOrError(req.exec_id(), &p); !r.ok()) return r;
  if (p->status == v1::STOPPED) {
    return Result::Error(kNotFound, "kill \"" + ProcessName(p->exec_id) + "\" of \"" + options_.id +
                                        "\": process already finished");
  }
  int sig = static_cast<int>(req.signal());
  if (sig <= 0 || sig >= 65) {
    return Result::Error(kInvalidArgument, "kill: invalid signal " + std::to_string(sig));
  }
  if (p->exec_id.empty()) return runtime_.Kill(sig, req.all());
  if (p->status == v1::CREATED || p->pid <= 0) {
    return Result::Error(kFailedPrecondition,
                         "kill exec \"" + p->exec_id + "\": process is not started");
  }
  if (kill(p->pid, sig) != 0) {
    if (errno == ESRCH) {
      return Result::Error(kNotFound, "kill exec \"" + p->exec_id + "\": process already finished");
    }
    return ErrnoResult("kill exec", p->exec_id, errno);
  }
  return Result::Ok();
}

Result Shim::DoExec(const v1::ExecRequest& req) {
  if (!SafeExecId(req.exec_id())) {
    return Result::Error(kInvalidArgument, "exec \"" + req.exec_id() + "\": invalid exec id");
  }
  if (execs_.count(req.exec_id()) != 0) {
    return Result::Error(kAlreadyExists, "exec \"" + req.exec_id() + "\": already exists");
  }
  if (init_ == nullptr || init_deleted_ ||
      (init_->status != v1::RUNNING && init_->status != v1::PAUSED)) {
    return Result::Error(kFailedPrecondition, "exec \"" + req.exec_id() + "\": task \"" +
                                                  options_.id + "\" is not running");
  }
  auto p = std::make_unique<Process>();
  p->exec_id = req.exec_id();
  p->stdio = req.stdio();
  p->spec = req.spec();
  execs_[req.exec_id()] = std::move(p);
  return Result::Ok();
}

Result Shim::DoResize(const v1::ResizePtyRequest& req) {
  Process* p;
  if (Result r = FindOrError(req.exec_id(), &p); !r.ok()) return r;
  if (p->io == nullptr) {
    return Result::Error(kFailedPrecondition, "resize pty: process is not started");
  }
  return p->io->Resize(req.width(), req.height());
}

Result Shim::DoCloseIo(const v1::CloseIORequest& req) {
  Process* p;
  if (Result r = FindOrError(req.exec_id(), &p); !r.ok()) return r;
  if (req.stdin() && p->io != nullptr) p->io->CloseStdin();
  return Result::Ok();
}

Result Shim::DoPause(bool pause) {
  Process* p;
  if (Result r = FindOrError("", &p); !r.ok()) return r;
  if (pause) {
    if (p->status != v1::RUNNING) {
      return Result::Error(kFailedPrecondition,
                           "pause \"" + options_.id + "\": task is " + StatusName(p->status));
    }
    p->status = v1::PAUSING;
    Result r = runtime_.Pause();
    if (p->status == v1::PAUSING) p->status = r.ok() ? v1::PAUSED : v1::RUNNING;
    return r;
  }
  if (p->status != v1::PAUSED) {
    return Result::Error(kFailedPrecondition,
                         "resume \"" + options_.id + "\": task is " + StatusName(p->status));
  }
  Result r = runtime_.Resume();
  if (r.ok() && p->status == v1::PAUSED) p->status = v1::RUNNING;
  return r;
}

Result Shim::DoPids(v1::Response* resp) {
  Process* p;
  if (Result r = FindOrError("", &p); !r.ok()) return r;
  std::vector<pid_t> pids;
  if (p->status != v1::STOPPED) {
    if (Result r = runtime_.Ps(&pids); !r.ok()) return r;
  }
  v1::PidsResponse* out = resp->mutable_pids();
  for (pid_t pid : pids) {
    v1::PidInfo* info = out->add_processes();
    info->set_pid(static_cast<uint32_t>(pid));
    for (auto& [id, e] : execs_) {
      if (e->pid == pid && e->status != v1::STOPPED) info->set_exec_id(id);
    }
  }
  return Result::Ok();
}

Result Shim::DoUpdate(const v1::UpdateRequest& req) {
  Process* p;
  if (Result r = FindOrError("", &p); !r.ok()) return r;
  if (p->status == v1::STOPPED) {
    return Result::Error(kFailedPrecondition, "update \"" + options_.id + "\": task is stopped");
  }
  std::string file = options_.bundle + "/resources.json";
  if (int err = WriteFileAtomic(file, req.resources(), 0600); err != 0) {
    return ErrnoResult("write resources", file, err);
  }
  Result r = runtime_.Update(file);
  unlink(file.c_str());
  return r;
}

Result Shim::DoState(const v1::StateRequest& req, v1::Response* resp) {
  v1::StateResponse* out = resp->mutable_state();
  if (req.all()) {
    if (Process* p = Find(""); p != nullptr) FillState(*p, out->add_processes());
    for (auto& [id, e] : execs_) FillState(*e, out->add_processes());
    return Result::Ok();
  }
  Process* p;
  if (Result r = FindOrError(req.exec_id(), &p); !r.ok()) return r;
  FillState(*p, out->add_processes());
  return Result::Ok();
}

Result Shim::DoDelete(const v1::DeleteRequest& req, v1::Response* resp) {
  Process* p;
  if (Result r = FindOrError(req.exec_id(), &p); !r.ok()) return r;
  if (p->status == v1::RUNNING || p->status == v1::PAUSED || p->status == v1::PAUSING) {
    return Result::Error(kFailedPrecondition, "delete \"" + ProcessName(p->exec_id) + "\" of \"" +
                                                  options_.id + "\": process is " +
                                                  StatusName(p->status));
  }
  if (!p->exec_id.empty()) {
    FillState(*p, resp->mutable_delete_()->mutable_process());
    execs_.erase(p->exec_id);
    return Result::Ok();
  }
  // The init process: a created one is killed by `delete --force`; reap it so its exit is
  // recorded (and reported) like any other.
  bool created = p->status == v1::CREATED;
  Result r = runtime_.Delete(/*force=*/true);
  if (!r.ok() && r.message.find("does not exist") == std::string::npos &&
      r.message.find("not exist") == std::string::npos) {
    return r;
  }
  if (created && p->pid > 0) ReapUntil(p->pid, 10000);
  FillState(*p, resp->mutable_delete_()->mutable_process());
  p->io.reset();
  execs_.clear();
  init_deleted_ = true;
  Log("info", "deleted exit_status=" + std::to_string(p->exit_status));
  return Result::Ok();
}

Result Shim::DoShutdown(const v1::ShutdownRequest& req) {
  if (init_ != nullptr && !init_deleted_ && !req.now()) {
    return Result::Error(kFailedPrecondition,
                         "shutdown \"" + options_.id + "\": the task is not deleted");
  }
  if (req.now() && init_ != nullptr && !init_deleted_ && init_->status != v1::STOPPED) {
    runtime_.Delete(/*force=*/true);
  }
  exiting_ = true;
  return Result::Ok();
}

void Shim::ReapChildren() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    OnExit(pid, status);
  }
}

void Shim::ReapUntil(pid_t pid, int timeout_ms) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    struct pollfd p = {pidfd, POLLIN, 0};
    while (poll(&p, 1, timeout_ms) < 0 && errno == EINTR) {
    }
    close(pidfd);
  }
  ReapChildren();
}

void Shim::OnExit(pid_t pid, int wait_status) {
  Process* p = nullptr;
  if (init_ != nullptr && !init_deleted_ && init_->pid == pid && init_->status != v1::STOPPED) {
    p = init_.get();
  } else {
    for (auto& [id, e] : execs_) {
      if (e->pid == pid && e->status != v1::STOPPED) p = e.get();
    }
  }
  if (p == nullptr) return;  // A runtime helper or an orphan of the container.
  p->exit_status = WIFEXITED(wait_status) ? static_cast<uint32_t>(WEXITSTATUS(wait_status))
                                          : 128u + static_cast<uint32_t>(WTERMSIG(wait_status));
  p->exited_at = NowUnixNanos();
  p->status = v1::STOPPED;
  std::string file = options_.bundle + "/" + ProcessName(p->exec_id) + ".exit";
  std::string record = std::to_string(p->exit_status) + " " + std::to_string(p->exited_at) + " " +
                       std::to_string(pid) + "\n";
  if (int err = WriteFileAtomic(file, record, 0600); err != 0) {
    Log("error", "write exit status \"" + file + "\": " + strerror(err));
  }
  Log("info", ProcessName(p->exec_id) + " exited pid=" + std::to_string(pid) +
                  " status=" + std::to_string(p->exit_status));
  v1::Event event;
  v1::ExitEvent* exit = event.mutable_exit();
  exit->set_exec_id(p->exec_id);
  exit->set_pid(static_cast<uint32_t>(pid));
  exit->set_exit_status(p->exit_status);
  exit->set_exited_at_unix_nanos(p->exited_at);
  QueueEvent(std::move(event));
  if (p == init_.get() && options_.shared_pid_ns) {
    // Without its own pid namespace the container's other processes outlive init.
    runtime_.Kill(SIGKILL, /*all=*/true);
  }
}

}  // namespace berth::shim
