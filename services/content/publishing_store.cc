#include "services/content/publishing_store.h"

#include <utility>

#include "lib/events/publisher.h"
#include "lib/log/log.h"
#include "proto/berth/content/v1/events.pb.h"
#include "proto/containerd/events/content.pb.h"

namespace berth::content {
namespace {

void Publish(events::Publisher* publisher, const std::string& ns, const char* topic,
             const google::protobuf::Message& event, const char* type_url) {
  if (absl::Status s = publisher->Publish(ns, topic, event, type_url); !s.ok()) {
    log::Warn("event not published topic={} namespace={:?} error={:?}", topic, ns, s.ToString());
  }
}

}  // namespace

class PublishingStore::PublishingWriter final : public Writer {
 public:
  PublishingWriter(std::unique_ptr<Writer> writer, events::Publisher* publisher, std::string ns,
                   std::string ref)
      : writer_(std::move(writer)),
        publisher_(publisher),
        ns_(std::move(ns)),
        ref_(std::move(ref)) {}

  absl::StatusOr<IngestStatus> Status() override { return writer_->Status(); }
  absl::StatusOr<digest::Digest> Digest() override { return writer_->Digest(); }
  absl::Status Write(std::string data) override { return writer_->Write(std::move(data)); }
  absl::Status Truncate(int64_t size) override { return writer_->Truncate(size); }

  absl::Status Commit(int64_t size, const digest::Digest& expected, const Labels& labels) override {
    // The digest and size as they are before the commit ends the writer.
    absl::StatusOr<digest::Digest> d = writer_->Digest();
    absl::StatusOr<IngestStatus> st = writer_->Status();
    absl::Status s = writer_->Commit(size, expected, labels);
    if (s.ok() && d.ok() && st.ok()) {
      berth::content::v1::ContentCommit event;
      event.set_digest(d->ToString());
      event.set_size(st->offset);
      event.set_ref(ref_);
      for (const auto& [k, v] : labels) (*event.mutable_labels())[k] = v;
      Publish(publisher_, ns_, kCommitTopic, event, kCommitEventType);
    }
    return s;
  }

 private:
  std::unique_ptr<Writer> writer_;
  events::Publisher* publisher_;
  std::string ns_;
  std::string ref_;
};

absl::Status PublishingStore::Delete(const CallContext& ctx, const digest::Digest& d) {
  absl::Status s = store_->Delete(ctx, d);
  if (!s.ok()) return s;
  containerd::events::ContentDelete event;
  event.set_digest(d.ToString());
  Publish(publisher_, ctx.ns, kDeleteTopic, event, kDeleteEventType);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Writer>> PublishingStore::OpenWriter(const CallContext& ctx,
                                                                    const WriterOptions& options) {
  absl::StatusOr<std::unique_ptr<Writer>> w = store_->OpenWriter(ctx, options);
  if (!w.ok()) return w.status();
  return std::unique_ptr<Writer>(
      new PublishingWriter(std::move(*w), publisher_, ctx.ns, options.ref));
}

}  // namespace berth::content
