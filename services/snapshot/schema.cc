#include "services/snapshot/schema.h"

#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/store/keys.h"

namespace berth::snapshot::schema {

std::string EscapeComponent(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
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

absl::StatusOr<std::string> UnescapeComponent(std::string_view component) {
  std::string out;
  out.reserve(component.size());
  for (size_t i = 0; i < component.size(); ++i) {
    if (component[i] != '%') {
      out += component[i];
      continue;
    }
    std::string_view esc = component.substr(i, 3);
    if (esc == "%25") {
      out += '%';
    } else if (esc == "%2F") {
      out += '/';
    } else {
      return InvalidArgumentError(
          fmt::format("malformed key component {}", Quote(std::string(component))));
    }
    i += 2;
  }
  return out;
}

absl::StatusOr<std::string> SnapshotKey(std::string_view ns, std::string_view snapshotter,
                                        std::string_view key) {
  return store::Key({"v1", ns, "snapshots", snapshotter, "key", EscapeComponent(key)});
}

absl::StatusOr<std::string> SnapshotPrefix(std::string_view ns, std::string_view snapshotter) {
  return store::KeyPrefix({"v1", ns, "snapshots", snapshotter, "key"});
}

absl::StatusOr<std::string> NamespacePrefix(std::string_view ns) {
  return store::KeyPrefix({"v1", ns, "snapshots"});
}

absl::StatusOr<std::string> ChildKey(std::string_view ns, std::string_view snapshotter,
                                     std::string_view parent, std::string_view child) {
  return store::Key({"v1", ns, "snapshots", snapshotter, "child", EscapeComponent(parent),
                     EscapeComponent(child)});
}

absl::StatusOr<std::string> ChildPrefix(std::string_view ns, std::string_view snapshotter,
                                        std::string_view parent) {
  return store::KeyPrefix({"v1", ns, "snapshots", snapshotter, "child", EscapeComponent(parent)});
}

absl::StatusOr<std::string> LeaseKey(std::string_view ns, std::string_view lease,
                                     std::string_view snapshotter, std::string_view key) {
  return store::Key({"v1", ns, "leases", lease, "snapshots", snapshotter, EscapeComponent(key)});
}

absl::StatusOr<std::string> LeasePrefix(std::string_view ns, std::string_view lease) {
  return store::KeyPrefix({"v1", ns, "leases", lease, "snapshots"});
}

absl::StatusOr<std::string> NextIdKey(std::string_view snapshotter) {
  return store::Key({"sys", "snapshotters", snapshotter, "next-id"});
}

}  // namespace berth::snapshot::schema
