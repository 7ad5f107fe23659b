// berth run, and attaching a terminal or the program's stdio to a process (run, tasks exec,
// tasks start), with signal forwarding and window-size changes.
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <thread>

#include "cli/cli.h"
#include "cli/signals.h"
#include "fmt/format.h"
#include "lib/platforms/platforms.h"
#include "proto/containerd/runtime/v2/runc/options/oci.pb.h"

namespace berth::cli {
namespace {

std::mutex g_mu;
std::function<void(int)> g_target;
struct termios g_saved_termios;
bool g_have_saved = false;
sigset_t g_set;

void RestoreTerminal() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_have_saved) tcsetattr(0, TCSANOW, &g_saved_termios);
}

// Puts stdin in raw mode for the lifetime of the object (when it is a terminal).
class RawTerminal {
 public:
  RawTerminal() {
    if (!isatty(0) || tcgetattr(0, &saved_) != 0) return;
    struct termios raw = saved_;
    cfmakeraw(&raw);
    if (tcsetattr(0, TCSANOW, &raw) == 0) {
      active_ = true;
      SetTerminalToRestore(&saved_);
    }
  }
  ~RawTerminal() {
    if (active_) {
      tcsetattr(0, TCSANOW, &saved_);
      SetTerminalToRestore(nullptr);
    }
  }

 private:
  struct termios saved_;
  bool active_ = false;
};

void ResizeFromTerminal(const Process& p) {
  struct winsize ws;
  if (ioctl(1, TIOCGWINSZ, &ws) == 0 || ioctl(0, TIOCGWINSZ, &ws) == 0) {
    if (ws.ws_col > 0 && ws.ws_row > 0) (void)p.Resize(ws.ws_col, ws.ws_row);
  }
}

struct RunFlags {
  bool rm = false;
  bool detach = false;
  bool tty = false;
  bool rootfs = false;
  bool net_host = false;
  bool privileged = false;
  // containerd's default seccomp profile (after the capability options: it follows them).
  bool seccomp = false;
  bool read_only = false;
  std::vector<std::string> env;
  std::vector<std::string> mounts;
  std::vector<std::string> labels;
  std::string snapshotter;
  std::string runtime = "io.containerd.runc.v2";
  std::string runc_binary;
  std::string user;
  std::string cwd;
  std::string hostname;
  std::string platform;
  uint64_t memory_limit = 0;
};

// NotFound unless the image config's os/architecture/variant runs under `platform`;
// InvalidArgument for a bad specifier.
absl::Status CheckPlatform(const std::string& ref, const std::string& platform,
                           const ImageSpec& spec) {
  absl::StatusOr<platforms::Platform> want = platforms::Parse(platform);
  if (!want.ok()) return want.status();
  platforms::Platform have{spec.os, spec.architecture,
                           spec.raw.is_object() ? spec.raw.value("variant", "") : ""};
  if (platforms::Only(*want).Match(have)) return absl::OkStatus();
  return absl::NotFoundError(fmt::format("image {:?}: no manifest for platform {} (it is {})", ref,
                                         platforms::Format(*want), platforms::Format(have)));
}

// "type=bind,src=/a,dst=/b,options=rbind:ro" (ctr's --mount syntax).
absl::StatusOr<oci::Mount> ParseMount(const std::string& spec) {
  oci::Mount m;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string part =
        spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t eq = part.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(
          fmt::format("mount {:?}: {:?} is not key=value", spec, part));
    }
    std::string key = part.substr(0, eq), value = part.substr(eq + 1);
    if (key == "type") {
      m.type = value;
    } else if (key == "src" || key == "source") {
      m.source = value;
    } else if (key == "dst" || key == "destination" || key == "target") {
      m.destination = value;
    } else if (key == "options") {
      size_t s = 0;
      while (s <= value.size()) {
        size_t colon = value.find(':', s);
        std::string o = value.substr(s, colon == std::string::npos ? std::string::npos : colon - s);
        if (!o.empty()) m.options.push_back(o);
        if (colon == std::string::npos) break;
        s = colon + 1;
      }
    } else {
      return absl::InvalidArgumentError(fmt::format("mount {:?}: unknown key {:?}", spec, key));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (m.destination.empty()) {
    return absl::InvalidArgumentError(fmt::format("mount {:?}: dst is required", spec));
  }
  if (m.type.empty()) m.type = "bind";
  if (m.type == "bind" && m.options.empty()) m.options = {"rbind", "rw"};
  return m;
}

