// Fuzzes lib/filters: the input is split at '\n' into filter strings (the first one alone
// goes through Parse, all of them through ParseAll) and, after a line holding only "--",
// `key=value` lines that make the object the parsed filter is matched against. Parsing must
// never crash or take unbounded time (libFuzzer's -timeout catches pathological regexes), and a
// filter must agree with itself: ParseAll({f}) matches exactly when Parse(f) does.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "lib/filters/filters.h"

namespace f = berth::filters;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;  // Longer filters only repeat what shorter ones reach.
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> filters;
  std::map<std::string, std::string> fields;
  std::map<std::string, std::string> labels;
  bool object = false;
  size_t start = 0;
  while (start <= input.size()) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view line = input.substr(start, end - start);
    if (!object && line == "--") {
      object = true;
    } else if (!object) {
      filters.emplace_back(line);
    } else {
      const size_t eq = line.find('=');
      const std::string key(line.substr(0, eq));
      const std::string value(eq == std::string_view::npos ? "" : line.substr(eq + 1));
      if (key.rfind("labels.", 0) == 0) {
        labels[key.substr(7)] = value;
      } else {
        fields[key] = value;
      }
    }
    start = end + 1;
  }
  const f::MapAdaptor adaptor(fields, labels);

  auto one = f::Parse(filters.empty() ? std::string() : filters[0]);
  if (one.ok()) {
    const bool match = one->Match(adaptor);
    if (one->MatchesEverything()) FUZZ_CHECK(match, "MatchesEverything() but no match");
    auto all = f::ParseAll({filters.empty() ? std::string() : filters[0]});
    FUZZ_CHECK(all.ok(), "ParseAll refuses what Parse accepts");
    FUZZ_CHECK(all->Match(adaptor) == match, "ParseAll and Parse disagree");
    for (const auto& clause : one->clauses()) {
      for (const auto& sel : clause) {
        FUZZ_CHECK(!sel.fieldpath.empty(), "selector without a field path");
        FUZZ_CHECK((sel.op == f::Operator::kMatches) == (sel.regex != nullptr),
                   "regex set for a non-~= selector or missing for ~=");
      }
    }
  } else {
    FUZZ_CHECK(one.status().code() == absl::StatusCode::kInvalidArgument,
               "unexpected code: " + one.status().ToString());
  }
  if (filters.size() > 1) {
    auto all = f::ParseAll(filters);
    if (all.ok()) (void)all->Match(adaptor);
  }
  return 0;
}
