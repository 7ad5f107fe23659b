#include "services/image/server/transfer_service.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <functional>
#include <string>
#include <utility>

#include "fmt/format.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::image {
namespace {

namespace transferpb = containerd::services::transfer::v1;
using google::protobuf::internal::WireFormatLite;

// Calls `field(number, bytes)` for every length-delimited field of a serialized message and
// skips the others. InvalidArgument naming `what` when the bytes do not parse.
absl::Status ForEachBytesField(const std::string& data, const char* what,
                               const std::function<absl::Status(int, std::string)>& field) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(data.data()),
                                            static_cast<int>(data.size()));
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      if (!in.ConsumedEntireMessage()) {
        return InvalidArgumentError(fmt::format("{}: malformed message", what));
      }
      return absl::OkStatus();
    }
    if (WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::string value;
      if (!WireFormatLite::ReadBytes(&in, &value)) {
        return InvalidArgumentError(fmt::format("{}: malformed message", what));
      }
      RETURN_IF_ERROR(field(WireFormatLite::GetTagFieldNumber(tag), std::move(value)));
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return InvalidArgumentError(fmt::format("{}: malformed message", what));
    }
  }
}

// containerd.types.Platform{1 os, 2 architecture, 3 variant} -> "os/arch[/variant]".
absl::StatusOr<std::string> DecodePlatform(const std::string& data) {
  std::string os, arch, variant;
  RETURN_IF_ERROR(ForEachBytesField(data, "platform", [&](int n, std::string v) {
    if (n == 1) os = std::move(v);
    if (n == 2) arch = std::move(v);
    if (n == 3) variant = std::move(v);
    return absl::OkStatus();
  }));
  if (os.empty() && arch.empty()) return std::string();
  std::string spec = os + "/" + arch;
  if (!variant.empty()) spec += "/" + variant;
  return spec;
}

}  // namespace

absl::StatusOr<pull::PullRequest> DecodeTransferPull(const transferpb::TransferRequest& req) {
  if (req.source().type_url() != kOciRegistryType ||
      req.destination().type_url() != kImageStoreType) {
    return UnimplementedError(fmt::format(
        "transfer from {:?} to {:?}: berth-image transfers only from {} to {}",
        req.source().type_url(), req.destination().type_url(), kOciRegistryType, kImageStoreType));
  }
  pull::PullRequest r;
  RETURN_IF_ERROR(ForEachBytesField(req.source().value(), "OCIRegistry", [&](int n, std::string v) {
    if (n == 1) r.ref = std::move(v);
    if (n != 2) return absl::OkStatus();
    return ForEachBytesField(v, "RegistryResolver", [&](int m, std::string w) {
      if (m == 3 && !w.empty()) r.hosts_dirs.push_back(std::move(w));
      if (m == 4 && w == "http") r.plain_http = true;
      return absl::OkStatus();
    });
  }));
  std::vector<std::string> unpack_platforms;
  RETURN_IF_ERROR(ForEachBytesField(
      req.destination().value(), "ImageStore", [&](int n, std::string v) -> absl::Status {
        switch (n) {
          case 1:
            r.name = std::move(v);
            break;
          case 2: {
            std::string key, value;
            RETURN_IF_ERROR(ForEachBytesField(v, "ImageStore.labels", [&](int m, std::string w) {
              if (m == 1) key = std::move(w);
              if (m == 2) value = std::move(w);
              return absl::OkStatus();
            }));
            r.labels[key] = value;
            break;
          }
          case 3: {
            ASSIGN_OR_RETURN(std::string p, DecodePlatform(v));
            if (!p.empty()) r.platforms.push_back(std::move(p));
            break;
          }
          case 10: {
            r.unpack = true;
            RETURN_IF_ERROR(ForEachBytesField(
                v, "UnpackConfiguration", [&](int m, std::string w) -> absl::Status {
                  if (m == 1) {
                    ASSIGN_OR_RETURN(std::string p, DecodePlatform(w));
                    if (!p.empty()) unpack_platforms.push_back(std::move(p));
                  }
                  if (m == 2 && r.snapshotter.empty()) r.snapshotter = std::move(w);
                  return absl::OkStatus();
                }));
            break;
          }
          default:
            break;
        }
        return absl::OkStatus();
      }));
  if (r.platforms.empty()) r.platforms = std::move(unpack_platforms);
  if (r.ref.empty()) return InvalidArgumentError("transfer: OCIRegistry.reference is required");
  return r;
}

grpc::Status TransferService::Transfer(grpc::ServerContext* ctx,
                                       const transferpb::TransferRequest* req,
                                       google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(pull::PullRequest r, DecodeTransferPull(*req));
    return puller_->Pull(call, r, nullptr).status();
  });
}

}  // namespace berth::image
