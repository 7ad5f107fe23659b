#include "services/snapshot/server/convert.h"

namespace berth::snapshot {

namespace api = containerd::services::snapshots::v1;
using Clock = std::chrono::system_clock;

void ToProto(Clock::time_point t, google::protobuf::Timestamp* out) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  std::int64_t sec = ns / 1000000000;
  std::int64_t nsec = ns % 1000000000;
  if (nsec < 0) {
    nsec += 1000000000;
    --sec;
  }
  out->set_seconds(sec);
  out->set_nanos(static_cast<std::int32_t>(nsec));
}

Clock::time_point FromProto(const google::protobuf::Timestamp& t) {
  if (t.seconds() == -62135596800LL) return Clock::time_point();  // Go's zero time.
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
      std::chrono::seconds(t.seconds()) + std::chrono::nanoseconds(t.nanos())));
}

api::Kind ToProto(Kind kind) {
  switch (kind) {
    case Kind::kView:
      return api::VIEW;
    case Kind::kActive:
      return api::ACTIVE;
    case Kind::kCommitted:
      return api::COMMITTED;
    default:
      return api::UNKNOWN;
  }
}

Kind FromProto(api::Kind kind) {
  switch (kind) {
    case api::VIEW:
      return Kind::kView;
    case api::ACTIVE:
      return Kind::kActive;
    case api::COMMITTED:
      return Kind::kCommitted;
    default:
      return Kind::kUnknown;
  }
}

void ToProto(const Info& info, api::Info* out) {
  out->set_name(info.name);
  out->set_parent(info.parent);
  out->set_kind(ToProto(info.kind));
  ToProto(info.created, out->mutable_created_at());
  ToProto(info.updated, out->mutable_updated_at());
  for (const auto& [k, v] : info.labels) (*out->mutable_labels())[k] = v;
}

Info FromProto(const api::Info& info) {
  Info out;
  out.name = info.name();
  out.parent = info.parent();
  out.kind = FromProto(info.kind());
  out.created = FromProto(info.created_at());
  out.updated = FromProto(info.updated_at());
  out.labels = Labels(info.labels().begin(), info.labels().end());
  return out;
}

void ToProto(const Mount& mount, containerd::types::Mount* out) {
  out->set_type(mount.type);
  out->set_source(mount.source);
  out->set_target(mount.target);
  for (const std::string& o : mount.options) out->add_options(o);
}

Mount FromProto(const containerd::types::Mount& mount) {
  return Mount{mount.type(), mount.source(), mount.target(),
               std::vector<std::string>(mount.options().begin(), mount.options().end())};
}

void ToProto(const std::vector<Mount>& mounts,
             google::protobuf::RepeatedPtrField<containerd::types::Mount>* out) {
  for (const Mount& m : mounts) ToProto(m, out->Add());
}

std::vector<Mount> FromProto(
    const google::protobuf::RepeatedPtrField<containerd::types::Mount>& mounts) {
  std::vector<Mount> out;
  out.reserve(mounts.size());
  for (const auto& m : mounts) out.push_back(FromProto(m));
  return out;
}

void ToProto(const diff::Descriptor& desc, containerd::types::Descriptor* out) {
  out->set_media_type(desc.media_type);
  out->set_digest(desc.digest);
  out->set_size(desc.size);
  for (const auto& [k, v] : desc.annotations) (*out->mutable_annotations())[k] = v;
}

diff::Descriptor FromProto(const containerd::types::Descriptor& desc) {
  diff::Descriptor out;
  out.media_type = desc.media_type();
  out.digest = desc.digest();
  out.size = desc.size();
  out.annotations.insert(desc.annotations().begin(), desc.annotations().end());
  return out;
}

void ToProto(const LeaseResource& r, containerd::services::leases::v1::Resource* out) {
  out->set_id(r.id);
  out->set_type(r.type);
}

LeaseResource FromProto(const containerd::services::leases::v1::Resource& r) {
  return LeaseResource{r.id(), r.type()};
}

}  // namespace berth::snapshot
