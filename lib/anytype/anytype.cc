#include "lib/anytype/anytype.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>

#include <nlohmann/json.hpp>

#include "lib/status/status.h"

namespace berth::anytype {
namespace {

// The message name of a type URL: everything after the last '/', or all of it when bare.
std::string_view NameOf(std::string_view type_url) {
  size_t slash = type_url.rfind('/');
  return slash == std::string_view::npos ? type_url : type_url.substr(slash + 1);
}

absl::Status CheckJsonObject(std::string_view type_url, std::string_view json) {
  // Parsing without building a DOM (sax) would be cheaper; specs are small and this runs once
  // per container create, so the simple check wins.
  auto parsed = nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return InvalidArgumentError("any " + Quote(type_url) + ": value is not a JSON object");
  }
  return absl::OkStatus();
}

}  // namespace

google::protobuf::Any Pack(const google::protobuf::Message& message) {
  google::protobuf::Any any;
  any.set_type_url(message.GetDescriptor()->full_name());
  message.SerializeToString(any.mutable_value());
  return any;
}

bool Is(const google::protobuf::Any& any, std::string_view full_name) {
  return NameOf(any.type_url()) == full_name;
}

absl::Status Unpack(const google::protobuf::Any& any, google::protobuf::Message* message) {
  const std::string& want = message->GetDescriptor()->full_name();
  if (!Is(any, want)) {
    return InvalidArgumentError("cannot unpack any of type " + Quote(any.type_url()) + " into " +
                                Quote(want));
  }
  if (!message->ParseFromString(any.value())) {
    return InvalidArgumentError("cannot unpack any of type " + Quote(any.type_url()) +
                                ": malformed message bytes");
  }
  return absl::OkStatus();
}

absl::StatusOr<google::protobuf::Any> PackJson(std::string_view type_url, std::string json) {
  RETURN_IF_ERROR(CheckJsonObject(type_url, json));
  google::protobuf::Any any;
  any.set_type_url(std::string(type_url));
  any.set_value(std::move(json));
  return any;
}

absl::StatusOr<std::string> UnpackJson(const google::protobuf::Any& any,
                                       std::string_view type_url) {
  if (any.type_url() != type_url) {
    return InvalidArgumentError("expected any of type " + Quote(type_url) + ", got " +
                                Quote(any.type_url()));
  }
  RETURN_IF_ERROR(CheckJsonObject(type_url, any.value()));
  return any.value();
}

}  // namespace berth::anytype
