#include "lib/server/health_wire.h"

#include <grpcpp/support/slice.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"

namespace berth::server {
namespace health_wire {
namespace {

constexpr uint8_t kWireVarint = 0;
constexpr uint8_t kWireFixed64 = 1;
constexpr uint8_t kWireBytes = 2;
constexpr uint8_t kWireFixed32 = 5;

void AppendVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool ReadVarint(const std::string& in, size_t& pos, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64 && pos < in.size(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in[pos++]);
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

bool FromBuffer(const grpc::ByteBuffer& buffer, std::string& out) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return true;
}

// Walks the fields of a protobuf message, calling `varint(field, value)` and
// `bytes(field, value)`; fixed-width fields are skipped. False for malformed input.
bool ForEachField(const std::string& in, const std::function<void(uint64_t, uint64_t)>& varint,
                  const std::function<void(uint64_t, std::string)>& bytes) {
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t key;
    if (!ReadVarint(in, pos, key)) return false;
    const uint64_t field = key >> 3;
    uint64_t v;
    switch (key & 7) {
      case kWireVarint:
        if (!ReadVarint(in, pos, v)) return false;
        varint(field, v);
        break;
      case kWireFixed64:
        if (in.size() - pos < 8) return false;
        pos += 8;
        break;
      case kWireBytes:
        if (!ReadVarint(in, pos, v) || in.size() - pos < v) return false;
        bytes(field, in.substr(pos, v));
        pos += v;
        break;
      case kWireFixed32:
        if (in.size() - pos < 4) return false;
        pos += 4;
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace

grpc::ByteBuffer EncodeRequest(const std::string& service) {
  std::string bytes;
  if (!service.empty()) {
    bytes.push_back(static_cast<char>((1 << 3) | kWireBytes));
    AppendVarint(bytes, service.size());
    bytes += service;
  }
  return ToBuffer(bytes);
}

absl::StatusOr<std::string> DecodeRequest(const grpc::ByteBuffer& buffer) {
  std::string in;
  std::string service;
  if (!FromBuffer(buffer, in) || !ForEachField(
                                     in, [](uint64_t, uint64_t) {},
                                     [&](uint64_t field, std::string value) {
                                       if (field == 1) service = std::move(value);
                                     })) {
    return absl::InvalidArgumentError("health check request: malformed message");
  }
  return service;
}

grpc::ByteBuffer EncodeResponse(HealthStatus status) {
  std::string bytes;
  if (status != HealthStatus::kUnknown) {  // proto3 leaves the default value out
    bytes.push_back(static_cast<char>((1 << 3) | kWireVarint));
    AppendVarint(bytes, static_cast<uint64_t>(status));
  }
  return ToBuffer(bytes);
}

absl::StatusOr<HealthStatus> DecodeResponse(const grpc::ByteBuffer& buffer) {
  std::string in;
  uint64_t status = 0;
  if (!FromBuffer(buffer, in) || !ForEachField(
                                     in,
                                     [&](uint64_t field, uint64_t value) {
                                       if (field == 1) status = value;
                                     },
                                     [](uint64_t, std::string) {})) {
    return absl::InvalidArgumentError("health check response: malformed message");
  }
  if (status > 3) status = 0;
  return static_cast<HealthStatus>(status);
}

}  // namespace health_wire

const char* HealthStatusName(HealthStatus status) {
  switch (status) {
    case HealthStatus::kUnknown:
      return "UNKNOWN";
    case HealthStatus::kServing:
      return "SERVING";
    case HealthStatus::kNotServing:
      return "NOT_SERVING";
    case HealthStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
  }
  return "UNKNOWN";
}

}  // namespace berth::server
