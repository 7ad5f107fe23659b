// containerd's names and labels as the pull computes them: ingest refs, children GC labels,
// distribution sources, chain IDs, unpack keys, image config parsing (good and bad input).
#include "services/image/pull/labels.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "lib/testing/status_matchers.h"
#include "services/image/remotes/media_types.h"

namespace berth::image::pull {
namespace {

remotes::Descriptor Desc(std::string_view media_type, std::string_view data) {
  remotes::Descriptor d;
  d.media_type = std::string(media_type);
  d.digest = digest::FromBytes(data);
  d.size = static_cast<int64_t>(data.size());
  return d;
}

TEST(LabelsTest, RolesAndIngestRefsAreContainerds) {
  EXPECT_EQ(RoleOf(remotes::kOciIndex), "index");
  EXPECT_EQ(RoleOf(remotes::kDockerManifestList), "index");
  EXPECT_EQ(RoleOf(remotes::kOciManifest), "manifest");
  EXPECT_EQ(RoleOf(remotes::kDockerManifest), "manifest");
  EXPECT_EQ(RoleOf(remotes::kOciConfig), "config");
  EXPECT_EQ(RoleOf(remotes::kDockerConfig), "config");
  EXPECT_EQ(RoleOf(remotes::kOciLayerGzip), "layer");
  EXPECT_EQ(RoleOf(remotes::kDockerLayerGzip), "layer");
  EXPECT_EQ(RoleOf("application/octet-stream"), "unknown");

  remotes::Descriptor layer = Desc(remotes::kOciLayerGzip, "x");
  EXPECT_EQ(IngestRef(layer), "layer-" + layer.digest.ToString());
  remotes::Descriptor manifest = Desc(remotes::kOciManifest, "m");
  manifest.annotations["org.opencontainers.image.ref.name"] = "1.0";
  EXPECT_EQ(IngestRef(manifest), "manifest-1.0@" + manifest.digest.ToString());
}

TEST(LabelsTest, ManifestChildrenGetConfigAndNumberedLayers) {
  remotes::Descriptor config = Desc(remotes::kOciConfig, "c");
  remotes::Descriptor l0 = Desc(remotes::kOciLayerGzip, "l0");
  remotes::Descriptor l1 = Desc(remotes::kOciLayer, "l1");
  auto labels = ChildGcLabels({config, l0, l1});
  EXPECT_EQ(labels, (std::map<std::string, std::string>{
                        {"containerd.io/gc.ref.content.config", config.digest.ToString()},
                        {"containerd.io/gc.ref.content.l.0", l0.digest.ToString()},
                        {"containerd.io/gc.ref.content.l.1", l1.digest.ToString()},
                    }));
}

TEST(LabelsTest, IndexChildrenAreNumberedPerKind) {
  remotes::Descriptor m0 = Desc(remotes::kOciManifest, "m0");
  remotes::Descriptor m1 = Desc(remotes::kDockerManifest, "m1");
  remotes::Descriptor nested = Desc(remotes::kOciIndex, "i");
  remotes::Descriptor other = Desc("application/vnd.example+json", "o");
  auto labels = ChildGcLabels({m0, nested, m1, other});
  // containerd's ChildGCLabels: only image manifests are "m."; an index and anything else is
  // the generic "containerd.io/gc.ref.content.<i>".
  EXPECT_EQ(labels, (std::map<std::string, std::string>{
                        {"containerd.io/gc.ref.content.m.0", m0.digest.ToString()},
                        {"containerd.io/gc.ref.content.m.1", m1.digest.ToString()},
                        {"containerd.io/gc.ref.content.0", nested.digest.ToString()},
                        {"containerd.io/gc.ref.content.1", other.digest.ToString()},
                    }));
  // A second config (not in a real manifest) gets a number, as SetChildrenMappedLabels does.
  remotes::Descriptor c0 = Desc(remotes::kOciConfig, "c0");
  remotes::Descriptor c1 = Desc(remotes::kOciConfig, "c1");
  labels = ChildGcLabels({c0, c1});
  EXPECT_EQ(labels["containerd.io/gc.ref.content.config"], c0.digest.ToString());
  EXPECT_EQ(labels["containerd.io/gc.ref.content.config1"], c1.digest.ToString());
  EXPECT_TRUE(ChildGcLabels({}).empty());
}

TEST(LabelsTest, DistributionSourceDropsThePort) {
  ASSERT_OK_AND_ASSIGN(DistributionSource s,
                       DistributionSourceOf("127.0.0.1:5000/test/busybox:1.0"));
  EXPECT_EQ(s.host, "127.0.0.1");
  EXPECT_EQ(s.repository, "test/busybox");
  EXPECT_EQ(s.LabelKey(), "containerd.io/distribution.source.127.0.0.1");
  ASSERT_OK_AND_ASSIGN(s, DistributionSourceOf("busybox"));
  EXPECT_EQ(s.host, "docker.io");
  EXPECT_EQ(s.repository, "library/busybox");
  ASSERT_OK_AND_ASSIGN(s, DistributionSourceOf("[::1]:5000/a/b@sha256:" + std::string(64, 'a')));
  EXPECT_EQ(s.host, "::1");
  EXPECT_EQ(s.repository, "a/b");
  EXPECT_TRUE(IsInvalidArgument(DistributionSourceOf("docker.io/a/UPPER").status()));
  EXPECT_TRUE(IsInvalidArgument(DistributionSourceOf("").status()));
}

TEST(LabelsTest, DistributionSourceValuesAreSortedSets) {
  EXPECT_EQ(AppendDistributionSource("", "test/b"), "test/b");
  EXPECT_EQ(AppendDistributionSource("test/b", "test/a"), "test/a,test/b");
  EXPECT_EQ(AppendDistributionSource("test/a,test/b", "test/a"), "test/a,test/b");
  EXPECT_EQ(AppendDistributionSource(",x,,", ""), "x");
}

TEST(LabelsTest, ChainIds) {
  ASSERT_OK_AND_ASSIGN(digest::Digest a, digest::Digest::Parse("sha256:" + std::string(64, 'a')));
  ASSERT_OK_AND_ASSIGN(digest::Digest b, digest::Digest::Parse("sha256:" + std::string(64, 'b')));
  std::vector<digest::Digest> chain = ChainIds({a, b, a});
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[0], a);
  EXPECT_EQ(chain[1], digest::FromBytes(a.ToString() + " " + b.ToString()));
  EXPECT_EQ(chain[2], digest::FromBytes(chain[1].ToString() + " " + a.ToString()));
  EXPECT_TRUE(ChainIds({}).empty());
}

TEST(LabelsTest, UnpackKeysAreUniqueAndShapedLikeContainerds) {
  ASSERT_OK_AND_ASSIGN(digest::Digest a, digest::Digest::Parse("sha256:" + std::string(64, 'a')));
  const std::regex shape("extract-[0-9]+-[A-Za-z0-9_-]{4} sha256:a{64}");
  std::set<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    std::string key = UnpackKey(a);
    EXPECT_TRUE(std::regex_match(key, shape)) << key;
    keys.insert(key);
  }
  EXPECT_GT(keys.size(), 90u);
}

