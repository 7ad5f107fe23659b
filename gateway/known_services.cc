#include "gateway/known_services.h"

#include <google/protobuf/descriptor.h>

#include "proto/berth/image/v1/pull.pb.h"
#include "proto/containerd/services/containers/v1/containers.pb.h"
#include "proto/containerd/services/content/v1/content.pb.h"
#include "proto/containerd/services/diff/v1/diff.pb.h"
#include "proto/containerd/services/events/v1/events.pb.h"
#include "proto/containerd/services/images/v1/images.pb.h"
#include "proto/containerd/services/introspection/v1/introspection.pb.h"
#include "proto/containerd/services/leases/v1/leases.pb.h"
#include "proto/containerd/services/namespaces/v1/namespace.pb.h"
#include "proto/containerd/services/snapshots/v1/snapshots.pb.h"
#include "proto/containerd/services/streaming/v1/streaming.pb.h"
#include "proto/containerd/services/tasks/v1/tasks.pb.h"
#include "proto/containerd/services/transfer/v1/transfer.pb.h"
#include "proto/containerd/services/version/v1/version.pb.h"

namespace berth::gateway {

const std::vector<const google::protobuf::ServiceDescriptor*>& KnownServices() {
  namespace cs = containerd::services;
  static const auto* const services = new std::vector<const google::protobuf::ServiceDescriptor*>{
      cs::content::v1::Info::descriptor()->file()->FindServiceByName("Content"),
      cs::snapshots::v1::PrepareSnapshotRequest::descriptor()->file()->FindServiceByName(
          "Snapshots"),
      cs::diff::v1::ApplyRequest::descriptor()->file()->FindServiceByName("Diff"),
      cs::images::v1::Image::descriptor()->file()->FindServiceByName("Images"),
      cs::containers::v1::Container::descriptor()->file()->FindServiceByName("Containers"),
      cs::tasks::v1::CreateTaskRequest::descriptor()->file()->FindServiceByName("Tasks"),
      cs::transfer::v1::TransferRequest::descriptor()->file()->FindServiceByName("Transfer"),
      cs::streaming::v1::StreamInit::descriptor()->file()->FindServiceByName("Streaming"),
      cs::namespaces::v1::Namespace::descriptor()->file()->FindServiceByName("Namespaces"),
      cs::leases::v1::Lease::descriptor()->file()->FindServiceByName("Leases"),
      cs::events::v1::PublishRequest::descriptor()->file()->FindServiceByName("Events"),
      cs::version::v1::VersionResponse::descriptor()->file()->FindServiceByName("Version"),
      cs::introspection::v1::Plugin::descriptor()->file()->FindServiceByName("Introspection"),
      // berth's own public services, routed like containerd's.
      berth::image::v1::PullRequest::descriptor()->file()->FindServiceByName("Pull"),
  };
  return *services;
}

const google::protobuf::ServiceDescriptor* FindKnownService(std::string_view name) {
  for (const google::protobuf::ServiceDescriptor* s : KnownServices()) {
    if (s != nullptr && s->full_name() == name) return s;
  }
  return nullptr;
}

}  // namespace berth::gateway
