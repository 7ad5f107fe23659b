// berth-runtime and berth-shim for real (label `root`): a berth-runtime process driven over its
// gRPC socket, running busybox containers with runc and crun from a bind-mounted rootfs built
// from Debian's busybox-static, with stdio through FIFOs or a pty, events on a real
// nats-server. Covers echo through FIFOs, exit codes (3, 137), Wait before Start and after
// exit, exec, pause/resume, ListPids, metrics (v1/v2 by host), tty + resize, crun, a kill -9
// restart of berth-runtime with a running container and an exit while it was down, the
// Prometheus endpoint, shim RSS, errors, and that nothing leaks (shims, mounts, bundles,
// sockets) after delete.
//
// Every test cleans up its containers (kill, delete) in TearDown, and a last-resort sweep
// kills shims of this test's state directory, force-deletes runc/crun state and detaches
// mounts, so a failing test leaves nothing running.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lib/anytype/anytype.h"
#include "lib/events/subscriber.h"
#include "lib/testing/child_process.h"
#include "lib/testing/http_get.h"
#include "lib/testing/nats_server.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "nlohmann/json.hpp"
#include "proto/berth/runtime/v1/admin.grpc.pb.h"
#include "proto/containerd/cgroups/stats/v1/metrics.pb.h"
#include "proto/containerd/cgroups/v2/stats/metrics.pb.h"
#include "proto/containerd/events/task.pb.h"
#include "proto/containerd/runtime/v2/runc/options/oci.pb.h"
#include "proto/containerd/services/containers/v1/containers.grpc.pb.h"
#include "proto/containerd/services/tasks/v1/tasks.grpc.pb.h"
#include "services/runtime/cgroups.h"

