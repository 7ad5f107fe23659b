// The two messages of grpc.health.v1 (HealthCheckRequest, HealthCheckResponse), encoded and
// decoded by hand: Debian ships no generated code for grpc/health/v1/health.proto, and the
// messages are one field each. Used by HealthService and the health client.
//
// Thread-safety: pure functions.
#ifndef BERTH_LIB_SERVER_HEALTH_WIRE_H_
#define BERTH_LIB_SERVER_HEALTH_WIRE_H_

#include <grpcpp/support/byte_buffer.h>

#include <string>

#include "absl/status/statusor.h"

namespace berth::server {

// grpc.health.v1.HealthCheckResponse.ServingStatus.
enum class HealthStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// "SERVING", "NOT_SERVING", ...
const char* HealthStatusName(HealthStatus status);

namespace health_wire {

// HealthCheckRequest { string service = 1; }
grpc::ByteBuffer EncodeRequest(const std::string& service);
// The service name; InvalidArgument for bytes that are not a HealthCheckRequest.
absl::StatusOr<std::string> DecodeRequest(const grpc::ByteBuffer& buffer);

// HealthCheckResponse { ServingStatus status = 1; }
grpc::ByteBuffer EncodeResponse(HealthStatus status);
// The status (unknown enum values read as kUnknown, as proto3 does); InvalidArgument for
// bytes that are not a HealthCheckResponse.
absl::StatusOr<HealthStatus> DecodeResponse(const grpc::ByteBuffer& buffer);

}  // namespace health_wire
}  // namespace berth::server

#endif  // BERTH_LIB_SERVER_HEALTH_WIRE_H_
