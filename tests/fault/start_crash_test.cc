// kill -9 in the middle of a container start (issue 12: "kill -9 each berth process ... in the
// middle of a container start"), each with a real busybox container on a whole local suite:
//   - berth-runtime while Tasks.Create is in flight: with the shim's `runc create` held by a
//     gate (the shim exists, Create is not answered), and at each step of Create in turn
//     (bundle made, rootfs mounted, task.pb written, shim started, runc state made, runc
//     create done, Create answered), and restarted while the shim is still held in `runc
//     create` (it does not answer berth-runtime's Recover in time);
//   - the task's berth-shim between Create and Start (with and without a restart of
//     berth-runtime afterwards);
//   - berth-gateway while Tasks.Start is in flight (the shim's `runc start` held by a gate).
// The killed berth process is brought back with `berth-up start ROOT`; then:
//   - the call in flight returned (never hangs) with a clear error, or succeeded;
//   - the container can be loaded and its task deleted (`Delete(force)`), or it has none;
//   - no process is left in the container's cgroup, no cgroup directory, no mount under the
//     bundle, no bundle, no runc state, no shim process or socket;
//   - a new container with the same id (and snapshot key) runs `true` to exit 0, and after
//     its deletion the same holds.
//
// The gate is a wrapper around runc named by the task's runc options (binary_name): for one
// subcommand it blocks reading a FIFO until the test closes its end. The test learns that the
// wrapper got there when its non-blocking open of the FIFO for writing succeeds (only
// possible once a reader has it open). Nothing sleeps to synchronise.
//
// Root (overlay, runc), nats-server, runc and busybox-static are needed.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/berth.h"
#include "client/testing/suite.h"
#include "lib/anytype/anytype.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/events/task.pb.h"
#include "proto/containerd/runtime/v2/runc/options/oci.pb.h"
#include "tests/fault/fault_testing.h"

namespace berth::fault {
namespace {

using ::berth::testing::WaitFor;
using namespace std::chrono_literals;

constexpr char kNs[] = "startcrash";
constexpr char kImage[] = "docker.io/test/busybox:1";
// Ceiling for any one call: a call that has not returned by then hangs.
constexpr std::chrono::seconds kCallLimit{90};

// --- /proc and /sys ---------------------------------------------------------------------------

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string ReadSmall(const std::string& path) {
  // read(2), not a stream: /proc files vanish under us.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

std::vector<pid_t> AllPids() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid > 0 && end != nullptr && *end == '\0') out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Live processes in the cgroup /<ns>/<id> (or below it) of any hierarchy.
std::vector<pid_t> ContainerPids(const std::string& id) {
  const std::string path = std::string("/") + kNs + "/" + id;
  std::vector<pid_t> out;
  for (pid_t pid : AllPids()) {
    for (const std::string& line :
         Split(ReadSmall("/proc/" + std::to_string(pid) + "/cgroup"), '\n')) {
      size_t a = line.find(':');
      size_t b = a == std::string::npos ? a : line.find(':', a + 1);
      if (b == std::string::npos) continue;
      std::string p = line.substr(b + 1);
      if ((p == path || p.rfind(path + "/", 0) == 0) && ProcessAlive(pid)) {
        out.push_back(pid);
        break;
      }
    }
  }
  return out;
}

struct MountEntry {
  std::string point;
  std::string fstype;
};

std::vector<MountEntry> Mounts() {
  std::vector<MountEntry> out;
  for (const std::string& line : Split(ReadSmall("/proc/self/mountinfo"), '\n')) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, dev, root, point, fstype;
    if (!(pre >> id >> parent >> dev >> root >> point) || !(post >> fstype)) continue;
    out.push_back({point, fstype});
  }
  return out;
}

// Mount points at or below `dir`.
std::vector<std::string> MountsUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const MountEntry& m : Mounts()) {
    if (m.point == dir || m.point.rfind(dir + "/", 0) == 0) out.push_back(m.point);
  }
  return out;
}

