// WalkingDiff: Comparer over a content store — mounts both sides read-only (a single bind
// mount is read in place), walks them together (WriteTarDiff), compresses the tar on the
// fly and streams it into a content ingest, which is committed with the blob's digest and
// the `containerd.io/uncompressed` label. containerd's walking differ.
//
// Thread-safety: safe to call from many threads at once.
#ifndef BERTH_SERVICES_SNAPSHOT_DIFF_WALKING_DIFF_H_
#define BERTH_SERVICES_SNAPSHOT_DIFF_WALKING_DIFF_H_

#include <string>

#include "services/content/store.h"
#include "services/snapshot/diff/differ.h"

namespace berth::snapshot::diff {

struct WalkingDiffOptions {
  // Directory for temporary mount points (created 0700 when missing). Required.
  std::string temp_dir;
  // Bytes handed to the content writer per Write.
  std::size_t write_chunk = 1 << 20;
};

class WalkingDiff final : public Comparer {
 public:
  // `content` is not owned and must outlive the differ.
  WalkingDiff(content::Store* content, WalkingDiffOptions options);

  absl::StatusOr<Descriptor> Compare(const CallContext& ctx, const std::vector<Mount>& lower,
                                     const std::vector<Mount>& upper,
                                     const CompareOptions& options) override;

 private:
  content::Store* content_;
  WalkingDiffOptions options_;
};

}  // namespace berth::snapshot::diff

#endif  // BERTH_SERVICES_SNAPSHOT_DIFF_WALKING_DIFF_H_
