#include "services/image/remotes/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "lib/digest/digest.h"
#include "lib/testing/status_matchers.h"
#include "nlohmann/json.hpp"
#include "services/image/remotes/media_types.h"

namespace berth::remotes {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string D(char c) { return "sha256:" + std::string(64, c); }

Json Desc(std::string media_type, char c, std::int64_t size) {
  return Json{{"mediaType", media_type}, {"digest", D(c)}, {"size", size}};
}

Json OciManifest() {
  return Json{{"schemaVersion", 2},
              {"mediaType", std::string(kOciManifest)},
              {"config", Desc(std::string(kOciConfig), 'a', 100)},
              {"layers", Json::array({Desc(std::string(kOciLayerGzip), 'b', 2000),
                                      Desc(std::string(kOciLayerGzip), 'c', 3000)})},
              {"annotations", {{"org.opencontainers.image.ref.name", "1.0"}}}};
}

Json PlatformEntry(char c, std::string os, std::string arch, std::string variant = "") {
  Json d = Desc(std::string(kOciManifest), c, 500);
  d["platform"] = {{"os", os}, {"architecture", arch}};
  if (!variant.empty()) d["platform"]["variant"] = variant;
  return d;
}

Json OciIndex(Json manifests) {
  return Json{{"schemaVersion", 2},
              {"mediaType", std::string(kOciIndex)},
              {"manifests", std::move(manifests)}};
}

TEST(MediaTypesTest, Predicates) {
  EXPECT_TRUE(IsIndexType(kOciIndex));
  EXPECT_TRUE(IsIndexType(kDockerManifestList));
  EXPECT_TRUE(IsManifestType("Application/VND.oci.image.manifest.v1+json; charset=utf-8"));
  EXPECT_FALSE(IsManifestType(kOciIndex));
  EXPECT_TRUE(IsSchema1Type(kDockerSchema1SignedManifest));
  EXPECT_TRUE(IsLayerType(kDockerForeignLayerGzip));
  EXPECT_TRUE(IsLayerType(kOciLayerZstd));
  EXPECT_FALSE(IsLayerType(kOciConfig));
  EXPECT_TRUE(IsConfigType(kDockerConfig));
  EXPECT_EQ(MediaTypeBase("  application/json ; q=1"), "application/json");
}

TEST(ManifestTest, ParsesOciManifest) {
  ASSERT_OK_AND_ASSIGN(Manifest m, ParseManifest(OciManifest().dump(), kOciManifest));
  EXPECT_EQ(m.media_type, kOciManifest);
  EXPECT_EQ(m.config.media_type, kOciConfig);
  EXPECT_EQ(m.config.digest.ToString(), D('a'));
  EXPECT_EQ(m.config.size, 100);
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.layers[1].digest.ToString(), D('c'));
  EXPECT_EQ(m.layers[1].size, 3000);
  EXPECT_EQ(m.annotations.at("org.opencontainers.image.ref.name"), "1.0");
}

TEST(ManifestTest, ParsesDockerManifestWithoutDeclaredType) {
  Json j = OciManifest();
  j["mediaType"] = std::string(kDockerManifest);
  j["config"]["mediaType"] = std::string(kDockerConfig);
  ASSERT_OK_AND_ASSIGN(Document doc, ParseDocument(j.dump()));
  EXPECT_EQ(doc.kind, Document::Kind::kManifest);
  EXPECT_EQ(doc.media_type, kDockerManifest);
  EXPECT_EQ(doc.manifest.layers.size(), 2u);
}

TEST(ManifestTest, DetectsKindFromFieldsWhenNothingIsDeclared) {
  Json j = OciIndex(Json::array({PlatformEntry('d', "linux", "amd64")}));
  j.erase("mediaType");
  ASSERT_OK_AND_ASSIGN(Document doc, ParseDocument(j.dump(), "application/json"));
  EXPECT_EQ(doc.kind, Document::Kind::kIndex);
  EXPECT_EQ(doc.media_type, kOciIndex);
  ASSERT_EQ(doc.index.manifests.size(), 1u);
  ASSERT_TRUE(doc.index.manifests[0].platform.has_value());
  EXPECT_EQ(doc.index.manifests[0].platform->architecture, "amd64");
}

