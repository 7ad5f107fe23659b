#include "services/content/server/collectable_service.h"

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <utility>

#include "lib/identifiers/identifiers.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::content {
namespace {

namespace pb = ::berth::gc::v1;

// Objects per ListObjectsResponse message.
constexpr int kBatch = 500;
constexpr char kGcLabelPrefix[] = "containerd.io/gc.";

int64_t UnixNanos(Time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

CallContext Context(grpc::ServerContext* ctx, const std::string& ns) {
  CallContext call = CallContext::Background(ns);
  call.cancelled = server::CancellationCheck(ctx);
  return call;
}

void Ref(const std::string& ns, const char* type, const std::string& id, pb::ObjectRef* out) {
  out->set_namespace_(ns);
  out->set_type(type);
  out->set_id(id);
}

void Result(pb::SweepResponse* resp, const pb::ObjectRef& object, pb::SweepOutcome outcome,
            int64_t size = 0, const absl::Status& error = absl::OkStatus()) {
  pb::SweepResult* r = resp->add_results();
  *r->mutable_object() = object;
  r->set_outcome(outcome);
  r->set_size(size);
  if (!error.ok()) r->set_message(error.ToString());
}

void SweepBlob(Store* store, const CallContext& call, const pb::ObjectRef& o, Time not_after,
               pb::SweepResponse* resp) {
  absl::StatusOr<digest::Digest> d = digest::Digest::Parse(o.id());
  if (!d.ok()) return Result(resp, o, pb::SWEEP_FAILED, 0, d.status());
  absl::StatusOr<Info> info = store->Info(call, *d);
  if (IsNotFound(info.status())) return Result(resp, o, pb::SWEEP_GONE);
  if (!info.ok()) return Result(resp, o, pb::SWEEP_FAILED, 0, info.status());
  if (info->created_at > not_after || info->updated_at > not_after) {
    return Result(resp, o, pb::SWEEP_KEPT_NEWER);
  }
  absl::Status s = store->Delete(call, *d);
  if (IsNotFound(s)) return Result(resp, o, pb::SWEEP_GONE);
  if (!s.ok()) return Result(resp, o, pb::SWEEP_FAILED, 0, s);
  Result(resp, o, pb::SWEEP_REMOVED, info->size);
}

void SweepIngest(Store* store, const CallContext& call, const pb::ObjectRef& o, Time not_after,
                 pb::SweepResponse* resp) {
  absl::StatusOr<IngestStatus> status = store->Status(call, o.id());
  if (IsNotFound(status.status())) return Result(resp, o, pb::SWEEP_GONE);
  if (!status.ok()) return Result(resp, o, pb::SWEEP_FAILED, 0, status.status());
  if (status->started_at > not_after || status->updated_at > not_after) {
    return Result(resp, o, pb::SWEEP_KEPT_NEWER);
  }
  absl::Status s = store->Abort(call, o.id());
  if (IsNotFound(s)) return Result(resp, o, pb::SWEEP_GONE);
  // A writer holds it: someone is writing it right now.
  if (IsUnavailable(s)) return Result(resp, o, pb::SWEEP_IN_USE, 0, s);
  if (!s.ok()) return Result(resp, o, pb::SWEEP_FAILED, 0, s);
  Result(resp, o, pb::SWEEP_REMOVED, status->offset);
}

}  // namespace

grpc::Status CollectableService::ListObjects(grpc::ServerContext* ctx,
                                             const pb::ListObjectsRequest* req,
                                             grpc::ServerWriter<pb::ListObjectsResponse>* writer) {
  return server::GrpcHandler([&]() -> absl::Status {
    for (const std::string& ns : req->namespaces()) {
      if (absl::Status s = identifiers::Validate(ns); !s.ok()) {
        return absl::InvalidArgumentError(
            fmt::format("namespace {:?}: {}", ns, std::string(s.message())));
      }
    }
    pb::ListObjectsResponse batch;
    auto flush = [&]() -> absl::Status {
      if (batch.objects_size() == 0) return absl::OkStatus();
      if (!writer->Write(batch)) return absl::CancelledError("list objects: client went away");
      batch.Clear();
      return absl::OkStatus();
    };
    for (const std::string& ns : req->namespaces()) {
      const CallContext call = Context(ctx, ns);
      RETURN_IF_ERROR(store_->Walk(call, {}, [&](const Info& info) -> absl::Status {
        pb::Object* o = batch.add_objects();
        Ref(ns, "content", info.digest.ToString(), o->mutable_ref());
        for (const auto& [key, value] : info.labels) {
          if (key.rfind(kGcLabelPrefix, 0) == 0) (*o->mutable_labels())[key] = value;
        }
        o->set_created_at_unix_nanos(UnixNanos(info.created_at));
        o->set_updated_at_unix_nanos(UnixNanos(info.updated_at));
        o->set_size(info.size);
        if (batch.objects_size() >= kBatch) return flush();
        return absl::OkStatus();
      }));
      ASSIGN_OR_RETURN(std::vector<IngestStatus> ingests, store_->ListStatuses(call, {}));
      for (const IngestStatus& st : ingests) {
        pb::Object* o = batch.add_objects();
        Ref(ns, "ingests", st.ref, o->mutable_ref());
        if (!st.expected.empty()) {
          Ref(ns, "content", st.expected.ToString(), o->add_references());
        }
        o->set_created_at_unix_nanos(UnixNanos(st.started_at));
        o->set_updated_at_unix_nanos(UnixNanos(st.updated_at));
        o->set_size(st.offset);
        if (batch.objects_size() >= kBatch) RETURN_IF_ERROR(flush());
      }
    }
    return flush();
  });
}

grpc::Status CollectableService::Sweep(grpc::ServerContext* ctx, const pb::SweepRequest* req,
                                       pb::SweepResponse* resp) {
  return server::GrpcHandler([&]() -> absl::Status {
    const Time not_after(std::chrono::duration_cast<Time::duration>(
        std::chrono::nanoseconds(req->not_after_unix_nanos())));
    const std::function<bool()> cancelled = server::CancellationCheck(ctx);
    for (const pb::ObjectRef& o : req->objects()) {
      if (cancelled()) return absl::CancelledError("sweep: client went away");
      if (absl::Status s = identifiers::Validate(o.namespace_()); !s.ok()) {
        Result(resp, o, pb::SWEEP_FAILED, 0, s);
        continue;
      }
      const CallContext call = Context(ctx, o.namespace_());
      if (o.type() != "content" && o.type() != "ingests") {
        Result(resp, o, pb::SWEEP_NOT_COLLECTABLE);
        continue;
      }
      auto sweep = [&] {
        if (guard_ != nullptr &&
            guard_->AttachedAfter(o.namespace_(), o.type(), o.id(), not_after)) {
          // A lease took it while the collection ran (a pull found it): the mark did not
          // see that.
          return Result(resp, o, pb::SWEEP_IN_USE, 0,
                        absl::FailedPreconditionError("leased after the mark"));
        }
        if (o.type() == "content") return SweepBlob(store_, call, o, not_after, resp);
        SweepIngest(store_, call, o, not_after, resp);
      };
      if (guard_ != nullptr) {
        guard_->Sweep(sweep);
      } else {
        sweep();
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace berth::content
