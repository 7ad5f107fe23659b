// Fuzzes lib/reference: Parse and ParseNormalized on arbitrary bytes. Whatever parses must
// print back to a string that parses to the same reference (the string form is what berth
// stores as image names and sends to registries), and the accessors must not fail.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "lib/reference/reference.h"

namespace {

using berth::reference::Reference;

void CheckParsed(const Reference& ref, std::string_view input, bool normalized) {
  FUZZ_CHECK(!ref.domain.empty(), "empty domain for " + std::string(input));
  FUZZ_CHECK(!ref.path.empty(), "empty path for " + std::string(input));
  FUZZ_CHECK(ref.Repository().size() <= berth::reference::kNameTotalLengthMax,
             "name too long: " + ref.Repository());
  FUZZ_CHECK(ref.tag.size() <= berth::reference::kTagMaxLength, "tag too long: " + ref.tag);
  const std::string s = ref.String();
  auto again = Reference::Parse(s);
  FUZZ_CHECK(again.ok(), "String() of a parsed reference does not parse: \"" + s +
                             "\": " + std::string(again.status().message()));
  FUZZ_CHECK(*again == ref, "round trip changed \"" + s + "\" into \"" + again->String() + "\"");
  // The familiar form is what `docker images` prints; it must read back as the same image.
  if (normalized) {
    auto familiar = Reference::ParseNormalized(ref.Familiar());
    FUZZ_CHECK(familiar.ok(), "Familiar() does not parse: \"" + ref.Familiar() + "\"");
    FUZZ_CHECK(*familiar == ref,
               "Familiar() of \"" + s + "\" reads back as \"" + familiar->String() + "\"");
  }
  (void)ref.FamiliarName();
  (void)ref.Object();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto normalized = Reference::ParseNormalized(input);
  if (normalized.ok()) {
    CheckParsed(*normalized, input, true);
    // Normalising is idempotent.
    auto twice = Reference::ParseNormalized(normalized->String());
    FUZZ_CHECK(twice.ok() && *twice == *normalized,
               "ParseNormalized is not idempotent on \"" + normalized->String() + "\"");
  }
  auto parsed = Reference::Parse(input);
  if (parsed.ok()) CheckParsed(*parsed, input, false);
  return 0;
}