TEST(ManifestTest, ParsesIndexPlatformDetails) {
  Json e = PlatformEntry('d', "windows", "amd64");
  e["platform"]["os.version"] = "10.0.17763.1";
  e["platform"]["os.features"] = Json::array({"win32k"});
  e["urls"] = Json::array({"https://example.com/x"});
  ASSERT_OK_AND_ASSIGN(Index index, ParseIndex(OciIndex(Json::array({e})).dump(), kOciIndex));
  const Descriptor& d = index.manifests[0];
  EXPECT_EQ(d.os_version, "10.0.17763.1");
  EXPECT_THAT(d.os_features, ::testing::ElementsAre("win32k"));
  EXPECT_THAT(d.urls, ::testing::ElementsAre("https://example.com/x"));
}

TEST(ManifestTest, RefusesSchema1ByMediaType) {
  Json j = {{"schemaVersion", 1}, {"name", "x"}, {"fsLayers", Json::array()}};
  absl::StatusOr<Document> doc = ParseDocument(j.dump(), kDockerSchema1SignedManifest);
  ASSERT_FALSE(doc.ok());
  EXPECT_TRUE(IsUnimplemented(doc.status()));
  EXPECT_THAT(std::string(doc.status().message()), HasSubstr("schema 1"));
  EXPECT_THAT(std::string(doc.status().message()), HasSubstr("not supported"));
}

TEST(ManifestTest, RefusesSchema1ByContent) {
  Json v1 = {{"schemaVersion", 1}, {"name", "x"}, {"tag", "latest"}};
  auto a = ParseDocument(v1.dump());
  EXPECT_TRUE(IsUnimplemented(a.status())) << a.status();
  Json layers = {{"schemaVersion", 2}, {"fsLayers", Json::array({{{"blobSum", D('a')}}})}};
  auto b = ParseManifest(layers.dump());
  EXPECT_TRUE(IsUnimplemented(b.status())) << b.status();
  Json typed = OciManifest();
  typed["mediaType"] = std::string(kDockerSchema1Manifest);
  auto c = ParseDocument(typed.dump());
  EXPECT_TRUE(IsUnimplemented(c.status())) << c.status();
}

TEST(ManifestTest, RefusesAmbiguousManifestAndIndex) {
  Json j = OciManifest();
  j["manifests"] = Json::array({PlatformEntry('d', "linux", "amd64")});
  for (std::string_view declared : {std::string_view(), kOciManifest, kOciIndex}) {
    auto doc = ParseDocument(j.dump(), declared);
    ASSERT_FALSE(doc.ok()) << declared;
    EXPECT_TRUE(IsInvalidArgument(doc.status()));
    EXPECT_THAT(std::string(doc.status().message()), HasSubstr("ambiguous"));
  }
  // "config" alone next to "manifests" is just as ambiguous.
  Json k = OciIndex(Json::array({PlatformEntry('d', "linux", "amd64")}));
  k["config"] = Desc(std::string(kOciConfig), 'a', 1);
  EXPECT_TRUE(IsInvalidArgument(ParseIndex(k.dump()).status()));
}

TEST(ManifestTest, RefusesKindContradictions) {
  // An index served as a manifest.
  Json index = OciIndex(Json::array({PlatformEntry('d', "linux", "amd64")}));
  auto a = ParseDocument(index.dump(), kOciManifest);
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("declared as"));
  // A body without mediaType whose fields say index, declared a manifest.
  index.erase("mediaType");
  auto b = ParseDocument(index.dump(), kDockerManifest);
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()), HasSubstr("found an index"));
  // ParseIndex on a manifest, ParseManifest on an index.
  EXPECT_TRUE(IsInvalidArgument(ParseIndex(OciManifest().dump()).status()));
  EXPECT_TRUE(IsInvalidArgument(ParseManifest(OciIndex(Json::array()).dump()).status()));
  // A layer media type is not a document.
  auto c = ParseDocument(OciManifest().dump(), kOciLayerGzip);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("not a manifest or an index"));
}

TEST(ManifestTest, CapsSize) {
  Json j = OciManifest();
  j["annotations"]["pad"] = std::string(kMaxManifestSize, 'x');
  auto m = ParseManifest(j.dump(), kOciManifest);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(IsInvalidArgument(m.status()));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("limit"));
  // Exactly at the limit is fine.
  std::string doc = OciManifest().dump();
  doc.append(static_cast<std::size_t>(kMaxManifestSize) - doc.size(), ' ');
  EXPECT_OK(ParseManifest(doc, kOciManifest));
}

