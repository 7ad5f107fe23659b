// DecodeTransferPull: containerd's transfer Anys (OCIRegistry -> ImageStore) as berth's client
// library and containerd's encode them, read into a pull request; other transfers and broken
// payloads refused.
#include "services/image/server/transfer_service.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include <string>

#include "lib/testing/status_matchers.h"

namespace berth::image {
namespace {

namespace transferpb = containerd::services::transfer::v1;

// Length-delimited fields, as protobuf writes them.
class Encoder {
 public:
  Encoder& Bytes(int field, const std::string& value) {
    google::protobuf::io::StringOutputStream raw(&out_);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.WriteTag(static_cast<uint32_t>(field << 3 | 2));
    coded.WriteVarint32(static_cast<uint32_t>(value.size()));
    coded.WriteString(value);
    return *this;
  }
  Encoder& Varint(int field, uint64_t value) {
    google::protobuf::io::StringOutputStream raw(&out_);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.WriteTag(static_cast<uint32_t>(field << 3));
    coded.WriteVarint64(value);
    return *this;
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string Platform(const std::string& os, const std::string& arch,
                     const std::string& variant = "") {
  Encoder e;
  e.Bytes(1, os).Bytes(2, arch);
  if (!variant.empty()) e.Bytes(3, variant);
  return e.Take();
}

transferpb::TransferRequest Request(const std::string& source, const std::string& dest) {
  transferpb::TransferRequest req;
  req.mutable_source()->set_type_url(kOciRegistryType);
  req.mutable_source()->set_value(source);
  req.mutable_destination()->set_type_url(kImageStoreType);
  req.mutable_destination()->set_value(dest);
  return req;
}

TEST(TransferServiceTest, DecodesAPullFromARegistryToTheImageStore) {
  std::string resolver = Encoder().Bytes(3, "/etc/certs.d").Bytes(4, "http").Take();
  std::string source =
      Encoder().Bytes(1, "docker.io/library/busybox:latest").Bytes(2, resolver).Take();
  std::string unpack = Encoder().Bytes(1, Platform("linux", "arm", "v7")).Bytes(2, "native").Take();
  std::string dest = Encoder()
                         .Bytes(1, "busybox")
                         .Bytes(2, Encoder().Bytes(1, "k").Bytes(2, "v").Take())
                         .Bytes(3, Platform("linux", "arm", "v7"))
                         .Varint(4, 1)  // all_metadata: ignored
                         .Bytes(10, unpack)
                         .Take();
  ASSERT_OK_AND_ASSIGN(pull::PullRequest r, DecodeTransferPull(Request(source, dest)));
  EXPECT_EQ(r.ref, "docker.io/library/busybox:latest");
  EXPECT_EQ(r.name, "busybox");
  EXPECT_EQ(r.labels, (std::map<std::string, std::string>{{"k", "v"}}));
  EXPECT_EQ(r.platforms, std::vector<std::string>{"linux/arm/v7"});
  EXPECT_TRUE(r.unpack);
  EXPECT_EQ(r.snapshotter, "native");
  EXPECT_EQ(r.hosts_dirs, std::vector<std::string>{"/etc/certs.d"});
  EXPECT_TRUE(r.plain_http);

  // Minimal: a reference only; no unpack.
  ASSERT_OK_AND_ASSIGN(r, DecodeTransferPull(Request(Encoder().Bytes(1, "busybox").Take(), "")));
  EXPECT_EQ(r.ref, "busybox");
  EXPECT_FALSE(r.unpack);
  EXPECT_TRUE(r.platforms.empty());
  EXPECT_TRUE(r.name.empty());
  // Unpack platforms stand in for missing image store platforms.
  ASSERT_OK_AND_ASSIGN(
      r, DecodeTransferPull(Request(
             Encoder().Bytes(1, "busybox").Take(),
             Encoder().Bytes(10, Encoder().Bytes(1, Platform("linux", "amd64")).Take()).Take())));
  EXPECT_EQ(r.platforms, std::vector<std::string>{"linux/amd64"});
  EXPECT_TRUE(r.unpack);
  EXPECT_TRUE(r.snapshotter.empty());
}

TEST(TransferServiceTest, RefusesOtherTransfersAndBrokenPayloads) {
  transferpb::TransferRequest req = Request(Encoder().Bytes(1, "busybox").Take(), "");
  req.mutable_source()->set_type_url("containerd.types.transfer.ImageImportStream");
  EXPECT_TRUE(IsUnimplemented(DecodeTransferPull(req).status()));
  req = Request(Encoder().Bytes(1, "busybox").Take(), "");
  req.mutable_destination()->set_type_url("containerd.types.transfer.OCIRegistry");
  EXPECT_TRUE(IsUnimplemented(DecodeTransferPull(req).status()));
  // No reference.
  EXPECT_TRUE(IsInvalidArgument(DecodeTransferPull(Request("", "")).status()));
  // Truncated: a length longer than the data.
  std::string broken = Encoder().Bytes(1, "busybox").Take();
  broken.resize(broken.size() - 2);
  absl::Status s = DecodeTransferPull(Request(broken, "")).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("OCIRegistry"), absl::string_view::npos) << s;
  s = DecodeTransferPull(Request(Encoder().Bytes(1, "busybox").Take(), "\xff\xff\xff")).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
}

}  // namespace
}  // namespace berth::image