// The cgroup directories /<ns>/<id> that exist in any mounted hierarchy.
std::vector<std::string> CgroupDirs(const std::string& id) {
  std::vector<std::string> out;
  for (const MountEntry& m : Mounts()) {
    if (m.fstype != "cgroup" && m.fstype != "cgroup2") continue;
    std::string dir = m.point + "/" + kNs + "/" + id;
    if (Exists(dir)) out.push_back(dir);
  }
  return out;
}

// berth-shim processes of task `id` of this suite (--namespace kNs --id id, bundle under root).
std::vector<pid_t> ShimPids(const std::string& root, const std::string& id) {
  std::vector<pid_t> out;
  for (pid_t pid : AllPids()) {
    std::vector<std::string> argv =
        Split(ReadSmall("/proc/" + std::to_string(pid) + "/cmdline"), '\0');
    if (argv.empty() || argv[0].size() < 10 ||
        argv[0].compare(argv[0].size() - 10, 10, "berth-shim") != 0) {
      continue;
    }
    std::string ns, task, bundle;
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
      if (argv[i] == "--namespace") ns = argv[i + 1];
      if (argv[i] == "--id") task = argv[i + 1];
      if (argv[i] == "--bundle") bundle = argv[i + 1];
    }
    bool mine = ns == kNs && bundle.rfind(root + "/", 0) == 0 && (id.empty() || task == id);
    if (mine && ProcessAlive(pid)) out.push_back(pid);
  }
  return out;
}

// Runs `f` on a thread of its own and waits up to `limit` for it: DeadlineExceeded "... did
// not return" when it hangs (the thread is left to finish on its own; `f` must own what it
// uses, so capture by value).
template <typename T>
absl::StatusOr<T> Within(std::function<absl::StatusOr<T>()> f, const std::string& what,
                         std::chrono::seconds limit = kCallLimit) {
  auto done = std::make_shared<std::promise<absl::StatusOr<T>>>();
  std::future<absl::StatusOr<T>> result = done->get_future();
  std::thread([f = std::move(f), done] { done->set_value(f()); }).detach();
  if (result.wait_for(limit) != std::future_status::ready) {
    return absl::DeadlineExceededError(what + ": did not return within " +
                                       std::to_string(limit.count()) + " s (hangs)");
  }
  return result.get();
}

absl::Status WithinStatus(std::function<absl::Status()> f, const std::string& what,
                          std::chrono::seconds limit = kCallLimit) {
  return Within<bool>(
             [f = std::move(f)]() -> absl::StatusOr<bool> {
               absl::Status s = f();
               if (!s.ok()) return s;
               return true;
             },
             what, limit)
      .status();
}

// A call interrupted by a killed process must end with an error a client can act on: it
// returned (not a hang), with a message.
::testing::AssertionResult ClearErrorOrOk(const absl::Status& s) {
  if (s.ok()) return ::testing::AssertionSuccess();
  if (absl::IsDeadlineExceeded(s)) return ::testing::AssertionFailure() << "hung: " << s;
  if (s.message().empty()) return ::testing::AssertionFailure() << "error without a message: " << s;
  return ::testing::AssertionSuccess() << s;
}

// --- the gate ---------------------------------------------------------------------------------

