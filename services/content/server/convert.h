// Conversions between content::Store's types and containerd's content API messages, shared
// by the server (ContentService) and the proxy (client/proxy/content_proxy.h).
//
// Timestamps: berth always fills them; on input, an unset Timestamp or Go's zero time
// (-62135596800 s, what the Go client sends for nullable=false fields) reads as the epoch.
//
// Thread-safety: pure functions.
#ifndef BERTH_SERVICES_CONTENT_SERVER_CONVERT_H_
#define BERTH_SERVICES_CONTENT_SERVER_CONVERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/containerd/services/content/v1/content.pb.h"
#include "services/content/store.h"

namespace berth::content {

void ToProto(Time t, google::protobuf::Timestamp* out);
Time FromProto(const google::protobuf::Timestamp& t);

void ToProto(const content::Info& info, containerd::services::content::v1::Info* out);
// InvalidArgument for a malformed digest.
absl::StatusOr<content::Info> FromProto(const containerd::services::content::v1::Info& info);

void ToProto(const IngestStatus& status, containerd::services::content::v1::Status* out);
// InvalidArgument for a malformed expected digest.
absl::StatusOr<IngestStatus> FromProto(const containerd::services::content::v1::Status& status);

// Parses a digest from a request field; InvalidArgument naming the field otherwise.
absl::StatusOr<digest::Digest> ParseDigestField(const std::string& value, const char* field);

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_SERVER_CONVERT_H_