int DoRun(Env& env, const RunFlags& f, std::vector<std::string> args) {
  if (args.size() < 2) return Usage("run: want IMAGE|ROOTFS ID [CMD...] (see berth run --help)");
  if (f.rm && f.detach) return Usage("run: --rm and --detach cannot be used together");
  const std::string ref = args[0], id = args[1];
  std::vector<std::string> cmd(args.begin() + 2, args.end());
  const Client& client = env.client();

  std::vector<NewContainerOpt> copts;
  std::vector<oci::SpecOpt> sopts;
  std::optional<Image> image;
  Labels labels = ParseLabels(f.labels);
  if (f.rootfs) {
    if (cmd.empty()) return Usage("run --rootfs: a command is required");
    char abs[PATH_MAX];
    if (realpath(ref.c_str(), abs) == nullptr) {
      return Fail(absl::NotFoundError(fmt::format("rootfs {:?}: no such directory", ref)));
    }
    sopts = {oci::WithRootFSPath(abs), oci::WithDefaultPathEnv, oci::WithProcessArgs(cmd)};
  } else {
    absl::StatusOr<Image> img = client.GetImage(ref);
    if (!img.ok()) return Fail(img.status());
    image = img->ForPlatform(f.platform);
    copts.push_back(WithImage(*image));
    copts.push_back(WithSnapshotter(f.snapshotter));
    copts.push_back(WithNewSnapshot(id, *image));
    sopts.push_back(cmd.empty() ? WithImageConfig(*image) : WithImageConfigArgs(*image, cmd));
    absl::StatusOr<ImageSpec> spec = image->Spec();
    if (!spec.ok()) return Fail(spec.status());
    if (!f.platform.empty()) {
      // An index yields its manifest for the platform; a lone manifest must be for it.
      absl::Status s = CheckPlatform(ref, f.platform, *spec);
      if (!s.ok()) return Fail(s);
    }
    for (const auto& [k, v] : spec->labels) labels.emplace(k, v);
    if (!spec->stop_signal.empty())
      labels["io.containerd.image.config.stop-signal"] = spec->stop_signal;
  }
  if (!f.env.empty()) sopts.push_back(oci::WithEnv(f.env));
  std::vector<oci::Mount> mounts;
  for (const std::string& m : f.mounts) {
    absl::StatusOr<oci::Mount> parsed = ParseMount(m);
    if (!parsed.ok()) return Fail(parsed.status());
    mounts.push_back(*parsed);
  }
  if (!mounts.empty()) sopts.push_back(oci::WithMounts(mounts));
  if (f.net_host) {
    sopts.push_back(oci::WithHostNamespace(oci::kNetworkNamespace));
    sopts.push_back(oci::WithHostHostsFile);
    sopts.push_back(oci::WithHostResolvconf);
  }
  if (f.tty) sopts.push_back(oci::WithTTY);
  if (!f.user.empty()) {
    // As ctr: the user's supplementary groups from the image's /etc/group too (without them a
    // process keeps groups it should not have, or lacks ones it should: CVE-2023-25173).
    sopts.push_back(oci::WithUser(f.user));
    sopts.push_back(oci::WithAdditionalGIDs(f.user));
  }
  if (!f.cwd.empty()) sopts.push_back(oci::WithProcessCwd(f.cwd));
  if (!f.hostname.empty()) sopts.push_back(oci::WithHostname(f.hostname));
  if (f.privileged) sopts.push_back(oci::WithPrivileged);
  if (f.read_only) sopts.push_back(oci::WithRootFSReadonly);
  if (f.seccomp) sopts.push_back(oci::WithDefaultSeccomp);
  if (f.memory_limit > 0) sopts.push_back(oci::WithMemoryLimit(f.memory_limit));
  copts.push_back(WithNewSpec(sopts));
  copts.push_back(WithContainerLabels(labels));
  // Runtime: `--runtime crun` (or runc) picks the OCI runtime binary, as --runc-binary does.
  std::string runtime = f.runtime, binary = f.runc_binary;
  if (runtime == "crun" || runtime == "runc") {
    binary = runtime;
    runtime = "io.containerd.runc.v2";
  }
  containerd::runc::v1::Options runc;
  runc.set_binary_name(binary);
  google::protobuf::Any runc_any;
  runc_any.set_type_url(runc.GetDescriptor()->full_name());
  runc_any.set_value(runc.SerializeAsString());
  copts.push_back(WithRuntime(runtime, runc_any));

  absl::StatusOr<Container> container = client.NewContainer(id, copts);
  if (!container.ok()) return Fail(container.status());
  auto cleanup = [&](int code) {
    if (f.rm) {
      absl::Status s = container->Delete(WithSnapshotCleanup);
      if (!s.ok()) return Fail(s);
    }
    return code;
  };

  if (f.detach) {
    absl::StatusOr<Task> task = container->NewTask(WithIO(cio::NullIO()));
    if (!task.ok()) return Fail(task.status());
    absl::Status s = task->Start();
    if (!s.ok()) {
      (void)task->Delete(true);
      return Fail(s);
    }
    return 0;
  }
  std::vector<NewTaskOpt> topts = {WithStdio};
  if (f.tty) topts.push_back(WithTerminal);
  absl::StatusOr<Task> task = container->NewTask(topts);
  if (!task.ok()) return cleanup(Fail(task.status()));
  absl::StatusOr<uint32_t> code = Attach(*task, f.tty, [&] { return task->Start(); });
  absl::StatusOr<ExitStatus> deleted = task->Delete(/*force=*/!code.ok());
  if (!code.ok()) return cleanup(Fail(code.status()));
  if (!deleted.ok()) return cleanup(Fail(deleted.status()));
  return cleanup(static_cast<int>(*code));
}

}  // namespace

