// The in-memory OCI images: descriptors that match their bytes, JSON a registry and containerd
// accept, tars that read back (with libarchive's reader, independently of how they were
// written), deterministic output, and refusals for inconsistent input.
#include "lib/testing/oci_image.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lib/digest/digest.h"
#include "lib/testing/status_matchers.h"
#include "nlohmann/json.hpp"

namespace berth::testing {
namespace {

using json = nlohmann::json;

struct ReadEntry {
  std::string path;
  int type = 0;  // AE_IFREG, AE_IFDIR, AE_IFLNK
  std::string content;
  std::string symlink;
  int mode = 0;
};

// Reads a tar with libarchive's reader.
std::vector<ReadEntry> ReadTar(const std::string& tar) {
  std::vector<ReadEntry> out;
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  EXPECT_EQ(archive_read_open_memory(a, tar.data(), tar.size()), ARCHIVE_OK);
  struct archive_entry* entry;
  while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
    ReadEntry e;
    e.path = archive_entry_pathname(entry);
    e.type = static_cast<int>(archive_entry_filetype(entry));
    e.mode = static_cast<int>(archive_entry_perm(entry));
    if (archive_entry_symlink(entry) != nullptr) e.symlink = archive_entry_symlink(entry);
    EXPECT_EQ(archive_entry_uid(entry), 0);
    EXPECT_EQ(archive_entry_mtime(entry), 1704067200);
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof(buf))) > 0) e.content.append(buf, n);
    out.push_back(std::move(e));
  }
  archive_read_free(a);
  return out;
}

void ExpectBlob(const Blob& blob) {
  EXPECT_EQ(blob.digest, digest::FromBytes(blob.data).ToString());
  EXPECT_EQ(blob.size, static_cast<int64_t>(blob.data.size()));
  EXPECT_FALSE(blob.media_type.empty());
}

void ExpectDescriptor(const json& d, const Blob& blob) {
  EXPECT_EQ(d.at("mediaType"), blob.media_type);
  EXPECT_EQ(d.at("digest"), blob.digest);
  EXPECT_EQ(d.at("size"), blob.size);
}

// The manifest and config of `image` describe its blobs exactly.
void ExpectConsistent(const OciImage& image) {
  ExpectBlob(image.config);
  ExpectBlob(image.manifest);
  const json manifest = json::parse(image.manifest.data);
  EXPECT_EQ(manifest.at("schemaVersion"), 2);
  EXPECT_EQ(manifest.at("mediaType"), image.manifest.media_type);
  ExpectDescriptor(manifest.at("config"), image.config);
  ASSERT_EQ(manifest.at("layers").size(), image.layers.size());
  const json config = json::parse(image.config.data);
  EXPECT_EQ(config.at("architecture"), image.architecture);
  EXPECT_EQ(config.at("os"), image.os);
  EXPECT_EQ(config.at("rootfs").at("type"), "layers");
  ASSERT_EQ(config.at("rootfs").at("diff_ids").size(), image.layers.size());
  for (size_t i = 0; i < image.layers.size(); ++i) {
    const Layer& l = image.layers[i];
    ExpectBlob(l.blob);
    ExpectDescriptor(manifest.at("layers")[i], l.blob);
    EXPECT_EQ(config.at("rootfs").at("diff_ids")[i], l.diff_id);
    std::string tar = l.blob.data;
    if (l.blob.media_type != kOciLayerType) {
      ASSERT_OK_AND_ASSIGN(tar, Gunzip(l.blob.data));
    }
    EXPECT_EQ(digest::FromBytes(tar).ToString(), l.diff_id);
    EXPECT_EQ(static_cast<int64_t>(tar.size()), l.tar_size);
  }
}

