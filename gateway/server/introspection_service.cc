#include "gateway/server/introspection_service.h"

#include <vector>

#include "gateway/server/unary.h"
#include "lib/filters/filters.h"
#include "lib/status/status.h"

namespace berth::gateway {
namespace {

namespace pb = containerd::services::introspection::v1;

struct LocalPlugin {
  const char* type;
  const char* id;
  bool events;  // depends on the event bus
};

constexpr LocalPlugin kLocalPlugins[] = {
    {"io.containerd.event.v1", "exchange", true},
    {"io.containerd.lease.v1", "manager", false},
    {"io.containerd.grpc.v1", "events", true},
    {"io.containerd.grpc.v1", "healthcheck", false},
    {"io.containerd.grpc.v1", "introspection", false},
    {"io.containerd.grpc.v1", "leases", false},
    {"io.containerd.grpc.v1", "namespaces", false},
    {"io.containerd.grpc.v1", "version", false},
};

void SetError(const absl::Status& status, pb::Plugin* plugin) {
  if (status.ok()) return;
  plugin->mutable_init_err()->set_code(static_cast<int>(status.code()));
  plugin->mutable_init_err()->set_message(std::string(status.message()));
}

}  // namespace

grpc::ServerUnaryReactor* IntrospectionService::Plugins(grpc::CallbackServerContext* ctx,
                                                        const pb::PluginsRequest* req,
                                                        pb::PluginsResponse* resp) {
  return Unary(ctx, false, [&](const CallContext&) -> absl::Status {
    ASSIGN_OR_RETURN(filters::Filter filter, filters::ParseAll(std::vector<std::string>(
                                                 req->filters().begin(), req->filters().end())));
    auto add = [&](const std::string& type, const std::string& id, const absl::Status& err) {
      filters::MapAdaptor adaptor({{"type", type}, {"id", id}});
      if (!filter.Match(adaptor)) return;
      pb::Plugin* p = resp->add_plugins();
      p->set_type(type);
      p->set_id(id);
      SetError(err, p);
    };
    const absl::Status events = events_status_ ? events_status_() : absl::OkStatus();
    for (const LocalPlugin& p : kLocalPlugins) {
      add(p.type, p.id, p.events ? events : absl::OkStatus());
    }
    for (const auto& backend : router_->backends()) {
      const absl::Status health = backend->Health();
      for (const std::string& plugin : backend->config().plugins) {
        const size_t slash = plugin.rfind('/');
        add(plugin.substr(0, slash), plugin.substr(slash + 1), health);
      }
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* IntrospectionService::Server(grpc::CallbackServerContext* ctx,
                                                       const google::protobuf::Empty*,
                                                       pb::ServerResponse* resp) {
  return Unary(ctx, false, [&](const CallContext&) -> absl::Status {
    resp->set_uuid(uuid_);
    return absl::OkStatus();
  });
}

}  // namespace berth::gateway
