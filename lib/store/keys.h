// Key schema helpers for berth's RocksDB stores.
//
// Every service draws its key tree in one header (STYLE.md), with keys made of components
// joined by '/':  v1/<namespace>/<object>/<key...>, e.g.
//
//   Key({"v1", ns, "content", "blob", digest})   -> "v1/default/content/blob/sha256:ab.."
//   KeyPrefix({"v1", ns, "content", "blob"})     -> "v1/default/content/blob/"
//
// Components may not be empty or contain '/': a component such as "a/b" would silently add
// a level to the tree, and an empty one would let "v1//x" collide with other shapes. Scans go
// over a KeyPrefix (ending in '/'), so "v1/a/" never picks up "v1/ab/...".
//
// The schema version of a store lives at the single top-level key kSchemaVersionKey, outside
// every tree; Store::Open checks it.
//
// Thread-safety: pure functions.
#ifndef BERTH_LIB_STORE_KEYS_H_
#define BERTH_LIB_STORE_KEYS_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace berth::store {

// Key under which Store keeps the schema version; reserved (Put/Delete/Batch refuse it).
inline constexpr char kSchemaVersionKey[] = "version";

// Joins `components` with '/'. InvalidArgument when there are none, or one is empty or
// contains '/'; the message names the component.
absl::StatusOr<std::string> Key(std::initializer_list<std::string_view> components);
absl::StatusOr<std::string> Key(const std::vector<std::string>& components);

// Key(components) + "/": the prefix to scan for everything below those components.
absl::StatusOr<std::string> KeyPrefix(std::initializer_list<std::string_view> components);
absl::StatusOr<std::string> KeyPrefix(const std::vector<std::string>& components);

// The smallest string greater than every string that starts with `prefix`: the exclusive
// upper bound of a prefix range scan. "v1/a/" -> "v1/a0" ('/' + 1 == '0'); trailing 0xff
// bytes are dropped before incrementing. Returns "" (no upper bound) when `prefix` is empty
// or all 0xff.
std::string PrefixEnd(std::string_view prefix);

// Splits a key at '/'. "v1/ns/content" -> {"v1", "ns", "content"}. The views point into
// `key`.
std::vector<std::string_view> SplitKey(std::string_view key);

}  // namespace berth::store

#endif  // BERTH_LIB_STORE_KEYS_H_