TEST(LabelsTest, ParsesImageConfig) {
  const std::string d1 = "sha256:" + std::string(64, '1');
  const std::string d2 = "sha256:" + std::string(64, '2');
  ASSERT_OK_AND_ASSIGN(ImageConfig c,
                       ParseImageConfig(R"({"architecture":"arm64","os":"linux","variant":"v8",)"
                                        R"("rootfs":{"type":"layers","diff_ids":[")" +
                                        d1 + R"(",")" + d2 + R"("]}})"));
  EXPECT_EQ(c.os, "linux");
  EXPECT_EQ(c.architecture, "arm64");
  EXPECT_EQ(c.variant, "v8");
  ASSERT_EQ(c.diff_ids.size(), 2u);
  EXPECT_EQ(c.diff_ids[0].ToString(), d1);
  EXPECT_EQ(c.diff_ids[1].ToString(), d2);
  // No rootfs: no layers.
  ASSERT_OK_AND_ASSIGN(c, ParseImageConfig("{}"));
  EXPECT_TRUE(c.diff_ids.empty());
}

TEST(LabelsTest, RefusesBadImageConfigsNamingTheField) {
  for (const auto& [text, field] : std::vector<std::pair<std::string, std::string>>{
           {"not json", "not a JSON object"},
           {"[]", "not a JSON object"},
           {R"({"os": 1})", "os"},
           {R"({"rootfs": []})", "rootfs"},
           {R"({"rootfs": {"type": "other"}})", "rootfs.type"},
           {R"({"rootfs": {"diff_ids": "x"}})", "rootfs.diff_ids"},
           {R"({"rootfs": {"diff_ids": [1]}})", "rootfs.diff_ids[0]"},
           {R"({"rootfs": {"diff_ids": ["sha256:abc"]}})", "rootfs.diff_ids[0]"},
           {R"({"rootfs": {"diff_ids": ["md5:abc"]}})", "rootfs.diff_ids[0]"},
       }) {
    absl::Status s = ParseImageConfig(text).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << text << " " << s;
    EXPECT_NE(s.message().find(field), absl::string_view::npos) << text << " " << s;
  }
}

}  // namespace
}  // namespace berth::image::pull