void StartSignalRouter() {
  sigemptyset(&g_set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) {
    sigaddset(&g_set, s);
  }
  pthread_sigmask(SIG_BLOCK, &g_set, nullptr);
  std::thread([] {
    while (true) {
      int sig = 0;
      if (sigwait(&g_set, &sig) != 0) continue;
      std::function<void(int)> target;
      {
        std::lock_guard<std::mutex> lock(g_mu);
        target = g_target;
      }
      if (target) {
        target(sig);
        continue;
      }
      if (sig == SIGWINCH) continue;
      RestoreTerminal();
      std::_Exit(128 + sig);
    }
  }).detach();
}

void SetSignalTarget(std::function<void(int)> target) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_target = std::move(target);
}

void SetTerminalToRestore(const struct termios* saved) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_have_saved = saved != nullptr;
  if (saved != nullptr) g_saved_termios = *saved;
}

absl::StatusOr<uint32_t> Attach(const Process& process, bool tty,
                                const std::function<absl::Status()>& start) {
  std::future<absl::StatusOr<ExitStatus>> exited = process.Wait();
  std::optional<RawTerminal> raw;
  if (tty) raw.emplace();
  Process p = process;
  SetSignalTarget([p, tty](int sig) {
    if (sig == SIGWINCH) {
      if (tty) ResizeFromTerminal(p);
      return;
    }
    // With a terminal, ^C reaches the process through it; otherwise forward the signal.
    if (!tty) (void)p.Kill(sig);
  });
  absl::Status s = start();
  if (!s.ok()) {
    SetSignalTarget(nullptr);
    return s;
  }
  if (tty) ResizeFromTerminal(process);
  absl::StatusOr<ExitStatus> status = exited.get();
  SetSignalTarget(nullptr);
  if (!status.ok()) return status.status();
  return status->code;
}

void AddRunCommand(CLI::App& app, Env& env) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* run = app.add_subcommand("run", "run a container: IMAGE|ROOTFS ID [CMD...]");
  // Everything from IMAGE on is ours (the command may have options of its own), so nothing
  // falls through to the top level.
  run->prefix_command();
  run->fallthrough(false);
  run->add_flag("--rm", flags->rm, "remove the container when its task exits");
  run->add_flag("-d,--detach", flags->detach, "start the task and return");
  run->add_flag("-t,--tty", flags->tty, "allocate a terminal");
  run->add_flag("--rootfs", flags->rootfs,
                "the first argument is a root filesystem directory, not an image");
  run->add_flag("--net-host", flags->net_host, "use the host's network namespace");
  run->add_flag("--privileged", flags->privileged, "every capability, no masked paths");
  run->add_flag("--read-only", flags->read_only, "read-only root filesystem");
  run->add_flag("--seccomp", flags->seccomp, "apply containerd's default seccomp profile");
  // Repeatable options take one value per occurrence (the image follows them).
  run->add_option("--env", flags->env, "environment KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--mount", flags->mounts,
                  "mount type=bind,src=/host,dst=/ctr,options=rbind:ro (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--label", flags->labels, "container label KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("--snapshotter", flags->snapshotter, "snapshotter (default: namespace's)");
  run->add_option("--runtime", flags->runtime,
                  "runtime name, or the OCI runtime binary: runc, crun")
      ->capture_default_str();
  run->add_option("--runc-binary", flags->runc_binary, "OCI runtime binary (runc, crun, path)");
  run->add_option("-u,--user", flags->user, "user[:group] or uid[:gid]");
  run->add_option("--cwd", flags->cwd, "working directory");
  run->add_option("--hostname", flags->hostname, "hostname");
  run->add_option("--platform", flags->platform, "image platform (default: the host's)");
  run->add_option("--memory-limit", flags->memory_limit, "memory limit in bytes");
  run->callback([&env, flags, run] { env.exit_code = DoRun(env, *flags, run->remaining()); });
}

}  // namespace berth::cli
