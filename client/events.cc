#include "client/events.h"

#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include <map>
#include <mutex>
#include <string_view>
#include <utility>

#include "client/berth.h"
#include "client/connection.h"
#include "google/protobuf/util/json_util.h"
#include "lib/status/status.h"
#include "proto/berth/content/v1/events.pb.h"
#include "proto/berth/gc/v1/gc.pb.h"
#include "proto/containerd/events/container.pb.h"
#include "proto/containerd/events/content.pb.h"
#include "proto/containerd/events/image.pb.h"
#include "proto/containerd/events/namespace.pb.h"
#include "proto/containerd/events/snapshot.pb.h"
#include "proto/containerd/events/task.pb.h"

namespace berth {
namespace {

namespace evpb = containerd::services::events::v1;

// Every event type the client decodes, by full name. Referencing the default instances links
// their generated code in.
const std::map<std::string, const google::protobuf::Message*, std::less<>>& KnownEvents() {
  static const auto* known = [] {
    auto* m = new std::map<std::string, const google::protobuf::Message*, std::less<>>();
    const google::protobuf::Message* all[] = {
        &containerd::events::ContainerCreate::default_instance(),
        &containerd::events::ContainerUpdate::default_instance(),
        &containerd::events::ContainerDelete::default_instance(),
        &containerd::events::ContentDelete::default_instance(),
        &containerd::services::images::v1::ImageCreate::default_instance(),
        &containerd::services::images::v1::ImageUpdate::default_instance(),
        &containerd::services::images::v1::ImageDelete::default_instance(),
        &containerd::events::NamespaceCreate::default_instance(),
        &containerd::events::NamespaceUpdate::default_instance(),
        &containerd::events::NamespaceDelete::default_instance(),
        &containerd::events::SnapshotPrepare::default_instance(),
        &containerd::events::SnapshotCommit::default_instance(),
        &containerd::events::SnapshotRemove::default_instance(),
        &containerd::events::TaskCreate::default_instance(),
        &containerd::events::TaskStart::default_instance(),
        &containerd::events::TaskDelete::default_instance(),
        &containerd::events::TaskExit::default_instance(),
        &containerd::events::TaskOOM::default_instance(),
        &containerd::events::TaskExecAdded::default_instance(),
        &containerd::events::TaskExecStarted::default_instance(),
        &containerd::events::TaskPaused::default_instance(),
        &containerd::events::TaskResumed::default_instance(),
        &containerd::events::TaskCheckpointed::default_instance(),
        // berth's own (the gateway sends them to berth's client only).
        &::berth::content::v1::ContentCommit::default_instance(),
        &::berth::gc::v1::CollectEvent::default_instance(),
    };
    for (const google::protobuf::Message* msg : all) {
      (*m)[msg->GetDescriptor()->full_name()] = msg;
    }
    return m;
  }();
  return *known;
}

Envelope FromProto(const evpb::Envelope& e) {
  Envelope out;
  out.timestamp = FromProtoTime(e.timestamp());
  out.ns = e.namespace_();
  out.topic = e.topic();
  out.event = e.event();
  out.decoded = DecodeEvent(out.event);
  return out;
}

class GrpcEventStream final : public EventStream {
 public:
  explicit GrpcEventStream(std::unique_ptr<grpc::ClientContext> ctx) : ctx_(std::move(ctx)) {}
  ~GrpcEventStream() override {
    Cancel();
    if (reader_ && !finished_) (void)reader_->Finish();
  }

  absl::Status Open(evpb::Events::Stub* stub, const evpb::SubscribeRequest& req) {
    reader_ = stub->Subscribe(ctx_.get(), req);
    // The gateway sends its headers once the subscription is in place.
    reader_->WaitForInitialMetadata();
    // A refused subscription ends at once; its status tells why.
    return absl::OkStatus();
  }

