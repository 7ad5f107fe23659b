// SnapshotProxy: snapshot::Snapshotter over containerd.services.snapshots.v1.Snapshots on a
// gRPC channel, for one snapshotter name ("overlayfs", "native"); DiffProxy:
// diff::Applier and diff::Comparer over containerd.services.diff.v1.Diff; and
// SnapshotAdminProxy: snapshot::Admin over berth.snapshot.v1.SnapshotAdmin — so the image
// service, the gateway, the client library and the conformance suite use the same
// interfaces as berth-snapshot itself.
//
// Each call writes the CallContext's namespace, lease and deadline into the gRPC metadata
// (lib/server/call_context.h) and maps the reply's grpc::Status back to absl::Status (codes
// one to one, so AlreadyExists / NotFound / FailedPrecondition reach the caller as the
// snapshotter returned them). Walk reads the List stream and calls fn per info; an error
// from fn cancels the stream.
//
// Thread-safety: safe from any thread (gRPC stubs are). The channel must outlive nothing:
// the proxies hold it.
#ifndef BERTH_CLIENT_PROXY_SNAPSHOT_PROXY_H_
#define BERTH_CLIENT_PROXY_SNAPSHOT_PROXY_H_

#include <memory>
#include <string>
#include <vector>

#include "services/snapshot/admin.h"
#include "services/snapshot/diff/differ.h"
#include "services/snapshot/snapshotter.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace berth::proxy {

class SnapshotProxy final : public snapshot::Snapshotter {
 public:
  SnapshotProxy(std::shared_ptr<grpc::Channel> channel, std::string snapshotter);
  ~SnapshotProxy() override;

  absl::StatusOr<snapshot::Info> Stat(const CallContext& ctx, std::string_view key) override;
  absl::StatusOr<snapshot::Info> Update(const CallContext& ctx, const snapshot::Info& info,
                                        const std::vector<std::string>& fieldpaths) override;
  absl::StatusOr<snapshot::Usage> Usage(const CallContext& ctx, std::string_view key) override;
  absl::StatusOr<std::vector<snapshot::Mount>> Mounts(const CallContext& ctx,
                                                      std::string_view key) override;
  absl::StatusOr<std::vector<snapshot::Mount>> Prepare(const CallContext& ctx, std::string_view key,
                                                       std::string_view parent,
                                                       const snapshot::Labels& labels) override;
  absl::StatusOr<std::vector<snapshot::Mount>> View(const CallContext& ctx, std::string_view key,
                                                    std::string_view parent,
                                                    const snapshot::Labels& labels) override;
  absl::Status Commit(const CallContext& ctx, std::string_view name, std::string_view key,
                      const snapshot::Labels& labels) override;
  absl::Status Remove(const CallContext& ctx, std::string_view key) override;
  absl::Status Walk(const CallContext& ctx, const std::vector<std::string>& filters,
                    const std::function<absl::Status(const snapshot::Info&)>& fn) override;
  absl::Status Cleanup(const CallContext& ctx) override;

 private:
  struct Stub;
  std::unique_ptr<Stub> stub_;
  std::string snapshotter_;
};

class DiffProxy final : public snapshot::diff::Applier, public snapshot::diff::Comparer {
 public:
  explicit DiffProxy(std::shared_ptr<grpc::Channel> channel);
  ~DiffProxy() override;

  absl::StatusOr<snapshot::diff::Descriptor> Apply(
      const CallContext& ctx, const snapshot::diff::Descriptor& desc,
      const std::vector<snapshot::Mount>& mounts) override;
  absl::StatusOr<snapshot::diff::Descriptor> Compare(
      const CallContext& ctx, const std::vector<snapshot::Mount>& lower,
      const std::vector<snapshot::Mount>& upper,
      const snapshot::diff::CompareOptions& options) override;

 private:
  struct Stub;
  std::unique_ptr<Stub> stub_;
};

class SnapshotAdminProxy final : public snapshot::Admin {
 public:
  explicit SnapshotAdminProxy(std::shared_ptr<grpc::Channel> channel);
  ~SnapshotAdminProxy() override;

  absl::StatusOr<std::vector<snapshot::LeaseResource>> ListLeaseResources(
      const CallContext& ctx, const std::string& lease) override;
  absl::Status AddLeaseResource(const CallContext& ctx, const std::string& lease,
                                const snapshot::LeaseResource& resource) override;
  absl::Status DeleteLeaseResource(const CallContext& ctx, const std::string& lease,
                                   const snapshot::LeaseResource& resource) override;
  absl::Status DeleteLease(const CallContext& ctx, const std::string& lease) override;
  absl::StatusOr<snapshot::NamespaceUsage> NamespaceUsage(const CallContext& ctx,
                                                          const std::string& ns) override;

 private:
  struct Stub;
  std::unique_ptr<Stub> stub_;
};

}  // namespace berth::proxy

#endif  // BERTH_CLIENT_PROXY_SNAPSHOT_PROXY_H_
