#include "services/image/server/pull_service.h"

#include <string>
#include <utility>

#include "fmt/format.h"
#include "lib/labels/labels.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::image {

namespace pullpb = berth::image::v1;

// What pulls and pushes share: registry credentials of the request, and the hosts.toml
// directories, which must be absolute paths on the server.
remotes::Credentials FromProto(const pullpb::Credentials& c) {
  remotes::Credentials out;
  out.username = c.username();
  out.password = c.password();
  out.identity_token = c.identity_token();
  return out;
}

absl::Status CheckHostsDirs(const char* op, const std::string& ref,
                            const google::protobuf::RepeatedPtrField<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    if (dir.empty() || dir.front() != '/') {
      return InvalidArgumentError(
          fmt::format("{} {:?}: hosts_dirs {:?}: must be an absolute path", op, ref, dir));
    }
  }
  return absl::OkStatus();
}

pull::PullRequest FromProto(const pullpb::PullRequest& req) {
  pull::PullRequest r;
  r.ref = req.ref();
  r.platforms.assign(req.platforms().begin(), req.platforms().end());
  r.all_platforms = req.all_platforms();
  r.unpack = req.unpack();
  r.snapshotter = req.snapshotter();
  r.labels.insert(req.labels().begin(), req.labels().end());
  r.name = req.name();
  r.hosts_dirs.assign(req.hosts_dirs().begin(), req.hosts_dirs().end());
  r.plain_http = req.plain_http();
  if (req.has_credentials()) r.credentials = FromProto(req.credentials());
  return r;
}

pullpb::PullProgress ToProto(const pull::Progress& p) {
  using Kind = pull::Progress::Kind;
  pullpb::PullProgress m;
  switch (p.kind) {
    case Kind::kResolving:
      m.set_kind(pullpb::PullProgress::RESOLVING);
      break;
    case Kind::kDownloading:
      m.set_kind(pullpb::PullProgress::DOWNLOADING);
      break;
    case Kind::kVerifying:
      m.set_kind(pullpb::PullProgress::VERIFYING);
      break;
    case Kind::kDone:
      m.set_kind(pullpb::PullProgress::DONE);
      break;
    case Kind::kExists:
      m.set_kind(pullpb::PullProgress::EXISTS);
      break;
    case Kind::kUnpacking:
      m.set_kind(pullpb::PullProgress::UNPACKING);
      break;
    case Kind::kUnpacked:
      m.set_kind(pullpb::PullProgress::UNPACKED);
      break;
  }
  m.set_ref(p.ref);
  m.set_digest(p.digest);
  m.set_media_type(p.media_type);
  m.set_role(p.role);
  m.set_offset(p.offset);
  m.set_total(p.total);
  m.set_snapshot(p.snapshot);
  if (p.image != nullptr) *m.mutable_image() = *p.image;
  return m;
}

grpc::Status PullService::Pull(grpc::ServerContext* ctx, const pullpb::PullRequest* req,
                               grpc::ServerWriter<pullpb::PullProgress>* writer) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    if (req->ref().empty()) return InvalidArgumentError("pull: a reference is required");
    RETURN_IF_ERROR(CheckHostsDirs("pull", req->ref(), req->hosts_dirs()));
    if (absl::Status s = labels::Validate(req->labels()); !s.ok()) {
      return Annotate(s, fmt::format("pull {:?}: labels", req->ref()));
    }
    bool gone = false;
    auto progress = [&](const pull::Progress& p) {
      // Once the client is gone the pull notices the cancellation; nothing more to send.
      if (gone) return;
      if (!writer->Write(ToProto(p))) gone = true;
    };
    return puller_->Pull(call, FromProto(*req), progress).status();
  });
}

push::PushRequest FromProto(const pullpb::PushRequest& req) {
  push::PushRequest r;
  r.ref = req.ref();
  r.target = req.target();
  r.platforms.assign(req.platforms().begin(), req.platforms().end());
  r.all_platforms = req.all_platforms();
  r.hosts_dirs.assign(req.hosts_dirs().begin(), req.hosts_dirs().end());
  r.plain_http = req.plain_http();
  r.chunk_size = req.chunk_size();
  if (req.has_credentials()) r.credentials = FromProto(req.credentials());
  return r;
}

pullpb::PushProgress ToProto(const push::Progress& p) {
  using Kind = push::Progress::Kind;
  pullpb::PushProgress m;
  switch (p.kind) {
    case Kind::kPushing:
      m.set_kind(pullpb::PushProgress::PUSHING);
      break;
    case Kind::kUploaded:
      m.set_kind(pullpb::PushProgress::UPLOADED);
      break;
    case Kind::kExists:
      m.set_kind(pullpb::PushProgress::EXISTS);
      break;
    case Kind::kMounted:
      m.set_kind(pullpb::PushProgress::MOUNTED);
      break;
    case Kind::kDone:
      m.set_kind(pullpb::PushProgress::DONE);
      break;
  }
  m.set_ref(p.ref);
  m.set_digest(p.digest);
  m.set_media_type(p.media_type);
  m.set_role(p.role);
  m.set_size(p.size);
  m.set_mounted_from(p.mounted_from);
  return m;
}

grpc::Status PullService::Push(grpc::ServerContext* ctx, const pullpb::PushRequest* req,
                               grpc::ServerWriter<pullpb::PushProgress>* writer) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    if (pusher_ == nullptr) return UnimplementedError("push: this berth-image does not push");
    if (req->ref().empty()) return InvalidArgumentError("push: an image name is required");
    if (req->chunk_size() < 0) {
      return InvalidArgumentError(fmt::format("push {:?}: chunk_size {}: must not be negative",
                                              req->ref(), req->chunk_size()));
    }
    RETURN_IF_ERROR(CheckHostsDirs("push", req->ref(), req->hosts_dirs()));
    bool gone = false;
    auto progress = [&](const push::Progress& p) {
      if (gone) return;
      if (!writer->Write(ToProto(p))) gone = true;
    };
    return pusher_->Push(call, FromProto(*req), progress).status();
  });
}

}  // namespace berth::image
