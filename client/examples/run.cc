// The client walk-through as a program (containerd's "getting started" in C++): get an image,
// run it, kill it after 3 seconds and print its exit status.
//
//   berth-example-run [-a ADDRESS] [-n NAMESPACE] [--import ARCHIVE] IMAGE [CMD...]
//
// The image is pulled when it is not there (that needs the server-side pull), or imported
// from ARCHIVE (an OCI or `docker save` tar). Output goes to this program's stdout/stderr.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "client/berth.h"

namespace {

absl::Status Run(const std::string& address, const std::string& ns, const std::string& archive,
                 const std::string& ref, const std::vector<std::string>& cmd) {
  berth::Client client = berth::Client(address).WithNamespace(ns);

  // 1. The image: imported, already there, or pulled (and unpacked).
  if (!archive.empty()) {
    int fd = open(archive.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::NotFoundError("open " + archive);
    absl::StatusOr<std::vector<berth::Image>> imported = client.Import(fd);
    close(fd);
    if (!imported.ok()) return imported.status();
  }
  absl::StatusOr<berth::Image> image = client.GetImage(ref);
  if (berth::IsNotFound(image.status())) image = client.Pull(ref, berth::WithPullUnpack);
  if (!image.ok()) return image.status();
  std::printf("image %s\n", image->Name().c_str());

  // 2. A container: a writable snapshot of the image, the image's config as spec.
  const std::string id = "example-run-" + std::to_string(getpid());
  std::vector<berth::oci::SpecOpt> spec = {berth::WithImageConfig(*image)};
  if (!cmd.empty()) spec.push_back(berth::oci::WithProcessArgs(cmd));
  ASSIGN_OR_RETURN(berth::Container container,
                   client.NewContainer(id, berth::WithImage(*image),
                                       berth::WithNewSnapshot(id + "-snapshot", *image),
                                       berth::WithNewSpec(spec)));

  // 3. The task, with our stdio; Wait before Start so the exit cannot be missed.
  absl::Status result = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(berth::Task task, container.NewTask(berth::WithStdio));
    std::future<absl::StatusOr<berth::ExitStatus>> exited = task.Wait();
    RETURN_IF_ERROR(task.Start());
    std::printf("task %s started, pid %u\n", task.ID().c_str(), task.Pid());

    // 4. Let it run for 3 seconds, then SIGTERM (and SIGKILL if that is ignored: a
    //    container's init process has no default signal actions).
    if (exited.wait_for(std::chrono::seconds(3)) != std::future_status::ready) {
      RETURN_IF_ERROR(task.Kill(SIGTERM));
      if (exited.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
        RETURN_IF_ERROR(task.Kill(SIGKILL));
      }
    }
    ASSIGN_OR_RETURN(berth::ExitStatus status, exited.get());
    std::printf("%s exited with status: %u\n", id.c_str(), status.code);
    return task.Delete().status();
  }();
  absl::Status cleanup = container.Delete(berth::WithSnapshotCleanup);
  return result.ok() ? cleanup : result;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "/run/berth/berth.sock", ns = "example", archive, ref;
  std::vector<std::string> cmd;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-a" || a == "--address") && i + 1 < argc) {
      address = argv[++i];
    } else if ((a == "-n" || a == "--namespace") && i + 1 < argc) {
      ns = argv[++i];
    } else if (a == "--import" && i + 1 < argc) {
      archive = argv[++i];
    } else if (ref.empty() && !a.empty() && a[0] != '-') {
      ref = a;
    } else if (!ref.empty()) {
      cmd.push_back(a);
    } else {
      ref.clear();
      break;
    }
  }
  if (ref.empty()) {
    std::fprintf(stderr,
                 "usage: %s [-a ADDRESS] [-n NAMESPACE] [--import ARCHIVE] IMAGE [CMD...]\n",
                 argv[0]);
    return 2;
  }
  absl::Status s = Run(address, ns, archive, ref, cmd);
  if (!s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
