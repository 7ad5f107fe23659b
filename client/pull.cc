// Client::Pull: the server-side pull.
//
// First berth's own berth.image.v1.Pull (proto/berth/image/v1/pull.proto): one server-streaming
// call that reports progress and ends with the image record. When the server does not serve it
// (UNIMPLEMENTED: a containerd 1.7+ daemon, say), containerd's Transfer service with an
// OCIRegistry source and an ImageStore destination — the call `ctr` 2.x makes. The transfer
// types (containerd.types.transfer.*) are not among berth's protos, so those two messages are
// encoded here by hand, field for field as containerd's api/types/transfer declares them:
//   OCIRegistry{1 reference, 2 resolver: RegistryResolver{3 host_dir, 4 default_scheme}}
//   ImageStore{1 name, 2 labels: map<string,string>, 3 platforms: Platform[],
//              10 unpacks: UnpackConfiguration{1 platform, 2 snapshotter}[]}
#include <string>
#include <utility>

#include "client/berth.h"
#include "client/connection.h"
#include "fmt/format.h"
#include "google/protobuf/empty.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "lib/platforms/platforms.h"
#include "lib/reference/reference.h"
#include "lib/status/status.h"
#include "proto/containerd/types/platform.pb.h"

namespace berth {
namespace {

namespace pullpb = berth::image::v1;

constexpr char kOCIRegistryType[] = "containerd.types.transfer.OCIRegistry";
constexpr char kImageStoreType[] = "containerd.types.transfer.ImageStore";

class Encoder {
 public:
  void String(int field, const std::string& value) {
    if (value.empty()) return;
    Bytes(field, value);
  }
  void Bytes(int field, const std::string& value) {
    google::protobuf::io::StringOutputStream raw(&out_);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.WriteTag(static_cast<uint32_t>(field << 3 | 2));
    coded.WriteVarint32(static_cast<uint32_t>(value.size()));
    coded.WriteString(value);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string PlatformBytes(const platforms::Platform& p) {
  containerd::types::Platform pb;
  pb.set_os(p.os);
  pb.set_architecture(p.architecture);
  pb.set_variant(p.variant);
  return pb.SerializeAsString();
}

PullProgress FromProto(const pullpb::PullProgress& p) {
  PullProgress out;
  switch (p.kind()) {
    case pullpb::PullProgress::RESOLVING:
      out.kind = PullProgress::Kind::kResolving;
      break;
    case pullpb::PullProgress::DOWNLOADING:
      out.kind = PullProgress::Kind::kDownloading;
      break;
    case pullpb::PullProgress::VERIFYING:
      out.kind = PullProgress::Kind::kVerifying;
      break;
    case pullpb::PullProgress::DONE:
      out.kind = PullProgress::Kind::kDone;
      break;
    case pullpb::PullProgress::EXISTS:
      out.kind = PullProgress::Kind::kExists;
      break;
    case pullpb::PullProgress::UNPACKING:
      out.kind = PullProgress::Kind::kUnpacking;
      break;
    case pullpb::PullProgress::UNPACKED:
      out.kind = PullProgress::Kind::kUnpacked;
      break;
    default:
      break;
  }
  out.ref = p.ref();
  out.digest = p.digest();
  out.media_type = p.media_type();
  out.role = p.role();
  out.offset = p.offset();
  out.total = p.total();
  out.snapshot = p.snapshot();
  if (p.has_image()) out.image = p.image().name();
  return out;
}

}  // namespace

absl::StatusOr<Image> Client::Pull(const std::string& ref, std::vector<PullOpt> opts) const {
  RETURN_IF_ERROR(AddressStatus());
  PullConfig config;
  for (const PullOpt& o : opts) {
    if (o) RETURN_IF_ERROR(o(&config));
  }
  ASSIGN_OR_RETURN(reference::Reference parsed, reference::Reference::ParseNormalized(ref));
  const std::string name = parsed.String();
  if (!config.platform.empty()) RETURN_IF_ERROR(platforms::Parse(config.platform).status());

  // berth.image.v1.Pull.
  {
    pullpb::PullRequest req;
    req.set_ref(name);
    if (!config.platform.empty()) req.add_platforms(config.platform);
    req.set_all_platforms(config.all_platforms);
    req.set_unpack(config.unpack);
    req.set_snapshotter(config.snapshotter);
    req.mutable_labels()->insert(config.labels.begin(), config.labels.end());
    for (const std::string& d : config.hosts_dirs) req.add_hosts_dirs(d);
    req.set_plain_http(config.plain_http);
    if (!config.username.empty() || !config.password.empty()) {
      req.mutable_credentials()->set_username(config.username);
      req.mutable_credentials()->set_password(config.password);
    }
    auto ctx = NewCallContext(/*stream=*/true);
    auto reader = conn_->pull->Pull(ctx.get(), req);
    pullpb::PullProgress msg;
    std::optional<ImageRecord> record;
    while (reader->Read(&msg)) {
      if (msg.has_image()) record = msg.image();
      if (config.progress) config.progress(FromProto(msg));
    }
    grpc::Status st = reader->Finish();
    if (st.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
      RETURN_IF_ERROR(RpcStatus(st, fmt::format("pull {:?}", name)));
      if (!record) {
        ASSIGN_OR_RETURN(ImageRecord r, Images().Get(name));
        record = std::move(r);
      }
      return Image(*this, *std::move(record), config.platform);
    }
  }

  // containerd's Transfer.
  platforms::Platform platform = platforms::DefaultPlatform();
  if (!config.platform.empty()) {
    ASSIGN_OR_RETURN(platform, platforms::Parse(config.platform));
    platform = platforms::Normalize(platform);
  }
  std::string snapshotter = config.snapshotter;
  if (config.unpack && snapshotter.empty()) {
    ASSIGN_OR_RETURN(snapshotter, DefaultSnapshotter());
  }
  Encoder resolver;
  if (!config.hosts_dirs.empty()) resolver.String(3, config.hosts_dirs[0]);
  if (config.plain_http) resolver.String(4, "http");
  Encoder source;
  source.String(1, name);
  std::string resolver_bytes = resolver.Take();
  if (!resolver_bytes.empty()) source.Bytes(2, resolver_bytes);
  Encoder dest;
  dest.String(1, name);
  for (const auto& [k, v] : config.labels) {
    Encoder entry;
    entry.String(1, k);
    entry.String(2, v);
    dest.Bytes(2, entry.Take());
  }
  if (!config.all_platforms) dest.Bytes(3, PlatformBytes(platform));
  if (config.unpack) {
    Encoder unpack;
    unpack.Bytes(1, PlatformBytes(platform));
    unpack.String(2, snapshotter);
    dest.Bytes(10, unpack.Take());
  }
  containerd::services::transfer::v1::TransferRequest req;
  req.mutable_source()->set_type_url(kOCIRegistryType);
  req.mutable_source()->set_value(source.Take());
  req.mutable_destination()->set_type_url(kImageStoreType);
  req.mutable_destination()->set_value(dest.Take());
  google::protobuf::Empty resp;
  auto ctx = NewCallContext(/*stream=*/true);
  grpc::Status st = conn_->transfer->Transfer(ctx.get(), req, &resp);
  if (st.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    return UnimplementedError(fmt::format(
        "pull {:?}: the server has no server-side pull (neither berth.image.v1.Pull nor "
        "containerd.services.transfer.v1.Transfer: {}); import the image instead "
        "(Client::Import, `berth images import`)",
        name, st.error_message()));
  }
  RETURN_IF_ERROR(RpcStatus(st, fmt::format("pull {:?}", name)));
  ASSIGN_OR_RETURN(Image image, GetImage(name));
  return image.ForPlatform(config.platform);
}

}  // namespace berth
