#include "gateway/schema.h"

namespace berth::gateway::schema {

// Components are validated identifiers (checked by the stores before building keys), so
// plain concatenation is the key layout lib/store/keys.h describes.
std::string NamespacesPrefix() { return std::string(kVersion) + "/namespaces/"; }
std::string NamespaceKey(const std::string& name) { return NamespacesPrefix() + name; }
std::string LeasesPrefix(const std::string& ns) {
  return std::string(kVersion) + "/leases/" + ns + "/";
}
std::string LeaseKey(const std::string& ns, const std::string& id) { return LeasesPrefix(ns) + id; }
std::string ServerUuidKey() { return std::string(kVersion) + "/server/uuid"; }

}  // namespace berth::gateway::schema