namespace berth::runtime {
namespace {

namespace cv1 = containerd::services::containers::v1;
namespace tv1 = containerd::services::tasks::v1;
using ::berth::testing::ChildProcess;
using ::berth::testing::TempDir;
using ::berth::testing::WaitFor;
using containerd::v1::types::Status;

constexpr auto kTimeout = std::chrono::seconds(30);

std::string BinDir() {
  const char* dir = std::getenv("BERTH_BIN");
  return dir != nullptr ? dir : "build/bin";
}

// berth-shim beside berth-runtime (CMake) or in shim/ below it (Bazel).
// Absolute: the config requires it.
std::string ShimBinary() {
  std::string path = BinDir() + "/berth-shim";
  if (access(path.c_str(), X_OK) != 0) path = BinDir() + "/shim/berth-shim";
  char resolved[PATH_MAX];
  return realpath(path.c_str(), resolved) != nullptr ? resolved : path;
}

bool HaveBinary(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// A tiny rootfs: Debian's busybox-static and the applets the tests use.
void MakeRootfs(const std::string& dir) {
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  for (const char* d : {"/bin", "/proc", "/dev", "/sys", "/tmp", "/etc"}) {
    ASSERT_EQ(mkdir((dir + d).c_str(), 0755), 0);
  }
  ASSERT_EQ(std::system(("cp /bin/busybox " + dir + "/bin/busybox").c_str()), 0);
  for (const char* applet : {"sh", "echo", "sleep", "true", "cat", "tty", "stty", "ps", "kill"}) {
    ASSERT_EQ(symlink("busybox", (dir + "/bin/" + applet).c_str()), 0);
  }
}

// The OCI spec ctr would send, minus what a busybox test does not need.
std::string SpecJson(const std::string& ns, const std::string& id,
                     const std::vector<std::string>& args, bool terminal,
                     int64_t memory_limit = 0) {
  nlohmann::json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  nlohmann::json spec = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", terminal},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", args},
        {"env", {"PATH=/bin", "TERM=xterm"}},
        {"cwd", "/"},
        {"capabilities",
         {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", false}}},
      {"hostname", id},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/dev"},
         {"type", "tmpfs"},
         {"source", "tmpfs"},
         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"},
         {"type", "devpts"},
         {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
        {{"destination", "/sys"},
         {"type", "sysfs"},
         {"source", "sysfs"},
         {"options", {"nosuid", "noexec", "nodev", "ro"}}}}},
      {"linux",
       {{"cgroupsPath", "/" + ns + "/" + id},
        {"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"maskedPaths", {"/proc/kcore", "/proc/keys", "/sys/firmware"}},
        {"readonlyPaths", {"/proc/sys", "/proc/sysrq-trigger"}}}}};
  if (memory_limit > 0) {
    spec["linux"]["resources"]["memory"] = {{"limit", memory_limit}, {"swap", memory_limit}};
  }
  spec["linux"]["namespaces"] = nlohmann::json::array({{{"type", "pid"}},
                                                       {{"type", "network"}},
                                                       {{"type", "ipc"}},
                                                       {{"type", "uts"}},
                                                       {{"type", "mount"}}});
  return spec.dump();
}

std::string ProcessJson(const std::vector<std::string>& args, bool terminal) {
  nlohmann::json p = {{"terminal", terminal},
                      {"user", {{"uid", 0}, {"gid", 0}}},
                      {"args", args},
                      {"env", {"PATH=/bin"}},
                      {"cwd", "/"}};
  return p.dump();
}

// The client side of a process's stdio, as ctr makes it: FIFOs it opened before the call.
struct Fifos {
  std::string in, out, err;
  int in_w = -1, out_r = -1, err_r = -1;

  Fifos() = default;
  Fifos(const Fifos&) = delete;
  Fifos& operator=(const Fifos&) = delete;
  ~Fifos() {
    for (int fd : {in_w, out_r, err_r}) {
      if (fd >= 0) close(fd);
    }
    for (const std::string& p : {in, out, err}) {
      if (!p.empty()) unlink(p.c_str());
    }
  }
};

std::unique_ptr<Fifos> MakeFifos(const std::string& dir, const std::string& name, bool terminal) {
  auto f = std::make_unique<Fifos>();
  f->in = dir + "/" + name + "-stdin";
  f->out = dir + "/" + name + "-stdout";
  if (!terminal) f->err = dir + "/" + name + "-stderr";
  for (const std::string& p : {f->in, f->out, f->err}) {
    if (!p.empty()) {
      EXPECT_EQ(mkfifo(p.c_str(), 0600), 0) << p;
    }
  }
  f->in_w = open(f->in.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  f->out_r = open(f->out.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (!terminal) f->err_r = open(f->err.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  return f;
}

// Reads `fd` until EOF (every writer closed) or the timeout.
std::string ReadUntilEof(int fd, std::chrono::seconds timeout = kTimeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ADD_FAILURE() << "no EOF within the timeout; read so far: " << out;
      return out;
    }
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n <= 0) continue;
    char buf[4096];
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (got < 0 && errno == EIO) return out;  // pty
    if (got <= 0) return out;
    out.append(buf, static_cast<size_t>(got));
  }
}

// Reads `fd` until `text` appeared or the timeout.
std::string ReadUntil(int fd, const std::string& text, std::chrono::seconds timeout = kTimeout) {
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.find(text) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    ssize_t got = read(fd, buf, sizeof buf);
    if (got <= 0) {
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      break;
    }
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

// Pids of berth-shim processes serving tasks under `state`.
std::vector<pid_t> ShimsOf(const std::string& state) {
  std::vector<pid_t> pids;
  DIR* d = opendir("/proc");
  if (d == nullptr) return pids;
  while (struct dirent* e = readdir(d)) {
    pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::string cmdline = ReadText("/proc/" + std::string(e->d_name) + "/cmdline");
    for (char& c : cmdline) {
      if (c == '\0') c = ' ';
    }
    if (cmdline.find("berth-shim") != std::string::npos &&
        cmdline.find(state + "/") != std::string::npos) {
      pids.push_back(pid);
    }
  }
  closedir(d);
  return pids;
}

std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::istringstream in(ReadText("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string a, b, c, root, point;
    f >> a >> b >> c >> root >> point;
    if (point.rfind(dir + "/", 0) == 0) out.push_back(point);
  }
  return out;
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  return out;
}

uint64_t RssKiB(pid_t pid) {
  std::istringstream in(ReadText("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

// crun 1.8 refuses a hybrid cgroup host whose v2 hierarchy has controllers ("cgroups in hybrid
// mode not supported, drop all controllers from cgroupv2"), even though it uses the v1 ones.
bool HybridWithV2Controllers() {
  if (cgroups::DetectMode() != cgroups::Mode::kHybrid) return false;
  std::string controllers = ReadText("/sys/fs/cgroup/unified/cgroup.controllers");
  return controllers.find_first_not_of(" \n") != std::string::npos;
}

// Collects every event published on NATS.
class EventLog {
 public:
  explicit EventLog(const std::string& url) {
    events::SubscriberOptions options;
    options.url = url;
    auto sub = events::Subscriber::Create(options, [this](const events::ReceivedEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      envelopes_.push_back(e.envelope);
    });
    EXPECT_OK(sub.status());
    if (sub.ok()) sub_ = std::move(*sub);
    if (sub_ != nullptr) {
      EXPECT_OK(sub_->Sync(std::chrono::seconds(10)));
    }
  }

  // Events of `ns` on `topic` whose payload (parsed as T) satisfies `match`.
  template <typename T>
  std::vector<T> Find(const std::string& ns, const std::string& topic,
                      const std::function<bool(const T&)>& match) {
    std::vector<T> out;
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& env : envelopes_) {
      if (env.namespace_() != ns || env.topic() != topic) continue;
      T event;
      if (!event.ParseFromString(env.event().value())) continue;
      if (match(event)) out.push_back(event);
    }
    return out;
  }

  std::vector<std::string> Topics(const std::string& ns, const std::string& id) {
    std::vector<std::string> out;
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& env : envelopes_) {
      if (env.namespace_() != ns) continue;
      // Every task/container event carries the container id as field 1 (string).
      containerd::events::TaskStart probe;
      if (probe.ParseFromString(env.event().value()) && probe.container_id() == id) {
        out.push_back(env.topic());
      }
    }
    return out;
  }

  std::vector<containerd::services::events::v1::Envelope> All() {
    std::lock_guard<std::mutex> lock(mu_);
    return envelopes_;
  }

 private:
  std::mutex mu_;
  std::vector<containerd::services::events::v1::Envelope> envelopes_;
  std::unique_ptr<events::Subscriber> sub_;
};

// One berth-runtime process with its directories.
class RuntimeProcess {
 public:
  RuntimeProcess(const TempDir& dir, std::string nats_url, bool hide_v2_controllers)
      : dir_(dir), nats_url_(std::move(nats_url)), hide_v2_(hide_v2_controllers) {
    socket_ = dir.Path("runtime.sock");
    ready_ = dir.Path("ready");
    state_ = dir.Path("state");
    WriteText(dir.Path("config.toml"),
              "[runtime]\naddress = \"unix://" + socket_ + "\"\nroot = \"" + dir.Path("root") +
                  "\"\nstate = \"" + state_ + "\"\nready_file = \"" + ready_ + "\"\nnats_url = \"" +
                  nats_url_ + "\"\nmetrics_address = \"127.0.0.1:0\"\nlog_level = \"debug\"\n" +
                  "shim_binary = \"" + ShimBinary() + "\"\n");
    WriteText(dir.Path("empty"), "");
  }

  void Start() {
    unlink(ready_.c_str());  // A killed process leaves its ready file behind.
    ++runs_;
    std::vector<std::string> argv = {BinDir() + "/berth-runtime", "--config",
                                     dir_.Path("config.toml")};
    if (hide_v2_) {
      // A private mount namespace in which the v2 hierarchy shows no controllers (see
      // HybridWithV2Controllers); the shims it starts live in it too.
      std::vector<std::string> wrapped = {
          "unshare",
          "-m",
          "--propagation",
          "private",
          "sh",
          "-c",
          "mount --bind " + dir_.Path("empty") +
              " /sys/fs/cgroup/unified/cgroup.controllers && exec \"$0\" \"$@\""};
      wrapped.insert(wrapped.end(), argv.begin(), argv.end());
      argv = wrapped;
    }
    std::string log = dir_.Path("runtime-" + std::to_string(runs_) + ".log");
    auto child = ChildProcess::Start({argv, log, log, std::nullopt, ""});
    ASSERT_OK(child.status());
    child_.emplace(std::move(*child));
    log_ = log;
    ASSERT_TRUE(
        WaitFor([&] { return access(ready_.c_str(), F_OK) == 0 || !child_->Running(); }, kTimeout));
    ASSERT_TRUE(child_->Running()) << ReadText(log_);
    channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    containers_ = cv1::Containers::NewStub(channel_);
    tasks_ = tv1::Tasks::NewStub(channel_);
    admin_ = berth::runtime::v1::RuntimeAdmin::NewStub(channel_);
  }

  void Kill9() {
    ASSERT_TRUE(child_.has_value());
    ASSERT_OK(child_->Signal(SIGKILL));
    ASSERT_OK(child_->Wait(kTimeout).status());
    child_.reset();
  }

  void Stop() {
    // Drop the connection first: a graceful shutdown waits for connected clients.
    containers_.reset();
    tasks_.reset();
    admin_.reset();
    channel_.reset();
    if (child_.has_value()) {
      EXPECT_OK(child_->Terminate(kTimeout).status());
      child_.reset();
    }
  }

  // The port of the metrics endpoint, from the log.
  int MetricsPort() const {
    std::string log = ReadText(log_);
    size_t at = log.rfind("metrics serving");
    if (at == std::string::npos) return 0;
    at = log.find("port=", at);
    return at == std::string::npos ? 0 : std::atoi(log.c_str() + at + 5);
  }

  cv1::Containers::Stub* containers() { return containers_.get(); }
  tv1::Tasks::Stub* tasks() { return tasks_.get(); }
  berth::runtime::v1::RuntimeAdmin::Stub* admin() { return admin_.get(); }
  const std::string& state() const { return state_; }
  std::string Log() const { return ReadText(log_); }
  bool running() const { return child_.has_value() && child_->Running(); }

 private:
  const TempDir& dir_;
  std::string nats_url_;
  bool hide_v2_;
  std::string socket_, ready_, state_, log_;
  int runs_ = 0;
  std::optional<ChildProcess> child_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<cv1::Containers::Stub> containers_;
  std::unique_ptr<tv1::Tasks::Stub> tasks_;
  std::unique_ptr<berth::runtime::v1::RuntimeAdmin::Stub> admin_;
};

class RuntimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    nats_ = new berth::testing::NatsServer();
    absl::Status s = nats_->Start();
    if (!s.ok()) {
      delete nats_;
      nats_ = nullptr;
    }
  }
  static void TearDownTestSuite() {
    delete nats_;
    nats_ = nullptr;
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (mounts, runc)";
    ASSERT_TRUE(HaveBinary("runc")) << "runc is not installed (scripts/install-deps.sh)";
    ASSERT_NE(nats_, nullptr) << "nats-server did not start";
    ns_ = "rt" + std::to_string(getpid()) + "-" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : ns_) {
      if (!isalnum(static_cast<unsigned char>(c)) && c != '-') c = '-';
    }
    MakeRootfs(dir_.Path("rootfs"));
    ASSERT_EQ(mkdir(dir_.Path("fifo").c_str(), 0700), 0);
    events_ = std::make_unique<EventLog>(nats_->Url());
  }

  void StartRuntime(bool for_crun = false) {
    runtime_ =
        std::make_unique<RuntimeProcess>(dir_, nats_->Url(), for_crun && HybridWithV2Controllers());
    runtime_->Start();
  }

  void TearDown() override {
    if (runtime_ != nullptr && runtime_->running()) {
      for (const std::string& id : created_) {
        grpc::ClientContext k;
        Ctx(&k);
        tv1::KillRequest kill;
        kill.set_container_id(id);
        kill.set_signal(SIGKILL);
        kill.set_all(true);
        google::protobuf::Empty empty;
        runtime_->tasks()->Kill(&k, kill, &empty);
        grpc::ClientContext w;
        Ctx(&w, std::chrono::seconds(20));
        tv1::WaitRequest wait;
        wait.set_container_id(id);
        tv1::WaitResponse waited;
        runtime_->tasks()->Wait(&w, wait, &waited);
        grpc::ClientContext d;
        Ctx(&d);
        tv1::DeleteTaskRequest del;
        del.set_container_id(id);
        tv1::DeleteResponse deleted;
        runtime_->tasks()->Delete(&d, del, &deleted);
        grpc::ClientContext c;
        Ctx(&c);
        cv1::DeleteContainerRequest cdel;
        cdel.set_id(id);
        runtime_->containers()->Delete(&c, cdel, &empty);
      }
    }
    if (runtime_ != nullptr) {
      std::string state = runtime_->state();
      if (!::testing::Test::HasFailure()) {
        // Nothing may be left once every task is deleted.
        EXPECT_TRUE(ShimsOf(state).empty()) << "shims left: " << ShimsOf(state).size();
        EXPECT_TRUE(MountsUnder(dir_.path()).empty());
        EXPECT_TRUE(Entries(state + "/" + ns_).empty());
        EXPECT_TRUE(Entries(state + "/_s").empty());
      } else {
        std::cerr << "---- berth-runtime log ----\n" << runtime_->Log() << "\n";
        for (const std::string& id : created_) {
          std::string bundle = state + "/" + ns_ + "/" + id;
          std::cerr << "---- shim log " << id << " ----\n"
                    << ReadText(bundle + "/shim.log") << ReadText(bundle + "/log.json") << "\n";
        }
      }
      runtime_->Stop();
      // Last resort, for failed tests: shims of this state dir, runtime state, mounts.
      for (pid_t pid : ShimsOf(state)) kill(pid, SIGKILL);
      for (const std::string& id : created_) {
        for (const char* bin : {"runc", "crun"}) {
          std::string cmd = std::string(bin) + " --root " + state + "/_runc/" + ns_ +
                            " delete --force " + id + " >/dev/null 2>&1";
          if (std::system(cmd.c_str()) != 0) {
            // Already gone.
          }
        }
      }
      for (const std::string& m : MountsUnder(dir_.path())) umount2(m.c_str(), MNT_DETACH);
    }
    // The parent cgroups runc made for the namespace (/<ns>/<id> per controller).
    for (const std::string& c : Entries("/sys/fs/cgroup")) {
      rmdir(("/sys/fs/cgroup/" + c + "/" + ns_).c_str());
    }
    rmdir(("/sys/fs/cgroup/" + ns_).c_str());
  }

  void Ctx(grpc::ClientContext* ctx, std::chrono::seconds timeout = kTimeout) {
    ctx->AddMetadata("containerd-namespace", ns_);
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  }

  grpc::Status CreateContainer(const std::string& id, const std::vector<std::string>& args,
                               bool terminal = false, const std::string& binary = "",
                               int64_t memory_limit = 0) {
    cv1::CreateContainerRequest req;
    cv1::Container* c = req.mutable_container();
    c->set_id(id);
    c->set_image("docker.io/library/busybox:latest");
    c->mutable_runtime()->set_name("io.containerd.runc.v2");
    containerd::runc::v1::Options options;
    options.set_binary_name(binary);
    *c->mutable_runtime()->mutable_options() = anytype::Pack(options);
    auto spec =
        anytype::PackJson(anytype::kSpecTypeURL, SpecJson(ns_, id, args, terminal, memory_limit));
    EXPECT_OK(spec.status());
    *c->mutable_spec() = *spec;
    grpc::ClientContext ctx;
    Ctx(&ctx);
    cv1::CreateContainerResponse resp;
    grpc::Status s = runtime_->containers()->Create(&ctx, req, &resp);
    if (s.ok()) created_.push_back(id);
    return s;
  }

  grpc::Status CreateTask(const std::string& id, const Fifos* io, bool terminal = false,
                          uint32_t* pid = nullptr) {
    tv1::CreateTaskRequest req;
    req.set_container_id(id);
    containerd::types::Mount* m = req.add_rootfs();
    m->set_type("bind");
    m->set_source(dir_.Path("rootfs"));
    m->add_options("rbind");
    m->add_options("rw");
    if (io != nullptr) {
      req.set_stdin(io->in);
      req.set_stdout(io->out);
      req.set_stderr(io->err);
    }
    req.set_terminal(terminal);
    grpc::ClientContext ctx;
    Ctx(&ctx);
    tv1::CreateTaskResponse resp;
    grpc::Status s = runtime_->tasks()->Create(&ctx, req, &resp);
    if (pid != nullptr) *pid = resp.pid();
    return s;
  }

  grpc::Status Start(const std::string& id, const std::string& exec_id = "",
                     uint32_t* pid = nullptr) {
    tv1::StartRequest req;
    req.set_container_id(id);
    req.set_exec_id(exec_id);
    grpc::ClientContext ctx;
    Ctx(&ctx);
    tv1::StartResponse resp;
    grpc::Status s = runtime_->tasks()->Start(&ctx, req, &resp);
    if (pid != nullptr) *pid = resp.pid();
    return s;
  }

  grpc::Status Wait(const std::string& id, tv1::WaitResponse* resp,
                    const std::string& exec_id = "") {
    tv1::WaitRequest req;
    req.set_container_id(id);
    req.set_exec_id(exec_id);
    grpc::ClientContext ctx;
    Ctx(&ctx);
    return runtime_->tasks()->Wait(&ctx, req, resp);
  }

  grpc::Status Get(const std::string& id, containerd::v1::types::Process* p,
                   const std::string& exec_id = "") {
    tv1::GetRequest req;
    req.set_container_id(id);
    req.set_exec_id(exec_id);
    grpc::ClientContext ctx;
    Ctx(&ctx);
    tv1::GetResponse resp;
    grpc::Status s = runtime_->tasks()->Get(&ctx, req, &resp);
    *p = resp.process();
    return s;
  }

  grpc::Status Kill(const std::string& id, int sig, const std::string& exec_id = "",
                    bool all = false) {
    tv1::KillRequest req;
    req.set_container_id(id);
    req.set_exec_id(exec_id);
    req.set_signal(static_cast<uint32_t>(sig));
    req.set_all(all);
    grpc::ClientContext ctx;
    Ctx(&ctx);
    google::protobuf::Empty empty;
    return runtime_->tasks()->Kill(&ctx, req, &empty);
  }

  grpc::Status DeleteTask(const std::string& id, tv1::DeleteResponse* resp) {
    tv1::DeleteTaskRequest req;
    req.set_container_id(id);
    grpc::ClientContext ctx;
    Ctx(&ctx);
    return runtime_->tasks()->Delete(&ctx, req, resp);
  }

  grpc::Status DeleteContainer(const std::string& id) {
    cv1::DeleteContainerRequest req;
    req.set_id(id);
    grpc::ClientContext ctx;
    Ctx(&ctx);
    google::protobuf::Empty empty;
    grpc::Status s = runtime_->containers()->Delete(&ctx, req, &empty);
    if (s.ok()) created_.erase(std::remove(created_.begin(), created_.end(), id), created_.end());
    return s;
  }

  grpc::Status Exec(const std::string& id, const std::string& exec_id,
                    const std::vector<std::string>& args, const Fifos* io, bool terminal = false) {
    tv1::ExecProcessRequest req;
    req.set_container_id(id);
    req.set_exec_id(exec_id);
    if (io != nullptr) {
      req.set_stdin(io->in);
      req.set_stdout(io->out);
      req.set_stderr(io->err);
    }
    req.set_terminal(terminal);
    auto spec = anytype::PackJson(anytype::kProcessTypeURL, ProcessJson(args, terminal));
    EXPECT_OK(spec.status());
    *req.mutable_spec() = *spec;
    grpc::ClientContext ctx;
    Ctx(&ctx);
    google::protobuf::Empty empty;
    return runtime_->tasks()->Exec(&ctx, req, &empty);
  }

  // Runs a container to completion: create, start, read stdout, wait. Returns stdout.
  std::string RunToExit(const std::string& id, const std::vector<std::string>& args,
                        uint32_t* status, const std::string& binary = "") {
    EXPECT_TRUE(CreateContainer(id, args, false, binary).ok());
    auto io = MakeFifos(dir_.Path("fifo"), id, false);
    grpc::Status s = CreateTask(id, io.get());
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (!s.ok()) return "";
    // Wait before Start, as ctr does (it races them).
    auto waited = std::async(std::launch::async, [&] {
      tv1::WaitResponse resp;
      grpc::Status ws = Wait(id, &resp);
      EXPECT_TRUE(ws.ok()) << ws.error_message();
      return resp;
    });
    s = Start(id);
    EXPECT_TRUE(s.ok()) << s.error_message();
    close(io->in_w);  // As ctr: stdin hits EOF ...
    io->in_w = -1;
    {
      tv1::CloseIORequest req;  // ... and it tells the task.
      req.set_container_id(id);
      req.set_stdin(true);
      grpc::ClientContext ctx;
      Ctx(&ctx);
      google::protobuf::Empty empty;
      EXPECT_TRUE(runtime_->tasks()->CloseIO(&ctx, req, &empty).ok());
    }
    std::string out = ReadUntilEof(io->out_r);
    tv1::WaitResponse w = waited.get();
    *status = w.exit_status();
    EXPECT_GT(w.exited_at().seconds(), 0);
    return out;
  }

  static berth::testing::NatsServer* nats_;
  TempDir dir_{"brt"};
  std::string ns_;
  std::unique_ptr<RuntimeProcess> runtime_;
  std::unique_ptr<EventLog> events_;
  std::vector<std::string> created_;
};

berth::testing::NatsServer* RuntimeTest::nats_ = nullptr;

TEST_F(RuntimeTest, EchoThroughFifosAndFullLifecycle) {
  StartRuntime();
  uint32_t status = 99;
  std::string out = RunToExit("c1", {"echo", "hi"}, &status);
  EXPECT_EQ(out, "hi\n");
  EXPECT_EQ(status, 0u);

  containerd::v1::types::Process p;
  ASSERT_TRUE(Get("c1", &p).ok());
  EXPECT_EQ(p.status(), Status::STOPPED);
  EXPECT_EQ(p.id(), "c1");
  EXPECT_EQ(p.stdout(), dir_.Path("fifo") + "/c1-stdout");  // echoed for ctr's FIFO cleanup
  EXPECT_GT(p.exited_at().seconds(), 0);

  // Wait after the exit returns the stored status at once.
  tv1::WaitResponse again;
  ASSERT_TRUE(Wait("c1", &again).ok());
  EXPECT_EQ(again.exit_status(), 0u);

  std::string bundle = runtime_->state() + "/" + ns_ + "/c1";
  struct stat st;
  ASSERT_EQ(stat(bundle.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);  // CVE-2021-41103
  ASSERT_EQ(stat((runtime_->state() + "/_s").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);  // CVE-2020-15257: the sockets' directory

  tv1::DeleteResponse deleted;
  ASSERT_TRUE(DeleteTask("c1", &deleted).ok());
  EXPECT_EQ(deleted.exit_status(), 0u);
  EXPECT_EQ(deleted.id(), "c1");
  EXPECT_GT(deleted.pid(), 0u);
  EXPECT_EQ(Get("c1", &p).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(DeleteContainer("c1").ok());

  // Events, in order.
  ASSERT_TRUE(WaitFor([&] {
    auto topics = events_->Topics(ns_, "c1");
    return std::find(topics.begin(), topics.end(), "/tasks/delete") != topics.end();
  }));
  std::vector<std::string> topics = events_->Topics(ns_, "c1");
  std::vector<std::string> want = {"/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"};
  std::vector<std::string> got;
  for (const std::string& t : topics) {
    if (t.rfind("/tasks/", 0) == 0) got.push_back(t);
  }
  EXPECT_EQ(got, want);
  auto exits = events_->Find<containerd::events::TaskExit>(
      ns_, "/tasks/exit", [](const auto& e) { return e.container_id() == "c1"; });
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].id(), "c1");
  EXPECT_EQ(exits[0].exit_status(), 0u);
  EXPECT_EQ(ShimsOf(runtime_->state()).size(), 0u);
}

TEST_F(RuntimeTest, StdinReachesTheProcessWhichSeesEofOnlyAfterCloseIO) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("in1", {"cat"}).ok());
  auto io = MakeFifos(dir_.Path("fifo"), "in1", false);
  ASSERT_TRUE(CreateTask("in1", io.get()).ok());
  ASSERT_TRUE(Start("in1").ok());
  ASSERT_EQ(write(io->in_w, "hello\n", 6), 6);
  EXPECT_EQ(ReadUntil(io->out_r, "hello\n"), "hello\n");
  // The client closing its end of the FIFO is not EOF for the process ...
  close(io->in_w);
  io->in_w = -1;
  containerd::v1::types::Process p;
  ASSERT_TRUE(Get("in1", &p).ok());
  EXPECT_EQ(p.status(), Status::RUNNING);
  // ... CloseIO is.
  tv1::CloseIORequest req;
  req.set_container_id("in1");
  req.set_stdin(true);
  grpc::ClientContext ctx;
  Ctx(&ctx);
  google::protobuf::Empty empty;
  ASSERT_TRUE(runtime_->tasks()->CloseIO(&ctx, req, &empty).ok());
  EXPECT_EQ(ReadUntilEof(io->out_r), "");
  tv1::WaitResponse w;
  ASSERT_TRUE(Wait("in1", &w).ok());
  EXPECT_EQ(w.exit_status(), 0u);
}

TEST_F(RuntimeTest, ExitCodeAndStderr) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("c3", {"sh", "-c", "echo oops >&2; exit 3"}).ok());
  auto io = MakeFifos(dir_.Path("fifo"), "c3", false);
  ASSERT_TRUE(CreateTask("c3", io.get()).ok());
  ASSERT_TRUE(Start("c3").ok());
  EXPECT_EQ(ReadUntilEof(io->err_r), "oops\n");
  tv1::WaitResponse w;
  ASSERT_TRUE(Wait("c3", &w).ok());
  EXPECT_EQ(w.exit_status(), 3u);
  tv1::DeleteResponse d;
  ASSERT_TRUE(DeleteTask("c3", &d).ok());
  EXPECT_EQ(d.exit_status(), 3u);
}