TEST(OciImageTest, BusyboxImageIsConsistentAndRunnable) {
  ASSERT_OK_AND_ASSIGN(OciImage image, BusyboxImage());
  ExpectConsistent(image);
  EXPECT_EQ(image.manifest.media_type, kOciManifestType);
  EXPECT_EQ(image.config.media_type, kOciConfigType);
  ASSERT_EQ(image.layers.size(), 1u);
  EXPECT_EQ(image.layers[0].blob.media_type, kOciLayerGzipType);
  ASSERT_OK_AND_ASSIGN(std::string tar, Gunzip(image.layers[0].blob.data));
  std::vector<ReadEntry> entries = ReadTar(tar);
  std::map<std::string, ReadEntry> by_path;
  for (ReadEntry& e : entries) by_path[e.path] = e;
  ASSERT_TRUE(by_path.count("bin/busybox"));
  EXPECT_EQ(by_path["bin/busybox"].type, AE_IFREG);
  EXPECT_EQ(by_path["bin/busybox"].mode, 0755);
  EXPECT_GT(by_path["bin/busybox"].content.size(), 100000u);
  EXPECT_EQ(by_path["bin/busybox"].content.substr(0, 4),
            "\x7f"
            "ELF");
  for (const char* applet : {"bin/sh", "bin/echo", "bin/true", "bin/sleep", "bin/cat", "bin/ls"}) {
    ASSERT_TRUE(by_path.count(applet)) << applet;
    EXPECT_EQ(by_path[applet].type, AE_IFLNK);
    EXPECT_EQ(by_path[applet].symlink, "busybox");
  }
  EXPECT_EQ(by_path["bin/"].type, AE_IFDIR);
  EXPECT_EQ(by_path["etc/passwd"].content, "root:x:0:0:root:/root:/bin/sh\n");
  const json config = json::parse(image.config.data);
  EXPECT_EQ(config.at("config").at("Cmd"), json::array({"/bin/sh"}));
  // One layer: the chain ID is the diff ID.
  EXPECT_EQ(image.ChainIds(), image.DiffIds());
  EXPECT_EQ(image.ManifestBlobs().size(), 2u);
}

TEST(OciImageTest, BuildsAreDeterministic) {
  ASSERT_OK_AND_ASSIGN(OciImage a, WhiteoutImage());
  ASSERT_OK_AND_ASSIGN(OciImage b, WhiteoutImage());
  EXPECT_EQ(a.manifest.digest, b.manifest.digest);
  EXPECT_EQ(a.manifest.data, b.manifest.data);
  for (size_t i = 0; i < a.layers.size(); ++i)
    EXPECT_EQ(a.layers[i].blob.data, b.layers[i].blob.data);
}

TEST(OciImageTest, WhiteoutImageLayers) {
  ASSERT_OK_AND_ASSIGN(OciImage image, WhiteoutImage());
  ExpectConsistent(image);
  ASSERT_EQ(image.layers.size(), 3u);
  EXPECT_EQ(image.layers[0].blob.media_type, kOciLayerGzipType);
  EXPECT_EQ(image.layers[1].blob.media_type, kOciLayerGzipType);
  // The last one is a plain tar.
  EXPECT_EQ(image.layers[2].blob.media_type, kOciLayerType);
  EXPECT_EQ(image.layers[2].blob.digest, image.layers[2].diff_id);

  ASSERT_OK_AND_ASSIGN(std::string tar, Gunzip(image.layers[1].blob.data));
  std::vector<std::string> paths;
  for (const ReadEntry& e : ReadTar(tar)) paths.push_back(e.path);
  // Directories carry a trailing '/' as in tars made by tar(1) and Docker.
  EXPECT_EQ(paths, (std::vector<std::string>{"etc/", "etc/.wh.gone", "etc/added", "opaque/",
                                             "opaque/.wh..wh..opq", "opaque/new", ".wh.olddir"}));
  // containerd's chain IDs.
  std::vector<std::string> chain = image.ChainIds();
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[0], image.layers[0].diff_id);
  EXPECT_EQ(chain[1],
            digest::FromBytes(image.layers[0].diff_id + " " + image.layers[1].diff_id).ToString());
  EXPECT_EQ(chain[2], digest::FromBytes(chain[1] + " " + image.layers[2].diff_id).ToString());
  // The well-known chain ID of a known pair, computed by hand:
  //   printf 'sha256:%064d sha256:%064d' 0 0 | sha256sum
  OciImage two;
  two.layers.resize(2);
  two.layers[0].diff_id = "sha256:" + std::string(64, '0');
  two.layers[1].diff_id = "sha256:" + std::string(64, '0');
  EXPECT_EQ(two.ChainIds()[1],
            "sha256:1c549100e455eee76a4725b64270b19d7fa7aea704960d46363fffa8732d51b8");
}