  absl::StatusOr<Envelope> Next() override {
    if (finished_) return final_;
    evpb::Envelope e;
    if (!reader_->Read(&e)) {
      finished_ = true;
      grpc::Status st = reader_->Finish();
      final_ = st.ok() ? absl::OutOfRangeError("events: the server ended the stream")
                       : RpcStatus(st, "events");
      return final_;
    }
    return FromProto(e);
  }

  void Cancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cancelled_) {
      cancelled_ = true;
      ctx_->TryCancel();
    }
  }

 private:
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReader<evpb::Envelope>> reader_;
  std::mutex mu_;
  bool cancelled_ = false;
  bool finished_ = false;
  absl::Status final_;
};

class GrpcEventReplay final : public EventReplay {
 public:
  GrpcEventReplay(std::unique_ptr<grpc::ClientContext> ctx,
                  berth::gateway::v1::GatewayAdmin::Stub* stub,
                  const berth::gateway::v1::ReplayEventsRequest& req)
      : ctx_(std::move(ctx)), reader_(stub->ReplayEvents(ctx_.get(), req)) {}
  ~GrpcEventReplay() override {
    Cancel();
    if (!finished_) (void)reader_->Finish();
  }

  absl::StatusOr<ReplayedEvent> Next() override {
    if (finished_) return final_;
    berth::gateway::v1::ReplayedEvent e;
    if (!reader_->Read(&e)) {
      finished_ = true;
      grpc::Status st = reader_->Finish();
      final_ = st.ok() ? absl::OutOfRangeError("replay events: no more events")
                       : RpcStatus(st, "replay events");
      return final_;
    }
    return ReplayedEvent{e.sequence(), FromProto(e.envelope())};
  }

  void Cancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cancelled_) {
      cancelled_ = true;
      ctx_->TryCancel();
    }
  }

 private:
  std::unique_ptr<grpc::ClientContext> ctx_;
  std::unique_ptr<grpc::ClientReader<berth::gateway::v1::ReplayedEvent>> reader_;
  std::mutex mu_;
  bool cancelled_ = false;
  bool finished_ = false;
  absl::Status final_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EventReplay>> Client::ReplayEvents(
    uint64_t since, const std::vector<std::string>& filters, bool follow) const {
  RETURN_IF_ERROR(AddressStatus());
  berth::gateway::v1::ReplayEventsRequest req;
  req.set_since_sequence(since);
  for (const std::string& f : filters) req.add_filters(f);
  req.set_follow(follow);
  return std::unique_ptr<EventReplay>(
      std::make_unique<GrpcEventReplay>(NewCallContext(/*stream=*/true), conn_->admin.get(), req));
}

std::shared_ptr<const google::protobuf::Message> DecodeEvent(const google::protobuf::Any& any) {
  std::string_view name = any.type_url();
  size_t slash = name.rfind('/');
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  const auto& known = KnownEvents();
  auto it = known.find(name);
  if (it == known.end()) return nullptr;
  std::shared_ptr<google::protobuf::Message> msg(it->second->New());
  if (!msg->ParseFromString(any.value())) return nullptr;
  return msg;
}

std::string Envelope::EventJson() const {
  if (!decoded) return "{}";
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(*decoded, &out, options).ok()) return "{}";
  return out;
}

absl::StatusOr<std::unique_ptr<EventStream>> Client::Subscribe(
    const std::vector<std::string>& filters) const {
  RETURN_IF_ERROR(AddressStatus());
  evpb::SubscribeRequest req;
  for (const std::string& f : filters) req.add_filters(f);
  std::unique_ptr<grpc::ClientContext> ctx = NewCallContext(/*stream=*/true);
  // berth's own event types (/content/commit) too: the gateway sends them only on request,
  // since containerd's clients cannot decode them.
  ctx->AddMetadata("berth-events", "all");
  auto stream = std::make_unique<GrpcEventStream>(std::move(ctx));
  RETURN_IF_ERROR(stream->Open(conn_->events.get(), req));
  return std::unique_ptr<EventStream>(std::move(stream));
}

}  // namespace berth