// A runc wrapper (a /bin/sh script) that, for the OCI runtime subcommand `op`, blocks on a
// FIFO until the test releases it, then execs runc. One-shot: Release removes the FIFO, so
// later `op` calls pass straight through.
class Gate {
 public:
  Gate(const std::string& dir, const std::string& op)
      : script_(dir + "/runc-gate-" + op), fifo_(dir + "/runc-gate-" + op + ".fifo") {
    std::ofstream out(script_);
    out << "#!/bin/sh\n"
        << "# start_crash_test: holds `runc " << op << "` until the test closes " << fifo_ << "\n"
        << "for a in \"$@\"; do\n"
        << "  if [ \"$a\" = " << op << " ]; then\n"
        << "    if [ -p " << fifo_ << " ]; then read -r _ < " << fifo_ << "; fi\n"
        << "    break\n"
        << "  fi\n"
        << "done\n"
        << "exec runc \"$@\"\n";
    out.close();
    ok_ = out.good() && ::chmod(script_.c_str(), 0755) == 0 && ::mkfifo(fifo_.c_str(), 0600) == 0;
  }
  ~Gate() { Release(); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  bool ok() const { return ok_; }
  const std::string& script() const { return script_; }

  // Waits until the wrapper is held at the gate (it has the FIFO open for reading).
  bool WaitHeld(std::chrono::milliseconds timeout = 60s) {
    return WaitFor(
        [&] {
          if (fd_ < 0) fd_ = ::open(fifo_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
          return fd_ >= 0;
        },
        timeout);
  }

  // Lets the held call (if any) go on: end-of-file on the FIFO; and opens the gate for good.
  void Release() {
    ::unlink(fifo_.c_str());
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::string script_;
  std::string fifo_;
  int fd_ = -1;
  bool ok_ = false;
};

// Tasks.Create with runc options naming `binary` as the OCI runtime.
NewTaskOpt WithOciBinary(std::string binary) {
  return [binary = std::move(binary)](const Client&, TaskConfig* config) {
    containerd::runc::v1::Options options;
    options.set_binary_name(binary);
    config->options = anytype::Pack(options);
    return absl::OkStatus();
  };
}

// --- fixture ----------------------------------------------------------------------------------

class StartCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!client_testing::IsRoot()) GTEST_SKIP() << "needs root (overlay mounts, runc)";
    ASSERT_EQ(client_testing::MissingBinaries(), "");
    ASSERT_OK(suite_.Start());
    client_ = suite_.NewClient(kNs);
    *client_ = client_->WithTimeout(60s);
    ASSERT_OK(client_testing::WriteBusyboxArchive(suite_.Path("busybox.tar"), kImage).status());
    ASSERT_OK_AND_ASSIGN(Image image, ImportArchive(*client_, suite_.Path("busybox.tar")));
    image_.emplace(image);
  }

  void TearDown() override {
    for (auto& gate : gates_) gate->Release();
    if (client_ != nullptr) {
      absl::StatusOr<std::vector<Container>> containers = client_->ListContainers();
      if (containers.ok()) {
        for (const Container& c : *containers) {
          absl::StatusOr<Task> t = c.GetTask();
          if (t.ok()) {
            Task task = *t;
            (void)Within<ExitStatus>([task] { return task.Delete(/*force=*/true); }, "teardown",
                                     60s);
          }
          (void)c.Delete(WithSnapshotCleanup);
        }
      }
    }
    // What a failed test left: the suite's shims (berth-up stop does not stop them) and the
    // namespace's container processes.
    std::vector<pid_t> stray = ShimPids(suite_.root(), "");
    for (const std::string& id : ids_) {
      for (pid_t pid : ContainerPids(id)) stray.push_back(pid);
    }
    for (pid_t pid : stray) ::kill(pid, SIGKILL);
    for (pid_t pid : stray) WaitFor([&] { return !ProcessAlive(pid); });
    client_testing::RemoveNamespaceCgroups(kNs);
  }

  std::string Bundle(const std::string& id) const {
    return suite_.Path("run/runtime") + "/" + kNs + "/" + id;
  }
  std::string RuncState(const std::string& id) const {
    return suite_.Path("run/runtime/_runc") + "/" + kNs + "/" + id;
  }

  Gate* NewGate(const std::string& op) {
    gates_.push_back(std::make_unique<Gate>(suite_.root(), op));
    return gates_.back().get();
  }

  // A container `id` from the busybox image that runs `args`, made under a lease (the
  // gateway's collector runs at start and would take a snapshot no record names yet).
  absl::StatusOr<Container> NewContainer(const std::string& id, std::vector<std::string> args) {
    ids_.push_back(id);
    ASSIGN_OR_RETURN(ScopedLease lease, client_->WithLease());
    return lease.client().NewContainer(
        id, WithImage(*image_), WithNewSnapshot(id + "-rootfs", *image_),
        WithNewSpec(WithImageConfig(*image_), oci::WithProcessArgs(std::move(args))));
  }

