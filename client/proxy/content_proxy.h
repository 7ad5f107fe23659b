// ContentProxy: content::Store over containerd.services.content.v1.Content on a gRPC channel,
// and ContentAdminProxy: content::Admin over berth.content.v1.ContentAdmin — so the gateway,
// other services and the client library use the same interfaces as berth-content itself,
// and one conformance suite tests the store in-process and over the wire.
//
// Each call writes the CallContext's namespace, lease and deadline into the gRPC metadata
// (lib/server/call_context.h) and maps the reply's grpc::Status back to absl::Status (codes
// one to one).
//
// The writer speaks the Write stream as containerd's client does: a STAT with ref, total and
// expected opens it (its error — ALREADY_EXISTS, UNAVAILABLE — is OpenWriter's), Status() and
// Digest() send STAT, Write() sends WRITE at the known offset (a reply short of the data is
// DataLoss), Truncate(0) sends WRITE at offset 0, Commit() sends COMMIT and half-closes.
// ReaderAt::ReadAt issues one Read call per call for exactly the requested range, as
// containerd's remote ReaderAt does; a blob deleted meanwhile is then NotFound.
//
// Thread-safety: the proxies are safe from any thread (gRPC stubs are); writers and readers
// are used by one thread at a time. The channel must outlive writers and readers.
#ifndef BERTH_CLIENT_PROXY_CONTENT_PROXY_H_
#define BERTH_CLIENT_PROXY_CONTENT_PROXY_H_

#include <memory>
#include <string>
#include <vector>

#include "services/content/admin.h"
#include "services/content/store.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace berth::proxy {

class ContentProxy final : public content::Store {
 public:
  explicit ContentProxy(std::shared_ptr<grpc::Channel> channel);
  ~ContentProxy() override;

  absl::StatusOr<content::Info> Info(const CallContext& ctx, const digest::Digest& d) override;
  absl::StatusOr<content::Info> Update(const CallContext& ctx, const content::Info& info,
                                       const std::vector<std::string>& fieldpaths) override;
  absl::Status Walk(const CallContext& ctx, const std::vector<std::string>& filters,
                    const std::function<absl::Status(const content::Info&)>& fn) override;
  absl::Status Delete(const CallContext& ctx, const digest::Digest& d) override;
  absl::StatusOr<std::unique_ptr<content::ReaderAt>> OpenReader(const CallContext& ctx,
                                                                const digest::Digest& d) override;
  absl::StatusOr<content::IngestStatus> Status(const CallContext& ctx,
                                               const std::string& ref) override;
  absl::StatusOr<std::vector<content::IngestStatus>> ListStatuses(
      const CallContext& ctx, const std::vector<std::string>& filters) override;
  absl::Status Abort(const CallContext& ctx, const std::string& ref) override;
  absl::StatusOr<std::unique_ptr<content::Writer>> OpenWriter(
      const CallContext& ctx, const content::WriterOptions& options) override;

 private:
  class ProxyReader;
  class ProxyWriter;

  std::shared_ptr<grpc::Channel> channel_;
  struct Stub;
  std::unique_ptr<Stub> stub_;
};

class ContentAdminProxy final : public content::Admin {
 public:
  explicit ContentAdminProxy(std::shared_ptr<grpc::Channel> channel);
  ~ContentAdminProxy() override;

  absl::StatusOr<std::vector<content::LeaseResource>> ListLeaseResources(
      const CallContext& ctx, const std::string& lease) override;
  absl::Status AddLeaseResource(const CallContext& ctx, const std::string& lease,
                                const content::LeaseResource& resource) override;
  absl::Status DeleteLeaseResource(const CallContext& ctx, const std::string& lease,
                                   const content::LeaseResource& resource) override;
  absl::Status DeleteLease(const CallContext& ctx, const std::string& lease) override;
  absl::StatusOr<content::NamespaceUsage> NamespaceUsage(const CallContext& ctx,
                                                         const std::string& ns) override;

 private:
  struct Stub;
  std::unique_ptr<Stub> stub_;
};

}  // namespace berth::proxy

#endif  // BERTH_CLIENT_PROXY_CONTENT_PROXY_H_
