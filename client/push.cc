// Client::Push: the server-side push (berth.image.v1.Pull/Push, proto/berth/image/v1/
// pull.proto): one server-streaming call that reports progress per blob and ends with the
// root pushed. The options are plain callables over PushConfig.
#include <string>
#include <utility>

#include "client/berth.h"
#include "client/connection.h"
#include "fmt/format.h"
#include "lib/platforms/platforms.h"
#include "lib/status/status.h"

namespace berth {
namespace {

namespace pullpb = berth::image::v1;

PushProgress FromProto(const pullpb::PushProgress& p) {
  PushProgress out;
  switch (p.kind()) {
    case pullpb::PushProgress::PUSHING:
      out.kind = PushProgress::Kind::kPushing;
      break;
    case pullpb::PushProgress::UPLOADED:
      out.kind = PushProgress::Kind::kUploaded;
      break;
    case pullpb::PushProgress::EXISTS:
      out.kind = PushProgress::Kind::kExists;
      break;
    case pullpb::PushProgress::MOUNTED:
      out.kind = PushProgress::Kind::kMounted;
      break;
    case pullpb::PushProgress::DONE:
      out.kind = PushProgress::Kind::kDone;
      break;
    default:
      break;
  }
  out.ref = p.ref();
  out.digest = p.digest();
  out.media_type = p.media_type();
  out.role = p.role();
  out.size = p.size();
  out.mounted_from = p.mounted_from();
  return out;
}

}  // namespace

const char* PushProgressKindName(PushProgress::Kind kind) {
  switch (kind) {
    case PushProgress::Kind::kPushing:
      return "pushing";
    case PushProgress::Kind::kUploaded:
      return "uploaded";
    case PushProgress::Kind::kExists:
      return "exists";
    case PushProgress::Kind::kMounted:
      return "mounted";
    case PushProgress::Kind::kDone:
      return "done";
    case PushProgress::Kind::kUnspecified:
      break;
  }
  return "unknown";
}

PushOpt WithPushTarget(std::string target) {
  return [target = std::move(target)](PushConfig* c) {
    c->target = target;
    return absl::OkStatus();
  };
}

PushOpt WithPushPlatform(std::string platform) {
  return [platform = std::move(platform)](PushConfig* c) -> absl::Status {
    RETURN_IF_ERROR(platforms::Parse(platform).status());
    c->platforms.push_back(platform);
    return absl::OkStatus();
  };
}

absl::Status WithPushPlainHTTP(PushConfig* config) {
  config->plain_http = true;
  return absl::OkStatus();
}

PushOpt WithPushHostsDir(std::string dir) {
  return [dir = std::move(dir)](PushConfig* c) {
    c->hosts_dirs.push_back(dir);
    return absl::OkStatus();
  };
}

PushOpt WithPushCredentials(std::string username, std::string password) {
  return [username = std::move(username), password = std::move(password)](PushConfig* c) {
    c->username = username;
    c->password = password;
    return absl::OkStatus();
  };
}

PushOpt WithPushChunkSize(int64_t bytes) {
  return [bytes](PushConfig* c) -> absl::Status {
    if (bytes < 0) return InvalidArgumentError("push: chunk size must not be negative");
    c->chunk_size = bytes;
    return absl::OkStatus();
  };
}

PushOpt WithPushProgress(std::function<void(const PushProgress&)> progress) {
  return [progress = std::move(progress)](PushConfig* c) {
    c->progress = progress;
    return absl::OkStatus();
  };
}

absl::StatusOr<std::string> Client::Push(const std::string& ref, std::vector<PushOpt> opts) const {
  RETURN_IF_ERROR(AddressStatus());
  if (ref.empty()) return InvalidArgumentError("push: an image name is required");
  PushConfig config;
  for (const PushOpt& o : opts) {
    if (o) RETURN_IF_ERROR(o(&config));
  }
  pullpb::PushRequest req;
  req.set_ref(ref);
  req.set_target(config.target);
  for (const std::string& p : config.platforms) req.add_platforms(p);
  for (const std::string& d : config.hosts_dirs) req.add_hosts_dirs(d);
  req.set_plain_http(config.plain_http);
  req.set_chunk_size(config.chunk_size);
  if (!config.username.empty() || !config.password.empty()) {
    req.mutable_credentials()->set_username(config.username);
    req.mutable_credentials()->set_password(config.password);
  }
  auto ctx = NewCallContext(/*stream=*/true);
  auto reader = conn_->pull->Push(ctx.get(), req);
  pullpb::PushProgress msg;
  std::string root;
  while (reader->Read(&msg)) {
    if (msg.kind() == pullpb::PushProgress::DONE) root = msg.digest();
    if (config.progress) config.progress(FromProto(msg));
  }
  grpc::Status st = reader->Finish();
  if (st.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return UnimplementedError(
        fmt::format("push {:?}: the server has no server-side push: {}", ref, st.error_message()));
  }
  if (!st.ok()) {
    // The server's messages already start with `push "<ref>": `.
    const std::string op = fmt::format("push {:?}", ref);
    if (st.error_message().compare(0, op.size(), op) == 0) return FromGrpcStatus(st);
    return RpcStatus(st, op);
  }
  return root;
}

}  // namespace berth