  // What is left of container `id`'s task: every process in its cgroup, cgroup directory,
  // mount under its bundle, the bundle, runc's state, its shim, any shim socket.
  std::vector<std::string> Leftovers(const std::string& id) const {
    std::vector<std::string> out;
    for (pid_t pid : ContainerPids(id)) out.push_back("process " + std::to_string(pid));
    for (const std::string& dir : CgroupDirs(id)) out.push_back("cgroup " + dir);
    for (const std::string& m : MountsUnder(Bundle(id))) out.push_back("mount " + m);
    if (Exists(Bundle(id))) out.push_back("bundle " + Bundle(id));
    if (Exists(RuncState(id))) out.push_back("runc state " + RuncState(id));
    for (pid_t pid : ShimPids(suite_.root(), id)) out.push_back("shim " + std::to_string(pid));
    DIR* d = ::opendir(suite_.Path("run/runtime/_s").c_str());
    if (d != nullptr) {
      while (struct dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") out.push_back("shim socket " + name);
      }
      ::closedir(d);
    }
    return out;
  }

  // Waits (the shim ends after answering Shutdown, killed processes go) until nothing of `id`
  // is left; fails listing what is.
  void ExpectNothingLeft(const std::string& id) {
    bool clean = WaitFor([&] { return Leftovers(id).empty(); }, 30s);
    EXPECT_TRUE(clean) << "left of " << id << ": " << ::testing::PrintToString(Leftovers(id))
                       << "\n"
                       << suite_.Logs();
  }

  // After the fault and the restart: the container loads, its task (if any) reports a state
  // and is deleted with force, nothing is left, the record and snapshot go, and a new
  // container with the same id runs to exit 0.
  void ExpectRecoversAndReuses(const std::string& id) {
    ASSERT_OK_AND_ASSIGN(Container c, client_->LoadContainer(id));
    absl::StatusOr<Task> t = Within<Task>([c] { return c.GetTask(); }, "get task");
    if (t.ok()) {
      Task task = *t;
      absl::StatusOr<ProcessStatus> st =
          Within<ProcessStatus>([task] { return task.Status(); }, "task status");
      ASSERT_OK(st.status());
      std::cout << "[          ] task " << id << " after recovery: " << ProcessStateName(st->state)
                << " pid " << st->pid << " exit " << st->exit_status << "\n";
      EXPECT_NE(st->state, ProcessState::kUnknown);
      ASSERT_OK(Within<ExitStatus>([task] { return task.Delete(/*force=*/true); }, "delete --force")
                    .status())
          << suite_.Logs();
    } else {
      ASSERT_TRUE(IsNotFound(t.status())) << t.status();
      std::cout << "[          ] task " << id << " after recovery: none\n";
    }
    EXPECT_TRUE(IsNotFound(c.GetTask().status()));
    ExpectNothingLeft(id);
    ASSERT_OK(c.Delete(WithSnapshotCleanup));
    RunToExitZero(id);
  }

  // A new container `id` running `true`: exit 0, then deleted, nothing left.
  void RunToExitZero(const std::string& id) {
    ASSERT_OK_AND_ASSIGN(Container c, NewContainer(id, {"true"}));
    ASSERT_OK_AND_ASSIGN(Task t, c.NewTask());
    std::future<absl::StatusOr<ExitStatus>> exited = t.Wait();
    ASSERT_OK(t.Start());
    ASSERT_EQ(exited.wait_for(kCallLimit), std::future_status::ready) << "the exit never came";
    ASSERT_OK_AND_ASSIGN(ExitStatus exit, exited.get());
    EXPECT_EQ(exit.code, 0u);
    ASSERT_OK(t.Delete().status());
    ASSERT_OK(c.Delete(WithSnapshotCleanup));
    ExpectNothingLeft(id);
  }

