// Fuzzes services/image/remotes/www_authenticate: ParseWwwAuthenticate on arbitrary header
// values (they come from any registry berth talks to), and MergeScopes on the scopes found.
// Parsed challenges must have lowercased, non-empty schemes and parameter names; MergeScopes
// must be idempotent (its result is a cache key).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "services/image/remotes/www_authenticate.h"

namespace r = berth::remotes;

namespace {

bool IsLower(const std::string& s) {
  for (char c : s) {
    if (std::isupper(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto challenges = r::ParseWwwAuthenticate(input);
  std::vector<std::string> scopes;
  if (challenges.ok()) {
    FUZZ_CHECK(!challenges->empty(), "no challenge and no error");
    for (const r::Challenge& c : *challenges) {
      FUZZ_CHECK(!c.scheme.empty(), "empty scheme");
      FUZZ_CHECK(IsLower(c.scheme), "scheme not lowercased: " + c.scheme);
      for (const auto& [name, value] : c.params) {
        FUZZ_CHECK(!name.empty(), "empty parameter name");
        FUZZ_CHECK(IsLower(name), "parameter name not lowercased: " + name);
        FUZZ_CHECK(c.Param(name) == value, "Param() disagrees with params");
      }
      // Scopes are space-separated in the `scope` parameter.
      const std::string scope = c.Param("scope");
      size_t start = 0;
      while (start < scope.size()) {
        size_t end = scope.find(' ', start);
        if (end == std::string::npos) end = scope.size();
        if (end > start) scopes.push_back(scope.substr(start, end - start));
        start = end + 1;
      }
    }
  } else {
    FUZZ_CHECK(challenges.status().code() == absl::StatusCode::kInvalidArgument,
               "unexpected code: " + challenges.status().ToString());
  }
  // Also merge raw input lines as scopes: MergeScopes sees scopes from image references too.
  size_t start = 0;
  while (start < input.size()) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    scopes.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  const std::vector<std::string> merged = r::MergeScopes(scopes);
  FUZZ_CHECK(r::MergeScopes(merged) == merged, "MergeScopes is not idempotent");
  (void)r::RepositoryScope(input, size % 2 == 0);
  return 0;
}
