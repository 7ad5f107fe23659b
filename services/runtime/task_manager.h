// TaskManager: the tasks of containerd.services.tasks.v1.Tasks — one berth-shim per task —
// and everything around them: the bundle (config.json from the container's spec, the rootfs
// mounted from Tasks.Create's mounts), the shim's life, its exits (persisted through the
// Outbox before they are acknowledged, so none is lost), the task events, Wait, metrics, and
// recovery of running shims after a restart of berth-runtime.
//
// Lifecycle (containerd's, reference/containerd-api.md §3.11, §4):
//
//   Create   container must exist; bundle <state>/<ns>/<id> (0700) with config.json and the
//            rootfs mounted; berth-shim started; `<runtime> create` -> CREATED, pid.
//            /tasks/create
//   Start    init or an exec -> RUNNING. /tasks/start, /tasks/exec-started
//   (exit)   the shim reports it; persisted, then /tasks/exit; Wait callers released
//   Delete   init must be stopped (or never started): `<runtime> delete`, shim shut down,
//            rootfs unmounted, bundle removed. /tasks/delete
//
// Wait may be called before Start, while running, and after the exit (it then returns at
// once); it ends with Cancelled/DeadlineExceeded when the caller gives up, and NotFound when
// the task is deleted first. An exit by signal has status 128 + signal.
//
// Every method takes the namespace from `call.ns` and returns NotFound `task "<id>": not
// found` when the container has no task (and for an unknown exec id).
//
// Thread-safety: all methods are safe from any thread. Calls on different tasks run in
// parallel; lifecycle calls on one task are serialised.
#ifndef BERTH_SERVICES_RUNTIME_TASK_MANAGER_H_
#define BERTH_SERVICES_RUNTIME_TASK_MANAGER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "lib/events/publisher.h"
#include "lib/store/store.h"
#include "proto/berth/runtime/v1/records.pb.h"
#include "proto/berth/shim/v1/shim.pb.h"
#include "proto/containerd/services/tasks/v1/tasks.pb.h"
#include "proto/containerd/types/metrics.pb.h"
#include "proto/containerd/types/task/task.pb.h"
#include "services/runtime/cgroups.h"
#include "services/runtime/container_store.h"
#include "services/runtime/outbox.h"
#include "services/runtime/shim_client.h"

namespace berth::runtime {

struct TaskManagerOptions {
  // The state directory (bundles, shim sockets, the OCI runtime's state). Created 0700.
  std::string state = "/run/berth/runtime";
  // berth-shim executable; empty: DefaultShimBinary().
  std::string shim_binary;
  // OCI runtime when the container's options name none.
  std::string default_runtime = "runc";
  // How long a shim may take to come up.
  std::chrono::milliseconds shim_start_timeout{10000};
  // Deadline of one shim call (an OCI runtime invocation).
  std::chrono::milliseconds shim_call_timeout{60000};
  // How often a blocked Wait checks whether its caller is gone.
  std::chrono::milliseconds wait_poll{200};
};

// A running task as the metrics collector sees it.
struct TaskSnapshot {
  std::string ns;
  std::string id;
  uint32_t pid = 0;
  cgroups::Paths cgroup;
};

class TaskManager {
 public:
  // None of the pointers is owned; all must outlive the manager. `publisher` may be null.
  TaskManager(TaskManagerOptions options, ContainerStore* containers, store::Store* db,
              Outbox* outbox, events::Publisher* publisher);
  // Disconnects from the shims; they (and their containers) keep running.
  ~TaskManager();
  TaskManager(const TaskManager&) = delete;
  TaskManager& operator=(const TaskManager&) = delete;

  // Makes the state directory and reconnects to every shim a previous run left (their tasks
  // are listed again; exits they saw meanwhile are reported); a shim that is gone leaves its
  // task STOPPED with the exit status it recorded (255 if none) so that it can be deleted.
  // Cleans up bundles of Creates that never finished. Call once, before serving.
  absl::Status Recover();

