// Client::Connection: what every view of a berth::Client shares — the gRPC channel, one stub
// per containerd service, and the proxies (client/proxy) behind ContentStore(),
// SnapshotService() and DiffService(). Internal to the client library.
//
// Thread-safety: stubs and proxies are safe from any thread; the snapshotter cache is guarded.
#ifndef BERTH_CLIENT_CONNECTION_H_
#define BERTH_CLIENT_CONNECTION_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "client/client.h"
#include "client/proxy/content_proxy.h"
#include "client/proxy/snapshot_proxy.h"
#include "lib/status/grpc_status.h"
#include "proto/berth/gateway/v1/admin.grpc.pb.h"
#include "proto/berth/image/v1/pull.grpc.pb.h"
#include "proto/containerd/services/containers/v1/containers.grpc.pb.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"
#include "proto/containerd/services/events/v1/events.grpc.pb.h"
#include "proto/containerd/services/images/v1/images.grpc.pb.h"
#include "proto/containerd/services/introspection/v1/introspection.grpc.pb.h"
#include "proto/containerd/services/leases/v1/leases.grpc.pb.h"
#include "proto/containerd/services/namespaces/v1/namespace.grpc.pb.h"
#include "proto/containerd/services/snapshots/v1/snapshots.grpc.pb.h"
#include "proto/containerd/services/tasks/v1/tasks.grpc.pb.h"
#include "proto/containerd/services/transfer/v1/transfer.grpc.pb.h"
#include "proto/containerd/services/version/v1/version.grpc.pb.h"

namespace berth {

struct Client::Connection {
  ClientOptions options;
  std::string address;
  // Not OK when the address did not parse: every call returns it.
  absl::Status address_status;
  std::shared_ptr<grpc::Channel> channel;

  std::unique_ptr<containerd::services::containers::v1::Containers::Stub> containers;
  std::unique_ptr<containerd::services::content::v1::Content::Stub> content;
  std::unique_ptr<containerd::services::events::v1::Events::Stub> events;
  std::unique_ptr<containerd::services::images::v1::Images::Stub> images;
  std::unique_ptr<containerd::services::introspection::v1::Introspection::Stub> introspection;
  std::unique_ptr<containerd::services::leases::v1::Leases::Stub> leases;
  std::unique_ptr<containerd::services::namespaces::v1::Namespaces::Stub> namespaces;
  std::unique_ptr<containerd::services::snapshots::v1::Snapshots::Stub> snapshots;
  std::unique_ptr<containerd::services::tasks::v1::Tasks::Stub> tasks;
  std::unique_ptr<containerd::services::transfer::v1::Transfer::Stub> transfer;
  std::unique_ptr<containerd::services::version::v1::Version::Stub> version;
  std::unique_ptr<berth::image::v1::Pull::Stub> pull;
  std::unique_ptr<berth::gateway::v1::GatewayAdmin::Stub> admin;

  std::unique_ptr<proxy::ContentProxy> content_store;
  std::unique_ptr<proxy::DiffProxy> diff;

  std::mutex mu;
  std::map<std::string, std::shared_ptr<snapshot::Snapshotter>> snapshotters;
};

// Extension key a NewContainer option sets on the record it is building when it prepared a
// snapshot (value: the key); removed before the record is created.
inline constexpr char kPreparedSnapshotExtension[] = "berth.client.prepared-snapshot";

// Maps a finished RPC's status to absl, prefixing the message with `op` (`op: message`).
inline absl::Status RpcStatus(const grpc::Status& status, const std::string& op) {
  if (status.ok()) return absl::OkStatus();
  absl::Status s = FromGrpcStatus(status);
  return absl::Status(s.code(), op + ": " + std::string(s.message()));
}

}  // namespace berth

#endif  // BERTH_CLIENT_CONNECTION_H_