TEST(OciImageTest, DockerMediaTypes) {
  ImageOptions options;
  options.media_types = MediaTypes::kDocker;
  ASSERT_OK_AND_ASSIGN(OciImage image, WhiteoutImage(options));
  ExpectConsistent(image);
  EXPECT_EQ(image.manifest.media_type, kDockerManifestType);
  EXPECT_EQ(image.config.media_type, kDockerConfigType);
  for (const Layer& l : image.layers) EXPECT_EQ(l.blob.media_type, kDockerLayerGzipType);
  ASSERT_OK_AND_ASSIGN(OciIndex list, MultiPlatformIndex(MediaTypes::kDocker));
  EXPECT_EQ(list.index.media_type, kDockerListType);
  EXPECT_EQ(json::parse(list.index.data).at("mediaType"), kDockerListType);
}

TEST(OciImageTest, MultiPlatformIndex) {
  ASSERT_OK_AND_ASSIGN(OciIndex index, MultiPlatformIndex());
  ExpectBlob(index.index);
  EXPECT_EQ(index.index.media_type, kOciIndexType);
  ASSERT_EQ(index.images.size(), 2u);
  const json doc = json::parse(index.index.data);
  ASSERT_EQ(doc.at("manifests").size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    ExpectConsistent(index.images[i]);
    ExpectDescriptor(doc.at("manifests")[i], index.images[i].manifest);
    EXPECT_EQ(doc.at("manifests")[i].at("platform").at("os"), "linux");
    EXPECT_EQ(doc.at("manifests")[i].at("platform").at("architecture"),
              index.images[i].architecture);
  }
  const OciImage* amd64 = index.Find("linux", "amd64");
  const OciImage* arm64 = index.Find("linux", "arm64");
  ASSERT_NE(amd64, nullptr);
  ASSERT_NE(arm64, nullptr);
  EXPECT_EQ(index.Find("linux", "s390x"), nullptr);
  // Same layer bytes, different configs and manifests.
  EXPECT_EQ(amd64->layers[0].blob.digest, arm64->layers[0].blob.digest);
  EXPECT_NE(amd64->config.digest, arm64->config.digest);
  EXPECT_NE(amd64->manifest.digest, arm64->manifest.digest);
  // And none of them is the plain busybox image's.
  ASSERT_OK_AND_ASSIGN(OciImage busybox, BusyboxImage());
  EXPECT_EQ(busybox.layers[0].blob.digest, amd64->layers[0].blob.digest);
  EXPECT_NE(busybox.config.digest, amd64->config.digest);
  EXPECT_NE(busybox.manifest.digest, amd64->manifest.digest);
}

TEST(OciImageTest, BadInputIsRefused) {
  EXPECT_TRUE(IsInvalidArgument(BuildTar({TarEntry::File("/abs", "x")}).status()));
  EXPECT_TRUE(IsInvalidArgument(BuildTar({TarEntry::File("", "x")}).status()));
  EXPECT_TRUE(IsInvalidArgument(
      MakeLayer({TarEntry::File("a", "x")}, MediaTypes::kDocker, Compression::kNone).status()));
  EXPECT_TRUE(IsInvalidArgument(MakeImage({}).status()));
  ASSERT_OK_AND_ASSIGN(Layer docker_layer,
                       MakeLayer({TarEntry::File("a", "x")}, MediaTypes::kDocker));
  // A Docker layer in an OCI image.
  EXPECT_TRUE(IsInvalidArgument(MakeImage({docker_layer}).status()));
  ASSERT_OK_AND_ASSIGN(OciImage oci, BusyboxImage());
  EXPECT_TRUE(IsInvalidArgument(MakeIndex({oci}, MediaTypes::kDocker).status()));
  EXPECT_TRUE(IsInvalidArgument(MakeIndex({}).status()));
  EXPECT_TRUE(IsInvalidArgument(Gunzip("not gzip").status()));
  ASSERT_OK_AND_ASSIGN(std::string gz, Gzip("hello"));
  EXPECT_TRUE(IsInvalidArgument(Gunzip(gz.substr(0, gz.size() - 4)).status()));
  ASSERT_OK_AND_ASSIGN(std::string back, Gunzip(gz));
  EXPECT_EQ(back, "hello");
}

TEST(OciImageTest, WhiteoutHelpers) {
  EXPECT_EQ(TarEntry::Whiteout("etc/gone").path, "etc/.wh.gone");
  EXPECT_EQ(TarEntry::Whiteout("top").path, ".wh.top");
  EXPECT_EQ(TarEntry::Opaque("a/b").path, "a/b/.wh..wh..opq");
  EXPECT_EQ(TarEntry::Opaque("a/b").type, TarEntry::Type::kFile);
}

}  // namespace
}  // namespace berth::testing