TEST_F(RuntimeTest, KillNineIs137AndKillAfterExitIsNotFound) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("k1", {"sleep", "1000"}).ok());
  uint32_t pid = 0;
  ASSERT_TRUE(CreateTask("k1", nullptr, false, &pid).ok());
  EXPECT_GT(pid, 0u);
  containerd::v1::types::Process p;
  ASSERT_TRUE(Get("k1", &p).ok());
  EXPECT_EQ(p.status(), Status::CREATED);
  EXPECT_EQ(p.pid(), pid);
  ASSERT_TRUE(Start("k1").ok());
  ASSERT_TRUE(Get("k1", &p).ok());
  EXPECT_EQ(p.status(), Status::RUNNING);

  // A running task cannot be deleted; a started one cannot be started again.
  tv1::DeleteResponse d;
  EXPECT_EQ(DeleteTask("k1", &d).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Start("k1").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Nor can its container.
  EXPECT_EQ(DeleteContainer("k1").error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  ASSERT_TRUE(Kill("k1", SIGKILL).ok());
  tv1::WaitResponse w;
  ASSERT_TRUE(Wait("k1", &w).ok());
  EXPECT_EQ(w.exit_status(), 137u);
  EXPECT_EQ(Kill("k1", SIGKILL).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(DeleteTask("k1", &d).ok());
  EXPECT_EQ(d.exit_status(), 137u);
}

TEST_F(RuntimeTest, SigtermToATrappingProcessEndsWithItsStatus) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("t1", {"sh", "-c",
                                     "trap 'exit 42' TERM; echo ready; "
                                     "while true; do sleep 1; done"})
                  .ok());
  auto io = MakeFifos(dir_.Path("fifo"), "t1", false);
  ASSERT_TRUE(CreateTask("t1", io.get()).ok());
  ASSERT_TRUE(Start("t1").ok());
  ASSERT_NE(ReadUntil(io->out_r, "ready").find("ready"), std::string::npos);
  ASSERT_TRUE(Kill("t1", SIGTERM).ok());
  tv1::WaitResponse w;
  ASSERT_TRUE(Wait("t1", &w).ok());
  EXPECT_EQ(w.exit_status(), 42u);
}

