// Conversions between berth-snapshot's types and containerd's Snapshots / Diff API messages
// (and berth's SnapshotAdmin), shared by the servers (this directory) and the proxies
// (client/proxy/snapshot_proxy.h).
//
// Timestamps: berth always fills them; on input, an unset Timestamp or Go's zero time
// (-62135596800 s, what the Go client sends for nullable=false fields) reads as the epoch.
//
// Thread-safety: pure functions.
#ifndef BERTH_SERVICES_SNAPSHOT_SERVER_CONVERT_H_
#define BERTH_SERVICES_SNAPSHOT_SERVER_CONVERT_H_

#include <chrono>
#include <vector>

#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/timestamp.pb.h"
#include "proto/containerd/services/leases/v1/leases.pb.h"
#include "proto/containerd/services/snapshots/v1/snapshots.pb.h"
#include "proto/containerd/types/descriptor.pb.h"
#include "proto/containerd/types/mount.pb.h"
#include "services/snapshot/admin.h"
#include "services/snapshot/diff/differ.h"
#include "services/snapshot/snapshotter.h"

namespace berth::snapshot {

void ToProto(std::chrono::system_clock::time_point t, google::protobuf::Timestamp* out);
std::chrono::system_clock::time_point FromProto(const google::protobuf::Timestamp& t);

containerd::services::snapshots::v1::Kind ToProto(Kind kind);
Kind FromProto(containerd::services::snapshots::v1::Kind kind);

void ToProto(const Info& info, containerd::services::snapshots::v1::Info* out);
Info FromProto(const containerd::services::snapshots::v1::Info& info);

void ToProto(const Mount& mount, containerd::types::Mount* out);
Mount FromProto(const containerd::types::Mount& mount);
void ToProto(const std::vector<Mount>& mounts,
             google::protobuf::RepeatedPtrField<containerd::types::Mount>* out);
std::vector<Mount> FromProto(
    const google::protobuf::RepeatedPtrField<containerd::types::Mount>& mounts);

void ToProto(const diff::Descriptor& desc, containerd::types::Descriptor* out);
diff::Descriptor FromProto(const containerd::types::Descriptor& desc);

void ToProto(const LeaseResource& r, containerd::services::leases::v1::Resource* out);
LeaseResource FromProto(const containerd::services::leases::v1::Resource& r);

}  // namespace berth::snapshot

#endif  // BERTH_SERVICES_SNAPSHOT_SERVER_CONVERT_H_
