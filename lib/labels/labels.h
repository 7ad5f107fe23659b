// Validation of the labels containerd objects carry (content, images, containers,
// snapshots, namespaces, leases), with containerd's limit so a label accepted by berth is
// accepted by containerd and the other way round.
//
// Rule: the key must not be empty, and the key and value together must not exceed 4096
// bytes. (containerd accepts an empty key; berth refuses it because a field path
// `labels.` cannot name it and an Update mask could never delete it.)
//
// Thread-safety: all functions are pure and safe to call from any thread.
#ifndef BERTH_LIB_LABELS_LABELS_H_
#define BERTH_LIB_LABELS_LABELS_H_

#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"

namespace berth::labels {

// Largest len(key) + len(value) accepted, in bytes (containerd's labels.maxSize).
inline constexpr std::size_t kMaxSize = 4096;
// Longest part of a key shown in an error message (containerd's keyMaxLen).
inline constexpr std::size_t kMaxKeyInMessage = 64;

// Returns OK when the label `key`=`value` is acceptable, else InvalidArgument:
//   `label key must not be empty`
//   `label key and value length (5000 bytes) greater than maximum size (4096 bytes),
//    key: "<key, escaped, cut after 64 bytes with ...>"`
[[nodiscard]] absl::Status Validate(std::string_view key, std::string_view value);

// Validates every entry of a label map (std::map, absl::flat_hash_map, protobuf Map, ...:
// anything iterable whose elements have `first` and `second` convertible to
// std::string_view). Returns OK or the error of the first bad entry in iteration order.
template <typename LabelMap,
          typename = std::enable_if_t<
              std::is_convertible_v<decltype(std::declval<const LabelMap&>().begin()->first),
                                    std::string_view> &&
              std::is_convertible_v<decltype(std::declval<const LabelMap&>().begin()->second),
                                    std::string_view>>>
[[nodiscard]] absl::Status Validate(const LabelMap& labels) {
  for (const auto& entry : labels) {
    absl::Status s = Validate(std::string_view(entry.first), std::string_view(entry.second));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace berth::labels

#endif  // BERTH_LIB_LABELS_LABELS_H_