TEST_F(RuntimeTest, WaitBeforeStartAndDeleteOfANeverStartedTask) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("w1", {"sh", "-c", "exit 5"}).ok());
  ASSERT_TRUE(CreateTask("w1", nullptr).ok());
  auto waited = std::async(std::launch::async, [&] {
    tv1::WaitResponse resp;
    grpc::Status s = Wait("w1", &resp);
    return std::make_pair(s.ok(), resp.exit_status());
  });
  ASSERT_TRUE(Start("w1").ok());
  auto [ok, status] = waited.get();
  EXPECT_TRUE(ok);
  EXPECT_EQ(status, 5u);

  // A created task can be deleted without ever starting; its Wait then ends.
  ASSERT_TRUE(CreateContainer("w2", {"sleep", "1000"}).ok());
  ASSERT_TRUE(CreateTask("w2", nullptr).ok());
  tv1::DeleteResponse d;
  ASSERT_TRUE(DeleteTask("w2", &d).ok());
  containerd::v1::types::Process p;
  EXPECT_EQ(Get("w2", &p).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(RuntimeTest, ExecListPidsPauseResume) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("e1", {"sleep", "1000"}).ok());
  ASSERT_TRUE(CreateTask("e1", nullptr).ok());
  uint32_t init_pid = 0;
  ASSERT_TRUE(Start("e1", "", &init_pid).ok());

  // An exec that prints.
  auto io = MakeFifos(dir_.Path("fifo"), "x1", false);
  ASSERT_TRUE(Exec("e1", "x1", {"sh", "-c", "echo exec-out; exit 4"}, io.get()).ok());
  EXPECT_EQ(Exec("e1", "x1", {"true"}, nullptr).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  uint32_t exec_pid = 0;
  ASSERT_TRUE(Start("e1", "x1", &exec_pid).ok());
  EXPECT_GT(exec_pid, 0u);
  EXPECT_EQ(ReadUntilEof(io->out_r), "exec-out\n");
  tv1::WaitResponse w;
  ASSERT_TRUE(Wait("e1", &w, "x1").ok());
  EXPECT_EQ(w.exit_status(), 4u);
  containerd::v1::types::Process p;
  ASSERT_TRUE(Get("e1", &p, "x1").ok());
  EXPECT_EQ(p.id(), "x1");
  EXPECT_EQ(p.status(), Status::STOPPED);
  {
    tv1::DeleteProcessRequest req;
    req.set_container_id("e1");
    req.set_exec_id("x1");
    grpc::ClientContext ctx;
    Ctx(&ctx);
    tv1::DeleteResponse resp;
    ASSERT_TRUE(runtime_->tasks()->DeleteProcess(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.id(), "x1");
    EXPECT_EQ(resp.exit_status(), 4u);
  }
  EXPECT_EQ(Get("e1", &p, "x1").error_code(), grpc::StatusCode::NOT_FOUND);

  // A long exec shows up in ListPids with its exec id.
  ASSERT_TRUE(Exec("e1", "x2", {"sleep", "1000"}, nullptr).ok());
  uint32_t x2_pid = 0;
  ASSERT_TRUE(Start("e1", "x2", &x2_pid).ok());
  {
    tv1::ListPidsRequest req;
    req.set_container_id("e1");
    grpc::ClientContext ctx;
    Ctx(&ctx);
    tv1::ListPidsResponse resp;
    ASSERT_TRUE(runtime_->tasks()->ListPids(&ctx, req, &resp).ok());
    bool saw_init = false, saw_exec = false;
    for (const auto& info : resp.processes()) {
      if (info.pid() == init_pid) saw_init = true;
      if (info.pid() == x2_pid) {
        saw_exec = true;
        EXPECT_EQ(info.info().type_url(), "containerd.runc.v1.ProcessDetails");
        containerd::runc::v1::ProcessDetails details;
        ASSERT_TRUE(details.ParseFromString(info.info().value()));
        EXPECT_EQ(details.exec_id(), "x2");
      }
    }
    EXPECT_TRUE(saw_init);
    EXPECT_TRUE(saw_exec);
  }

  // Pause / resume.
  {
    tv1::PauseTaskRequest req;
    req.set_container_id("e1");
    grpc::ClientContext ctx;
    Ctx(&ctx);
    google::protobuf::Empty empty;
    ASSERT_TRUE(runtime_->tasks()->Pause(&ctx, req, &empty).ok());
  }
  ASSERT_TRUE(Get("e1", &p).ok());
  EXPECT_EQ(p.status(), Status::PAUSED);
  EXPECT_EQ(ReadText("/proc/" + std::to_string(init_pid) + "/status").find("State:\tR"),
            std::string::npos);
  {
    tv1::ResumeTaskRequest req;
    req.set_container_id("e1");
    grpc::ClientContext ctx;
    Ctx(&ctx);
    google::protobuf::Empty empty;
    ASSERT_TRUE(runtime_->tasks()->Resume(&ctx, req, &empty).ok());
  }
  ASSERT_TRUE(Get("e1", &p).ok());
  EXPECT_EQ(p.status(), Status::RUNNING);

  // Kill the exec alone.
  ASSERT_TRUE(Kill("e1", SIGKILL, "x2").ok());
  ASSERT_TRUE(Wait("e1", &w, "x2").ok());
  EXPECT_EQ(w.exit_status(), 137u);
  ASSERT_TRUE(Get("e1", &p).ok());
  EXPECT_EQ(p.status(), Status::RUNNING);

  ASSERT_TRUE(WaitFor([&] {
    return !events_
                ->Find<containerd::events::TaskResumed>(
                    ns_, "/tasks/resumed", [](const auto& e) { return e.container_id() == "e1"; })
                .empty();
  }));
  EXPECT_EQ(events_
                ->Find<containerd::events::TaskPaused>(
                    ns_, "/tasks/paused", [](const auto& e) { return e.container_id() == "e1"; })
                .size(),
            1u);
  EXPECT_EQ(events_
                ->Find<containerd::events::TaskExecAdded>(
                    ns_, "/tasks/exec-added", [](const auto& e) { return e.exec_id() == "x1"; })
                .size(),
            1u);
  EXPECT_EQ(events_
                ->Find<containerd::events::TaskExecStarted>(
                    ns_, "/tasks/exec-started",
                    [&](const auto& e) { return e.exec_id() == "x1" && e.pid() == exec_pid; })
                .size(),
            1u);
}

TEST_F(RuntimeTest, MetricsMatchTheHostCgroupVersionAndPrometheus) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("m1", {"sleep", "1000"}).ok());
  ASSERT_TRUE(CreateTask("m1", nullptr).ok());
  ASSERT_TRUE(Start("m1").ok());
  // Tasks.Update: a pids limit, seen in the metrics below.
  {
    tv1::UpdateTaskRequest req;
    req.set_container_id("m1");
    *req.mutable_resources() =
        *anytype::PackJson(anytype::kLinuxResourcesTypeURL, R"({"pids":{"limit":50}})");
    grpc::ClientContext ctx;
    Ctx(&ctx);
    google::protobuf::Empty empty;
    grpc::Status s = runtime_->tasks()->Update(&ctx, req, &empty);
    ASSERT_TRUE(s.ok()) << s.error_message();
    // Resources that are not JSON LinuxResources are refused.
    tv1::UpdateTaskRequest bad;
    bad.set_container_id("m1");
    bad.mutable_resources()->set_type_url("containerd.runc.v1.Options");
    grpc::ClientContext ctx2;
    Ctx(&ctx2);
    EXPECT_EQ(runtime_->tasks()->Update(&ctx2, bad, &empty).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  tv1::MetricsRequest req;
  req.add_filters("id==m1");
  grpc::ClientContext ctx;
  Ctx(&ctx);
  tv1::MetricsResponse resp;
  ASSERT_TRUE(runtime_->tasks()->Metrics(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.metrics_size(), 1);
  const auto& metric = resp.metrics(0);
  EXPECT_EQ(metric.id(), "m1");
  EXPECT_GT(metric.timestamp().seconds(), 0);
  if (cgroups::DetectMode() == cgroups::Mode::kUnified) {
    ASSERT_EQ(metric.data().type_url(), "io.containerd.cgroups.v2.Metrics");
    io::containerd::cgroups::v2::Metrics m;
    ASSERT_TRUE(m.ParseFromString(metric.data().value()));
    EXPECT_GE(m.pids().current(), 1u);
    EXPECT_EQ(m.pids().limit(), 50u);
    EXPECT_GT(m.memory().usage(), 0u);
  } else {
    ASSERT_EQ(metric.data().type_url(), "io.containerd.cgroups.v1.Metrics");
    io::containerd::cgroups::v1::Metrics m;
    ASSERT_TRUE(m.ParseFromString(metric.data().value()));
    EXPECT_GE(m.pids().current(), 1u);
    EXPECT_EQ(m.pids().limit(), 50u);
    EXPECT_GT(m.memory().usage().usage(), 0u);
    EXPECT_GT(m.cpu().usage().total(), 0u);
  }
  // A filter for another id matches nothing.
  tv1::MetricsRequest other;
  other.add_filters("id==nope");
  grpc::ClientContext ctx2;
  Ctx(&ctx2);
  tv1::MetricsResponse none;
  ASSERT_TRUE(runtime_->tasks()->Metrics(&ctx2, other, &none).ok());
  EXPECT_EQ(none.metrics_size(), 0);

  // The Prometheus endpoint, read at scrape time.
  int port = runtime_->MetricsPort();
  ASSERT_GT(port, 0) << runtime_->Log();
  auto page = berth::testing::HttpGet("127.0.0.1", port, "/v1/metrics");
  ASSERT_OK(page.status());
  EXPECT_EQ(page->status, 200);
  std::string labels = "container_id=\"m1\",namespace=\"" + ns_ + "\"";
  const char* names_v1[] = {"container_cpu_total_nanoseconds", "container_memory_usage_usage_bytes",
                            "container_pids_current", "container_memory_oom_total"};
  const char* names_v2[] = {"container_cpu_usage_usec_microseconds", "container_memory_usage_bytes",
                            "container_pids_current", "container_memory_oom_total"};
  bool unified = cgroups::DetectMode() == cgroups::Mode::kUnified;
  for (int i = 0; i < 4; ++i) {
    std::string name = unified ? names_v2[i] : names_v1[i];
    EXPECT_NE(page->body.find(name + "{" + labels + "}"), std::string::npos) << name;
  }
  EXPECT_NE(page->body.find("grpc_server_handled_total"), std::string::npos);
  EXPECT_NE(page->body.find("berth_runtime_tasks 1"), std::string::npos);
}

TEST_F(RuntimeTest, OutOfMemoryIsReported) {
  StartRuntime();
  // The shell doubles a string until the 16 MiB limit stops it.
  ASSERT_TRUE(CreateContainer("oom1", {"sh", "-c", "a=x; while true; do a=\"$a$a\"; done"}, false,
                              "", 16 << 20)
                  .ok());
  ASSERT_TRUE(CreateTask("oom1", nullptr).ok());
  ASSERT_TRUE(Start("oom1").ok());
  tv1::WaitResponse w;
  ASSERT_TRUE(Wait("oom1", &w).ok());
  EXPECT_EQ(w.exit_status(), 137u);
  ASSERT_TRUE(WaitFor([&] {
    return !events_
                ->Find<containerd::events::TaskOOM>(
                    ns_, "/tasks/oom", [](const auto& e) { return e.container_id() == "oom1"; })
                .empty();
  })) << "no /tasks/oom event; shim log:\n"
      << ReadText(runtime_->state() + "/" + ns_ + "/oom1/shim.log");
}

TEST_F(RuntimeTest, TerminalThroughAPtyWithResize) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("tty1", {"sh", "-c", "tty; stty size"}, /*terminal=*/true).ok());
  auto io = MakeFifos(dir_.Path("fifo"), "tty1", true);
  ASSERT_TRUE(CreateTask("tty1", io.get(), /*terminal=*/true).ok());
  {
    tv1::ResizePtyRequest req;
    req.set_container_id("tty1");
    req.set_width(123);
    req.set_height(45);
    grpc::ClientContext ctx;
    Ctx(&ctx);
    google::protobuf::Empty empty;
    ASSERT_TRUE(runtime_->tasks()->ResizePty(&ctx, req, &empty).ok());
  }
  ASSERT_TRUE(Start("tty1").ok());
  std::string out = ReadUntilEof(io->out_r);
  EXPECT_NE(out.find("/dev/pts/"), std::string::npos) << out;
  EXPECT_NE(out.find("45 123"), std::string::npos) << out;
  tv1::WaitResponse w;
  ASSERT_TRUE(Wait("tty1", &w).ok());
  EXPECT_EQ(w.exit_status(), 0u);

  // Without a terminal, a resize is refused.
  ASSERT_TRUE(CreateContainer("tty2", {"sleep", "1000"}).ok());
  ASSERT_TRUE(CreateTask("tty2", nullptr).ok());
  tv1::ResizePtyRequest req;
  req.set_container_id("tty2");
  req.set_width(1);
  req.set_height(1);
  grpc::ClientContext ctx;
  Ctx(&ctx);
  google::protobuf::Empty empty;
  EXPECT_EQ(runtime_->tasks()->ResizePty(&ctx, req, &empty).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(RuntimeTest, CrunAndRuncBoth) {
  ASSERT_TRUE(HaveBinary("crun")) << "crun is not installed (scripts/install-deps.sh)";
  StartRuntime(/*for_crun=*/true);
  for (const char* binary : {"crun", "runc"}) {
    std::string id = std::string("o-") + binary;
    uint32_t status = 99;
    std::string out = RunToExit(id, {"sh", "-c", "echo from-$0; exit 6", binary}, &status, binary);
    EXPECT_EQ(out, std::string("from-") + binary + "\n") << binary;
    EXPECT_EQ(status, 6u) << binary;
    // The shim ran the binary asked for.
    std::string shim_log = ReadText(runtime_->state() + "/" + ns_ + "/" + id + "/shim.log");
    EXPECT_NE(shim_log.find(std::string("runtime=\"") + binary + "\""), std::string::npos)
        << shim_log;
    tv1::DeleteResponse d;
    ASSERT_TRUE(DeleteTask(id, &d).ok());
  }
  // A runtime binary that does not exist fails Create cleanly.
  ASSERT_TRUE(CreateContainer("o-none", {"true"}, false, "/nonexistent/ocirt").ok());
  grpc::Status s = CreateTask("o-none", nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.error_message().find("ocirt"), std::string::npos) << s.error_message();
  containerd::v1::types::Process p;
  EXPECT_EQ(Get("o-none", &p).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(RuntimeTest, SurvivesKill9OfBerthRuntime) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("r1", {"sleep", "1000"}).ok());
  ASSERT_TRUE(CreateTask("r1", nullptr).ok());
  ASSERT_TRUE(Start("r1").ok());
  ASSERT_TRUE(CreateContainer("r2", {"sleep", "1000"}).ok());
  ASSERT_TRUE(CreateTask("r2", nullptr).ok());
  uint32_t r2_pid = 0;
  ASSERT_TRUE(Start("r2", "", &r2_pid).ok());
  std::vector<pid_t> shims = ShimsOf(runtime_->state());
  ASSERT_EQ(shims.size(), 2u);

  runtime_->Kill9();
  // The shims outlive it; r2's container dies while nobody listens.
  EXPECT_EQ(ShimsOf(runtime_->state()).size(), 2u);
  ASSERT_EQ(kill(static_cast<pid_t>(r2_pid), SIGKILL), 0);
  std::string exit_file = runtime_->state() + "/" + ns_ + "/r2/init.exit";
  ASSERT_TRUE(WaitFor([&] { return access(exit_file.c_str(), F_OK) == 0; }));

  runtime_->Start();
  // Every task is listed again.
  tv1::ListTasksRequest list;
  grpc::ClientContext ctx;
  Ctx(&ctx);
  tv1::ListTasksResponse tasks;
  ASSERT_TRUE(runtime_->tasks()->List(&ctx, list, &tasks).ok());
  ASSERT_EQ(tasks.tasks_size(), 2);
  std::map<std::string, Status> states;
  for (const auto& t : tasks.tasks()) states[t.id()] = t.status();
  EXPECT_EQ(states["r1"], Status::RUNNING);
  EXPECT_EQ(states["r2"], Status::STOPPED);
  // The exit that happened while berth-runtime was down: Wait sees it, an event reports it.
  tv1::WaitResponse w;
  ASSERT_TRUE(Wait("r2", &w).ok());
  EXPECT_EQ(w.exit_status(), 137u);
  ASSERT_TRUE(WaitFor([&] {
    return !events_
                ->Find<containerd::events::TaskExit>(
                    ns_, "/tasks/exit", [](const auto& e) { return e.container_id() == "r2"; })
                .empty();
  }));
  tv1::DeleteResponse d;
  ASSERT_TRUE(DeleteTask("r2", &d).ok());
  EXPECT_EQ(d.exit_status(), 137u);

  // r1 is still fully usable: exec, kill, wait.
  auto io = MakeFifos(dir_.Path("fifo"), "rx", false);
  ASSERT_TRUE(Exec("r1", "rx", {"echo", "after-restart"}, io.get()).ok());
  ASSERT_TRUE(Start("r1", "rx").ok());
  EXPECT_EQ(ReadUntilEof(io->out_r), "after-restart\n");
  ASSERT_TRUE(Wait("r1", &w, "rx").ok());
  EXPECT_EQ(w.exit_status(), 0u);
  ASSERT_TRUE(Kill("r1", SIGKILL).ok());
  ASSERT_TRUE(Wait("r1", &w).ok());
  EXPECT_EQ(w.exit_status(), 137u);
  ASSERT_TRUE(DeleteTask("r1", &d).ok());

  // r2's exit was reported exactly once (its /tasks/delete came after it).
  ASSERT_TRUE(WaitFor([&] {
    return !events_
                ->Find<containerd::events::TaskDelete>(
                    ns_, "/tasks/delete", [](const auto& e) { return e.container_id() == "r1"; })
                .empty();
  }));
  EXPECT_EQ(events_
                ->Find<containerd::events::TaskExit>(
                    ns_, "/tasks/exit",
                    [](const auto& e) { return e.container_id() == "r2" && e.id() == "r2"; })
                .size(),
            1u);
  EXPECT_EQ(ShimsOf(runtime_->state()).size(), 0u);
}

TEST_F(RuntimeTest, ADeadShimIsReportedAndCleanedUp) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("d1", {"sleep", "1000"}).ok());
  ASSERT_TRUE(CreateTask("d1", nullptr).ok());
  uint32_t pid = 0;
  ASSERT_TRUE(Start("d1", "", &pid).ok());
  std::vector<pid_t> shims = ShimsOf(runtime_->state());
  ASSERT_EQ(shims.size(), 1u);
  ASSERT_EQ(kill(shims[0], SIGKILL), 0);
  // The exit is unknown (the shim recorded none): 255, as containerd reports a dead shim.
  tv1::WaitResponse w;
  ASSERT_TRUE(Wait("d1", &w).ok());
  EXPECT_EQ(w.exit_status(), 255u);
  containerd::v1::types::Process p;
  ASSERT_TRUE(Get("d1", &p).ok());
  EXPECT_EQ(p.status(), Status::STOPPED);
  // The unsupervised container was stopped.
  ASSERT_TRUE(WaitFor([&] {
    std::string status = ReadText("/proc/" + std::to_string(pid) + "/status");
    return status.empty() || status.find("State:\tZ") != std::string::npos;
  }));
  EXPECT_EQ(Kill("d1", SIGKILL).error_code(), grpc::StatusCode::NOT_FOUND);
  tv1::DeleteResponse d;
  ASSERT_TRUE(DeleteTask("d1", &d).ok());
  EXPECT_EQ(d.exit_status(), 255u);
  EXPECT_TRUE(MountsUnder(dir_.path()).empty());
  ASSERT_TRUE(WaitFor([&] {
    return !events_
                ->Find<containerd::events::TaskExit>(
                    ns_, "/tasks/exit", [](const auto& e) { return e.container_id() == "d1"; })
                .empty();
  }));
}

