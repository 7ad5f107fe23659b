// SweepGuard: makes the garbage collector's sweep and the use of existing snapshots under a
// lease mutually exclusive inside berth-snapshot, so that a snapshot a pull has just found is
// never swept before the pull builds on it.
//
// The race it closes: `ctr images pull` unpacks layer by layer under its lease; for a layer
// whose chain ID already exists it only Stats it, and then Prepares the next layer on top of
// it. If the existing snapshot is unreferenced (its image was deleted), the gateway's mark
// finds it unreachable, and the removal could land between the Stat and the Prepare — the
// pull then fails ("parent snapshot does not exist"). containerd's client does not lease
// what it only Stats. With the guard:
//
//   - GuardedSnapshotter (in front of each snapshotter for the Snapshots service) runs Stat,
//     Prepare, View and Commit under the guard's shared lock and records, for calls that
//     carry a lease, the snapshot a Stat found and the parent a Prepare or View used, with the
//     time;
//   - GuardedAdmin (in front of SnapshotAdmin) does the same for AddLeaseResource;
//   - the sweep (server/collectable_service.h) removes each snapshot under the exclusive lock
//     (Sweep()) and keeps one used under a lease after the mark's time (UsedAfter).
//
// Records older than `retention` are dropped (a collection takes far less than that).
//
// Thread-safety: safe from any thread; the wrapped snapshotters and admin must be too.
#ifndef BERTH_SERVICES_SNAPSHOT_SWEEP_GUARD_H_
#define BERTH_SERVICES_SNAPSHOT_SWEEP_GUARD_H_

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "services/snapshot/admin.h"
#include "services/snapshot/snapshotter.h"

namespace berth::snapshot {

class SweepGuard {
 public:
  using Time = std::chrono::system_clock::time_point;

  explicit SweepGuard(std::chrono::seconds retention = std::chrono::hours(1))
      : retention_(retention) {}

  // Runs `fn` (a check and a removal of one snapshot) under the exclusive lock.
  void Sweep(const std::function<void()>& fn);

  // Whether snapshot `key` of "snapshots/<snapshotter>" `type` in `ns` was used under a lease
  // after `t`. Call inside Sweep().
  bool UsedAfter(const std::string& ns, const std::string& type, const std::string& key,
                 Time t) const;

  // For the decorators: the shared lock, and the record of a use made now.
  std::shared_mutex& mutex() { return mu_; }
  void Used(std::string_view ns, std::string_view type, std::string_view key);

 private:
  const std::chrono::seconds retention_;
  std::shared_mutex mu_;
  mutable std::mutex records_mu_;
  std::map<std::tuple<std::string, std::string, std::string>, Time> used_;  // records_mu_
};

// A Snapshotter in front of another, under a SweepGuard (see above). `name` is the
// snapshotter's name ("overlayfs"). Neither is owned; both must outlive this object.
class GuardedSnapshotter final : public Snapshotter {
 public:
  GuardedSnapshotter(std::string name, Snapshotter* snapshotter, SweepGuard* guard)
      : type_("snapshots/" + name), sn_(snapshotter), guard_(guard) {}

  absl::StatusOr<Info> Stat(const CallContext& ctx, std::string_view key) override;
  absl::StatusOr<Info> Update(const CallContext& ctx, const Info& info,
                              const std::vector<std::string>& fieldpaths) override {
    return sn_->Update(ctx, info, fieldpaths);
  }
  absl::StatusOr<snapshot::Usage> Usage(const CallContext& ctx, std::string_view key) override {
    return sn_->Usage(ctx, key);
  }
  absl::StatusOr<std::vector<Mount>> Mounts(const CallContext& ctx, std::string_view key) override {
    return sn_->Mounts(ctx, key);
  }
  absl::StatusOr<std::vector<Mount>> Prepare(const CallContext& ctx, std::string_view key,
                                             std::string_view parent,
                                             const Labels& labels) override;
  absl::StatusOr<std::vector<Mount>> View(const CallContext& ctx, std::string_view key,
                                          std::string_view parent, const Labels& labels) override;
  absl::Status Commit(const CallContext& ctx, std::string_view name, std::string_view key,
                      const Labels& labels) override;
  absl::Status Remove(const CallContext& ctx, std::string_view key) override {
    return sn_->Remove(ctx, key);
  }
  absl::Status Walk(const CallContext& ctx, const std::vector<std::string>& filters,
                    const std::function<absl::Status(const Info&)>& fn) override {
    return sn_->Walk(ctx, filters, fn);
  }
  absl::Status Cleanup(const CallContext& ctx) override { return sn_->Cleanup(ctx); }

 private:
  const std::string type_;
  Snapshotter* sn_;
  SweepGuard* guard_;
};

// snapshot::Admin in front of another: AddLeaseResource under the shared lock, recorded.
class GuardedAdmin final : public Admin {
 public:
  GuardedAdmin(Admin* admin, SweepGuard* guard) : admin_(admin), guard_(guard) {}

  absl::StatusOr<std::vector<LeaseResource>> ListLeaseResources(const CallContext& ctx,
                                                                const std::string& lease) override {
    return admin_->ListLeaseResources(ctx, lease);
  }
  absl::Status AddLeaseResource(const CallContext& ctx, const std::string& lease,
                                const LeaseResource& resource) override;
  absl::Status DeleteLeaseResource(const CallContext& ctx, const std::string& lease,
                                   const LeaseResource& resource) override {
    return admin_->DeleteLeaseResource(ctx, lease, resource);
  }
  absl::Status DeleteLease(const CallContext& ctx, const std::string& lease) override {
    return admin_->DeleteLease(ctx, lease);
  }
  absl::StatusOr<snapshot::NamespaceUsage> NamespaceUsage(const CallContext& ctx,
                                                          const std::string& ns) override {
    return admin_->NamespaceUsage(ctx, ns);
  }

 private:
  Admin* admin_;
  SweepGuard* guard_;
};

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_SWEEP_GUARD_H_
