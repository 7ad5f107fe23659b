#include "services/snapshot/diff/fs_applier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "services/snapshot/diff/stream.h"
#include "services/snapshot/diff/tar_apply.h"
#include "services/snapshot/directory_snapshotter.h"
#include "services/snapshot/fs.h"

namespace berth::snapshot::diff {
namespace {

bool HasOption(const Mount& m, std::string_view option) {
  for (const std::string& o : m.options) {
    if (o == option) return true;
  }
  return false;
}

// The value of `key=` among the options, or "".
std::string OptionValue(const Mount& m, std::string_view key) {
  for (const std::string& o : m.options) {
    if (o.size() > key.size() && o.compare(0, key.size(), key) == 0 && o[key.size()] == '=') {
      return o.substr(key.size() + 1);
    }
  }
  return "";
}

std::vector<std::string> SplitColons(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(':', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

absl::Status EnsureDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus("mkdir", path, errno);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TempMount>> TempMount::Create(const std::string& parent,
                                                             const std::vector<Mount>& mounts) {
  RETURN_IF_ERROR(EnsureDir(parent));
  std::string templ = parent + "/mount-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) return ErrnoToStatus("mkdtemp", templ, errno);
  std::unique_ptr<TempMount> tm(new TempMount(templ));
  absl::Status s = MountAll(mounts, templ);
  if (!s.ok()) return s;  // ~TempMount removes the directory.
  for (const Mount& m : mounts)
    tm->targets_.push_back(m.target.empty() ? templ : templ + "/" + m.target);
  return tm;
}

TempMount::~TempMount() {
  for (auto it = targets_.rbegin(); it != targets_.rend(); ++it) {
    absl::Status s = UnmountAll(*it);
    if (!s.ok()) {
      log::Warn("temporary mount busy, detaching path={:?}: {}", *it, s.ToString());
      s = UnmountAll(*it, /*detach=*/true);
    }
  }
  if (rmdir(path_.c_str()) != 0 && errno != ENOENT) {
    log::Warn("temporary mount point not removed path={:?}: {}", path_, strerror(errno));
  }
}

std::vector<Mount> ReadonlyMounts(const std::vector<Mount>& mounts) {
  std::vector<Mount> out;
  for (Mount m : mounts) {
    std::vector<std::string> options;
    if (m.type == "overlay") {
      std::string upper = OptionValue(m, "upperdir");
      for (const std::string& o : m.options) {
        if (o.rfind("upperdir=", 0) == 0 || o.rfind("workdir=", 0) == 0 || o == "rw") continue;
        if (o.rfind("lowerdir=", 0) == 0 && !upper.empty()) {
          options.push_back("lowerdir=" + upper + ":" + o.substr(9));
          continue;
        }
        options.push_back(o);
      }
    } else {
      for (const std::string& o : m.options) {
        if (o != "rw") options.push_back(o);
      }
    }
    options.push_back("ro");
    m.options = std::move(options);
    out.push_back(std::move(m));
  }
  return out;
}

FileSystemApplier::FileSystemApplier(content::Provider* content, FileSystemApplierOptions options)
    : content_(content), options_(std::move(options)) {}

absl::StatusOr<Descriptor> FileSystemApplier::Apply(const CallContext& ctx, const Descriptor& desc,
                                                    const std::vector<Mount>& mounts) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  if (mounts.empty()) return InvalidArgumentError("apply: no mounts to apply the layer onto");
  ASSIGN_OR_RETURN(digest::Digest dgst, digest::Digest::Parse(desc.digest));
  ASSIGN_OR_RETURN(Compression declared, CompressionForMediaType(desc.media_type));
  (void)declared;  // The stream's magic decides, as containerd's DecompressStream does.

  ASSIGN_OR_RETURN(std::unique_ptr<content::ReaderAt> reader, content_->OpenReader(ctx, dgst));
  const std::int64_t size = desc.size > 0 ? desc.size : reader->Size();
  content::ReaderAt* raw_reader = reader.get();
  auto read = [raw_reader](char* buf, size_t n, std::int64_t off) {
    return raw_reader->ReadAt(buf, n, off);
  };
  auto digesting =
      std::make_unique<DigestingSource>(NewDecompressor(NewVerifyingReader(read, size, dgst)));
  DigestingSource* uncompressed = digesting.get();
  std::unique_ptr<ChunkSource> source = std::move(digesting);
  if (options_.prefetch) source = NewPrefetchSource(std::move(source));

  ApplyOptions apply;
  apply.skip_devices = RunningInUserNamespace();
  apply.cancelled = [&ctx] { return ctx.IsCancelled(); };
  std::string root;
  std::unique_ptr<TempMount> temp;
  const Mount& m = mounts[0];
  if (mounts.size() == 1 && m.type == "overlay" && !OptionValue(m, "upperdir").empty() &&
      !RunningInUserNamespace()) {
    root = OptionValue(m, "upperdir");
    apply.whiteouts = ApplyOptions::Whiteouts::kOverlay;
    apply.overlay_xattr_prefix = HasOption(m, "userxattr") ? "user.overlay." : "trusted.overlay.";
    apply.parents = SplitColons(OptionValue(m, "lowerdir"));
  } else if (mounts.size() == 1 && m.type == "bind" && m.target.empty()) {
    if (HasOption(m, "ro")) {
      return FailedPreconditionError(
          fmt::format("apply: mount of {} is read-only", Quote(m.source)));
    }
    root = m.source;
  } else {
    ASSIGN_OR_RETURN(temp, TempMount::Create(options_.temp_dir, mounts));
    root = temp->path();
    apply.cross_mounts = mounts.size() > 1;  // Our own submounts, from the caller's list.
  }

  absl::StatusOr<ApplyStats> stats = ApplyTar(*source, root, apply);
  if (!stats.ok()) return stats.status();
  // The diffID covers the whole stream (tar padding after the end marker too), and the
  // compressed digest is checked when the blob has been read to its end.
  RETURN_IF_ERROR(Drain(*source));
  if (options_.sync_fs) {
    UniqueFd fd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.valid() && syncfs(fd.get()) != 0) return ErrnoToStatus("syncfs", root, errno);
  }
  Descriptor applied;
  applied.media_type = kMediaTypeLayer;
  applied.digest = uncompressed->Sum().ToString();
  applied.size = uncompressed->size();
  log::Debug("layer applied digest={} diff_id={} entries={} bytes={}", desc.digest, applied.digest,
             stats->entries, applied.size);
  return applied;
}

}  // namespace berth::snapshot::diff