TEST_F(RuntimeTest, ShimStaysSmall) {
  StartRuntime();
  ASSERT_TRUE(CreateContainer("s1", {"sleep", "1000"}).ok());
  auto io = MakeFifos(dir_.Path("fifo"), "s1", false);
  ASSERT_TRUE(CreateTask("s1", io.get()).ok());
  ASSERT_TRUE(Start("s1").ok());
  std::vector<pid_t> shims = ShimsOf(runtime_->state());
  ASSERT_EQ(shims.size(), 1u);
  uint64_t rss = RssKiB(shims[0]);
  std::cerr << "berth-shim idle RSS with a running container: " << rss << " KiB\n";
  EXPECT_GT(rss, 0u);
  EXPECT_LT(rss, 3u * 1024u) << "the shim should stay under 3 MiB";
}

TEST_F(RuntimeTest, NamespaceUsageForTheGateway) {
  StartRuntime();
  auto usage = [&](const std::string& ns, berth::runtime::v1::NamespaceUsageResponse* out) {
    berth::runtime::v1::NamespaceUsageRequest req;
    req.set_namespace_(ns);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kTimeout);
    return runtime_->admin()->NamespaceUsage(&ctx, req, out);
  };
  berth::runtime::v1::NamespaceUsageResponse u;
  ASSERT_TRUE(usage(ns_, &u).ok());
  EXPECT_EQ(u.containers(), 0);
  EXPECT_EQ(u.tasks(), 0);
  ASSERT_TRUE(CreateContainer("u1", {"sleep", "1000"}).ok());
  ASSERT_TRUE(usage(ns_, &u).ok());
  EXPECT_EQ(u.containers(), 1);
  EXPECT_EQ(u.tasks(), 0);
  ASSERT_TRUE(CreateTask("u1", nullptr).ok());
  ASSERT_TRUE(usage(ns_, &u).ok());
  EXPECT_EQ(u.tasks(), 1);
  ASSERT_TRUE(usage("other", &u).ok());
  EXPECT_EQ(u.containers(), 0);
  EXPECT_EQ(usage("not a namespace", &u).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(RuntimeTest, Errors) {
  StartRuntime();
  containerd::v1::types::Process p;
  // No container / no task.
  EXPECT_EQ(CreateTask("ghost", nullptr).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Get("ghost", &p).error_code(), grpc::StatusCode::NOT_FOUND);
  tv1::WaitResponse w;
  EXPECT_EQ(Wait("ghost", &w).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Kill("ghost", SIGKILL).error_code(), grpc::StatusCode::NOT_FOUND);
  // Invalid id.
  EXPECT_EQ(Get("bad/id", &p).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // No namespace.
  {
    grpc::ClientContext ctx;
    tv1::ListTasksRequest req;
    tv1::ListTasksResponse resp;
    EXPECT_EQ(runtime_->tasks()->List(&ctx, req, &resp).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
  // Checkpoint is not supported.
  {
    grpc::ClientContext ctx;
    Ctx(&ctx);
    tv1::CheckpointTaskRequest req;
    req.set_container_id("ghost");
    tv1::CheckpointTaskResponse resp;
    grpc::Status s = runtime_->tasks()->Checkpoint(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_NE(s.error_message().find("not supported"), std::string::npos);
  }
  // Create twice; a command that does not exist fails create with runc's message and leaves
  // nothing behind.
  ASSERT_TRUE(CreateContainer("x1", {"sleep", "1000"}).ok());
  ASSERT_TRUE(CreateTask("x1", nullptr).ok());
  EXPECT_EQ(CreateTask("x1", nullptr).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  ASSERT_TRUE(CreateContainer("x2", {"/no/such/binary"}).ok());
  grpc::Status s = CreateTask("x2", nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNKNOWN);  // the OCI runtime's failure
  EXPECT_NE(s.error_message().find("no/such/binary"), std::string::npos) << s.error_message();
  EXPECT_EQ(Get("x2", &p).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(Entries(runtime_->state() + "/" + ns_ + "/x2").empty());
  EXPECT_EQ(ShimsOf(runtime_->state()).size(), 1u);  // x1's only
  // A runtime name berth does not run.
  {
    cv1::CreateContainerRequest req;
    cv1::Container* c = req.mutable_container();
    c->set_id("x3");
    c->mutable_runtime()->set_name("io.containerd.kata.v2");
    *c->mutable_spec() =
        *anytype::PackJson(anytype::kSpecTypeURL, SpecJson(ns_, "x3", {"true"}, false));
    grpc::ClientContext ctx;
    Ctx(&ctx);
    cv1::CreateContainerResponse resp;
    ASSERT_TRUE(runtime_->containers()->Create(&ctx, req, &resp).ok());
    created_.push_back("x3");
    EXPECT_EQ(CreateTask("x3", nullptr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Exec in a task that is not running.
  EXPECT_EQ(Exec("x1", "e1", {"true"}, nullptr).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Exec("x1", "bad id", {"true"}, nullptr).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace berth::runtime
