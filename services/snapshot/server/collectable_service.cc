#include "services/snapshot/server/collectable_service.h"

#include <fmt/format.h>

#include <chrono>
#include <utility>
#include <vector>

#include "lib/identifiers/identifiers.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::snapshot {
namespace {

namespace pb = ::berth::gc::v1;

using Time = std::chrono::system_clock::time_point;

// Objects per ListObjectsResponse message.
constexpr int kBatch = 500;
constexpr char kGcLabelPrefix[] = "containerd.io/gc.";
constexpr char kTypePrefix[] = "snapshots/";

int64_t UnixNanos(Time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

CallContext Context(grpc::ServerContext* ctx, const std::string& ns) {
  CallContext call = CallContext::Background(ns);
  call.cancelled = server::CancellationCheck(ctx);
  return call;
}

void Result(pb::SweepResponse* resp, const pb::ObjectRef& object, pb::SweepOutcome outcome,
            int64_t size = 0, const absl::Status& error = absl::OkStatus()) {
  pb::SweepResult* r = resp->add_results();
  *r->mutable_object() = object;
  r->set_outcome(outcome);
  r->set_size(size);
  if (!error.ok()) r->set_message(error.ToString());
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
    for (const std::string& ns : req->namespaces()) {
      const CallContext call = Context(ctx, ns);
      for (const auto& [name, sn] : snapshotters_) {
        std::vector<Info> infos;
        RETURN_IF_ERROR(sn->Walk(call, {}, [&](const Info& info) -> absl::Status {
          infos.push_back(info);
          return absl::OkStatus();
        }));
        const std::string type = kTypePrefix + name;
        for (const Info& info : infos) {
          pb::Object* o = batch.add_objects();
          o->mutable_ref()->set_namespace_(ns);
          o->mutable_ref()->set_type(type);
          o->mutable_ref()->set_id(info.name);
          for (const auto& [key, value] : info.labels) {
            if (key.rfind(kGcLabelPrefix, 0) == 0) (*o->mutable_labels())[key] = value;
          }
          if (!info.parent.empty()) {
            pb::ObjectRef* parent = o->add_references();
            parent->set_namespace_(ns);
            parent->set_type(type);
            parent->set_id(info.parent);
          }
          o->set_created_at_unix_nanos(UnixNanos(info.created));
          o->set_updated_at_unix_nanos(UnixNanos(info.updated));
          if (info.kind == Kind::kCommitted) {
            // Measured at commit: a metadata read.
            absl::StatusOr<snapshot::Usage> usage = sn->Usage(call, info.name);
            if (usage.ok()) o->set_size(usage->size);
          }
          if (batch.objects_size() >= kBatch) {
            if (!writer->Write(batch))
              return absl::CancelledError("list objects: client went away");
            batch.Clear();
          }
        }
      }
    }
    if (batch.objects_size() > 0 && !writer->Write(batch)) {
      return absl::CancelledError("list objects: client went away");
    }
    return absl::OkStatus();
  });
}

grpc::Status CollectableService::Sweep(grpc::ServerContext* ctx, const pb::SweepRequest* req,
                                       pb::SweepResponse* resp) {
  return server::GrpcHandler([&]() -> absl::Status {
    const Time not_after(std::chrono::duration_cast<Time::duration>(
        std::chrono::nanoseconds(req->not_after_unix_nanos())));
    // Removable snapshots; those refused for having children are tried again once others
    // (their children, maybe) went, until a round removes nothing.
    std::vector<pb::ObjectRef> pending;
    for (const pb::ObjectRef& o : req->objects()) {
      if (o.type().rfind(kTypePrefix, 0) != 0) {
        Result(resp, o, pb::SWEEP_NOT_COLLECTABLE);
        continue;
      }
      if (absl::Status s = identifiers::Validate(o.namespace_()); !s.ok()) {
        Result(resp, o, pb::SWEEP_FAILED, 0, s);
        continue;
      }
      if (snapshotters_.count(o.type().substr(sizeof(kTypePrefix) - 1)) == 0) {
        Result(resp, o, pb::SWEEP_FAILED, 0,
               absl::InvalidArgumentError("snapshotter not loaded: " +
                                          o.type().substr(sizeof(kTypePrefix) - 1)));
        continue;
      }
      pending.push_back(o);
    }
    std::vector<std::pair<pb::ObjectRef, absl::Status>> busy;
    const std::function<bool()> cancelled = server::CancellationCheck(ctx);
    for (bool progress = true; progress && !pending.empty();) {
      progress = false;
      busy.clear();
      for (const pb::ObjectRef& o : pending) {
        if (cancelled()) return absl::CancelledError("sweep: client went away");
        Snapshotter* sn = snapshotters_.at(o.type().substr(sizeof(kTypePrefix) - 1));
        const CallContext call = Context(ctx, o.namespace_());
        auto sweep = [&] {
          if (guard_ != nullptr && guard_->UsedAfter(o.namespace_(), o.type(), o.id(), not_after)) {
            // A pull found it under its lease while the collection ran: the mark did not see.
            return Result(resp, o, pb::SWEEP_IN_USE, 0,
                          absl::FailedPreconditionError("used under a lease after the mark"));
          }
          absl::StatusOr<Info> info = sn->Stat(call, o.id());
          if (IsNotFound(info.status())) return Result(resp, o, pb::SWEEP_GONE);
          if (!info.ok()) return Result(resp, o, pb::SWEEP_FAILED, 0, info.status());
          if (info->created > not_after || info->updated > not_after) {
            return Result(resp, o, pb::SWEEP_KEPT_NEWER);
          }
          int64_t size = 0;
          if (info->kind == Kind::kCommitted) {
            absl::StatusOr<snapshot::Usage> usage = sn->Usage(call, o.id());
            if (usage.ok()) size = usage->size;
          }
          absl::Status s = sn->Remove(call, o.id());
          if (s.ok()) {
            Result(resp, o, pb::SWEEP_REMOVED, size);
            progress = true;
          } else if (IsNotFound(s)) {
            Result(resp, o, pb::SWEEP_GONE);
          } else if (absl::IsFailedPrecondition(s)) {
            busy.emplace_back(o, s);  // children left
          } else {
            Result(resp, o, pb::SWEEP_FAILED, 0, s);
          }
        };
        if (guard_ != nullptr) {
          guard_->Sweep(sweep);
        } else {
          sweep();
        }
      }
      pending.clear();
      for (const auto& [o, s] : busy) pending.push_back(o);
    }
    for (const auto& [o, s] : busy) Result(resp, o, pb::SWEEP_IN_USE, 0, s);
    return absl::OkStatus();
  });
}

}  // namespace berth::snapshot
