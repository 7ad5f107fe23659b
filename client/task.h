// berth::Task and berth::Process: a container's running processes — containerd's client Task
// and Process. Part of "client/berth.h".
//
//   ASSIGN_OR_RETURN(Task task, container.NewTask(WithStdio()));
//   std::future<absl::StatusOr<ExitStatus>> exited = task.Wait();   // before Start
//   RETURN_IF_ERROR(task.Start());
//   RETURN_IF_ERROR(task.Kill(SIGTERM));
//   ASSIGN_OR_RETURN(ExitStatus status, exited.get());              // code 143, time
//   RETURN_IF_ERROR(task.Delete().status());
//
// Wait sends Tasks.Wait at once and resolves the future when it returns. The server answers
// a Wait that arrives before Start, during the run, or after the exit (from the recorded
// status), so an exit is never missed — as long as the task is not deleted first.
//
// Thread-safety: Task and Process are handles sharing their state (including the stdio
// copies); every method may be called from any thread.
#ifndef BERTH_CLIENT_TASK_H_
#define BERTH_CLIENT_TASK_H_

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cio/io.h"
#include "client/client.h"
#include "client/container.h"
#include "client/oci/spec.h"
#include "google/protobuf/any.pb.h"
#include "proto/containerd/cgroups/stats/v1/metrics.pb.h"
#include "proto/containerd/cgroups/v2/stats/metrics.pb.h"
#include "proto/containerd/types/mount.pb.h"

namespace berth {

struct ExitStatus {
  // Exit code, or 128 + signal for a killed process (SIGKILL -> 137).
  uint32_t code = 0;
  Time exited_at;
};

enum class ProcessState { kUnknown, kCreated, kRunning, kStopped, kPaused, kPausing };

// "created", "running", ... (ctr prints the enum names upper-case).
const char* ProcessStateName(ProcessState state);

struct ProcessStatus {
  ProcessState state = ProcessState::kUnknown;
  uint32_t pid = 0;
  // Set when stopped.
  uint32_t exit_status = 0;
  Time exited_at;
};

// A process in the container as ListPids reports it.
struct ProcessInfo {
  uint32_t pid = 0;
  // The exec id for exec processes; empty for others.
  std::string exec_id;
};

// One metrics sample of a task (Tasks.Metrics), decoded from its cgroup type.
struct TaskMetrics {
  Time timestamp;
  std::string id;
  // "io.containerd.cgroups.v1.Metrics" or "io.containerd.cgroups.v2.Metrics".
  std::string type_url;
  std::optional<io::containerd::cgroups::v1::Metrics> v1;
  std::optional<io::containerd::cgroups::v2::Metrics> v2;
  google::protobuf::Any raw;
};

// What NewTask options fill in.
struct TaskConfig {
  // A complete IO creator; when set it wins over `streams`.
  cio::Creator io;
  // Streams to connect through FIFOs (WithStdio, WithStreams).
  std::optional<cio::Streams> streams;
  // Create the process with a terminal.
  bool terminal = false;
  // Rootfs mounts; unset: the container snapshot's mounts.
  std::optional<std::vector<containerd::types::Mount>> rootfs;
  // Tasks.Create runtime_path and options.
  std::string runtime_path;
  google::protobuf::Any options;
};

// --- NewTask options -------------------------------------------------------------------------

// The program's stdin, stdout and stderr.
absl::Status WithStdio(const Client& client, TaskConfig* config);
// Caller-given streams through FIFOs.
NewTaskOpt WithStreams(cio::Streams streams);
// Existing FIFOs, used as they are (nothing is copied or removed).
NewTaskOpt WithFIFOs(cio::FIFOSet fifos);
// A terminal for the process (stdout carries stderr too).
absl::Status WithTerminal(const Client& client, TaskConfig* config);
// Any IO creator (cio::NullIO(), cio::LogFile(path), one of your own).
NewTaskOpt WithIO(cio::Creator creator);
// These rootfs mounts instead of the container snapshot's.
NewTaskOpt WithRootFS(std::vector<containerd::types::Mount> mounts);
NewTaskOpt WithRuntimePath(std::string path);

struct KillConfig {
  bool all = false;
};
using KillOpt = std::function<absl::Status(KillConfig* config)>;
// Signals every process of the container.
absl::Status WithKillAll(KillConfig* config);

class Process {
 public:
  // The process id: the container id for the init process, the exec id for an exec.
  const std::string& ID() const;
  const std::string& ContainerID() const;
  uint32_t Pid() const;
  // The stdio of the process (null when not attached).
  cio::IO* IO() const;

  // Starts it; returns once it runs (sets Pid for execs).
  absl::Status Start() const;
  absl::Status Kill(int signal, std::vector<KillOpt> opts = {}) const;
  // Resolves with the exit status once the process exited (see the header comment), or
  // with an error (the task deleted, the connection lost).
  std::future<absl::StatusOr<ExitStatus>> Wait() const;
  absl::Status CloseStdin() const;
  absl::Status Resize(uint32_t width, uint32_t height) const;
  absl::StatusOr<ProcessStatus> Status() const;
  // Deletes a stopped process: returns its exit status, waits for its output to be
  // copied and removes its FIFOs. FailedPrecondition while it runs (unless `force`: then it
  // is killed with SIGKILL and waited for first).
  absl::StatusOr<ExitStatus> Delete(bool force = false) const;

  struct State;

 protected:
  friend class Task;
  explicit Process(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

class Task : public Process {
 public:
  absl::Status Pause() const;
  absl::Status Resume() const;
  // Every process in the container.
  absl::StatusOr<std::vector<ProcessInfo>> Pids() const;
  absl::StatusOr<TaskMetrics> Metrics() const;
  // Adds an exec process (created, not started) running `process` (a runtime-spec process
  // object; ProcessSpec() makes one from the container's), with stdio from `io` (null: none).
  absl::StatusOr<Process> Exec(const std::string& exec_id, const oci::Spec& process,
                               cio::Creator io = nullptr) const;
  // The container's process spec with args (and terminal) replaced: what ctr's
  // `tasks exec` runs.
  absl::StatusOr<oci::Spec> ProcessSpec(std::vector<std::string> args, bool terminal = false) const;
  // An existing exec process of the task (Tasks.Get with its id); NotFound when there is none.
  // Its stdio is not attached.
  absl::StatusOr<Process> LoadProcess(const std::string& exec_id) const;
  // Updates the resources (runtime-spec linux.resources JSON).
  absl::Status Update(const oci::Spec& resources) const;

  // Creates the Task handle for a created task (used by Container).
  static Task FromCreated(Client client, std::string container_id, uint32_t pid,
                          std::unique_ptr<cio::IO> io);

 private:
  explicit Task(std::shared_ptr<State> state) : Process(std::move(state)) {}
};

template <typename... Opts>
absl::StatusOr<Task> Container::NewTask(Opts&&... opts) const {
  return NewTask(std::vector<NewTaskOpt>{NewTaskOpt(std::forward<Opts>(opts))...});
}

}  // namespace berth

#endif  // BERTH_CLIENT_TASK_H_
