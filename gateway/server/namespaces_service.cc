#include "gateway/server/namespaces_service.h"

#include <fmt/format.h>

#include <string>
#include <vector>

#include "gateway/server/unary.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "proto/containerd/events/namespace.pb.h"

namespace berth::gateway {
namespace {

namespace pb = containerd::services::namespaces::v1;

Labels ToLabels(const google::protobuf::Map<std::string, std::string>& m) {
  return Labels(m.begin(), m.end());
}

void ToProto(const Namespace& ns, pb::Namespace* out) {
  out->set_name(ns.name);
  out->mutable_labels()->insert(ns.labels.begin(), ns.labels.end());
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (!out.empty()) out += ", ";
    out += p;
  }
  return out;
}

}  // namespace

void NamespacesService::Publish(const CallContext& call, const std::string& topic,
                                const google::protobuf::Message& event, const char* type_url) {
  if (publisher_ == nullptr) return;
  // containerd publishes under the caller's namespace; a call without one still gets its
  // event, under "default".
  const std::string ns = call.ns.empty() ? "default" : call.ns;
  absl::Status s = publisher_->Publish(ns, topic, event, type_url);
  if (!s.ok()) log::Warn("publish failed topic={:?} error={:?}", topic, s.ToString());
}

grpc::ServerUnaryReactor* NamespacesService::Get(grpc::CallbackServerContext* ctx,
                                                 const pb::GetNamespaceRequest* req,
                                                 pb::GetNamespaceResponse* resp) {
  return Unary(ctx, false, [&](const CallContext&) -> absl::Status {
    absl::StatusOr<Namespace> ns = namespaces_->Get(req->name());
    if (IsNotFound(ns.status())) {
      // Unknown namespaces exist implicitly: OK, no labels.
      resp->mutable_namespace_()->set_name(req->name());
      return absl::OkStatus();
    }
    if (!ns.ok()) return ns.status();
    ToProto(*ns, resp->mutable_namespace_());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* NamespacesService::List(grpc::CallbackServerContext* ctx,
                                                  const pb::ListNamespacesRequest* req,
                                                  pb::ListNamespacesResponse* resp) {
  return Unary(ctx, false, [&](const CallContext&) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<Namespace> all, namespaces_->List());
    for (const Namespace& ns : all) ToProto(ns, resp->add_namespaces());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* NamespacesService::Create(grpc::CallbackServerContext* ctx,
                                                    const pb::CreateNamespaceRequest* req,
                                                    pb::CreateNamespaceResponse* resp) {
  return Unary(ctx, false, [&](const CallContext& call) -> absl::Status {
    Namespace ns{req->namespace_().name(), ToLabels(req->namespace_().labels())};
    RETURN_IF_ERROR(namespaces_->Create(ns));
    ToProto(ns, resp->mutable_namespace_());
    containerd::events::NamespaceCreate event;
    event.set_name(ns.name);
    event.mutable_labels()->insert(ns.labels.begin(), ns.labels.end());
    Publish(call, "/namespaces/create", event, "containerd.events.NamespaceCreate");
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* NamespacesService::Update(grpc::CallbackServerContext* ctx,
                                                    const pb::UpdateNamespaceRequest* req,
                                                    pb::UpdateNamespaceResponse* resp) {
  return Unary(ctx, false, [&](const CallContext& call) -> absl::Status {
    const std::string& name = req->namespace_().name();
    const Labels incoming = ToLabels(req->namespace_().labels());
    Namespace current{name, {}};
    absl::StatusOr<Namespace> existing = namespaces_->Get(name);
    if (existing.ok()) {
      current = *std::move(existing);
    } else if (!IsNotFound(existing.status())) {
      return existing.status();
    }
    if (req->has_update_mask() && req->update_mask().paths_size() > 0) {
      for (const std::string& path : req->update_mask().paths()) {
        if (path == "labels") {
          current.labels = incoming;
        } else if (path.rfind("labels.", 0) == 0) {
          const std::string key = path.substr(7);
          auto it = incoming.find(key);
          if (it == incoming.end() || it->second.empty()) {
            current.labels.erase(key);
          } else {
            current.labels[key] = it->second;
          }
        } else {
          return absl::InvalidArgumentError(
              fmt::format("cannot update {:?} field on namespace {:?}", path, name));
        }
      }
    } else {
      current.labels = incoming;
    }
    RETURN_IF_ERROR(namespaces_->SetLabels(name, current.labels));
    ToProto(current, resp->mutable_namespace_());
    containerd::events::NamespaceUpdate event;
    event.set_name(name);
    event.mutable_labels()->insert(current.labels.begin(), current.labels.end());
    Publish(call, "/namespaces/update", event, "containerd.events.NamespaceUpdate");
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* NamespacesService::Delete(grpc::CallbackServerContext* ctx,
                                                    const pb::DeleteNamespaceRequest* req,
                                                    google::protobuf::Empty*) {
  return Unary(ctx, false, [&](const CallContext& call) -> absl::Status {
    const std::string& name = req->name();
    RETURN_IF_ERROR(namespaces_->Get(name).status());
    std::vector<std::string> holds;
    ASSIGN_OR_RETURN(std::vector<Lease> leases, leases_->List(name));
    if (!leases.empty()) holds.push_back("leases");
    for (ResourceOwner* owner : owners_->all()) {
      ASSIGN_OR_RETURN(std::vector<std::string> usage, owner->NamespaceUsage(call, name));
      for (std::string& u : usage) {
        if (std::find(holds.begin(), holds.end(), u) == holds.end()) holds.push_back(u);
      }
    }
    if (!holds.empty()) {
      return absl::FailedPreconditionError(
          fmt::format("namespace {:?} must be empty, but it still has {}", name, Join(holds)));
    }
    RETURN_IF_ERROR(namespaces_->Delete(name));
    containerd::events::NamespaceDelete event;
    event.set_name(name);
    Publish(call, "/namespaces/delete", event, "containerd.events.NamespaceDelete");
    return absl::OkStatus();
  });
}

}  // namespace berth::gateway
