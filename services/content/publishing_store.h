// PublishingStore: a content::Store decorator that announces changes on the event bus, as
// containerd's content service does:
//
//   /content/delete  containerd.events.ContentDelete{digest}          after a Delete
//   /content/commit  berth.content.v1.ContentCommit{digest, size,     after a Commit that made
//                    ref, labels}  (berth's own; README.md)           a blob visible
//
// A commit answered with AlreadyExists (the blob was already in the namespace) and failed
// calls publish nothing. Publishing never fails the call: the change has happened, so an
// event the publisher refuses is logged and dropped (the publisher counts its own drops).
//
// Thread-safety: as the wrapped store; the publisher must be thread-safe.
#ifndef BERTH_SERVICES_CONTENT_PUBLISHING_STORE_H_
#define BERTH_SERVICES_CONTENT_PUBLISHING_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "services/content/store.h"

namespace berth::events {
class Publisher;
}  // namespace berth::events

namespace berth::content {

inline constexpr char kDeleteTopic[] = "/content/delete";
inline constexpr char kCommitTopic[] = "/content/commit";
inline constexpr char kDeleteEventType[] = "containerd.events.ContentDelete";
inline constexpr char kCommitEventType[] = "berth.content.v1.ContentCommit";

class PublishingStore final : public Store {
 public:
  // Neither is owned; both must outlive this store and its writers.
  PublishingStore(Store* store, events::Publisher* publisher)
      : store_(store), publisher_(publisher) {}

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
  absl::Status Delete(const CallContext& ctx, const digest::Digest& d) override;
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
  absl::StatusOr<std::unique_ptr<content::Writer>> OpenWriter(
      const CallContext& ctx, const WriterOptions& options) override;

 private:
  class PublishingWriter;

  Store* store_;
  events::Publisher* publisher_;
};

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_PUBLISHING_STORE_H_
