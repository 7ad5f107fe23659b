#include "lib/store/keys.h"

#include "lib/status/status.h"

namespace berth::store {
namespace {

template <typename Range>
absl::StatusOr<std::string> Join(const Range& components) {
  std::string key;
  size_t index = 0;
  for (std::string_view component : components) {
    if (component.empty()) {
      return InvalidArgumentError("build key " + Quote(key) + ": component " +
                                  std::to_string(index) + " is empty");
    }
    if (component.find('/') != std::string_view::npos) {
      return InvalidArgumentError("build key " + Quote(key) + ": component " +
                                  std::to_string(index) + " " + Quote(component) + " contains '/'");
    }
    if (index > 0) key += '/';
    key += component;
    ++index;
  }
  if (index == 0) return InvalidArgumentError("build key: no components");
  return key;
}

}  // namespace

absl::StatusOr<std::string> Key(std::initializer_list<std::string_view> components) {
  return Join(components);
}

absl::StatusOr<std::string> Key(const std::vector<std::string>& components) {
  return Join(components);
}

absl::StatusOr<std::string> KeyPrefix(std::initializer_list<std::string_view> components) {
  ASSIGN_OR_RETURN(std::string key, Join(components));
  return key + "/";
}

absl::StatusOr<std::string> KeyPrefix(const std::vector<std::string>& components) {
  ASSIGN_OR_RETURN(std::string key, Join(components));
  return key + "/";
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last != 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return end;
}

std::vector<std::string_view> SplitKey(std::string_view key) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) {
      parts.push_back(key.substr(start));
      return parts;
    }
    parts.push_back(key.substr(start, slash - start));
    start = slash + 1;
  }
}

}  // namespace berth::store
