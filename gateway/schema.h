// The gateway's RocksDB key tree (lib/store), one database under <root>/meta:
//
//   version                          "v1" (lib/store's schema-version key)
//   v1/namespaces/<name>             containerd.services.namespaces.v1.Namespace
//                                    {name, labels}
//   v1/leases/<namespace>/<id>       containerd.services.leases.v1.Lease
//                                    {id, created_at, labels}
//   v1/server/uuid                   the instance UUID (Introspection.Server), text
//   v1/gc/pins/<namespace>/<hex of an image name>
//                                    the image's target digest, kept for containers naming
//                                    a deleted image (gateway/gc/pin_store.h), text
//
// Values reuse containerd's own messages: they hold exactly what the API returns. Names and
// lease ids are identifiers (lib/identifiers), so they never contain '/'. What the services
// behind the gateway hold in a namespace (blobs, snapshots, ...) lives in their own stores.
//
// Thread-safety: pure functions.
#ifndef BERTH_GATEWAY_SCHEMA_H_
#define BERTH_GATEWAY_SCHEMA_H_

#include <string>

namespace berth::gateway::schema {

inline constexpr char kVersion[] = "v1";

// "v1/namespaces/" and "v1/namespaces/<name>".
std::string NamespacesPrefix();
std::string NamespaceKey(const std::string& name);
// "v1/leases/<ns>/" and "v1/leases/<ns>/<id>".
std::string LeasesPrefix(const std::string& ns);
std::string LeaseKey(const std::string& ns, const std::string& id);
// "v1/server/uuid".
std::string ServerUuidKey();

}  // namespace berth::gateway::schema

#endif  // BERTH_GATEWAY_SCHEMA_H_
