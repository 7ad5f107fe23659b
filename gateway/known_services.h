// The gRPC services of the containerd API that berth knows (proto/containerd/services), by
// full name, with their protobuf descriptors: the gateway registers a forwarding handler for
// each method of a routed service, and checks config against this list.
//
// Why an explicit list: the generated code lives in a static library, and the linker keeps
// a .proto's descriptor only when something references it; this file references each one.
//
// Thread-safety: pure functions over immutable descriptors.
#ifndef BERTH_GATEWAY_KNOWN_SERVICES_H_
#define BERTH_GATEWAY_KNOWN_SERVICES_H_

#include <string_view>
#include <vector>

namespace google::protobuf {
class ServiceDescriptor;
}  // namespace google::protobuf

namespace berth::gateway {

// Every containerd service in proto/ (Content, Snapshots, Diff, Images, Containers, Tasks,
// Transfer, Streaming, Namespaces, Leases, Events, Version, Introspection), and berth's own
// public ones (berth.image.v1.Pull: server-side pull).
const std::vector<const google::protobuf::ServiceDescriptor*>& KnownServices();

// The descriptor of the service with full name `name`
// ("containerd.services.content.v1.Content"), or nullptr.
const google::protobuf::ServiceDescriptor* FindKnownService(std::string_view name);

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_KNOWN_SERVICES_H_