  // NewTask on a thread of its own (it is in flight while the test kills something).
  std::future<absl::StatusOr<Task>> NewTaskAsync(const Container& c, std::vector<NewTaskOpt> opts) {
    return std::async(std::launch::async, [c, opts] { return c.NewTask(opts); });
  }

  // The result of a call the test broke, bounded by kCallLimit.
  template <typename T>
  absl::StatusOr<T> Outcome(std::future<absl::StatusOr<T>>& call, const std::string& what) {
    if (call.wait_for(kCallLimit) != std::future_status::ready) {
      return absl::DeadlineExceededError(what + ": did not return (hangs)");
    }
    return call.get();
  }

  FaultSuite suite_;
  std::unique_ptr<Client> client_;
  std::optional<Image> image_;
  std::vector<std::unique_ptr<Gate>> gates_;
  std::vector<std::string> ids_;
};

// (a) berth-runtime killed with the shim running `runc create` for Tasks.Create: the shim
// exists, Create is not answered.
TEST_F(StartCrashTest, RuntimeKilledWhileShimCreates) {
  const std::string id = "create-held";
  Gate* gate = NewGate("create");
  ASSERT_TRUE(gate->ok());
  ASSERT_OK_AND_ASSIGN(Container c, NewContainer(id, {"sleep", "100000"}));
  std::future<absl::StatusOr<Task>> create = NewTaskAsync(c, {WithOciBinary(gate->script())});
  ASSERT_TRUE(gate->WaitHeld()) << suite_.Logs();
  ASSERT_EQ(ShimPids(suite_.root(), id).size(), 1u);
  ASSERT_EQ(create.wait_for(0s), std::future_status::timeout) << "Create answered at the gate";

  ASSERT_OK(suite_.Kill9("runtime"));
  absl::StatusOr<Task> created = Outcome(create, "Tasks.Create");
  EXPECT_TRUE(ClearErrorOrOk(created.status()));
  EXPECT_FALSE(created.ok()) << "Create answered with berth-runtime killed";
  EXPECT_TRUE(IsUnavailable(created.status())) << created.status();
  // `runc create` goes on without berth-runtime; the shim keeps what it made.
  gate->Release();
  ASSERT_OK(suite_.Restart());
  ASSERT_OK(WaitServing(*client_));
  ExpectRecoversAndReuses(id);
}

// (a) as above, but berth-runtime comes back while the shim is still held in `runc create`:
// Recover finds a shim that accepts a connection and does not answer (a slow OCI runtime).
TEST_F(StartCrashTest, RuntimeRestartedWhileShimStillCreates) {
  const std::string id = "create-slow";
  Gate* gate = NewGate("create");
  ASSERT_TRUE(gate->ok());
  ASSERT_OK_AND_ASSIGN(Container c, NewContainer(id, {"sleep", "100000"}));
  std::future<absl::StatusOr<Task>> create = NewTaskAsync(c, {WithOciBinary(gate->script())});
  ASSERT_TRUE(gate->WaitHeld()) << suite_.Logs();
  ASSERT_OK(suite_.Kill9("runtime"));
  absl::StatusOr<Task> created = Outcome(create, "Tasks.Create");
  EXPECT_TRUE(ClearErrorOrOk(created.status()));
  EXPECT_TRUE(IsUnavailable(created.status())) << created.status();
  // berth-runtime waits for the shim's answer (shim_start_timeout), gives up, and serves.
  ASSERT_OK(suite_.Restart());
  ASSERT_OK(WaitServing(*client_));
  ASSERT_OK_AND_ASSIGN(Task t, c.GetTask());
  ASSERT_OK_AND_ASSIGN(ProcessStatus st, t.Status());
  EXPECT_EQ(st.state, ProcessState::kStopped) << "the held shim answered Recover";
  gate->Release();
  ExpectRecoversAndReuses(id);
}

