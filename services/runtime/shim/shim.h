// Shim: the whole of berth-shim — one per task, a single-threaded poll loop that serves the
// shim API (proto/berth/shim/v1/shim.proto) on a unix socket, runs the OCI runtime for the
// container, copies the processes' stdio, reaps every child (it is the container's child
// subreaper) and reports exits.
//
// Exits: on SIGCHLD the loop reaps with waitpid(-1, WNOHANG); a known pid is marked stopped
// with exit status = exit code, or 128 + signal when killed; the status is written to the
// bundle (`init.exit`, `exec-<id>.exit`: "<status> <exited_at unix ns> <pid>") before an
// ExitEvent is queued. Events stay queued until the subscriber (berth-runtime) acknowledges
// them, and are sent again to the next subscriber, so an exit that happens while
// berth-runtime is down is reported when it comes back.
//
// OCI runtime calls are synchronous (the loop waits for runc); the loop never blocks on
// anything else: FIFOs, pipes and client sockets are non-blocking.
//
// Thread-safety: single-threaded by design; Run() owns the calling thread.
#ifndef BERTH_SERVICES_RUNTIME_SHIM_SHIM_H_
#define BERTH_SERVICES_RUNTIME_SHIM_SHIM_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "proto/berth/shim/v1/shim.pb.h"
#include "services/runtime/shim/frame.h"
#include "services/runtime/shim/oci_runtime.h"
#include "services/runtime/shim/process_io.h"
#include "services/runtime/shim/result.h"

namespace berth::shim {

inline constexpr char kShimVersion[] = "berth-shim 1";

struct ShimOptions {
  std::string ns;
  std::string id;
  // The bundle directory (config.json, rootfs/ mounted by berth-runtime).
  std::string bundle;
  // Where to serve the shim API; its directory must exist (mode 0700).
  std::string socket;
  OciRuntimeOptions runtime;
  // The container shares the host's (or another) pid namespace: when init exits, the rest of
  // its processes are killed (`kill --all KILL`), as containerd's shim does.
  bool shared_pid_ns = false;
};

class Shim {
 public:
  explicit Shim(ShimOptions options);
  ~Shim();
  Shim(const Shim&) = delete;
  Shim& operator=(const Shim&) = delete;

  // Blocks SIGCHLD into a signalfd and binds the socket (mode 0600). Call once, before Run.
  Result Listen();
  // Serves until a Shutdown request is answered. Returns the process exit code.
  int Run();

 private:
  struct Process {
    std::string exec_id;
    pid_t pid = 0;
    v1::Status status = v1::CREATED;
    v1::Stdio stdio;
    uint32_t exit_status = 0;
    int64_t exited_at = 0;
    std::string spec;  // exec: the OCI Process JSON
    std::unique_ptr<ProcessIo> io;
  };
  struct Conn {
    int fd = -1;
    FrameReader in;
    std::string out;
    bool closed = false;
    int index = -1;
  };

  void Handle(Conn* conn, const v1::Request& req);
  Result DoCreate(const v1::CreateRequest& req, v1::Response* resp);
  Result DoStart(const v1::StartRequest& req, v1::Response* resp);
  Result DoKill(const v1::KillRequest& req);
  Result DoExec(const v1::ExecRequest& req);
  Result DoResize(const v1::ResizePtyRequest& req);
  Result DoCloseIo(const v1::CloseIORequest& req);
  Result DoPause(bool pause);
  Result DoPids(v1::Response* resp);
  Result DoUpdate(const v1::UpdateRequest& req);
  Result DoState(const v1::StateRequest& req, v1::Response* resp);
  Result DoDelete(const v1::DeleteRequest& req, v1::Response* resp);
  Result DoShutdown(const v1::ShutdownRequest& req);
  void Subscribe(Conn* conn);

  Process* Find(const std::string& exec_id);
  Result FindOrError(const std::string& exec_id, Process** process);
  void FillState(const Process& p, v1::ProcessState* state) const;
  std::string NextConsoleSocket();

  void ReapChildren();
  void OnExit(pid_t pid, int wait_status);
  // Reaps until `pid` has exited or `timeout_ms` passed (for deleting a never-started init).
  void ReapUntil(pid_t pid, int timeout_ms);
  // Watches the container's memory cgroup for OOM kills (v1: an eventfd registered on
  // memory.oom_control; v2: inotify on memory.events). Best effort: without a memory cgroup
  // there are no OOM events.
  void WatchOom(pid_t pid);
  void OnOomReadable();
  void QueueEvent(v1::Event event);
  void SendTo(Conn* conn, const std::string& payload);
  void Flush(Conn* conn);
  void ReadFrom(Conn* conn);
  void Accept();

  ShimOptions options_;
  OciRuntime runtime_;
  int listen_fd_ = -1;
  int signal_fd_ = -1;
  std::unique_ptr<Process> init_;
  bool init_deleted_ = false;
  std::map<std::string, std::unique_ptr<Process>> execs_;
  std::vector<std::unique_ptr<Conn>> conns_;
  Conn* subscriber_ = nullptr;
  // Events not yet acknowledged: seq -> serialized Event.
  std::vector<std::pair<uint64_t, std::string>> unacked_;
  uint64_t next_seq_ = 1;
  int console_counter_ = 0;
  int oom_fd_ = -1;
  std::string oom_dir_;     // the memory cgroup directory
  std::string oom_file_;    // memory.oom_control (v1) or memory.events (v2)
  uint64_t oom_kills_ = 0;  // v2: oom + oom_kill counts last seen
  bool exiting_ = false;
};

}  // namespace berth::shim

#endif  // BERTH_SERVICES_RUNTIME_SHIM_SHIM_H_
