// A spec option of your own, as containerd's WithHtop example: run a process monitor that
// sees the host's processes (the host's pid namespace), with a terminal when there is one.
//
//   berth-example-htop [-a ADDRESS] [-n NAMESPACE] IMAGE [CMD...]     (CMD defaults to htop)
//
// The image must be present (import or pull it first). Options are plain callables with the
// signature of every built-in one; WithHtop composes three of them.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "client/berth.h"

namespace {

std::vector<std::string> g_cmd = {"htop"};

// Host pid namespace, the monitor as the process, a terminal when ours is one.
absl::Status WithHtop(const berth::oci::SpecContext& ctx, berth::oci::Spec* s) {
  // Make sure we are in the host pid namespace...
  RETURN_IF_ERROR(berth::oci::WithHostNamespace(berth::oci::kPIDNamespace)(ctx, s));
  // ...that the monitor is our process...
  RETURN_IF_ERROR(berth::oci::WithProcessArgs(g_cmd)(ctx, s));
  // ...and that it has a terminal to draw on.
  if (isatty(0) && isatty(1)) RETURN_IF_ERROR(berth::oci::WithTTY(ctx, s));
  return absl::OkStatus();
}

absl::Status Run(const std::string& address, const std::string& ns, const std::string& ref) {
  berth::Client client = berth::Client(address).WithNamespace(ns);
  ASSIGN_OR_RETURN(berth::Image image, client.GetImage(ref));
  const std::string id = "example-htop-" + std::to_string(getpid());
  ASSIGN_OR_RETURN(berth::Container container,
                   client.NewContainer(
                       id, berth::WithImage(image), berth::WithNewSnapshot(id + "-snapshot", image),
                       berth::WithNewSpec(berth::WithImageConfig(image), WithHtop)));
  absl::Status result = [&]() -> absl::Status {
    std::vector<berth::NewTaskOpt> opts = {berth::WithStdio};
    if (isatty(0) && isatty(1)) opts.push_back(berth::WithTerminal);
    ASSIGN_OR_RETURN(berth::Task task, container.NewTask(opts));
    std::future<absl::StatusOr<berth::ExitStatus>> exited = task.Wait();
    RETURN_IF_ERROR(task.Start());
    ASSIGN_OR_RETURN(berth::ExitStatus status, exited.get());
    if (status.code != 0) std::fprintf(stderr, "exit status %u\n", status.code);
    return task.Delete().status();
  }();
  absl::Status cleanup = container.Delete(berth::WithSnapshotCleanup);
  return result.ok() ? cleanup : result;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "/run/berth/berth.sock", ns = "example", ref;
  std::vector<std::string> cmd;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (ref.empty() && (a == "-a" || a == "--address") && i + 1 < argc) {
      address = argv[++i];
    } else if (ref.empty() && (a == "-n" || a == "--namespace") && i + 1 < argc) {
      ns = argv[++i];
    } else if (ref.empty()) {
      ref = a;
    } else {
      cmd.push_back(a);
    }
  }
  if (ref.empty()) {
    std::fprintf(stderr, "usage: %s [-a ADDRESS] [-n NAMESPACE] IMAGE [CMD...]\n", argv[0]);
    return 2;
  }
  if (!cmd.empty()) g_cmd = cmd;
  absl::Status s = Run(address, ns, ref);
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
