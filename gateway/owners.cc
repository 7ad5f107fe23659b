#include "gateway/owners.h"

namespace berth::gateway {

bool MatchesResourceType(std::string_view pattern, std::string_view type) {
  if (pattern.size() >= 2 && pattern.substr(pattern.size() - 2) == "/*") {
    const std::string_view prefix = pattern.substr(0, pattern.size() - 1);  // "snapshots/"
    return type.size() > prefix.size() && type.substr(0, prefix.size()) == prefix;
  }
  return pattern == type;
}

void Owners::Add(std::unique_ptr<ResourceOwner> owner, std::vector<std::string> lease_resources) {
  owners_.emplace_back(std::move(owner), std::move(lease_resources));
}

ResourceOwner* Owners::ForType(std::string_view type) const {
  for (const auto& [owner, patterns] : owners_) {
    for (const std::string& p : patterns) {
      if (MatchesResourceType(p, type)) return owner.get();
    }
  }
  return nullptr;
}

std::vector<ResourceOwner*> Owners::all() const {
  std::vector<ResourceOwner*> out;
  for (const auto& entry : owners_) out.push_back(entry.first.get());
  return out;
}

}  // namespace berth::gateway
