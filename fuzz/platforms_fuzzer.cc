// Fuzzes lib/platforms: Parse on arbitrary specifiers, FromUnameMachine on arbitrary machine
// strings. A parsed platform must format to a specifier that parses to the same platform,
// normalising must be idempotent, and the matcher built for a platform must accept it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "lib/platforms/platforms.h"

namespace p = berth::platforms;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto parsed = p::Parse(input);
  if (parsed.ok()) {
    const std::string spec = p::Format(*parsed);
    auto again = p::Parse(spec);
    FUZZ_CHECK(again.ok(), "Format() of a parsed platform does not parse: \"" + spec + "\"");
    FUZZ_CHECK(p::Normalize(*again) == p::Normalize(*parsed),
               "\"" + std::string(input) + "\" and its Format() \"" + spec + "\" differ");
    const p::Platform norm = p::Normalize(*parsed);
    FUZZ_CHECK(p::Normalize(norm) == norm, "Normalize is not idempotent on " + p::Format(norm));
    const p::Matcher only = p::Only(*parsed);
    FUZZ_CHECK(only.Match(*parsed), "Only(x) does not match x for " + spec);
    FUZZ_CHECK(only.Match(norm), "Only(x) does not match Normalize(x) for " + spec);
    FUZZ_CHECK(!only.Less(*parsed, *parsed), "Less(x, x) for " + spec);
    FUZZ_CHECK(p::All().Match(*parsed), "All() refuses " + spec);
  }
  const p::Platform uname = p::FromUnameMachine(input);
  FUZZ_CHECK(uname.os == "linux", "FromUnameMachine os " + uname.os);
  (void)p::Only(uname).Match(uname);
  return 0;
}
