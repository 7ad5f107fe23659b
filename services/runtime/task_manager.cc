#include "services/runtime/task_manager.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "fmt/format.h"
#include "lib/anytype/anytype.h"
#include "lib/filters/filters.h"
#include "lib/identifiers/identifiers.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "nlohmann/json.hpp"
#include "proto/containerd/events/task.pb.h"
#include "proto/containerd/runtime/v2/runc/options/oci.pb.h"
#include "services/runtime/mount.h"
#include "services/runtime/schema.h"
#include "services/runtime/shim_launcher.h"
#include "services/runtime/timestamps.h"

namespace berth::runtime {

namespace sv1 = berth::shim::v1;
namespace tasks = containerd::services::tasks::v1;
using containerd::v1::types::Process;

namespace {

constexpr char kRuncOptionsType[] = "containerd.runc.v1.Options";
constexpr uint32_t kUnknownExitStatus = 255;

absl::Status TaskNotFound(const std::string& id) {
  return NotFoundError(fmt::format("task {:?}: not found", id));
}

absl::Status MkdirMode(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return ErrnoToStatus("mkdir", path, errno);
  }
  // An existing directory gets the mode too (CVE-2021-41103, CVE-2024-25621: state dirs must
  // not be traversable by other users).
  if (chmod(path.c_str(), mode) != 0) return ErrnoToStatus("chmod", path, errno);
  return absl::OkStatus();
}

absl::Status WriteFileAtomic(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoToStatus("create", tmp, errno);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      return ErrnoToStatus("write", tmp, err);
    }
    off += static_cast<size_t>(n);
  }
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoToStatus("close", tmp, err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return ErrnoToStatus("rename", path, err);
  }
  return absl::OkStatus();
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

// "<status> <exited_at ns> <pid>" as the shim writes it.
bool ReadExitFile(const std::string& path, uint32_t* status, int64_t* exited_at, uint32_t* pid) {
  std::string text;
  if (!ReadFile(path, &text)) return false;
  std::istringstream in(text);
  uint64_t s = 0, p = 0;
  int64_t at = 0;
  if (!(in >> s >> at >> p)) return false;
  *status = static_cast<uint32_t>(s);
  *exited_at = at;
  *pid = static_cast<uint32_t>(p);
  return true;
}

