// Owners: the ResourceOwners of the backends that have an internal admin API, and which lease
// resource types each one holds (BackendConfig::lease_resources: "content", "ingests",
// "snapshots/*").
//
// Thread-safety: built once in main(), then read-only and safe from any thread.
#ifndef BERTH_GATEWAY_OWNERS_H_
#define BERTH_GATEWAY_OWNERS_H_

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/resource_owner.h"

namespace berth::gateway {

// Whether lease resource `type` matches a config pattern: equal, or for "prefix/*" any
// type "prefix/<non-empty>".
bool MatchesResourceType(std::string_view pattern, std::string_view type);

class Owners {
 public:
  void Add(std::unique_ptr<ResourceOwner> owner, std::vector<std::string> lease_resources);

  // The owner of lease resources of `type`, or nullptr.
  ResourceOwner* ForType(std::string_view type) const;

  // Every owner, in the order added.
  std::vector<ResourceOwner*> all() const;

 private:
  std::vector<std::pair<std::unique_ptr<ResourceOwner>, std::vector<std::string>>> owners_;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_OWNERS_H_
