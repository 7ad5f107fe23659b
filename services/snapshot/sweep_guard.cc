#include "services/snapshot/sweep_guard.h"

#include <iterator>

namespace berth::snapshot {

void SweepGuard::Sweep(const std::function<void()>& fn) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  {
    std::lock_guard<std::mutex> records(records_mu_);
    const Time horizon = std::chrono::system_clock::now() - retention_;
    for (auto it = used_.begin(); it != used_.end();) {
      it = it->second < horizon ? used_.erase(it) : std::next(it);
    }
  }
  fn();
}

bool SweepGuard::UsedAfter(const std::string& ns, const std::string& type, const std::string& key,
                           Time t) const {
  std::lock_guard<std::mutex> lock(records_mu_);
  auto it = used_.find({ns, type, key});
  return it != used_.end() && it->second > t;
}

void SweepGuard::Used(std::string_view ns, std::string_view type, std::string_view key) {
  std::lock_guard<std::mutex> lock(records_mu_);
  used_[{std::string(ns), std::string(type), std::string(key)}] = std::chrono::system_clock::now();
}

absl::StatusOr<Info> GuardedSnapshotter::Stat(const CallContext& ctx, std::string_view key) {
  std::shared_lock<std::shared_mutex> lock(guard_->mutex());
  absl::StatusOr<Info> info = sn_->Stat(ctx, key);
  if (info.ok() && !ctx.lease.empty()) guard_->Used(ctx.ns, type_, key);
  return info;
}

absl::StatusOr<std::vector<Mount>> GuardedSnapshotter::Prepare(const CallContext& ctx,
                                                               std::string_view key,
                                                               std::string_view parent,
                                                               const Labels& labels) {
  std::shared_lock<std::shared_mutex> lock(guard_->mutex());
  absl::StatusOr<std::vector<Mount>> mounts = sn_->Prepare(ctx, key, parent, labels);
  if (mounts.ok() && !ctx.lease.empty() && !parent.empty()) guard_->Used(ctx.ns, type_, parent);
  return mounts;
}

absl::StatusOr<std::vector<Mount>> GuardedSnapshotter::View(const CallContext& ctx,
                                                            std::string_view key,
                                                            std::string_view parent,
                                                            const Labels& labels) {
  std::shared_lock<std::shared_mutex> lock(guard_->mutex());
  absl::StatusOr<std::vector<Mount>> mounts = sn_->View(ctx, key, parent, labels);
  if (mounts.ok() && !ctx.lease.empty() && !parent.empty()) guard_->Used(ctx.ns, type_, parent);
  return mounts;
}

absl::Status GuardedSnapshotter::Commit(const CallContext& ctx, std::string_view name,
                                        std::string_view key, const Labels& labels) {
  std::shared_lock<std::shared_mutex> lock(guard_->mutex());
  absl::Status s = sn_->Commit(ctx, name, key, labels);
  if (s.ok() && !ctx.lease.empty()) guard_->Used(ctx.ns, type_, name);
  return s;
}

absl::Status GuardedAdmin::AddLeaseResource(const CallContext& ctx, const std::string& lease,
                                            const LeaseResource& resource) {
  std::shared_lock<std::shared_mutex> lock(guard_->mutex());
  absl::Status s = admin_->AddLeaseResource(ctx, lease, resource);
  if (s.ok()) guard_->Used(ctx.ns, resource.type, resource.id);
  return s;
}

}  // namespace berth::snapshot
