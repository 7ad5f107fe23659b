#include "gateway/server/leases_service.h"

#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <vector>

#include "gateway/server/unary.h"
#include "lib/filters/filters.h"
#include "lib/server/call_context.h"
#include "lib/status/grpc_status.h"
#include "lib/status/status.h"

namespace berth::gateway {
namespace {

namespace pb = containerd::services::leases::v1;

void ToProto(const Lease& l, pb::Lease* out) {
  out->set_id(l.id);
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(l.created_at.time_since_epoch()).count();
  out->mutable_created_at()->set_seconds(nanos / 1000000000);
  out->mutable_created_at()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  out->mutable_labels()->insert(l.labels.begin(), l.labels.end());
}

}  // namespace

std::string NewLeaseId() {
  // base64url's alphabet without '-' and '_': containerd's own random ids occasionally end
  // in, or double, a separator and then fail its identifier rule; these never do.
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(0, sizeof(kAlphabet) - 2);
  const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  std::string id = std::to_string(nanos) + "-";
  for (int i = 0; i < 4; ++i) id += kAlphabet[pick(rng)];
  return id;
}

absl::StatusOr<ResourceOwner*> LeasesService::OwnerOf(const std::string& type) const {
  ResourceOwner* owner = owners_->ForType(type);
  if (owner == nullptr) {
    return absl::UnimplementedError(fmt::format("resource type {:?}: not implemented", type));
  }
  return owner;
}

grpc::ServerUnaryReactor* LeasesService::Create(grpc::CallbackServerContext* ctx,
                                                const pb::CreateRequest* req,
                                                pb::CreateResponse* resp) {
  return Unary(ctx, true, [&](const CallContext& call) -> absl::Status {
    Lease lease;
    lease.id = req->id().empty() ? NewLeaseId() : req->id();
    lease.created_at = std::chrono::system_clock::now();
    lease.labels.insert(req->labels().begin(), req->labels().end());
    RETURN_IF_ERROR(namespaces_->Touch(call.ns).status());
    RETURN_IF_ERROR(leases_->Create(call.ns, lease));
    ToProto(lease, resp->mutable_lease());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* LeasesService::Delete(grpc::CallbackServerContext* ctx,
                                                const pb::DeleteRequest* req,
                                                google::protobuf::Empty*) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  grpc::Status status =
      server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
        RETURN_IF_ERROR(leases_->Get(call.ns, req->id()).status());
        for (ResourceOwner* owner : owners_->all()) {
          RETURN_IF_ERROR(owner->DeleteLease(call, req->id()));
        }
        return leases_->Delete(call.ns, req->id());
      });
  if (!status.ok() || !on_deleted_) {
    reactor->Finish(std::move(status));
    return reactor;
  }
  on_deleted_(req->sync(), [reactor](absl::Status s) {
    reactor->Finish(s.ok() ? grpc::Status::OK : ToGrpcStatus(s));
  });
  return reactor;
}

grpc::ServerUnaryReactor* LeasesService::List(grpc::CallbackServerContext* ctx,
                                              const pb::ListRequest* req, pb::ListResponse* resp) {
  return Unary(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(filters::Filter filter, filters::ParseAll(std::vector<std::string>(
                                                 req->filters().begin(), req->filters().end())));
    ASSIGN_OR_RETURN(std::vector<Lease> all, leases_->List(call.ns));
    for (const Lease& l : all) {
      filters::MapAdaptor adaptor(
          {{"id", l.id}}, std::map<std::string, std::string>(l.labels.begin(), l.labels.end()));
      if (filter.Match(adaptor)) ToProto(l, resp->add_leases());
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* LeasesService::AddResource(grpc::CallbackServerContext* ctx,
                                                     const pb::AddResourceRequest* req,
                                                     google::protobuf::Empty*) {
  return Unary(ctx, true, [&](const CallContext& call) -> absl::Status {
    RETURN_IF_ERROR(leases_->Get(call.ns, req->id()).status());
    ASSIGN_OR_RETURN(ResourceOwner * owner, OwnerOf(req->resource().type()));
    return owner->AddLeaseResource(call, req->id(),
                                   LeaseResource{req->resource().id(), req->resource().type()});
  });
}

grpc::ServerUnaryReactor* LeasesService::DeleteResource(grpc::CallbackServerContext* ctx,
                                                        const pb::DeleteResourceRequest* req,
                                                        google::protobuf::Empty*) {
  return Unary(ctx, true, [&](const CallContext& call) -> absl::Status {
    RETURN_IF_ERROR(leases_->Get(call.ns, req->id()).status());
    ASSIGN_OR_RETURN(ResourceOwner * owner, OwnerOf(req->resource().type()));
    return owner->DeleteLeaseResource(call, req->id(),
                                      LeaseResource{req->resource().id(), req->resource().type()});
  });
}

grpc::ServerUnaryReactor* LeasesService::ListResources(grpc::CallbackServerContext* ctx,
                                                       const pb::ListResourcesRequest* req,
                                                       pb::ListResourcesResponse* resp) {
  return Unary(ctx, true, [&](const CallContext& call) -> absl::Status {
    RETURN_IF_ERROR(leases_->Get(call.ns, req->id()).status());
    std::vector<LeaseResource> all;
    for (ResourceOwner* owner : owners_->all()) {
      ASSIGN_OR_RETURN(std::vector<LeaseResource> some, owner->ListLeaseResources(call, req->id()));
      all.insert(all.end(), some.begin(), some.end());
    }
    std::sort(all.begin(), all.end(), [](const LeaseResource& a, const LeaseResource& b) {
      return a.type != b.type ? a.type < b.type : a.id < b.id;
    });
    for (const LeaseResource& r : all) {
      pb::Resource* out = resp->add_resources();
      out->set_id(r.id);
      out->set_type(r.type);
    }
    return absl::OkStatus();
  });
}

}  // namespace berth::gateway