// (a) berth-runtime killed at each step of Tasks.Create in turn. The test kills as soon as it
// sees the step (polling without sleeping); a step that passes faster is killed a little
// later, which the assertions hold for too. The id is the same every round.
TEST_F(StartCrashTest, RuntimeKilledAtEachStepOfCreate) {
  const std::string id = "create-steps";
  struct Step {
    const char* name;
    std::function<bool()> reached;
  };
  const std::string bundle = Bundle(id);
  bool answered = false;
  const std::vector<Step> steps = {
      {"at once", [] { return true; }},
      {"bundle made", [&] { return Exists(bundle); }},
      {"rootfs mounted", [&] { return !MountsUnder(bundle + "/rootfs").empty(); }},
      {"task.pb written", [&] { return Exists(bundle + "/task.pb"); }},
      {"shim started", [&] { return !ShimPids(suite_.root(), id).empty(); }},
      {"runc state made", [&] { return Exists(RuncState(id)); }},
      {"runc create done", [&] { return Exists(bundle + "/init.pid"); }},
      {"Create answered", [&] { return answered; }},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    ASSERT_OK_AND_ASSIGN(Container c, NewContainer(id, {"sleep", "100000"}));
    answered = false;
    std::future<absl::StatusOr<Task>> create = NewTaskAsync(c, {});
    // Busy-poll (yielding) for the step; stop at the answer (the step passed unseen).
    auto limit = std::chrono::steady_clock::now() + 60s;
    bool seen = false;
    while (std::chrono::steady_clock::now() < limit) {
      if (step.reached()) {
        seen = true;
        break;
      }
      if (create.wait_for(0s) == std::future_status::ready) {
        answered = true;
        seen = step.reached();
        break;
      }
      sched_yield();
    }
    ASSERT_OK(suite_.Kill9("runtime"));
    absl::StatusOr<Task> created = Outcome(create, "Tasks.Create");
    std::cout << "[          ] killed berth-runtime at \"" << step.name << "\" ("
              << (seen ? "seen" : "passed unseen") << "): Create "
              << (created.ok() ? "OK" : created.status().ToString()) << "\n";
    EXPECT_TRUE(ClearErrorOrOk(created.status()));
    ASSERT_OK(suite_.Restart());
    ASSERT_OK(WaitServing(*client_));
    ExpectRecoversAndReuses(id);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// (b) the task's berth-shim killed between Create and Start; `restart` says whether
// berth-runtime is killed and restarted too (it then finds the dead shim in Recover).
class ShimKilledTest : public StartCrashTest, public ::testing::WithParamInterface<bool> {};

TEST_P(ShimKilledTest, ShimKilledBetweenCreateAndStart) {
  const bool restart_runtime = GetParam();
  const std::string id = "shim-killed";
  ASSERT_OK_AND_ASSIGN(Container c, NewContainer(id, {"sleep", "100000"}));
  ASSERT_OK_AND_ASSIGN(Task t, c.NewTask());
  ASSERT_OK_AND_ASSIGN(ProcessStatus created, t.Status());
  ASSERT_EQ(created.state, ProcessState::kCreated);
  // What the leftover check looks for is all there now (the probes see it).
  ASSERT_FALSE(ContainerPids(id).empty()) << "runc init is not in the container's cgroup";
  EXPECT_FALSE(CgroupDirs(id).empty());
  EXPECT_FALSE(MountsUnder(Bundle(id)).empty());
  EXPECT_TRUE(Exists(Bundle(id)));
  EXPECT_TRUE(Exists(RuncState(id)));
  std::vector<pid_t> shims = ShimPids(suite_.root(), id);
  ASSERT_EQ(shims.size(), 1u);

  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<EventStream> events,
      client_->Subscribe({std::string("namespace==") + kNs + ",topic==\"/tasks/exit\""}));

  ASSERT_EQ(::kill(shims[0], SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] { return !ProcessAlive(shims[0]); }, 30s));
  auto stopped = [&] {
    absl::StatusOr<ProcessStatus> st = t.Status();
    return st.ok() && st->state == ProcessState::kStopped;
  };
  if (restart_runtime) {
    // Once berth-runtime has recorded the exit, so that a second report would show, and has
    // confirmed it sent (its outbox delivers at least once: a record still pending at the
    // kill is published again at start, services/runtime/outbox.h).
    ASSERT_TRUE(WaitFor(stopped, 30s)) << suite_.Logs();
    ASSERT_TRUE(WaitFor(
        [&] {
          absl::StatusOr<double> pending = suite_.Metric("runtime", "berth_runtime_outbox_pending");
          return pending.ok() && *pending == 0;
        },
        30s))
        << "berth_runtime_outbox_pending: "
        << suite_.Metric("runtime", "berth_runtime_outbox_pending").status();
    ASSERT_OK(suite_.Kill9("runtime"));
    ASSERT_OK(suite_.Restart());
    ASSERT_OK(WaitServing(*client_));
  }
  // Start fails, clearly, and at once; the task is then reported stopped.
  absl::Status started = WithinStatus([t] { return t.Start(); }, "Tasks.Start");
  EXPECT_TRUE(ClearErrorOrOk(started));
  EXPECT_FALSE(started.ok()) << "Start succeeded without a shim";
  std::cout << "[          ] Start after the shim was killed: " << started << "\n";
  ASSERT_TRUE(WaitFor(stopped, 30s))
      << "the task is not reported stopped: "
      << (t.Status().ok() ? ProcessStateName(t.Status()->state) : t.Status().status().ToString());
  ExpectRecoversAndReuses(id);

  // The killed task's exit was published once: counted up to the exit of the container that
  // reused the id (another pid).
  std::vector<std::string> exits;
  for (;;) {
    absl::StatusOr<Envelope> e = NextWithin(*events, 60s);
    ASSERT_OK(e.status()) << "exits of the killed task so far: " << exits.size();
    const auto* exit = e->As<containerd::events::TaskExit>();
    if (exit == nullptr || exit->container_id() != id || exit->id() != id) continue;
    if (exit->pid() != created.pid) break;
    exits.push_back(exit->ShortDebugString());
  }
  EXPECT_EQ(exits.size(), 1u) << "exit events of the task whose shim was killed: "
                              << ::testing::PrintToString(exits);
}

