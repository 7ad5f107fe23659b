#include "services/image/schema.h"

#include "fmt/format.h"

namespace berth::image::schema {

std::string EscapeName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    if (c == '%') {
      out += "%25";
    } else if (c == '/') {
      out += "%2F";
    } else {
      out += c;
    }
  }
  return out;
}

std::string ImageKey(std::string_view ns, std::string_view name) {
  return fmt::format("{}/{}/images/{}", kSchemaVersion, ns, EscapeName(name));
}

std::string ImagesPrefix(std::string_view ns) {
  return fmt::format("{}/{}/images/", kSchemaVersion, ns);
}

}  // namespace berth::image::schema