int RemoveEntry(const char* path, const struct stat*, int type, struct FTW*) {
  if (type == FTW_DP) return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
  return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

// Removes a directory tree without crossing into other filesystems.
absl::Status RemoveTree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus("stat", path, errno);
  }
  if (nftw(path.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0) {
    return ErrnoToStatus("remove", path, errno);
  }
  if (lstat(path.c_str(), &st) == 0) {
    return FailedPreconditionError(
        fmt::format("remove {:?}: something is still mounted below", path));
  }
  return absl::OkStatus();
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

containerd::v1::types::Status ToApiStatus(sv1::Status s) {
  return static_cast<containerd::v1::types::Status>(static_cast<int>(s));
}

bool Exited(sv1::Status s) { return s == sv1::STOPPED; }

// Runs `<binary> --root R delete --force ID` (cleanup of a task whose shim is gone).
void ForceDeleteWithRuntime(const berth::runtime::v1::TaskRecord& record) {
  pid_t child = fork();
  if (child == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execlp(record.runtime_binary().c_str(), record.runtime_binary().c_str(), "--root",
           record.runtime_root().c_str(), "delete", "--force", record.container_id().c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  if (child > 0) {
    while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

// Removes a shim's socket and console sockets (<socket>.c<n>) a dead shim left behind.
void RemoveShimSockets(const std::string& socket) {
  if (socket.empty()) return;
  std::string dir = socket.substr(0, socket.rfind('/'));
  std::string base = socket.substr(socket.rfind('/') + 1);
  for (const std::string& name : ListDir(dir)) {
    if (name == base || name.rfind(base + ".c", 0) == 0) unlink((dir + "/" + name).c_str());
  }
}

// A pidfd for `pid` (not necessarily a child), or -1 when it is gone already or pids <= 1.
int OpenPidfd(pid_t pid) {
  if (pid <= 1) return -1;
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

// Waits until the process of `pidfd` has exited, at most `timeout`; then closes `pidfd`.
// A pidfd becomes readable when its process exits (zombie or reaped), so nothing polls.
void WaitForExitAndClose(int pidfd, std::chrono::milliseconds timeout) {
  if (pidfd < 0) return;
  struct pollfd p = {pidfd, POLLIN, 0};
  while (poll(&p, 1, static_cast<int>(timeout.count())) < 0 && errno == EINTR) {
  }
  close(pidfd);
}

// A shim that still listens on `socket` but did not answer berth-runtime's Connect in time
// (busy in an OCI runtime call, e.g. a `runc create` berth-runtime died waiting for) would
// live on unsupervised and finish that call: a container nobody tracks, a shim nobody stops.
// Kills it with its process group (the runtime call it waits for; containers run in their own
// sessions), and waits for it to go. Nothing happens when nothing listens.
void StopUnresponsiveShim(const std::string& socket) {
  absl::StatusOr<int> fd = DialUnix(socket);
  if (!fd.ok()) return;
  struct ucred cred = {};
  socklen_t len = sizeof cred;
  int rc = getsockopt(*fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
  close(*fd);
  if (rc != 0 || cred.pid <= 1 || cred.pid == getpid()) return;
  pid_t shim = cred.pid;
  pid_t group = getpgid(shim);
  log::Warn("killing a shim that does not answer socket={:?} shim_pid={} process_group={}", socket,
            shim, group);
  const int pidfd = OpenPidfd(shim);
  if (group > 1 && group != getpgrp()) kill(-group, SIGKILL);
  kill(shim, SIGKILL);
  WaitForExitAndClose(pidfd, std::chrono::seconds(5));
}

}  // namespace

TaskManager::TaskManager(TaskManagerOptions options, ContainerStore* containers, store::Store* db,
                         Outbox* outbox, events::Publisher* publisher)
    : options_(std::move(options)),
      containers_(containers),
      db_(db),
      outbox_(outbox),
      publisher_(publisher),
      cgroup_mode_(cgroups::DetectMode()) {}

TaskManager::~TaskManager() {
  std::map<std::string, std::shared_ptr<Task>> tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks.swap(tasks_);
  }
  for (auto& [key, task] : tasks) {
    std::unique_ptr<ShimClient> shim;
    {
      std::lock_guard<std::mutex> lock(task->mu);
      task->deleted = true;  // Nobody will wait on it any more.
      task->cv.notify_all();
    }
    std::lock_guard<std::mutex> op(task->op_mu);
    if (task->shim != nullptr) task->shim->Close();
  }
}

void TaskManager::Publish(const std::string& ns, const std::string& topic,
                          const google::protobuf::Message& event, const std::string& type_url) {
  if (publisher_ == nullptr) return;
  absl::Status s = publisher_->Publish(ns, topic, event, type_url);
  if (!s.ok()) log::Warn("publish failed topic={:?} error={:?}", topic, s.ToString());
}

absl::StatusOr<std::shared_ptr<TaskManager::Task>> TaskManager::Find(const CallContext& call,
                                                                     const std::string& id) {
  RETURN_IF_ERROR(identifiers::Validate(id));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tasks_.find(Key(call.ns, id));
  if (it == tasks_.end()) return TaskNotFound(id);
  std::lock_guard<std::mutex> task_lock(it->second->mu);
  if (it->second->creating || it->second->deleted) return TaskNotFound(id);
  return it->second;
}

absl::StatusOr<ShimClient*> TaskManager::LiveShim(Task& task) {
  std::lock_guard<std::mutex> lock(task.mu);
  if (task.shim == nullptr || task.shim_dead) {
    return NotFoundError(
        fmt::format("task {:?}: its shim is gone (process already finished)", task.id));
  }
  return task.shim.get();
}

absl::StatusOr<sv1::Response> TaskManager::CallShim(Task& task, const sv1::Request& req) {
  ASSIGN_OR_RETURN(ShimClient * shim, LiveShim(task));
  return shim->Call(req, options_.shim_call_timeout);
}

void TaskManager::ResolveCgroup(Task& task, uint32_t pid) {
  if (pid == 0) return;
  absl::StatusOr<cgroups::Paths> paths = cgroups::ForPid(static_cast<pid_t>(pid));
  if (!paths.ok()) return;
  std::lock_guard<std::mutex> lock(task.mu);
  task.cgroup = *paths;
}

absl::Status TaskManager::Attach(const std::shared_ptr<Task>& task) {
  ASSIGN_OR_RETURN(std::unique_ptr<ShimClient> client,
                   ShimClient::Connect(task->record.socket(), options_.shim_start_timeout));
  std::weak_ptr<Task> weak = task;
  RETURN_IF_ERROR(client->Subscribe(
      [this, weak](const sv1::Event& event) -> absl::Status {
        std::shared_ptr<Task> t = weak.lock();
        if (t == nullptr) return absl::OkStatus();
        if (event.has_exit()) {
          const sv1::ExitEvent& e = event.exit();
          return HandleExit(t, e.exec_id(), e.pid(), e.exit_status(), e.exited_at_unix_nanos());
        }
        if (event.has_oom()) {
          containerd::events::TaskOOM oom;
          oom.set_container_id(t->id);
          Publish(t->ns, "/tasks/oom", oom, "containerd.events.TaskOOM");
        }
        return absl::OkStatus();
      },
      [this, weak]() {
        if (std::shared_ptr<Task> t = weak.lock()) OnShimGone(t);
      }));
  std::lock_guard<std::mutex> lock(task->mu);
  task->shim = std::move(client);
  return absl::OkStatus();
}

absl::Status TaskManager::HandleExit(const std::shared_ptr<Task>& task, const std::string& exec_id,
                                     uint32_t pid, uint32_t exit_status, int64_t exited_at) {
  {
    // A process that exits at once can report it before Start has published its start event;
    // hold the exit until then (bounded, in case Start is stuck) so subscribers see start, exit.
    std::unique_lock<std::mutex> lock(task->mu);
    task->cv.wait_for(lock, options_.shim_call_timeout, [&] {
      auto it = task->procs.find(exec_id);
      return it == task->procs.end() || !it->second.starting;
    });
  }
  // Persist first (deduplicated by the exit key: a shim re-sends what was not acknowledged).
  std::string key = schema::ExitKey(task->ns, task->id, exec_id);
  std::string value = fmt::format("{} {}", pid, exited_at);
  absl::StatusOr<std::string> seen = db_->Get(key);
  if (!seen.ok() || *seen != value) {
    if (!seen.ok() && !IsNotFound(seen.status())) return seen.status();
    containerd::events::TaskExit event;
    event.set_container_id(task->id);
    event.set_id(exec_id.empty() ? task->id : exec_id);
    event.set_pid(pid);
    event.set_exit_status(exit_status);
    *event.mutable_exited_at() = FromUnixNanos(exited_at);
    if (outbox_ != nullptr) {
      RETURN_IF_ERROR(outbox_->Add(task->ns, "/tasks/exit", event, "containerd.events.TaskExit",
                                   {{key, value}}));
    } else {
      RETURN_IF_ERROR(db_->Put(key, value));
      Publish(task->ns, "/tasks/exit", event, "containerd.events.TaskExit");
    }
    log::Info("task exited namespace={:?} id={:?} exec={:?} pid={} status={}", task->ns, task->id,
              exec_id, pid, exit_status);
  }
  std::lock_guard<std::mutex> lock(task->mu);
  auto it = task->procs.find(exec_id);
  if (it != task->procs.end() && (!Exited(it->second.status) || it->second.pid == pid)) {
    it->second.status = sv1::STOPPED;
    it->second.exit_status = exit_status;
    it->second.exited_at = exited_at;
    if (it->second.pid == 0) it->second.pid = pid;
  }
  task->cv.notify_all();
  return absl::OkStatus();
}

void TaskManager::OnShimGone(const std::shared_ptr<Task>& task) {
  std::vector<std::pair<std::string, Proc>> running;
  {
    std::lock_guard<std::mutex> lock(task->mu);
    if (task->deleted || task->shim_dead) return;
    task->shim_dead = true;
    for (auto& [exec_id, proc] : task->procs) {
      if (!Exited(proc.status)) running.emplace_back(exec_id, proc);
    }
  }
  log::Warn("shim gone namespace={:?} id={:?}", task->ns, task->id);
  // Nobody supervises the container any more: stop it now (as containerd's dead-shim cleanup
  // does) rather than leave it running unseen. Its exit status, unless the shim recorded one,
  // is unknown (255).
  ForceDeleteWithRuntime(task->record);
  for (auto& [exec_id, proc] : running) {
    uint32_t status = kUnknownExitStatus, pid = proc.pid;
    int64_t at = NowUnixNanos();
    uint32_t file_pid = 0;
    const std::string exit_file = schema::ExitFile(task->bundle, exec_id);
    if (!ReadExitFile(exit_file, &status, &at, &file_pid)) {
      status = kUnknownExitStatus;
      at = NowUnixNanos();
      // Recorded where the shim would have, so that a berth-runtime restarted before the
      // task is deleted finds this same exit (pid and time) and HandleExit's dedup key keeps
      // it from being published a second time.
      absl::Status written =
          WriteFileAtomic(exit_file, fmt::format("{} {} {}\n", status, at, pid), 0600);
      if (!written.ok()) {
        log::Warn("writing the exit file failed id={:?} error={:?}", task->id, written.ToString());
      }
    }
    absl::Status s = HandleExit(task, exec_id, pid, status, at);
    if (!s.ok()) log::Error("recording exit failed id={:?} error={:?}", task->id, s.ToString());
  }
  std::lock_guard<std::mutex> lock(task->mu);
  task->cv.notify_all();
}

absl::Status TaskManager::RemoveBundle(const std::string& bundle) {
  std::string rootfs = bundle + "/" + schema::kRootfsDir;
  RETURN_IF_ERROR(UnmountAll(rootfs));
  if (IsMountPoint(rootfs)) {
    return FailedPreconditionError(fmt::format("remove bundle {:?}: rootfs still mounted", bundle));
  }
  return RemoveTree(bundle);
}

absl::Status TaskManager::Recover() {
  RETURN_IF_ERROR(MkdirMode(options_.state, 0700));
  RETURN_IF_ERROR(MkdirMode(schema::SocketDir(options_.state), 0700));
  RETURN_IF_ERROR(MkdirMode(options_.state + "/" + schema::kRuncRootDir, 0700));
  for (const std::string& ns : ListDir(options_.state)) {
    if (!identifiers::Validate(ns).ok()) continue;  // _s, _runc, strays
    std::string ns_dir = schema::NamespaceDir(options_.state, ns);
    for (const std::string& id : ListDir(ns_dir)) {
      std::string bundle = schema::BundleDir(options_.state, ns, id);
      std::string data;
      berth::runtime::v1::TaskRecord record;
      if (!identifiers::Validate(id).ok() ||
          !ReadFile(bundle + "/" + schema::kTaskRecordFile, &data) ||
          !record.ParseFromString(data)) {
        log::Warn("removing the bundle of an unfinished create bundle={:?}", bundle);
        absl::Status s = RemoveBundle(bundle);
        if (!s.ok()) log::Error("cleanup failed bundle={:?} error={:?}", bundle, s.ToString());
        continue;
      }
      auto task = std::make_shared<Task>();
      task->ns = ns;
      task->id = id;
      task->bundle = bundle;
      task->record = record;
      task->creating = false;
      Proc init;
      init.stdin = record.stdin();
      init.stdout = record.stdout();
      init.stderr = record.stderr();
      init.terminal = record.terminal();
      task->procs[""] = init;
      {
        std::lock_guard<std::mutex> lock(mu_);
        tasks_[Key(ns, id)] = task;
      }
      absl::Status attached = Attach(task);
      if (!attached.ok()) {
        log::Warn("shim of task not reachable namespace={:?} id={:?} error={:?}", ns, id,
                  attached.ToString());
        StopUnresponsiveShim(record.socket());
        {
          std::lock_guard<std::mutex> lock(task->mu);
          // Pid from the bundle so that the exit names it.
          std::string pid_text;
          if (ReadFile(bundle + "/init.pid", &pid_text)) {
            task->procs[""].pid =
                static_cast<uint32_t>(std::strtoul(pid_text.c_str(), nullptr, 10));
          }
        }
        OnShimGone(task);
        continue;
      }
      sv1::Request req;
      req.mutable_state()->set_all(true);
      absl::StatusOr<sv1::Response> state = task->shim->Call(req, options_.shim_call_timeout);
      bool has_init = false;
      if (state.ok()) {
        for (const sv1::ProcessState& p : state->state().processes()) {
          has_init = has_init || p.exec_id().empty();
        }
      }
      if (state.ok() && !has_init) {
        // The previous run died between the shim's Create and its reply, or between the
        // shim's Delete and the cleanup: finish that cleanup now.
        log::Warn("finishing an interrupted create or delete namespace={:?} id={:?}", ns, id);
        {
          std::lock_guard<std::mutex> lock(task->mu);
          task->deleted = true;
        }
        sv1::Request shutdown;
        shutdown.mutable_shutdown()->set_now(true);
        (void)task->shim->Call(shutdown, options_.shim_call_timeout);
        task->shim->Close();
        RemoveShimSockets(record.socket());
        absl::Status removed = RemoveBundle(bundle);
        if (!removed.ok()) {
          log::Error("cleanup failed bundle={:?} error={:?}", bundle, removed.ToString());
        }
        std::lock_guard<std::mutex> lock(mu_);
        tasks_.erase(Key(ns, id));
        continue;
      }
      if (state.ok()) {
        std::lock_guard<std::mutex> lock(task->mu);
        for (const sv1::ProcessState& p : state->state().processes()) {
          Proc& proc = task->procs[p.exec_id()];
          // An exit the shim re-sends was maybe handled already; never move back from STOPPED.
          if (!Exited(proc.status)) {
            proc.status = p.status();
            proc.exit_status = p.exit_status();
            proc.exited_at = p.exited_at_unix_nanos();
          }
          proc.pid = p.pid();
          proc.stdin = p.stdio().stdin();
          proc.stdout = p.stdio().stdout();
          proc.stderr = p.stdio().stderr();
          proc.terminal = p.stdio().terminal();
        }
      }
      ResolveCgroup(*task, task->procs[""].pid);
      log::Info("reconnected to shim namespace={:?} id={:?} shim_pid={}", ns, id,
                task->shim->info().shim_pid());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> TaskManager::Create(const CallContext& call,
                                             const tasks::CreateTaskRequest& req) {
  const std::string& id = req.container_id();
  RETURN_IF_ERROR(identifiers::Validate(id));
  ASSIGN_OR_RETURN(Container container, containers_->Get(call, id));
  if (!req.checkpoint().digest().empty()) {
    return UnimplementedError(fmt::format(
        "create task {:?}: restoring from a checkpoint is not supported by berth-runtime", id));
  }
  if (!req.runtime_path().empty()) {
    log::Warn("ignoring runtime_path (berth always runs berth-shim) path={:?}", req.runtime_path());
  }
  const std::string& runtime_name = container.runtime().name();
  if (runtime_name.rfind("io.containerd.runc.", 0) != 0 &&
      runtime_name != "io.containerd.runtime.v1.linux") {
    return InvalidArgumentError(
        fmt::format("create task {:?}: runtime {:?} is not supported by berth-runtime (use "
                    "io.containerd.runc.v2; the OCI binary is chosen by its options' binary_name)",
                    id, runtime_name));
  }
  // Runtime options: the task's, else the container's.
  const google::protobuf::Any& any =
      !req.options().type_url().empty() ? req.options() : container.runtime().options();
  containerd::runc::v1::Options options;
  if (!any.type_url().empty()) {
    if (!anytype::Is(any, kRuncOptionsType)) {
      return InvalidArgumentError(
          fmt::format("create task {:?}: runtime options of type {:?} are not supported (want {})",
                      id, any.type_url(), kRuncOptionsType));
    }
    RETURN_IF_ERROR(anytype::Unpack(any, &options));
  }
  std::string binary =
      options.binary_name().empty() ? options_.default_runtime : options.binary_name();
  std::string runtime_root = options.root().empty() ? schema::RuncRoot(options_.state, call.ns)
                                                    : options.root() + "/" + call.ns;

  // The spec.
  absl::StatusOr<std::string> spec_json =
      anytype::UnpackJson(container.spec(), anytype::kSpecTypeURL);
  if (!spec_json.ok()) {
    return InvalidArgumentError(fmt::format("create task {:?}: container spec: {}", id,
                                            std::string(spec_json.status().message())));
  }
  nlohmann::json spec = nlohmann::json::parse(*spec_json, nullptr, /*allow_exceptions=*/false);
  if (!spec.is_object()) {
    return InvalidArgumentError(fmt::format("create task {:?}: the spec is not a JSON object", id));
  }
  if (req.rootfs_size() > 0) {
    if (!spec["root"].is_object()) spec["root"] = nlohmann::json::object();
    spec["root"]["path"] = schema::kRootfsDir;
  }
  bool shared_pid_ns = true;
  if (spec.contains("linux") && spec["linux"].is_object() && spec["linux"].contains("namespaces") &&
      spec["linux"]["namespaces"].is_array()) {
    for (const auto& ns : spec["linux"]["namespaces"]) {
      if (ns.is_object() && ns.value("type", "") == "pid" && ns.value("path", "").empty()) {
        shared_pid_ns = false;
      }
    }
  }

  // Reserve the id.
  auto task = std::make_shared<Task>();
  task->ns = call.ns;
  task->id = id;
  task->bundle = schema::BundleDir(options_.state, call.ns, id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = tasks_.emplace(Key(call.ns, id), task);
    if (!inserted) return AlreadyExistsError(fmt::format("task {:?}: already exists", id));
  }
  std::lock_guard<std::mutex> op(task->op_mu);
  bool mounted = false;
  auto fail = [&](absl::Status status) -> absl::Status {
    {
      // First, so that the shim going away is not taken for a crash (OnShimGone).
      std::lock_guard<std::mutex> lock(task->mu);
      task->deleted = true;
    }
    if (task->shim != nullptr) {
      sv1::Request shutdown;
      shutdown.mutable_shutdown()->set_now(true);
      (void)task->shim->Call(shutdown, options_.shim_call_timeout);
      task->shim->Close();
    }
    RemoveShimSockets(task->record.socket());
    absl::Status removed = RemoveBundle(task->bundle);
    if (!removed.ok() && mounted) {
      log::Error("cleanup after failed create left the bundle bundle={:?} error={:?}", task->bundle,
                 removed.ToString());
    }
    (void)db_->Delete(schema::ExitKey(call.ns, id, ""));
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.erase(Key(call.ns, id));
    return status;
  };

  RETURN_IF_ERROR(MkdirMode(options_.state, 0700));
  RETURN_IF_ERROR(MkdirMode(schema::SocketDir(options_.state), 0700));
  RETURN_IF_ERROR(MkdirMode(options_.state + "/" + schema::kRuncRootDir, 0700));
  RETURN_IF_ERROR(MkdirMode(schema::NamespaceDir(options_.state, call.ns), 0700));
  if (access(task->bundle.c_str(), F_OK) == 0) {
    log::Warn("removing a stale bundle bundle={:?}", task->bundle);
    if (absl::Status s = RemoveBundle(task->bundle); !s.ok()) return fail(s);
  }
  if (mkdir(task->bundle.c_str(), 0700) != 0) {
    return fail(ErrnoToStatus("mkdir", task->bundle, errno));
  }
  if (!options.root().empty() && mkdir(options.root().c_str(), 0700) != 0 && errno != EEXIST) {
    return fail(ErrnoToStatus("mkdir", options.root(), errno));
  }
  if (mkdir(runtime_root.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail(ErrnoToStatus("mkdir", runtime_root, errno));
  }
  if (absl::Status s = WriteFileAtomic(task->bundle + "/" + schema::kSpecFile, spec.dump(), 0600);
      !s.ok()) {
    return fail(s);
  }
  std::string rootfs = task->bundle + "/" + schema::kRootfsDir;
  if (mkdir(rootfs.c_str(), 0711) != 0) return fail(ErrnoToStatus("mkdir", rootfs, errno));
  std::vector<containerd::types::Mount> mounts(req.rootfs().begin(), req.rootfs().end());
  if (absl::Status s = MountAll(mounts, rootfs); !s.ok()) return fail(s);
  mounted = !mounts.empty();

  berth::runtime::v1::TaskRecord& record = task->record;
  record.set_namespace_(call.ns);
  record.set_container_id(id);
  record.set_bundle(task->bundle);
  record.set_socket(schema::ShimSocket(options_.state, call.ns, id));
  record.set_runtime_binary(binary);
  record.set_runtime_root(runtime_root);
  for (const auto& m : req.rootfs()) *record.add_rootfs() = m;
  record.set_stdin(req.stdin());
  record.set_stdout(req.stdout());
  record.set_stderr(req.stderr());
  record.set_terminal(req.terminal());
  record.set_created_at_unix_nanos(NowUnixNanos());
  if (!any.type_url().empty()) *record.mutable_options() = any;
  if (absl::Status s = WriteFileAtomic(task->bundle + "/" + schema::kTaskRecordFile,
                                       record.SerializeAsString(), 0600);
      !s.ok()) {
    return fail(s);
  }
  // A stale exit key (a task of the same id whose Delete did not finish, or whose removal
  // was not synced before a power loss) would hide this one. Looked up first: a synced delete
  // of a key that is not there would cost a WAL fsync on every create.
  if (db_->Get(schema::ExitKey(call.ns, id, "")).ok()) {
    (void)db_->Delete(schema::ExitKey(call.ns, id, ""));
  }

  ShimLaunchOptions launch;
  launch.binary = options_.shim_binary.empty() ? DefaultShimBinary() : options_.shim_binary;
  launch.ns = call.ns;
  launch.id = id;
  launch.bundle = task->bundle;
  launch.socket = record.socket();
  launch.runtime_binary = binary;
  launch.runtime_root = runtime_root;
  launch.systemd_cgroup = options.systemd_cgroup();
  launch.shared_pid_ns = shared_pid_ns;
  launch.log_file = task->bundle + "/" + schema::kShimLogFile;
  launch.timeout = options_.shim_start_timeout;
  absl::StatusOr<pid_t> shim_pid = LaunchShim(launch);
  if (!shim_pid.ok()) return fail(shim_pid.status());
  {
    std::lock_guard<std::mutex> lock(task->mu);
    Proc& init = task->procs[""];
    init.stdin = req.stdin();
    init.stdout = req.stdout();
    init.stderr = req.stderr();
    init.terminal = req.terminal();
  }
  if (absl::Status s = Attach(task); !s.ok()) return fail(s);

  sv1::Request create;
  sv1::CreateRequest* c = create.mutable_create();
  c->mutable_stdio()->set_stdin(req.stdin());
  c->mutable_stdio()->set_stdout(req.stdout());
  c->mutable_stdio()->set_stderr(req.stderr());
  c->mutable_stdio()->set_terminal(req.terminal());
  c->set_no_pivot_root(options.no_pivot_root());
  c->set_no_new_keyring(options.no_new_keyring());
  absl::StatusOr<sv1::Response> created = task->shim->Call(create, options_.shim_call_timeout);
  if (!created.ok()) {
    return fail(Annotate(created.status(), fmt::format("create task {:?}", id)));
  }
  uint32_t pid = created->create().pid();
  {
    std::lock_guard<std::mutex> lock(task->mu);
    Proc& init = task->procs[""];
    if (init.pid == 0) init.pid = pid;
    task->creating = false;
  }
  ResolveCgroup(*task, pid);

  containerd::events::TaskCreate event;
  event.set_container_id(id);
  event.set_bundle(task->bundle);
  for (const auto& m : req.rootfs()) *event.add_rootfs() = m;
  event.mutable_io()->set_stdin(req.stdin());
  event.mutable_io()->set_stdout(req.stdout());
  event.mutable_io()->set_stderr(req.stderr());
  event.mutable_io()->set_terminal(req.terminal());
  event.set_pid(pid);
  Publish(call.ns, "/tasks/create", event, "containerd.events.TaskCreate");
  log::Info("task created namespace={:?} id={:?} pid={} runtime={:?} shim_pid={}", call.ns, id, pid,
            binary, *shim_pid);
  return pid;
}

absl::StatusOr<uint32_t> TaskManager::Start(const CallContext& call, const std::string& id,
                                            const std::string& exec_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  std::lock_guard<std::mutex> op(task->op_mu);
  {
    std::lock_guard<std::mutex> lock(task->mu);
    auto it = task->procs.find(exec_id);
    if (it == task->procs.end()) {
      return NotFoundError(fmt::format("process {:?} of task {:?}: not found", exec_id, id));
    }
    it->second.starting = true;
  }
  // Lets an exit that HandleExit holds back go on, once the start event is out (or failed).
  absl::Cleanup started = [&] {
    std::lock_guard<std::mutex> lock(task->mu);
    task->procs[exec_id].starting = false;
    task->cv.notify_all();
  };
  sv1::Request req;
  req.mutable_start()->set_exec_id(exec_id);
  ASSIGN_OR_RETURN(sv1::Response resp, CallShim(*task, req));
  uint32_t pid = resp.start().pid();
  {
    std::lock_guard<std::mutex> lock(task->mu);
    Proc& p = task->procs[exec_id];
    p.pid = pid;
    if (!Exited(p.status)) p.status = sv1::RUNNING;
  }
  if (exec_id.empty()) {
    containerd::events::TaskStart event;
    event.set_container_id(id);
    event.set_pid(pid);
    Publish(call.ns, "/tasks/start", event, "containerd.events.TaskStart");
  } else {
    containerd::events::TaskExecStarted event;
    event.set_container_id(id);
    event.set_exec_id(exec_id);
    event.set_pid(pid);
    Publish(call.ns, "/tasks/exec-started", event, "containerd.events.TaskExecStarted");
  }
  return pid;
}

absl::StatusOr<tasks::DeleteResponse> TaskManager::Delete(const CallContext& call,
                                                          const std::string& id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  std::lock_guard<std::mutex> op(task->op_mu);
  bool shim_alive;
  {
    std::lock_guard<std::mutex> lock(task->mu);
    if (task->deleted) return TaskNotFound(id);
    shim_alive = task->shim != nullptr && !task->shim_dead;
  }
  uint32_t pid = 0, exit_status = 0;
  int64_t exited_at = 0;
  if (shim_alive) {
    sv1::Request req;
    req.mutable_delete_()->set_exec_id("");
    absl::StatusOr<sv1::Response> resp = task->shim->Call(req, options_.shim_call_timeout);
    // NotFound: the shim already deleted it (a Delete whose reply was lost); finish the job.
    if (!resp.ok() && !IsUnavailable(resp.status()) && !IsNotFound(resp.status())) {
      return resp.status();
    }
    if (resp.ok()) {
      const sv1::ProcessState& p = resp->delete_().process();
      pid = p.pid();
      exit_status = p.exit_status();
      exited_at = p.exited_at_unix_nanos();
      // The exit may not have come through the event stream yet: make sure it is recorded
      // (and published) before the shim, which holds it, goes away.
      RETURN_IF_ERROR(HandleExit(task, "", pid, exit_status, exited_at));
    } else if (IsUnavailable(resp.status())) {
      OnShimGone(task);
      shim_alive = false;
    }
  }
  {
    std::lock_guard<std::mutex> lock(task->mu);
    task->deleted = true;
    const Proc& init = task->procs[""];
    if (!shim_alive || pid == 0) {
      pid = init.pid;
      exit_status = init.exit_status;
      exited_at = init.exited_at;
    }
    task->cv.notify_all();
  }
  if (shim_alive) {
    // Opened before the shim is told to go, so that its pid cannot have been reused.
    const int shim_pidfd = OpenPidfd(static_cast<pid_t>(task->shim->info().shim_pid()));
    sv1::Request shutdown;
    shutdown.mutable_shutdown();
    absl::StatusOr<sv1::Response> done = task->shim->Call(shutdown, options_.shim_call_timeout);
    // The shim exits right after answering. Delete returns once it has: a task deleted is
    // gone with its shim, and a client counting shims (or reusing the id) never sees it.
    WaitForExitAndClose(shim_pidfd, done.ok() ? std::chrono::milliseconds(2000)
                                              : std::chrono::milliseconds(0));
  } else {
    ForceDeleteWithRuntime(task->record);
  }
  if (task->shim != nullptr) task->shim->Close();
  RemoveShimSockets(task->record.socket());
  absl::Status removed = RemoveBundle(task->bundle);
  if (!removed.ok()) {
    log::Error("removing the bundle failed bundle={:?} error={:?}", task->bundle,
               removed.ToString());
  }
  store::Batch batch;
  RETURN_IF_ERROR(
      db_->Scan(schema::TaskExitsPrefix(call.ns, id), [&](std::string_view key, std::string_view) {
        batch.Delete(key);
        return true;
      }));
  // Not synced: the task itself (bundle, shim, runc state) lives in the state directory,
  // which a power loss empties anyway, and Create removes an exit key left behind.
  RETURN_IF_ERROR(db_->Write(batch, store::Durability::kBuffered));
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.erase(Key(call.ns, id));
  }
  if (exited_at == 0) exited_at = NowUnixNanos();
  containerd::events::TaskDelete event;
  event.set_container_id(id);
  event.set_pid(pid);
  event.set_exit_status(exit_status);
  *event.mutable_exited_at() = FromUnixNanos(exited_at);
  event.set_id(id);
  Publish(call.ns, "/tasks/delete", event, "containerd.events.TaskDelete");
  log::Info("task deleted namespace={:?} id={:?} exit_status={}", call.ns, id, exit_status);

  tasks::DeleteResponse out;
  out.set_id(id);
  out.set_pid(pid);
  out.set_exit_status(exit_status);
  *out.mutable_exited_at() = FromUnixNanos(exited_at);
  return out;
}

absl::StatusOr<tasks::DeleteResponse> TaskManager::DeleteProcess(const CallContext& call,
                                                                 const std::string& id,
                                                                 const std::string& exec_id) {
  if (exec_id.empty()) return Delete(call, id);
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  std::lock_guard<std::mutex> op(task->op_mu);
  Proc proc;
  {
    std::lock_guard<std::mutex> lock(task->mu);
    auto it = task->procs.find(exec_id);
    if (it == task->procs.end()) {
      return NotFoundError(fmt::format("process {:?} of task {:?}: not found", exec_id, id));
    }
    proc = it->second;
  }
  bool shim_alive = LiveShim(*task).ok();
  if (shim_alive) {
    sv1::Request req;
    req.mutable_delete_()->set_exec_id(exec_id);
    ASSIGN_OR_RETURN(sv1::Response resp, CallShim(*task, req));
    const sv1::ProcessState& p = resp.delete_().process();
    if (p.status() == sv1::STOPPED) {
      RETURN_IF_ERROR(
          HandleExit(task, exec_id, p.pid(), p.exit_status(), p.exited_at_unix_nanos()));
    }
    proc.pid = p.pid();
    proc.exit_status = p.exit_status();
    proc.exited_at = p.exited_at_unix_nanos();
  } else if (!Exited(proc.status)) {
    return FailedPreconditionError(
        fmt::format("delete process {:?} of task {:?}: state unknown", exec_id, id));
  }
  {
    std::lock_guard<std::mutex> lock(task->mu);
    task->procs.erase(exec_id);
    task->cv.notify_all();
  }
  RETURN_IF_ERROR(db_->Delete(schema::ExitKey(call.ns, id, exec_id)));
  tasks::DeleteResponse out;
  out.set_id(exec_id);
  out.set_pid(proc.pid);
  out.set_exit_status(proc.exit_status);
  *out.mutable_exited_at() = proc.exited_at != 0 ? FromUnixNanos(proc.exited_at) : NowTimestamp();
  return out;
}

Process TaskManager::ToProcess(const Task& task, const std::string& exec_id,
                               const Proc& proc) const {
  Process p;
  p.set_container_id(task.id);
  p.set_id(exec_id.empty() ? task.id : exec_id);
  p.set_pid(proc.pid);
  p.set_status(ToApiStatus(proc.status));
  p.set_stdin(proc.stdin);
  p.set_stdout(proc.stdout);
  p.set_stderr(proc.stderr);
  p.set_terminal(proc.terminal);
  p.set_exit_status(proc.exit_status);
  if (proc.exited_at != 0) *p.mutable_exited_at() = FromUnixNanos(proc.exited_at);
  return p;
}

absl::StatusOr<Process> TaskManager::Get(const CallContext& call, const std::string& id,
                                         const std::string& exec_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  if (LiveShim(*task).ok()) {
    sv1::Request req;
    req.mutable_state()->set_exec_id(exec_id);
    absl::StatusOr<sv1::Response> resp = CallShim(*task, req);
    if (resp.ok() && resp->state().processes_size() == 1) {
      const sv1::ProcessState& s = resp->state().processes(0);
      std::lock_guard<std::mutex> lock(task->mu);
      auto it = task->procs.find(exec_id);
      if (it != task->procs.end() && !Exited(it->second.status)) {
        it->second.status = s.status();
        it->second.pid = s.pid();
      }
    } else if (!resp.ok() && IsNotFound(resp.status())) {
      return resp.status();
    }
  }
  std::lock_guard<std::mutex> lock(task->mu);
  auto it = task->procs.find(exec_id);
  if (it == task->procs.end()) {
    return NotFoundError(fmt::format("process {:?} of task {:?}: not found", exec_id, id));
  }
  return ToProcess(*task, exec_id, it->second);
}

absl::StatusOr<std::vector<Process>> TaskManager::List(const CallContext& call) {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::string prefix = call.ns + "/";
    for (const auto& [key, task] : tasks_) {
      if (key.rfind(prefix, 0) == 0) ids.push_back(task->id);
    }
  }
  std::vector<Process> out;
  for (const std::string& id : ids) {
    absl::StatusOr<Process> p = Get(call, id, "");
    if (p.ok()) out.push_back(std::move(*p));
  }
  return out;
}

absl::Status TaskManager::Kill(const CallContext& call, const std::string& id,
                               const std::string& exec_id, uint32_t signal, bool all) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  if (signal == 0 || signal > 64) {
    return InvalidArgumentError(fmt::format("kill task {:?}: invalid signal {}", id, signal));
  }
  sv1::Request req;
  req.mutable_kill()->set_exec_id(exec_id);
  req.mutable_kill()->set_signal(signal);
  req.mutable_kill()->set_all(all);
  return CallShim(*task, req).status();
}

absl::Status TaskManager::Exec(const CallContext& call, const tasks::ExecProcessRequest& req) {
  const std::string& id = req.container_id();
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  if (req.exec_id().empty()) {
    return InvalidArgumentError(fmt::format("exec in task {:?}: exec id must not be empty", id));
  }
  RETURN_IF_ERROR(Annotate(identifiers::Validate(req.exec_id()), "exec id"));
  absl::StatusOr<std::string> spec = anytype::UnpackJson(req.spec(), anytype::kProcessTypeURL);
  if (!spec.ok()) {
    return InvalidArgumentError(fmt::format("exec {:?} in task {:?}: process spec: {}",
                                            req.exec_id(), id,
                                            std::string(spec.status().message())));
  }
  std::lock_guard<std::mutex> op(task->op_mu);
  sv1::Request shim_req;
  sv1::ExecRequest* e = shim_req.mutable_exec();
  e->set_exec_id(req.exec_id());
  e->mutable_stdio()->set_stdin(req.stdin());
  e->mutable_stdio()->set_stdout(req.stdout());
  e->mutable_stdio()->set_stderr(req.stderr());
  e->mutable_stdio()->set_terminal(req.terminal());
  e->set_spec(*spec);
  RETURN_IF_ERROR(CallShim(*task, shim_req).status());
  {
    std::lock_guard<std::mutex> lock(task->mu);
    Proc p;
    p.stdin = req.stdin();
    p.stdout = req.stdout();
    p.stderr = req.stderr();
    p.terminal = req.terminal();
    task->procs[req.exec_id()] = p;
  }
  (void)db_->Delete(schema::ExitKey(call.ns, id, req.exec_id()));
  containerd::events::TaskExecAdded event;
  event.set_container_id(id);
  event.set_exec_id(req.exec_id());
  Publish(call.ns, "/tasks/exec-added", event, "containerd.events.TaskExecAdded");
  return absl::OkStatus();
}

absl::Status TaskManager::ResizePty(const CallContext& call, const std::string& id,
                                    const std::string& exec_id, uint32_t width, uint32_t height) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  sv1::Request req;
  req.mutable_resize_pty()->set_exec_id(exec_id);
  req.mutable_resize_pty()->set_width(width);
  req.mutable_resize_pty()->set_height(height);
  return CallShim(*task, req).status();
}

absl::Status TaskManager::CloseIO(const CallContext& call, const std::string& id,
                                  const std::string& exec_id, bool stdin) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  sv1::Request req;
  req.mutable_close_io()->set_exec_id(exec_id);
  req.mutable_close_io()->set_stdin(stdin);
  return CallShim(*task, req).status();
}

absl::Status TaskManager::Pause(const CallContext& call, const std::string& id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  std::lock_guard<std::mutex> op(task->op_mu);
  sv1::Request req;
  req.mutable_pause();
  RETURN_IF_ERROR(CallShim(*task, req).status());
  {
    std::lock_guard<std::mutex> lock(task->mu);
    Proc& p = task->procs[""];
    if (!Exited(p.status)) p.status = sv1::PAUSED;
  }
  containerd::events::TaskPaused event;
  event.set_container_id(id);
  Publish(call.ns, "/tasks/paused", event, "containerd.events.TaskPaused");
  return absl::OkStatus();
}

absl::Status TaskManager::Resume(const CallContext& call, const std::string& id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  std::lock_guard<std::mutex> op(task->op_mu);
  sv1::Request req;
  req.mutable_resume();
  RETURN_IF_ERROR(CallShim(*task, req).status());
  {
    std::lock_guard<std::mutex> lock(task->mu);
    Proc& p = task->procs[""];
    if (!Exited(p.status)) p.status = sv1::RUNNING;
  }
  containerd::events::TaskResumed event;
  event.set_container_id(id);
  Publish(call.ns, "/tasks/resumed", event, "containerd.events.TaskResumed");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<containerd::v1::types::ProcessInfo>> TaskManager::ListPids(
    const CallContext& call, const std::string& id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  sv1::Request req;
  req.mutable_pids();
  ASSIGN_OR_RETURN(sv1::Response resp, CallShim(*task, req));
  std::vector<containerd::v1::types::ProcessInfo> out;
  for (const sv1::PidInfo& p : resp.pids().processes()) {
    containerd::v1::types::ProcessInfo info;
    info.set_pid(p.pid());
    if (!p.exec_id().empty()) {
      containerd::runc::v1::ProcessDetails details;
      details.set_exec_id(p.exec_id());
      *info.mutable_info() = anytype::Pack(details);
    }
    out.push_back(std::move(info));
  }
  return out;
}

absl::Status TaskManager::Update(const CallContext& call, const std::string& id,
                                 const google::protobuf::Any& resources) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  absl::StatusOr<std::string> json =
      anytype::UnpackJson(resources, anytype::kLinuxResourcesTypeURL);
  if (!json.ok()) {
    return InvalidArgumentError(
        fmt::format("update task {:?}: resources: {}", id, std::string(json.status().message())));
  }
  sv1::Request req;
  req.mutable_update()->set_resources(*json);
  return CallShim(*task, req).status();
}

absl::StatusOr<std::vector<containerd::types::Metric>> TaskManager::Metrics(
    const CallContext& call, const std::vector<std::string>& filter_strings) {
  ASSIGN_OR_RETURN(filters::Filter filter, filters::ParseAll(filter_strings));
  std::vector<containerd::types::Metric> out;
  for (const TaskSnapshot& t : Snapshot()) {
    if (t.ns != call.ns) continue;
    filters::MapAdaptor adaptor({{"id", t.id}, {"namespace", t.ns}});
    if (!filter.Match(adaptor)) continue;
    containerd::types::Metric metric;
    *metric.mutable_timestamp() = NowTimestamp();
    metric.set_id(t.id);
    if (cgroup_mode_ == cgroups::Mode::kUnified) {
      absl::StatusOr<io::containerd::cgroups::v2::Metrics> m = cgroups::ReadV2(t.cgroup.unified);
      if (!m.ok()) continue;
      *metric.mutable_data() = anytype::Pack(*m);
    } else {
      absl::StatusOr<io::containerd::cgroups::v1::Metrics> m = cgroups::ReadV1(t.cgroup);
      if (!m.ok()) continue;
      *metric.mutable_data() = anytype::Pack(*m);
    }
    out.push_back(std::move(metric));
  }
  return out;
}

absl::StatusOr<tasks::WaitResponse> TaskManager::Wait(const CallContext& call,
                                                      const std::string& id,
                                                      const std::string& exec_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Task> task, Find(call, id));
  std::unique_lock<std::mutex> lock(task->mu);
  for (;;) {
    auto it = task->procs.find(exec_id);
    if (it == task->procs.end()) {
      return NotFoundError(fmt::format("process {:?} of task {:?}: not found", exec_id, id));
    }
    if (Exited(it->second.status)) {
      tasks::WaitResponse out;
      out.set_exit_status(it->second.exit_status);
      *out.mutable_exited_at() = FromUnixNanos(it->second.exited_at);
      return out;
    }
    if (task->deleted) return TaskNotFound(id);
    if (call.IsCancelled()) {
      return CancelledError(fmt::format("wait for task {:?}: cancelled", id));
    }
    if (std::chrono::system_clock::now() >= call.deadline) {
      return DeadlineExceededError(fmt::format("wait for task {:?}: deadline exceeded", id));
    }
    task->cv.wait_for(lock, options_.wait_poll);
  }
}

std::vector<TaskSnapshot> TaskManager::Snapshot() {
  std::vector<std::shared_ptr<Task>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, task] : tasks_) all.push_back(task);
  }
  std::vector<TaskSnapshot> out;
  for (const auto& task : all) {
    std::lock_guard<std::mutex> lock(task->mu);
    if (task->creating || task->deleted) continue;
    auto it = task->procs.find("");
    if (it == task->procs.end() || Exited(it->second.status) || task->cgroup.empty()) continue;
    out.push_back({task->ns, task->id, it->second.pid, task->cgroup});
  }
  return out;
}

bool TaskManager::HasTask(const std::string& ns, const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return tasks_.count(Key(ns, id)) != 0;
}

int64_t TaskManager::CountTasks(const std::string& ns) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = 0;
  std::string prefix = ns + "/";
  for (const auto& [key, task] : tasks_) n += key.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

}  // namespace berth::runtime
