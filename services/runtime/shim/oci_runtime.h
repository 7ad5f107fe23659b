// OciRuntime: runs the OCI runtime binary (runc by default, crun when the container's runtime
// options name it) for one container, with the command lines containerd's runc shim uses
// (reference/containerd-api.md §6):
//
//   <bin> --root R --log B/log.json --log-format json [--systemd-cgroup] create --bundle B
//         --pid-file B/init.pid [--console-socket S] [--no-pivot] [--no-new-keyring] ID
//   <bin> ... start ID | kill [--all] ID SIG | delete [--force] ID | pause ID | resume ID
//   <bin> ... exec --process F --detach --pid-file P [--console-socket S] ID
//   <bin> ... ps --format json ID | update --resources F ID
//
// Every call is synchronous: it forks the binary, waits for it and returns its result; the
// error message is the runtime's own (the last error line it wrote to log.json, else what it
// printed). The caller must not reap children while a call runs (the shim's single thread
// guarantees it).
//
// Thread-safety: not thread-safe; the shim's one thread uses it.
#ifndef BERTH_SERVICES_RUNTIME_SHIM_OCI_RUNTIME_H_
#define BERTH_SERVICES_RUNTIME_SHIM_OCI_RUNTIME_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "services/runtime/shim/result.h"

namespace berth::shim {

struct OciRuntimeOptions {
  // Binary: a name looked up in $PATH ("runc", "crun") or an absolute path.
  std::string binary = "runc";
  // --root: the runtime's state directory for this namespace.
  std::string root;
  // The bundle directory (config.json, rootfs/); log.json and pid files go here.
  std::string bundle;
  // The container id.
  std::string id;
  // --systemd-cgroup.
  bool systemd_cgroup = false;
};

// The stdio a process gets: fds the runtime binary passes through to the container process
// (-1: /dev/null), or a console socket path that receives the pty master.
struct ProcessStdio {
  int in = -1;
  int out = -1;
  int err = -1;
  // When non-empty, the path of a listening unix socket (the caller made it) passed as
  // --console-socket; the runtime sends the pty master over it.
  std::string console_socket;
  int console_listen_fd = -1;
};

class OciRuntime {
 public:
  // A binary named without a '/' is looked up in PATH here, once: each create, start and
  // delete would otherwise pay execvp's walk over every PATH entry before the right one.
  explicit OciRuntime(OciRuntimeOptions options);

  const OciRuntimeOptions& options() const { return options_; }

  // `create`. On success *pid is the init pid (from the pid file) and, with a console socket,
  // *console_master the pty master fd (owned by the caller).
  Result Create(const ProcessStdio& stdio, bool no_pivot_root, bool no_new_keyring, pid_t* pid,
                int* console_master);
  Result Start();
  Result Kill(int signal, bool all);
  Result Delete(bool force);
  Result Pause();
  Result Resume();
  // `exec --detach` of the process spec in `process_json` (a file); *pid from `pid_file`.
  Result Exec(const std::string& process_json, const std::string& pid_file,
              const ProcessStdio& stdio, pid_t* pid, int* console_master);
  // `ps --format json`: every pid of the container.
  Result Ps(std::vector<pid_t>* pids);
  // `update --resources <file>`.
  Result Update(const std::string& resources_json_file);

 private:
  // Runs `<binary> <global flags> args...`. When `output` is set, stdout and stderr are
  // captured into it; else the process gets `stdio`. With a console socket, also receives
  // the pty master.
  Result Run(const std::string& op, const std::vector<std::string>& args, const ProcessStdio* stdio,
             std::string* output, int* console_master);

  OciRuntimeOptions options_;
};

// Reads a pid file written by the runtime ("1234" possibly without newline). 0 on failure.
pid_t ReadPidFile(const std::string& path);

// Parses `ps --format json` output ("[1,2,3]" or "null") into pids.
std::vector<pid_t> ParsePsOutput(const std::string& output);

// The message of the last `"level":"error"` line of a runtime's JSON log text (runc and crun
// write `{"level":"error","msg":"...","time":"..."}`), unescaped; "" when there is none.
std::string LastLogError(const std::string& log_text);

}  // namespace berth::shim

#endif  // BERTH_SERVICES_RUNTIME_SHIM_OCI_RUNTIME_H_
