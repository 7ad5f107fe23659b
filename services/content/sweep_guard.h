// SweepGuard: makes the garbage collector's sweep and lease attachments of existing objects
// mutually exclusive inside berth-content, so that a blob a pull has just found (and leased)
// is never swept under it.
//
// The race it closes: the gateway marks, then asks this service to delete an unreferenced
// blob; meanwhile `ctr images pull` opens a writer for the same digest with its lease, gets
// AlreadyExists (which leases the existing blob) and goes on to read it. Without the guard
// the deletion could land between the lease and the read. With it:
//
//   - GuardedStore (a content::Store decorator in front of ContentService) runs OpenWriter
//     and Writer::Commit under the guard's shared lock, and records each object a call with
//     a lease attached ("content" digest, "ingests" ref) with the time;
//   - GuardedAdmin (a content::Admin decorator in front of the ContentAdmin service) does the
//     same for AddLeaseResource;
//   - the sweep (server/collectable_service.h) deletes each object under the exclusive lock
//     (Sweep()), and keeps any object leased after the mark's time (AttachedAfter): what was
//     leased before that, the gateway's mark saw through the lease records.
//
// Records older than `retention` are dropped (a collection takes far less than that).
//
// Thread-safety: safe from any thread; the wrapped store and admin must be too.
#ifndef BERTH_SERVICES_CONTENT_SWEEP_GUARD_H_
#define BERTH_SERVICES_CONTENT_SWEEP_GUARD_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <tuple>
#include <vector>

#include "services/content/admin.h"
#include "services/content/store.h"

namespace berth::content {

class SweepGuard {
 public:
  explicit SweepGuard(std::chrono::seconds retention = std::chrono::hours(1))
      : retention_(retention) {}

  // Runs `fn` (a check and a deletion of one object) under the exclusive lock.
  void Sweep(const std::function<void()>& fn);

  // Whether (ns, type, id) was attached to a lease after `t`. Call inside Sweep().
  bool AttachedAfter(const std::string& ns, const std::string& type, const std::string& id,
                     Time t) const;

  // For the decorators: the shared lock, and the record of an attachment made now.
  std::shared_mutex& mutex() { return mu_; }
  void Attached(const std::string& ns, const std::string& type, const std::string& id);

 private:
  const std::chrono::seconds retention_;
  std::shared_mutex mu_;
  mutable std::mutex records_mu_;
  std::map<std::tuple<std::string, std::string, std::string>, Time> attached_;  // records_mu_
};

// content::Store in front of another, under a SweepGuard (see above). Neither is owned; both
// must outlive this store and its writers.
class GuardedStore final : public Store {
 public:
  GuardedStore(Store* store, SweepGuard* guard) : store_(store), guard_(guard) {}

  absl::StatusOr<content::Info> Info(const CallContext& ctx, const digest::Digest& d) override {
    return store_->Info(ctx, d);
  }
  absl::StatusOr<content::Info> Update(const CallContext& ctx, const content::Info& info,
                                       const std::vector<std::string>& fieldpaths) override {
    return store_->Update(ctx, info, fieldpaths);
  }
  absl::Status Walk(const CallContext& ctx, const std::vector<std::string>& filters,
                    const std::function<absl::Status(const content::Info&)>& fn) override {
    return store_->Walk(ctx, filters, fn);
  }
  absl::Status Delete(const CallContext& ctx, const digest::Digest& d) override {
    return store_->Delete(ctx, d);
  }
  absl::StatusOr<std::unique_ptr<ReaderAt>> OpenReader(const CallContext& ctx,
                                                       const digest::Digest& d) override {
    return store_->OpenReader(ctx, d);
  }
  absl::StatusOr<IngestStatus> Status(const CallContext& ctx, const std::string& ref) override {
    return store_->Status(ctx, ref);
  }
  absl::StatusOr<std::vector<IngestStatus>> ListStatuses(
      const CallContext& ctx, const std::vector<std::string>& filters) override {
    return store_->ListStatuses(ctx, filters);
  }
  absl::Status Abort(const CallContext& ctx, const std::string& ref) override {
    return store_->Abort(ctx, ref);
  }
  // Under the shared lock; with a lease, records the ingest, and the blob when it already
  // exists (AlreadyExists leased it).
  absl::StatusOr<std::unique_ptr<content::Writer>> OpenWriter(
      const CallContext& ctx, const WriterOptions& options) override;

 private:
  Store* store_;
  SweepGuard* guard_;
};

// content::Admin in front of another: AddLeaseResource under the shared lock, recorded.
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
  absl::StatusOr<content::NamespaceUsage> NamespaceUsage(const CallContext& ctx,
                                                         const std::string& ns) override {
    return admin_->NamespaceUsage(ctx, ns);
  }

 private:
  Admin* admin_;
  SweepGuard* guard_;
};

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_SWEEP_GUARD_H_