INSTANTIATE_TEST_SUITE_P(Runtime, ShimKilledTest, ::testing::Values(false, true),
                         [](const auto& info) {
                           return info.param ? std::string("RuntimeRestarted")
                                             : std::string("RuntimeRunning");
                         });

// (c) berth-gateway killed with Tasks.Start in flight (the shim running `runc start`).
TEST_F(StartCrashTest, GatewayKilledDuringStart) {
  const std::string id = "start-held";
  Gate* gate = NewGate("start");
  ASSERT_TRUE(gate->ok());
  ASSERT_OK_AND_ASSIGN(Container c, NewContainer(id, {"sleep", "100000"}));
  ASSERT_OK_AND_ASSIGN(Task t, c.NewTask(WithOciBinary(gate->script())));
  std::future<absl::Status> start = std::async(std::launch::async, [t] { return t.Start(); });
  ASSERT_TRUE(gate->WaitHeld()) << suite_.Logs();
  ASSERT_EQ(start.wait_for(0s), std::future_status::timeout) << "Start answered at the gate";

  ASSERT_OK(suite_.Kill9("gateway"));
  ASSERT_EQ(start.wait_for(kCallLimit), std::future_status::ready) << "Tasks.Start hangs";
  absl::Status started = start.get();
  EXPECT_TRUE(ClearErrorOrOk(started));
  EXPECT_TRUE(IsUnavailable(started)) << started;
  // berth-runtime finishes the start it was given.
  gate->Release();
  ASSERT_OK(suite_.Restart());
  ASSERT_OK(WaitServing(*client_));
  ASSERT_OK_AND_ASSIGN(ProcessStatus st, t.Status());
  EXPECT_EQ(st.state, ProcessState::kRunning);
  EXPECT_FALSE(ContainerPids(id).empty()) << "the container's process is not running";
  ExpectRecoversAndReuses(id);
}

}  // namespace
}  // namespace berth::fault
