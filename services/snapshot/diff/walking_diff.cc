#include "services/snapshot/diff/walking_diff.h"

#include <memory>
#include <random>
#include <utility>

#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "services/snapshot/diff/fs_applier.h"
#include "services/snapshot/diff/stream.h"
#include "services/snapshot/diff/tar_diff.h"
#include "services/snapshot/directory_snapshotter.h"

namespace berth::snapshot::diff {
namespace {

std::string UniqueRef() {
  std::random_device rd;
  return fmt::format("diff-{:016x}{:08x}", (static_cast<std::uint64_t>(rd()) << 32) | rd(), rd());
}

// A directory to read one side from: the source of a single bind mount as it is, else a
// read-only temporary mount.
struct Side {
  std::string path;
  std::unique_ptr<TempMount> mount;
};

absl::StatusOr<Side> OpenSide(const std::vector<Mount>& mounts, const std::string& temp_dir) {
  Side side;
  if (mounts.empty()) return side;  // An empty tree.
  if (mounts.size() == 1 && mounts[0].type == "bind" && mounts[0].target.empty()) {
    side.path = mounts[0].source;
    return side;
  }
  ASSIGN_OR_RETURN(side.mount, TempMount::Create(temp_dir, ReadonlyMounts(mounts)));
  side.path = side.mount->path();
  return side;
}

}  // namespace

WalkingDiff::WalkingDiff(content::Store* content, WalkingDiffOptions options)
    : content_(content), options_(std::move(options)) {}

absl::StatusOr<Descriptor> WalkingDiff::Compare(const CallContext& ctx,
                                                const std::vector<Mount>& lower,
                                                const std::vector<Mount>& upper,
                                                const CompareOptions& options) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  if (upper.empty()) return InvalidArgumentError("diff: no upper mounts");
  const std::string media_type =
      options.media_type.empty() ? kMediaTypeLayerGzip : options.media_type;
  Compression compression;
  if (media_type == kMediaTypeLayerGzip) {
    compression = Compression::kGzip;
  } else if (media_type == kMediaTypeLayerZstd) {
    compression = Compression::kZstd;
  } else if (media_type == kMediaTypeLayer) {
    compression = Compression::kNone;
  } else {
    return UnimplementedError(
        fmt::format("diff: unsupported diff media type {}", Quote(media_type)));
  }

  ASSIGN_OR_RETURN(Side lower_side, OpenSide(lower, options_.temp_dir));
  ASSIGN_OR_RETURN(Side upper_side, OpenSide(upper, options_.temp_dir));

  content::WriterOptions wopts;
  wopts.ref = options.ref.empty() ? UniqueRef() : options.ref;
  ASSIGN_OR_RETURN(std::unique_ptr<content::Writer> writer, content_->OpenWriter(ctx, wopts));
  digest::Sha256 compressed_hash;
  std::int64_t compressed_size = 0;
  std::string pending;
  auto flush = [&]() -> absl::Status {
    if (pending.empty()) return absl::OkStatus();
    std::string chunk;
    chunk.swap(pending);
    return writer->Write(std::move(chunk));
  };
  std::unique_ptr<Compressor> compressor =
      NewCompressor(compression, [&](std::string_view data) -> absl::Status {
        compressed_hash.Update(data);
        compressed_size += static_cast<std::int64_t>(data.size());
        pending.append(data);
        if (pending.size() >= options_.write_chunk) return flush();
        return absl::OkStatus();
      });
  digest::Sha256 uncompressed_hash;
  auto abort_ingest = [&](absl::Status s) {
    writer.reset();
    absl::Status a = content_->Abort(ctx, wopts.ref);
    if (!a.ok() && !IsNotFound(a))
      log::Warn("diff: abort ingest ref={:?}: {}", wopts.ref, a.ToString());
    return s;
  };
  absl::StatusOr<DiffStats> stats =
      WriteTarDiff(lower_side.path, upper_side.path, [&](std::string_view data) -> absl::Status {
        if (ctx.IsCancelled()) return CancelledError("diff: cancelled");
        uncompressed_hash.Update(data);
        return compressor->Write(data);
      });
  if (!stats.ok()) return abort_ingest(stats.status());
  absl::Status s = compressor->Close();
  if (s.ok()) s = flush();
  if (!s.ok()) return abort_ingest(s);

  digest::Digest blob = compressed_hash.Finish();
  digest::Digest diff_id = uncompressed_hash.Finish();
  content::Labels labels(options.labels.begin(), options.labels.end());
  labels[kUncompressedLabel] = diff_id.ToString();
  s = writer->Commit(compressed_size, blob, labels);
  if (!s.ok() && !IsAlreadyExists(s)) return abort_ingest(s);
  Descriptor out;
  out.media_type = media_type;
  out.digest = blob.ToString();
  out.size = compressed_size;
  log::Debug("diff written digest={} diff_id={} entries={}", out.digest, diff_id.ToString(),
             stats->entries);
  return out;
}

}  // namespace berth::snapshot::diff
