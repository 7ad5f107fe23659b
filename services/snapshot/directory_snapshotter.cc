#include "services/snapshot/directory_snapshotter.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <optional>
#include <utility>

#include "fmt/format.h"
#include "lib/filters/filters.h"
#include "lib/labels/labels.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "services/snapshot/fs.h"

namespace berth::snapshot {
namespace {

std::optional<std::uint64_t> ParseId(std::string_view name) {
  if (name.empty() || name.size() > 19) return std::nullopt;
  std::uint64_t id = 0;
  for (char c : name) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (name[0] == '0') return std::nullopt;
  return id;
}

absl::Status MakeDir(const std::string& path, mode_t mode) {
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return ErrnoToStatus("mkdir", path, errno);
  }
  // mkdir's mode passes through the umask; the mode of these directories matters.
  if (chmod(path.c_str(), mode) != 0) return ErrnoToStatus("chmod", path, errno);
  return absl::OkStatus();
}

}  // namespace

absl::Status RequireNamespace(const CallContext& ctx) {
  if (ctx.ns.empty()) return FailedPreconditionError("namespace is required");
  return absl::OkStatus();
}

DirectorySnapshotter::DirectorySnapshotter(std::string name, std::string root, MetaStore* meta)
    : name_(std::move(name)), root_(std::move(root)), meta_(meta) {}

absl::Status DirectorySnapshotter::Init() {
  RETURN_IF_ERROR(MakeDir(root_, 0700));
  return MakeDir(root_ + "/snapshots", 0700);
}

std::string DirectorySnapshotter::SnapshotDir(std::uint64_t id) const {
  return fmt::format("{}/snapshots/{}", root_, id);
}

absl::StatusOr<Info> DirectorySnapshotter::Stat(const CallContext& ctx, std::string_view key) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  std::shared_lock<std::shared_mutex> lock(cleanup_mu_);
  ASSIGN_OR_RETURN(SnapshotRecord record, meta_->Get(ctx.ns, name_, key));
  return record.ToInfo(std::string(key));
}

absl::StatusOr<Info> DirectorySnapshotter::Update(const CallContext& ctx, const Info& info,
                                                  const std::vector<std::string>& fieldpaths) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  std::shared_lock<std::shared_mutex> lock(cleanup_mu_);
  return meta_->Update(ctx.ns, name_, info, fieldpaths);
}

absl::StatusOr<Usage> DirectorySnapshotter::Usage(const CallContext& ctx, std::string_view key) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  std::shared_lock<std::shared_mutex> lock(cleanup_mu_);
  ASSIGN_OR_RETURN(SnapshotRecord record, meta_->Get(ctx.ns, name_, key));
  switch (record.kind) {
    case Kind::kActive:
      return DiskUsage(UsageDir(record.id));
    case Kind::kCommitted:
      return record.usage;
    default:
      return snapshot::Usage{};
  }
}

absl::StatusOr<std::vector<Mount>> DirectorySnapshotter::Mounts(const CallContext& ctx,
                                                                std::string_view key) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  std::shared_lock<std::shared_mutex> lock(cleanup_mu_);
  ASSIGN_OR_RETURN(SnapshotChain chain, meta_->ActiveChain(ctx.ns, name_, key));
  return MountsFor(chain);
}

absl::StatusOr<std::vector<Mount>> DirectorySnapshotter::Prepare(const CallContext& ctx,
                                                                 std::string_view key,
                                                                 std::string_view parent,
                                                                 const Labels& labels) {
  return CreateSnapshot(ctx, Kind::kActive, key, parent, labels);
}

absl::StatusOr<std::vector<Mount>> DirectorySnapshotter::View(const CallContext& ctx,
                                                              std::string_view key,
                                                              std::string_view parent,
                                                              const Labels& labels) {
  return CreateSnapshot(ctx, Kind::kView, key, parent, labels);
}

absl::StatusOr<std::vector<Mount>> DirectorySnapshotter::CreateSnapshot(const CallContext& ctx,
                                                                        Kind kind,
                                                                        std::string_view key,
                                                                        std::string_view parent,
                                                                        const Labels& labels) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  if (key.empty()) return InvalidArgumentError("snapshot key must not be empty");
  RETURN_IF_ERROR(labels::Validate(labels));
  std::shared_lock<std::shared_mutex> lock(cleanup_mu_);
  // Cheap checks first, so that a doomed call does no filesystem work (MetaStore::Create
  // checks again atomically).
  absl::StatusOr<SnapshotRecord> existing = meta_->Get(ctx.ns, name_, key);
  if (existing.ok()) {
    return AlreadyExistsError(fmt::format("snapshot {} already exists", Quote(key)));
  }
  if (!IsNotFound(existing.status())) return existing.status();
  ASSIGN_OR_RETURN(std::vector<std::uint64_t> parent_ids,
                   meta_->ParentChain(ctx.ns, name_, parent));
  ASSIGN_OR_RETURN(std::uint64_t id, meta_->ReserveId(name_));

  const std::string dir = SnapshotDir(id);
  if (mkdir(dir.c_str(), 0700) != 0) return ErrnoToStatus("mkdir", dir, errno);
  absl::Status status = CreateLayout(id, kind, parent_ids);
  absl::StatusOr<SnapshotChain> chain;
  if (status.ok()) {
    chain = meta_->Create(ctx.ns, name_, key, kind, parent, id, labels, ctx.lease);
    status = chain.status();
  }
  if (!status.ok()) {
    RemoveDirectory(id);
    return status;
  }
  return MountsFor(*chain);
}