TEST(ManifestTest, RefusesBadDescriptors) {
  struct Case {
    const char* name;
    Json config;
    const char* want;
  };
  std::vector<Case> cases = {
      {"negative size", Desc(std::string(kOciConfig), 'a', -1),
       "config.size: must be a non-negative integer"},
      {"float size", Json{{"mediaType", "x"}, {"digest", D('a')}, {"size", 1.5}},
       "config.size: must be a non-negative integer"},
      {"huge size", Json{{"mediaType", "x"}, {"digest", D('a')}, {"size", 18446744073709551615ull}},
       "config.size"},
      {"string size", Json{{"mediaType", "x"}, {"digest", D('a')}, {"size", "12"}}, "config.size"},
      {"no size", Json{{"mediaType", "x"}, {"digest", D('a')}}, "config.size: required"},
      {"no media type", Json{{"digest", D('a')}, {"size", 1}}, "config.mediaType: required"},
      {"bad digest", Json{{"mediaType", "x"}, {"digest", "sha256:abc"}, {"size", 1}},
       "config.digest: invalid digest"},
      {"md5 digest",
       Json{{"mediaType", "x"}, {"digest", "md5:d41d8cd98f00b204e9800998ecf8427e"}, {"size", 1}},
       "config.digest"},
      {"uppercase digest",
       Json{{"mediaType", "x"}, {"digest", "sha256:" + std::string(64, 'A')}, {"size", 1}},
       "config.digest"},
      {"not an object", Json::array(), "config: must be a descriptor object"},
      {"annotations of numbers",
       Json{{"mediaType", "x"}, {"digest", D('a')}, {"size", 1}, {"annotations", {{"k", 1}}}},
       "config.annotations.k: must be a string"},
  };
  for (const Case& c : cases) {
    Json j = OciManifest();
    j["config"] = c.config;
    auto m = ParseManifest(j.dump());
    ASSERT_FALSE(m.ok()) << c.name;
    EXPECT_TRUE(IsInvalidArgument(m.status())) << c.name << ": " << m.status();
    EXPECT_THAT(std::string(m.status().message()), HasSubstr(c.want)) << c.name;
  }
  Json j = OciManifest();
  j["layers"][1]["size"] = -5;
  auto m = ParseManifest(j.dump());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("layers[1].size"));
  Json no_config = OciManifest();
  no_config.erase("config");
  no_config["layers"] = Json::array();
  EXPECT_THAT(std::string(ParseManifest(no_config.dump(), kOciManifest).status().message()),
              HasSubstr("config: required"));
}

TEST(ManifestTest, RefusesBadDocuments) {
  EXPECT_TRUE(IsInvalidArgument(ParseDocument("").status()));
  EXPECT_TRUE(IsInvalidArgument(ParseDocument("{\"schemaVersion\":2,").status()));
  EXPECT_TRUE(IsInvalidArgument(ParseDocument("[1,2]").status()));
  EXPECT_TRUE(IsInvalidArgument(ParseDocument("{\"schemaVersion\":2}").status()));
  Json v3 = OciManifest();
  v3["schemaVersion"] = 3;
  EXPECT_THAT(std::string(ParseDocument(v3.dump()).status().message()),
              HasSubstr("schemaVersion: must be 2"));
  Json nov = OciManifest();
  nov.erase("schemaVersion");
  EXPECT_THAT(std::string(ParseDocument(nov.dump()).status().message()),
              HasSubstr("schemaVersion: required"));
  Json layers_obj = OciManifest();
  layers_obj["layers"] = Json::object();
  EXPECT_THAT(std::string(ParseManifest(layers_obj.dump()).status().message()),
              HasSubstr("layers: must be an array"));
  // Deep nesting (a hostile document within the size cap) is refused before any recursive
  // walk; brackets inside strings do not count.
  std::string deep =
      "{\"schemaVersion\":2,\"manifests\":[],\"annotations\":" + std::string(1000000, '[') +
      std::string(1000000, ']') + "}";
  auto d = ParseIndex(deep);
  EXPECT_TRUE(IsInvalidArgument(d.status()));
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("nested deeper"));
  Json brackets = OciIndex(Json::array());
  brackets["annotations"] = {{"k", std::string(100, '[') + "\\\"{{"}};
  EXPECT_OK(ParseIndex(brackets.dump()));
}

