#include "services/content/server/convert.h"

#include <chrono>

#include "lib/status/status.h"

namespace berth::content {
namespace {

// Go's zero time.Time as a Timestamp: "unset" from a Go client.
constexpr int64_t kGoZeroTimeSeconds = -62135596800;

}  // namespace

void ToProto(Time t, google::protobuf::Timestamp* out) {
  const int64_t nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  int64_t secs = nanos / 1000000000;
  int64_t frac = nanos % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    --secs;
  }
  out->set_seconds(secs);
  out->set_nanos(static_cast<int32_t>(frac));
}

Time FromProto(const google::protobuf::Timestamp& t) {
  if (t.seconds() <= kGoZeroTimeSeconds) return Time();
  return Time(std::chrono::duration_cast<Time::duration>(std::chrono::seconds(t.seconds()) +
                                                         std::chrono::nanoseconds(t.nanos())));
}

void ToProto(const content::Info& info, containerd::services::content::v1::Info* out) {
  out->set_digest(info.digest.ToString());
  out->set_size(info.size);
  ToProto(info.created_at, out->mutable_created_at());
  ToProto(info.updated_at, out->mutable_updated_at());
  auto* labels = out->mutable_labels();
  for (const auto& [k, v] : info.labels) (*labels)[k] = v;
}

absl::StatusOr<content::Info> FromProto(const containerd::services::content::v1::Info& info) {
  content::Info out;
  ASSIGN_OR_RETURN(out.digest, ParseDigestField(info.digest(), "info.digest"));
  out.size = info.size();
  out.created_at = FromProto(info.created_at());
  out.updated_at = FromProto(info.updated_at());
  out.labels.insert(info.labels().begin(), info.labels().end());
  return out;
}

void ToProto(const IngestStatus& status, containerd::services::content::v1::Status* out) {
  ToProto(status.started_at, out->mutable_started_at());
  ToProto(status.updated_at, out->mutable_updated_at());
  out->set_ref(status.ref);
  out->set_offset(status.offset);
  out->set_total(status.total);
  out->set_expected(status.expected.ToString());
}

absl::StatusOr<IngestStatus> FromProto(const containerd::services::content::v1::Status& status) {
  IngestStatus out;
  out.started_at = FromProto(status.started_at());
  out.updated_at = FromProto(status.updated_at());
  out.ref = status.ref();
  out.offset = status.offset();
  out.total = status.total();
  if (!status.expected().empty()) {
    ASSIGN_OR_RETURN(out.expected, ParseDigestField(status.expected(), "status.expected"));
  }
  return out;
}

absl::StatusOr<digest::Digest> ParseDigestField(const std::string& value, const char* field) {
  if (value.empty()) return InvalidArgumentError(std::string(field) + ": digest is required");
  return digest::Digest::Parse(value);
}

}  // namespace berth::content
