// The snapshotter conformance suite, in the style of containerd's core/snapshots/testsuite:
// one set of tests that every Snapshotter must pass (OverlaySnapshotter, NativeSnapshotter,
// and SnapshotProxy talking to a real server). The tests mount what the snapshotter returns,
// so they need root (CTest label `root`); every mount a test makes is recorded and undone
// when the test ends, also when it fails.
//
//   // in a test file:
//   const bool kRegistered = [] {
//     testsuite::RegisterSnapshotterSuite("Overlay", [](const std::string& root) {
//       return MakeOverlayHarness(root);
//     });
//     return true;
//   }();
//
// Each test gets a fresh temporary directory: <tmp>/root for the snapshotter's state and
// <tmp>/work for the test's mount points.
//
// Thread-safety: registration happens before RUN_ALL_TESTS; tests run one at a time.
#ifndef BERTH_SERVICES_SNAPSHOT_TESTSUITE_TESTSUITE_H_
#define BERTH_SERVICES_SNAPSHOT_TESTSUITE_TESTSUITE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/snapshot/mount.h"
#include "services/snapshot/snapshotter.h"

namespace berth::snapshot::testsuite {

// One snapshotter under test and whatever keeps it alive (metadata store, server, channel).
class Harness {
 public:
  virtual ~Harness() = default;
  virtual Snapshotter* snapshotter() = 0;
  // Stops the snapshotter and starts it again over the same state, as a service restart
  // does (the new instance runs its start-up cleanup). Mounts made from it must survive.
  [[nodiscard]] virtual absl::Status Restart() = 0;
};

// Makes a harness whose state lives under `root` (an empty directory).
using HarnessFactory =
    std::function<absl::StatusOr<std::unique_ptr<Harness>>(const std::string& root)>;

// Registers the suite's tests as `<name>Conformance.<Test>`.
void RegisterSnapshotterSuite(const std::string& name, HarnessFactory factory);

// Mounts for a test, undone when the recorder goes away (a failed ASSERT included).
class MountRecorder {
 public:
  MountRecorder() = default;
  ~MountRecorder();
  MountRecorder(const MountRecorder&) = delete;
  MountRecorder& operator=(const MountRecorder&) = delete;

  [[nodiscard]] absl::Status Mount(const std::vector<snapshot::Mount>& mounts,
                                   const std::string& target);
  [[nodiscard]] absl::Status Unmount(const std::string& target);

 private:
  std::vector<std::string> targets_;
};

}  // namespace berth::snapshot::testsuite

#endif  // BERTH_SERVICES_SNAPSHOT_TESTSUITE_TESTSUITE_H_