TEST(ManifestTest, ValidateAndVerify) {
  Descriptor d;
  EXPECT_TRUE(IsInvalidArgument(ValidateDescriptor(d)));
  d.media_type = std::string(kOciLayerGzip);
  EXPECT_TRUE(IsInvalidArgument(ValidateDescriptor(d)));
  d.digest = digest::FromBytes("hello");
  d.size = -1;
  EXPECT_THAT(std::string(ValidateDescriptor(d, "layer").message()),
              HasSubstr("size must not be negative"));
  d.size = 5;
  EXPECT_OK(ValidateDescriptor(d));

  EXPECT_OK(VerifyContent(d, "hello", "http://r/x"));
  absl::Status wrong = VerifyContent(d, "hellO", "http://r/x");
  EXPECT_TRUE(IsDataLoss(wrong));
  EXPECT_THAT(std::string(wrong.message()), HasSubstr(d.digest.ToString()));
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("http://r/x"));
  EXPECT_THAT(std::string(wrong.message()), HasSubstr(digest::FromBytes("hellO").ToString()));
  absl::Status short_read = VerifyContent(d, "hell", "http://r/x");
  EXPECT_TRUE(IsDataLoss(short_read));
  EXPECT_THAT(std::string(short_read.message()), HasSubstr("got 4 bytes, expected 5"));
}

std::vector<std::string> Digests(const std::vector<Descriptor>& ds) {
  std::vector<std::string> out;
  for (const Descriptor& d : ds) out.push_back(d.digest.ToString());
  return out;
}

TEST(SelectManifestsTest, ChoosesByPlatform) {
  Json entries =
      Json::array({PlatformEntry('1', "linux", "arm", "v6"), PlatformEntry('2', "linux", "amd64"),
                   PlatformEntry('3', "linux", "arm", "v7"), PlatformEntry('4', "linux", "arm64"),
                   PlatformEntry('5', "unknown", "unknown")});
  Json attestation = Desc("application/vnd.in-toto+json", '6', 10);
  attestation["platform"] = {{"os", "linux"}, {"architecture", "amd64"}};
  entries.push_back(attestation);
  entries.push_back(Desc(std::string(kOciManifest), '7', 10));  // no platform
  ASSERT_OK_AND_ASSIGN(Index index, ParseIndex(OciIndex(entries).dump()));

  platforms::Platform armv7{"linux", "arm", "v7"};
  EXPECT_THAT(Digests(SelectManifests(index, platforms::Only(armv7))),
              ::testing::ElementsAre(D('3'), D('1')));
  EXPECT_THAT(Digests(SelectManifests(index, platforms::Only(armv7), 1)),
              ::testing::ElementsAre(D('3')));
  EXPECT_THAT(Digests(SelectManifests(index, platforms::Only(armv7), 0, true)),
              ::testing::ElementsAre(D('3'), D('1'), D('7')));
  ASSERT_OK_AND_ASSIGN(platforms::Matcher two, MatcherFor({"linux/arm64", "linux/amd64"}));
  EXPECT_THAT(Digests(SelectManifests(index, two)), ::testing::ElementsAre(D('4'), D('2')));
  ASSERT_OK_AND_ASSIGN(platforms::Matcher all, MatcherFor({}, /*all=*/true));
  EXPECT_THAT(Digests(SelectManifests(index, all)),
              ::testing::ElementsAre(D('1'), D('2'), D('3'), D('4'), D('5')));
  platforms::Platform s390{"linux", "s390x", ""};
  EXPECT_TRUE(SelectManifests(index, platforms::Only(s390)).empty());
}

TEST(SelectManifestsTest, DefaultIsTheHost) {
  platforms::Platform host = platforms::DefaultPlatform();
  Json entries = Json::array({PlatformEntry('1', "linux", "riscv64"),
                              PlatformEntry('2', host.os, host.architecture, host.variant)});
  ASSERT_OK_AND_ASSIGN(Index index, ParseIndex(OciIndex(entries).dump()));
  ASSERT_OK_AND_ASSIGN(platforms::Matcher m, MatcherFor({}));
  std::vector<Descriptor> got = SelectManifests(index, m);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0].digest.ToString(), D('2'));
}

TEST(SelectManifestsTest, BadSpecifier) {
  auto m = MatcherFor({"linux/amd64", "not a platform/x/y/z"});
  EXPECT_TRUE(IsInvalidArgument(m.status()));
}

}  // namespace
}  // namespace berth::remotes