  // Tasks.Create. InvalidArgument for a bad id or spec, unknown runtime options type or
  // runtime name; NotFound when the container does not exist; AlreadyExists when it has a
  // task; Unimplemented for a checkpoint; the OCI runtime's error (Unknown) when create fails.
  absl::StatusOr<uint32_t> Create(const CallContext& call,
                                  const containerd::services::tasks::v1::CreateTaskRequest& req);
  // Tasks.Start. FailedPrecondition when the process is not CREATED.
  absl::StatusOr<uint32_t> Start(const CallContext& call, const std::string& id,
                                 const std::string& exec_id);
  // Tasks.Delete. FailedPrecondition while the init process runs.
  absl::StatusOr<containerd::services::tasks::v1::DeleteResponse> Delete(const CallContext& call,
                                                                         const std::string& id);
  // Tasks.DeleteProcess (an exec). FailedPrecondition while it runs.
  absl::StatusOr<containerd::services::tasks::v1::DeleteResponse> DeleteProcess(
      const CallContext& call, const std::string& id, const std::string& exec_id);
  // Tasks.Get: the process with its stdio paths echoed.
  absl::StatusOr<containerd::v1::types::Process> Get(const CallContext& call, const std::string& id,
                                                     const std::string& exec_id);
  // Tasks.List: the init process of every task of the namespace, sorted by id.
  absl::StatusOr<std::vector<containerd::v1::types::Process>> List(const CallContext& call);
  // Tasks.Kill. NotFound "process already finished" once it has exited.
  absl::Status Kill(const CallContext& call, const std::string& id, const std::string& exec_id,
                    uint32_t signal, bool all);
  // Tasks.Exec: adds (does not start) a process. InvalidArgument for a bad exec id or spec;
  // AlreadyExists for an exec id in use; FailedPrecondition when the task is not running.
  absl::Status Exec(const CallContext& call,
                    const containerd::services::tasks::v1::ExecProcessRequest& req);
  absl::Status ResizePty(const CallContext& call, const std::string& id, const std::string& exec_id,
                         uint32_t width, uint32_t height);
  absl::Status CloseIO(const CallContext& call, const std::string& id, const std::string& exec_id,
                       bool stdin);
  absl::Status Pause(const CallContext& call, const std::string& id);
  absl::Status Resume(const CallContext& call, const std::string& id);
  absl::StatusOr<std::vector<containerd::v1::types::ProcessInfo>> ListPids(const CallContext& call,
                                                                           const std::string& id);
  // Tasks.Update: `resources` is the JSON LinuxResources Any.
  absl::Status Update(const CallContext& call, const std::string& id,
                      const google::protobuf::Any& resources);
  // Tasks.Metrics for the tasks of the namespace matching `filters` (fields id, namespace):
  // cgroup v1 or v2 metrics as the host has them.
  absl::StatusOr<std::vector<containerd::types::Metric>> Metrics(
      const CallContext& call, const std::vector<std::string>& filters);
  // Tasks.Wait.
  absl::StatusOr<containerd::services::tasks::v1::WaitResponse> Wait(const CallContext& call,
                                                                     const std::string& id,
                                                                     const std::string& exec_id);

  // Running (or paused, or created) tasks of every namespace, for the Prometheus collector.
  std::vector<TaskSnapshot> Snapshot();
  // Whether the container has a task (any state).
  bool HasTask(const std::string& ns, const std::string& id);
  // Number of tasks of a namespace.
  int64_t CountTasks(const std::string& ns);
  // The host's cgroup layout, as detected at construction.
  cgroups::Mode cgroup_mode() const { return cgroup_mode_; }

 private:
  struct Proc {
    uint32_t pid = 0;
    berth::shim::v1::Status status = berth::shim::v1::CREATED;
    uint32_t exit_status = 0;
    int64_t exited_at = 0;
    std::string stdin, stdout, stderr;
    bool terminal = false;
    // Start is between asking the shim and publishing /tasks/start (or exec-started). An exit
    // reported meanwhile waits for it: containerd's order is start, then exit.
    bool starting = false;
  };
  struct Task {
    std::string ns;
    std::string id;
    std::string bundle;
    berth::runtime::v1::TaskRecord record;
    std::unique_ptr<ShimClient> shim;  // null while creating, or when the shim is gone

    std::mutex op_mu;  // Serialises lifecycle operations (Create/Start/Delete/...).
    std::mutex mu;     // Guards everything below.
    std::condition_variable cv;
    std::map<std::string, Proc> procs;  // "" = init
    bool creating = true;
    bool deleted = false;
    bool shim_dead = false;
    cgroups::Paths cgroup;
  };

  static std::string Key(const std::string& ns, const std::string& id) { return ns + "/" + id; }
  absl::StatusOr<std::shared_ptr<Task>> Find(const CallContext& call, const std::string& id);
  // The shim client of a live task, or the status to return (FailedPrecondition/NotFound).
  absl::StatusOr<ShimClient*> LiveShim(Task& task);
  absl::StatusOr<berth::shim::v1::Response> CallShim(Task& task,
                                                     const berth::shim::v1::Request& req);

  // Connects to a task's shim, subscribes to its events and loads its processes.
  absl::Status Attach(const std::shared_ptr<Task>& task);
  // Handles an exit the shim reported (or the runtime found): persists and publishes it once,
  // updates the process, wakes Wait callers.
  absl::Status HandleExit(const std::shared_ptr<Task>& task, const std::string& exec_id,
                          uint32_t pid, uint32_t exit_status, int64_t exited_at);
  // The shim of `task` went away without being told to: every process not yet stopped gets
  // the status the shim wrote to the bundle, else 255 (then written to the bundle in the
  // shim's place, so that a restarted berth-runtime reports the same exit, not a second one).
  void OnShimGone(const std::shared_ptr<Task>& task);
  // Removes a bundle: unmounts its rootfs, deletes the directory (never across a mount).
  absl::Status RemoveBundle(const std::string& bundle);
  void Publish(const std::string& ns, const std::string& topic,
               const google::protobuf::Message& event, const std::string& type_url);
  containerd::v1::types::Process ToProcess(const Task& task, const std::string& exec_id,
                                           const Proc& proc) const;
  void ResolveCgroup(Task& task, uint32_t pid);

  const TaskManagerOptions options_;
  ContainerStore* containers_;
  store::Store* db_;
  Outbox* outbox_;
  events::Publisher* publisher_;
  const cgroups::Mode cgroup_mode_;

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Task>> tasks_;  // by "<ns>/<id>"
};

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_TASK_MANAGER_H_