absl::Status DirectorySnapshotter::Commit(const CallContext& ctx, std::string_view name,
                                          std::string_view key, const Labels& labels) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  if (name.empty()) return InvalidArgumentError("committed snapshot name must not be empty");
  RETURN_IF_ERROR(labels::Validate(labels));
  std::shared_lock<std::shared_mutex> lock(cleanup_mu_);
  ASSIGN_OR_RETURN(SnapshotRecord record, meta_->Get(ctx.ns, name_, key));
  if (record.kind != Kind::kActive) {
    return FailedPreconditionError(fmt::format("snapshot {} is not active", Quote(key)));
  }
  ASSIGN_OR_RETURN(snapshot::Usage usage, DiskUsage(UsageDir(record.id)));
  return meta_->Commit(ctx.ns, name_, name, key, usage, labels, ctx.lease).status();
}

absl::Status DirectorySnapshotter::Remove(const CallContext& ctx, std::string_view key) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  std::shared_lock<std::shared_mutex> lock(cleanup_mu_);
  ASSIGN_OR_RETURN(SnapshotRecord record, meta_->Remove(ctx.ns, name_, key));
  RemoveDirectory(record.id);
  return absl::OkStatus();
}

void DirectorySnapshotter::RemoveDirectory(std::uint64_t id) {
  ForgetId(id);
  const std::string dir = SnapshotDir(id);
  const std::string aside = fmt::format("{}/snapshots/rm-{}", root_, id);
  std::string target = dir;
  if (rename(dir.c_str(), aside.c_str()) == 0) {
    target = aside;
  } else if (errno == ENOENT) {
    return;
  }
  absl::Status s = RemoveAll(target);
  if (!s.ok()) {
    log::Warn("snapshot directory not removed, Cleanup will retry snapshotter={} dir={:?}: {}",
              name_, target, s.ToString());
  }
}

absl::Status DirectorySnapshotter::Walk(const CallContext& ctx,
                                        const std::vector<std::string>& filters,
                                        const std::function<absl::Status(const Info&)>& fn) {
  RETURN_IF_ERROR(RequireNamespace(ctx));
  ASSIGN_OR_RETURN(filters::Filter filter, filters::ParseAll(filters));
  std::vector<Info> matching;
  {
    std::shared_lock<std::shared_mutex> lock(cleanup_mu_);
    RETURN_IF_ERROR(
        meta_->Walk(ctx.ns, name_, [&](const std::string& key, const SnapshotRecord& record) {
          Info info = record.ToInfo(key);
          filters::FuncAdaptor adaptor(
              [&info](const std::vector<std::string>& path) -> std::optional<std::string> {
                if (path[0] == "name") return info.name;
                if (path[0] == "parent") return info.parent;
                if (path[0] == "kind") return std::string(KindName(info.kind));
                if (path[0] == "labels" && path.size() > 1) {
                  std::string k = path[1];
                  for (size_t i = 2; i < path.size(); ++i) {
                    k += "." + path[i];
                  }
                  auto it = info.labels.find(k);
                  if (it == info.labels.end()) return std::nullopt;
                  return it->second;
                }
                return std::nullopt;
              });
          if (filter.Match(adaptor)) matching.push_back(std::move(info));
          return absl::OkStatus();
        }));
  }
  // fn runs without the lock: it may call back into the snapshotter.
  for (const Info& info : matching) RETURN_IF_ERROR(fn(info));
  return absl::OkStatus();
}

absl::Status DirectorySnapshotter::Cleanup(const CallContext& ctx) {
  std::unique_lock<std::shared_mutex> lock(cleanup_mu_);
  ASSIGN_OR_RETURN(std::vector<std::uint64_t> ids, meta_->AllIds(name_));
  std::set<std::uint64_t> live(ids.begin(), ids.end());
  const std::string snapshots = root_ + "/snapshots";
  ASSIGN_OR_RETURN(UniqueFd dir_fd, OpenDirectory(snapshots));
  std::vector<std::string> names;
  {
    DIR* dir = fdopendir(dup(dir_fd.get()));
    if (dir == nullptr) return ErrnoToStatus("opendir", snapshots, errno);
    while (struct dirent* entry = readdir(dir)) {
      std::string_view n = entry->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    closedir(dir);
  }
  absl::Status first_error;
  for (const std::string& n : names) {
    std::optional<std::uint64_t> id = ParseId(n);
    if (id && live.count(*id)) continue;
    if (id) ForgetId(*id);
    log::Info("removing unreferenced snapshot directory snapshotter={} dir={:?}", name_,
              snapshots + "/" + n);
    absl::Status s = RemoveAllAt(dir_fd.get(), n, snapshots + "/" + n);
    if (!s.ok()) {
      log::Warn("cleanup: {}", s.ToString());
      if (first_error.ok()) first_error = s;
    }
  }
  absl::Status extra = CleanupExtra(live);
  if (!extra.ok() && first_error.ok()) first_error = extra;
  return first_error;
}

}  // namespace berth::snapshot
