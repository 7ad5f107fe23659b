// The conformance suite (services/snapshot/testsuite) on OverlaySnapshotter and
// NativeSnapshotter, each over its own MetaStore. Needs root: the tests mount.
#include <memory>
#include <string>

#include "lib/status/status.h"
#include "services/snapshot/metadata.h"
#include "services/snapshot/native_snapshotter.h"
#include "services/snapshot/overlay_snapshotter.h"
#include "services/snapshot/testsuite/testsuite.h"

namespace berth::snapshot {
namespace {

template <typename S>
class LocalHarness : public testsuite::Harness {
 public:
  explicit LocalHarness(std::string root) : root_(std::move(root)) {}

  absl::Status Open() {
    ASSIGN_OR_RETURN(meta_, MetaStore::Open(root_ + "/meta"));
    ASSIGN_OR_RETURN(sn_, S::Create(root_ + "/" + S::kName, meta_.get()));
    return sn_->Cleanup(CallContext::Background());
  }

  Snapshotter* snapshotter() override { return sn_.get(); }

  absl::Status Restart() override {
    sn_.reset();
    meta_.reset();
    return Open();
  }

 private:
  std::string root_;
  std::unique_ptr<MetaStore> meta_;
  std::unique_ptr<S> sn_;
};

template <typename S>
absl::StatusOr<std::unique_ptr<testsuite::Harness>> MakeHarness(const std::string& root) {
  auto harness = std::make_unique<LocalHarness<S>>(root);
  RETURN_IF_ERROR(harness->Open());
  return harness;
}

const bool kRegistered = [] {
  testsuite::RegisterSnapshotterSuite("Overlay", MakeHarness<OverlaySnapshotter>);
  testsuite::RegisterSnapshotterSuite("Native", MakeHarness<NativeSnapshotter>);
  return true;
}();

}  // namespace
}  // namespace berth::snapshot
