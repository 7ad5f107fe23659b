#include "services/content/sweep_guard.h"

#include <utility>

#include "lib/status/status.h"

namespace berth::content {
namespace {

// Commit runs under the guard's shared lock, and records the blob when it is leased.
class GuardedWriter final : public Writer {
 public:
  GuardedWriter(std::unique_ptr<Writer> writer, SweepGuard* guard, std::string ns,
                std::string lease)
      : writer_(std::move(writer)), guard_(guard), ns_(std::move(ns)), lease_(std::move(lease)) {}

  absl::StatusOr<IngestStatus> Status() override { return writer_->Status(); }
  absl::StatusOr<digest::Digest> Digest() override { return writer_->Digest(); }
  absl::Status Write(std::string data) override { return writer_->Write(std::move(data)); }
  absl::Status Truncate(int64_t size) override { return writer_->Truncate(size); }

  absl::Status Commit(int64_t size, const digest::Digest& expected, const Labels& labels) override {
    std::shared_lock<std::shared_mutex> lock(guard_->mutex());
    // The digest committed: the expected one, or what was written.
    digest::Digest d = expected;
    if (d.empty() && !lease_.empty()) {
      absl::StatusOr<digest::Digest> written = writer_->Digest();
      if (written.ok()) d = *written;
    }
    absl::Status s = writer_->Commit(size, expected, labels);
    // AlreadyExists leased the blob that was there already.
    if (!lease_.empty() && !d.empty() && (s.ok() || IsAlreadyExists(s))) {
      guard_->Attached(ns_, kContentResource, d.ToString());
    }
    return s;
  }

 private:
  std::unique_ptr<Writer> writer_;
  SweepGuard* guard_;
  std::string ns_;
  std::string lease_;
};

}  // namespace

void SweepGuard::Sweep(const std::function<void()>& fn) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  {
    std::lock_guard<std::mutex> records(records_mu_);
    const Time horizon = std::chrono::system_clock::now() - retention_;
    for (auto it = attached_.begin(); it != attached_.end();) {
      it = it->second < horizon ? attached_.erase(it) : std::next(it);
    }
  }
  fn();
}

bool SweepGuard::AttachedAfter(const std::string& ns, const std::string& type,
                               const std::string& id, Time t) const {
  std::lock_guard<std::mutex> lock(records_mu_);
  auto it = attached_.find({ns, type, id});
  return it != attached_.end() && it->second > t;
}

void SweepGuard::Attached(const std::string& ns, const std::string& type, const std::string& id) {
  std::lock_guard<std::mutex> lock(records_mu_);
  attached_[{ns, type, id}] = std::chrono::system_clock::now();
}

absl::StatusOr<std::unique_ptr<Writer>> GuardedStore::OpenWriter(const CallContext& ctx,
                                                                 const WriterOptions& options) {
  std::shared_lock<std::shared_mutex> lock(guard_->mutex());
  absl::StatusOr<std::unique_ptr<Writer>> writer = store_->OpenWriter(ctx, options);
  if (!ctx.lease.empty()) {
    if (writer.ok()) guard_->Attached(ctx.ns, kIngestResource, options.ref);
    if (IsAlreadyExists(writer.status()) && !options.expected.empty()) {
      guard_->Attached(ctx.ns, kContentResource, options.expected.ToString());
    }
  }
  if (!writer.ok()) return writer.status();
  return std::unique_ptr<Writer>(
      std::make_unique<GuardedWriter>(std::move(*writer), guard_, ctx.ns, ctx.lease));
}

absl::Status GuardedAdmin::AddLeaseResource(const CallContext& ctx, const std::string& lease,
                                            const LeaseResource& resource) {
  std::shared_lock<std::shared_mutex> lock(guard_->mutex());
  absl::Status s = admin_->AddLeaseResource(ctx, lease, resource);
  if (s.ok()) guard_->Attached(ctx.ns, resource.type, resource.id);
  return s;
}

}  // namespace berth::content
