// Packing and unpacking google.protobuf.Any the way containerd 1.6 does on the wire.
//
// containerd writes proto Anys with the bare full message name as the type URL
// (`containerd.events.TaskExit`, no `type.googleapis.com/` prefix), and carries the OCI
// runtime-spec types as JSON under `types.containerd.io/opencontainers/runtime-spec/1/...`
// (reference/containerd-api.md §1.4). protobuf's own Any::PackFrom emits the prefixed URL and
// Any::UnpackTo rejects bare names, so berth never calls them: everything goes through here.
//
// Thread-safety: pure functions.
#ifndef BERTH_LIB_ANYTYPE_ANYTYPE_H_
#define BERTH_LIB_ANYTYPE_ANYTYPE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace google::protobuf {
class Any;
class Message;
}  // namespace google::protobuf

namespace berth::anytype {

// Type URLs of the JSON-carried OCI types containerd registers.
inline constexpr char kSpecTypeURL[] = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
inline constexpr char kProcessTypeURL[] =
    "types.containerd.io/opencontainers/runtime-spec/1/Process";
inline constexpr char kLinuxResourcesTypeURL[] =
    "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
inline constexpr char kWindowsResourcesTypeURL[] =
    "types.containerd.io/opencontainers/runtime-spec/1/WindowsResources";

// Returns an Any holding `message`, with type_url = the message's bare full name.
google::protobuf::Any Pack(const google::protobuf::Message& message);

// True when `any` holds a message of type `full_name`, written either bare
// (`containerd.events.TaskExit`) or with any URL prefix (`type.googleapis.com/...`).
bool Is(const google::protobuf::Any& any, std::string_view full_name);

// Parses `any` into `message`. InvalidArgument when the type URL names another type or the
// bytes do not parse, with both type names in the message.
[[nodiscard]] absl::Status Unpack(const google::protobuf::Any& any,
                                  google::protobuf::Message* message);

// Returns an Any with the given type URL and `json` as its raw value bytes. InvalidArgument
// when `json` is not a JSON object.
absl::StatusOr<google::protobuf::Any> PackJson(std::string_view type_url, std::string json);

// Returns the JSON bytes of an Any carrying `type_url`. InvalidArgument when the type URL
// differs or the value is not a JSON object.
absl::StatusOr<std::string> UnpackJson(const google::protobuf::Any& any,
                                       std::string_view type_url);

}  // namespace berth::anytype

#endif  // BERTH_LIB_ANYTYPE_ANYTYPE_H_
