// Conversion between berth's absl::Status errors and grpc::Status, in both directions.
//
// Only gRPC servers (services' server/ folders) and proxies (client/proxy/) use this; the
// rest of berth never sees grpc::Status. absl and gRPC share the same numeric codes, so the
// mapping is one to one, which is what containerd's errdefs.ToGRPC/FromGRPC amount to for
// the codes ctr branches on (reference/containerd-api.md §1.3).
//
// Thread-safety: pure functions.
#ifndef BERTH_LIB_STATUS_GRPC_STATUS_H_
#define BERTH_LIB_STATUS_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace berth {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace berth

#endif  // BERTH_LIB_STATUS_GRPC_STATUS_H_
