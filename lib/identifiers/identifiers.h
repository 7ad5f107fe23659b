// Validation of the identifiers containerd accepts for namespaces, containers, tasks,
// leases, snapshot keys' owners and similar names, in one place so every service applies
// the same rule.
//
// The rule is containerd's `identifiers.Validate`: the whole string must match
// `^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$` and be at most 76 bytes long. In words: runs of
// ASCII letters and digits, separated by single `.`, `_` or `-`; no separator at the start
// or end and never two separators in a row.
//
// Thread-safety: all functions are pure and safe to call from any thread.
#ifndef BERTH_LIB_IDENTIFIERS_IDENTIFIERS_H_
#define BERTH_LIB_IDENTIFIERS_IDENTIFIERS_H_

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"

namespace berth::identifiers {

// Longest identifier accepted, in bytes (containerd's maxLength).
inline constexpr std::size_t kMaxLength = 76;

// Returns OK when `id` is a valid identifier. Otherwise InvalidArgument with one of:
//   `identifier must not be empty`
//   `identifier "<id>" greater than maximum length (76 characters)`
//   `identifier "<id>" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$`
// In messages the id is escaped (non-printable bytes as \xNN) and cut after 76 bytes with
// `...` so a hostile id cannot flood a log. Runs in O(len(id)); never uses std::regex.
[[nodiscard]] absl::Status Validate(std::string_view id);

}  // namespace berth::identifiers

#endif  // BERTH_LIB_IDENTIFIERS_IDENTIFIERS_H_
