// Test fixtures for the client library and the berth command: a local berth suite
// (deploy/berth-up on a temporary root, every service built in $BERTH_BIN), busybox images
// and root filesystems, and cleanup of what runc leaves behind.
//
//   LocalSuite suite;
//   ASSERT_OK(suite.Start());                       // berth-up start ROOT
//   berth::Client client(suite.socket());
//   ASSERT_OK(WriteBusyboxArchive(suite.Path("bb.tar"), "docker.io/test/busybox:1"));
//   // the destructor runs berth-up stop ROOT, also when the test failed
//
// If the test process dies without running destructors, a detached watcher started with the
// suite runs `berth-up stop ROOT`, so no daemon outlives the test (as tests/conformance does).
// Paths come from the environment CTest sets: $BERTH_SOURCE_DIR and $BERTH_BIN.
//
// Thread-safety: one thread drives a LocalSuite; the free functions are independent.
#ifndef BERTH_CLIENT_TESTING_SUITE_H_
#define BERTH_CLIENT_TESTING_SUITE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/testing/temp_dir.h"

namespace berth::client_testing {

struct RunResult {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};

class LocalSuite {
 public:
  LocalSuite();
  ~LocalSuite();
  LocalSuite(const LocalSuite&) = delete;
  LocalSuite& operator=(const LocalSuite&) = delete;

  // `berth-up start ROOT`; Internal with its output (and the logs' ends) on failure.
  absl::Status Start();
  // `berth-up stop ROOT`.
  absl::Status Stop();

  const std::string& root() const { return dir_.path(); }
  std::string socket() const { return dir_.Path("berth.sock"); }
  // A fresh path in the root for the test's own files.
  std::string Path(const std::string& name) const { return dir_.Path(name); }
  // The last lines of every service log, for failure messages.
  std::string Logs() const;

  // Runs argv to completion (up to 120 s) with stdout/stderr captured; `stdin_path` feeds
  // stdin when not empty; `env` adds "K=V" entries.
  RunResult Run(const std::vector<std::string>& argv, const std::string& stdin_path = "",
                const std::vector<std::string>& env = {});

 private:
  testing::TempDir dir_{"bcli"};
  std::string berth_up_;
  std::string bin_;
  bool started_ = false;
  int runs_ = 0;
};

// Root tests skip when not run as root, and fail (as berth's tests do) when a binary
// scripts/install-deps.sh provides is missing: runc, nats-server, busybox-static.
bool IsRoot();
// "" when everything is there, else what is missing.
std::string MissingBinaries();

// The applets the busybox image and rootfs link (sh, echo, cat, sleep, readlink, ...).
std::vector<std::string> BusyboxApplets();

// Writes an OCI image-layout archive (oci-layout, index.json, blobs/sha256/...) of a one-layer
// busybox image for the host platform, named `name` (annotation io.containerd.image.name),
// with Env PATH and Cmd ["/bin/sh"]. Returns the image's top chain ID.
absl::StatusOr<std::string> WriteBusyboxArchive(const std::string& path, const std::string& name);

// Makes `dir` a busybox root filesystem (bin/busybox, applet links, etc/passwd, etc/group,
// empty proc, dev, sys, tmp).
absl::Status MakeBusyboxRootfs(const std::string& dir);

// Removes the cgroup directories runc made for namespace `ns` (/<controller>/<ns>).
void RemoveNamespaceCgroups(const std::string& ns);

std::string ReadFile(const std::string& path);

}  // namespace berth::client_testing

#endif  // BERTH_CLIENT_TESTING_SUITE_H_
