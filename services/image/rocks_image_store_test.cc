// RocksImageStore: every code of the image::Store contract, filters, field masks, namespace
// isolation, persistence across a reopen, and the key schema.
#include "services/image/rocks_image_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/image/schema.h"

namespace berth::image {
namespace {

constexpr char kIndexType[] = "application/vnd.oci.image.index.v1+json";
constexpr char kManifestType[] = "application/vnd.oci.image.manifest.v1+json";
const std::string kDigestA = "sha256:" + std::string(64, 'a');
const std::string kDigestB = "sha256:" + std::string(64, 'b');

Image Make(const std::string& name, const std::string& digest = kDigestA) {
  Image image;
  image.set_name(name);
  image.mutable_target()->set_media_type(kIndexType);
  image.mutable_target()->set_digest(digest);
  image.mutable_target()->set_size(1234);
  (*image.mutable_target()->mutable_annotations())["org.opencontainers.image.ref.name"] = "1.0";
  (*image.mutable_labels())["app"] = "web";
  return image;
}

std::vector<std::string> Names(const std::vector<Image>& images) {
  std::vector<std::string> out;
  for (const Image& i : images) out.push_back(i.name());
  return out;
}

class RocksImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    store_.reset();
    db_.reset();
    store::Options options;
    options.schema_version = schema::kSchemaVersion;
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta"), options));
    RocksImageStoreOptions store_options;
    store_options.now = [this] { return now_; };
    store_ = std::make_unique<RocksImageStore>(db_.get(), store_options);
  }

  std::vector<std::string> ListNames(const std::vector<std::string>& filters,
                                     const CallContext* call = nullptr) {
    absl::StatusOr<std::vector<Image>> list = store_->List(call ? *call : call_, filters);
    EXPECT_OK(list);
    if (!list.ok()) return {};
    return Names(*list);
  }

  testing::TempDir dir_{"bris"};
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<RocksImageStore> store_;
  std::chrono::system_clock::time_point now_ =
      std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  CallContext call_ = CallContext::Background("default");
};

TEST_F(RocksImageStoreTest, CreateGetDeleteWithTimestamps) {
  Image in = Make("docker.io/library/busybox:1.36");
  // Go's zero time from the client is ignored: the store stamps its own.
  in.mutable_created_at()->set_seconds(-62135596800);
  in.mutable_updated_at()->set_seconds(-62135596800);
  ASSERT_OK_AND_ASSIGN(Image created, store_->Create(call_, in));
  EXPECT_EQ(created.created_at().seconds(), 1700000000);
  EXPECT_EQ(created.updated_at().seconds(), 1700000000);
  EXPECT_EQ(created.name(), "docker.io/library/busybox:1.36");

  ASSERT_OK_AND_ASSIGN(Image got, store_->Get(call_, "docker.io/library/busybox:1.36"));
  EXPECT_EQ(got.SerializeAsString(), created.SerializeAsString());
  EXPECT_EQ(got.target().media_type(), kIndexType);
  EXPECT_EQ(got.target().digest(), kDigestA);
  EXPECT_EQ(got.target().size(), 1234);
  EXPECT_EQ(got.target().annotations().at("org.opencontainers.image.ref.name"), "1.0");
  EXPECT_EQ(got.labels().at("app"), "web");

  ASSERT_OK(store_->Delete(call_, "docker.io/library/busybox:1.36"));
  absl::Status s = store_->Get(call_, "docker.io/library/busybox:1.36").status();
  EXPECT_TRUE(IsNotFound(s)) << s;
  EXPECT_EQ(s.message(), "image \"docker.io/library/busybox:1.36\": not found");
  EXPECT_TRUE(ListNames({}).empty());
}

TEST_F(RocksImageStoreTest, CreateOfAnExistingNameIsAlreadyExists) {
  ASSERT_OK(store_->Create(call_, Make("a")).status());
  absl::Status s = store_->Create(call_, Make("a", kDigestB)).status();
  EXPECT_TRUE(IsAlreadyExists(s)) << s;
  EXPECT_EQ(s.message(), "image \"a\": already exists");
  // The first record is untouched.
  ASSERT_OK_AND_ASSIGN(Image got, store_->Get(call_, "a"));
  EXPECT_EQ(got.target().digest(), kDigestA);
}

TEST_F(RocksImageStoreTest, UnknownNamesAreNotFound) {
  EXPECT_TRUE(IsNotFound(store_->Get(call_, "nope").status()));
  EXPECT_TRUE(IsNotFound(store_->Delete(call_, "nope")));
  absl::Status s = store_->Update(call_, Make("nope"), {}).status();
  EXPECT_TRUE(IsNotFound(s)) << s;
  s = store_->Update(call_, Make("nope"), {"labels.app"}).status();
  EXPECT_TRUE(IsNotFound(s)) << s;
  // Update never creates.
  EXPECT_TRUE(IsNotFound(store_->Get(call_, "nope").status()));
}

TEST_F(RocksImageStoreTest, BadNamesAreInvalidArgument) {
  const std::vector<std::string> bad = {"",
                                        std::string(kMaxNameLength + 1, 'x'),
                                        "with\nnewline",
                                        std::string("nul\0x", 5),
                                        "tab\tname",
                                        "del\x7f",
                                        "bad-utf8-\xff",
                                        "overlong-\xc0\xaf",
                                        "surrogate-\xed\xa0\x80"};
  for (const std::string& name : bad) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(IsInvalidArgument(store_->Get(call_, name).status()));
    EXPECT_TRUE(IsInvalidArgument(store_->Delete(call_, name)));
    EXPECT_TRUE(IsInvalidArgument(store_->Create(call_, Make(name)).status()));
    EXPECT_TRUE(IsInvalidArgument(store_->Update(call_, Make(name), {"labels"}).status()));
  }
  // The longest name, and names with every character a reference can hold, are fine.
  for (const std::string& name :
       {std::string(kMaxNameLength, 'x'), std::string("127.0.0.1:5000/a/b_c-d.e:tag@sha256:0"),
        std::string("percent%2Fname"), std::string("ünïcode/名前")}) {
    EXPECT_OK(store_->Create(call_, Make(name)).status()) << name;
    EXPECT_OK(store_->Get(call_, name).status()) << name;
  }
  absl::Status s = store_->Update(call_, Make(""), {}).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("name is required"), std::string::npos) << s;
}

TEST_F(RocksImageStoreTest, InvalidImagesAreRefused) {
  Image no_digest = Make("a");
  no_digest.mutable_target()->clear_digest();
  Image bad_digest = Make("a", "sha256:xyz");
  Image sha512 = Make("a", "sha512:" + std::string(128, 'a'));
  Image zero_size = Make("a");
  zero_size.mutable_target()->set_size(0);
  Image negative_size = Make("a");
  negative_size.mutable_target()->set_size(-1);
  Image no_media_type = Make("a");
  no_media_type.mutable_target()->clear_media_type();
  Image no_target = Make("a");
  no_target.clear_target();
  Image empty_label_key = Make("a");
  (*empty_label_key.mutable_labels())[""] = "x";
  Image huge_label = Make("a");
  (*huge_label.mutable_labels())["k"] = std::string(4096, 'v');
  for (const Image& image : {no_digest, bad_digest, sha512, zero_size, negative_size, no_media_type,
                             no_target, empty_label_key, huge_label}) {
    absl::Status s = store_->Create(call_, image).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << image.ShortDebugString() << " " << s;
    EXPECT_NE(s.message().find("image \"a\""), std::string::npos) << s;
  }
  EXPECT_TRUE(ListNames({}).empty());
  // An update that would leave an invalid image is refused and changes nothing.
  ASSERT_OK(store_->Create(call_, Make("a")).status());
  for (const Image& image : {bad_digest, zero_size, no_media_type, no_target}) {
    absl::Status s = store_->Update(call_, image, {"target"}).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << s;
  }
  absl::Status s = store_->Update(call_, huge_label, {"labels.k"}).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  ASSERT_OK_AND_ASSIGN(Image got, store_->Get(call_, "a"));
  EXPECT_EQ(got.target().digest(), kDigestA);
  EXPECT_FALSE(got.labels().contains("k"));
}

TEST_F(RocksImageStoreTest, EmptyLabelAndAnnotationValuesAreNotStored) {
  Image in = Make("a");
  (*in.mutable_labels())["empty"] = "";
  (*in.mutable_target()->mutable_annotations())["empty"] = "";
  ASSERT_OK_AND_ASSIGN(Image created, store_->Create(call_, in));
  EXPECT_FALSE(created.labels().contains("empty"));
  EXPECT_FALSE(created.target().annotations().contains("empty"));
  ASSERT_OK_AND_ASSIGN(Image got, store_->Get(call_, "a"));
  EXPECT_FALSE(got.labels().contains("empty"));
  EXPECT_EQ(got.labels().size(), 1u);
}

TEST_F(RocksImageStoreTest, UpdateWithLabelPaths) {
  ASSERT_OK(store_->Create(call_, Make("a")).status());
  now_ += std::chrono::seconds(5);
  Image change;
  change.set_name("a");
  (*change.mutable_labels())["new"] = "1";
  (*change.mutable_labels())["ignored"] = "not in the mask";
  // The target the caller sends is ignored when the mask does not name it.
  change.mutable_target()->set_digest(kDigestB);
  ASSERT_OK_AND_ASSIGN(Image updated, store_->Update(call_, change, {"labels.new"}));
  EXPECT_EQ(updated.labels().at("new"), "1");
  EXPECT_EQ(updated.labels().at("app"), "web");
  EXPECT_FALSE(updated.labels().contains("ignored"));
  EXPECT_EQ(updated.target().digest(), kDigestA);
  EXPECT_EQ(updated.created_at().seconds(), 1700000000);
  EXPECT_EQ(updated.updated_at().seconds(), 1700000005);

  // A path whose key the caller left out (or set to "") deletes that label.
  Image remove;
  remove.set_name("a");
  (*remove.mutable_labels())["new"] = "";
  ASSERT_OK_AND_ASSIGN(updated, store_->Update(call_, remove, {"labels.app", "labels.new"}));
  EXPECT_TRUE(updated.labels().empty());

  // Dotted keys: containerd's GC labels.
  Image gc;
  gc.set_name("a");
  (*gc.mutable_labels())["containerd.io/gc.ref.content.m.0"] = kDigestB;
  ASSERT_OK_AND_ASSIGN(updated,
                       store_->Update(call_, gc, {"labels.containerd.io/gc.ref.content.m.0"}));
  EXPECT_EQ(updated.labels().at("containerd.io/gc.ref.content.m.0"), kDigestB);

  // "labels" replaces them all.
  Image all;
  all.set_name("a");
  (*all.mutable_labels())["x"] = "y";
  ASSERT_OK_AND_ASSIGN(updated, store_->Update(call_, all, {"labels"}));
  EXPECT_EQ(updated.labels().size(), 1u);
  EXPECT_EQ(updated.labels().at("x"), "y");
  ASSERT_OK_AND_ASSIGN(Image got, store_->Get(call_, "a"));
  EXPECT_EQ(got.SerializeAsString(), updated.SerializeAsString());
}

TEST_F(RocksImageStoreTest, UpdateWithTargetAndAnnotationPaths) {
  ASSERT_OK(store_->Create(call_, Make("a")).status());
  Image change = Make("a", kDigestB);
  change.mutable_target()->set_media_type(kManifestType);
  change.mutable_target()->set_size(99);
  change.mutable_target()->mutable_annotations()->clear();
  (*change.mutable_target()->mutable_annotations())["k"] = "v";
  (*change.mutable_labels())["app"] = "changed";

  ASSERT_OK_AND_ASSIGN(Image updated, store_->Update(call_, change, {"annotations.k"}));
  EXPECT_EQ(updated.target().annotations().at("k"), "v");
  EXPECT_EQ(updated.target().annotations().at("org.opencontainers.image.ref.name"), "1.0");
  EXPECT_EQ(updated.target().digest(), kDigestA);
  EXPECT_EQ(updated.labels().at("app"), "web");

  Image drop;
  drop.set_name("a");
  ASSERT_OK_AND_ASSIGN(updated, store_->Update(call_, drop, {"annotations.k"}));
  EXPECT_FALSE(updated.target().annotations().contains("k"));

  ASSERT_OK_AND_ASSIGN(updated, store_->Update(call_, change, {"annotations"}));
  EXPECT_EQ(updated.target().annotations().size(), 1u);
  EXPECT_EQ(updated.target().digest(), kDigestA);

  // "target" replaces the descriptor as a unit, annotations included.
  change.mutable_target()->mutable_annotations()->clear();
  ASSERT_OK_AND_ASSIGN(updated, store_->Update(call_, change, {"target"}));
  EXPECT_EQ(updated.target().digest(), kDigestB);
  EXPECT_EQ(updated.target().media_type(), kManifestType);
  EXPECT_EQ(updated.target().size(), 99);
  EXPECT_TRUE(updated.target().annotations().empty());
  EXPECT_EQ(updated.labels().at("app"), "web");
}

TEST_F(RocksImageStoreTest, UpdateWithoutMaskReplacesTheImageButKeepsCreatedAt) {
  ASSERT_OK(store_->Create(call_, Make("a")).status());
  now_ += std::chrono::seconds(60);
  Image replacement = Make("a", kDigestB);
  replacement.mutable_labels()->clear();
  (*replacement.mutable_labels())["other"] = "1";
  replacement.mutable_created_at()->set_seconds(5);  // ignored
  ASSERT_OK_AND_ASSIGN(Image updated, store_->Update(call_, replacement, {}));
  EXPECT_EQ(updated.target().digest(), kDigestB);
  EXPECT_EQ(updated.labels().size(), 1u);
  EXPECT_EQ(updated.labels().at("other"), "1");
  EXPECT_EQ(updated.created_at().seconds(), 1700000000);
  EXPECT_EQ(updated.updated_at().seconds(), 1700000060);
}

TEST_F(RocksImageStoreTest, UnknownMaskPathsAreInvalidArgument) {
  ASSERT_OK(store_->Create(call_, Make("a")).status());
  for (const char* path :
       {"name", "target.digest", "created_at", "label.x", "Labels", "labels_x", ""}) {
    absl::Status s = store_->Update(call_, Make("a", kDigestB), {path}).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << path << " " << s;
  }
  // A bad path among good ones changes nothing.
  absl::Status s = store_->Update(call_, Make("a", kDigestB), {"target", "bogus"}).status();
  EXPECT_EQ(s.message(), "cannot update \"bogus\" field on image \"a\"");
  ASSERT_OK_AND_ASSIGN(Image got, store_->Get(call_, "a"));
  EXPECT_EQ(got.target().digest(), kDigestA);
}

TEST_F(RocksImageStoreTest, ListIsSortedByName) {
  // Escaping puts "a/b" (key "a%2Fb") before "a.b" in key order ('%' < '.' < '/'); List must
  // still sort by name.
  for (const char* name : {"b", "a/c", "a.b", "a0", "a%", "a", "a/b"}) {
    ASSERT_OK(store_->Create(call_, Make(name)).status());
  }
  EXPECT_EQ(ListNames({}), (std::vector<std::string>{"a", "a%", "a.b", "a/b", "a/c", "a0", "b"}));
  EXPECT_EQ(ListNames({""}), ListNames({}));
}

TEST_F(RocksImageStoreTest, ListFilters) {
  Image one = Make("docker.io/library/busybox:1.36");
  (*one.mutable_labels())["containerd.io/gc.ref.content.m.0"] = kDigestB;
  Image two = Make("docker.io/library/alpine:3.18", kDigestB);
  two.mutable_target()->set_media_type(kManifestType);
  two.mutable_labels()->clear();
  (*two.mutable_labels())["app"] = "db";
  (*two.mutable_target()->mutable_annotations())["org.opencontainers.image.ref.name"] = "3.18";
  Image three = Make("127.0.0.1:5000/test/busybox:1.0");
  three.mutable_labels()->clear();
  three.mutable_target()->mutable_annotations()->clear();
  for (const Image& i : {one, two, three}) ASSERT_OK(store_->Create(call_, i).status());

  using V = std::vector<std::string>;
  EXPECT_EQ(ListNames({"name==docker.io/library/alpine:3.18"}), V{"docker.io/library/alpine:3.18"});
  EXPECT_EQ(ListNames({"name~=busybox"}),
            (V{"127.0.0.1:5000/test/busybox:1.0", "docker.io/library/busybox:1.36"}));
  EXPECT_EQ(ListNames({"target.digest==" + kDigestB}), V{"docker.io/library/alpine:3.18"});
  EXPECT_EQ(ListNames({"target.mediatype==\"" + std::string(kManifestType) + "\""}),
            V{"docker.io/library/alpine:3.18"});
  EXPECT_EQ(ListNames({"labels.app==web"}), V{"docker.io/library/busybox:1.36"});
  EXPECT_EQ(ListNames({"labels.app"}),
            (V{"docker.io/library/alpine:3.18", "docker.io/library/busybox:1.36"}));
  EXPECT_EQ(ListNames({"labels.\"containerd.io/gc.ref.content.m.0\""}),
            V{"docker.io/library/busybox:1.36"});
  EXPECT_EQ(ListNames({"annotations.\"org.opencontainers.image.ref.name\"==3.18"}),
            V{"docker.io/library/alpine:3.18"});
  // != matches an image without the label.
  EXPECT_EQ(ListNames({"labels.app!=web"}),
            (V{"127.0.0.1:5000/test/busybox:1.0", "docker.io/library/alpine:3.18"}));
  // AND within a string, OR across strings.
  EXPECT_EQ(ListNames({"name~=busybox,labels.app==web"}), V{"docker.io/library/busybox:1.36"});
  EXPECT_EQ(ListNames({"labels.app==db", "name~=^127"}),
            (V{"127.0.0.1:5000/test/busybox:1.0", "docker.io/library/alpine:3.18"}));
  // Fields images do not have match nothing.
  EXPECT_TRUE(ListNames({"id==x"}).empty());
  EXPECT_TRUE(ListNames({"target"}).empty());
  EXPECT_TRUE(ListNames({"target.size==1234"}).empty());
  // Unparsable filters are InvalidArgument.
  for (const char* f : {"name==", "labels.", "name=x", "name~=/[/"}) {
    absl::Status s = store_->List(call_, {f}).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << f << " " << s;
  }
}

TEST_F(RocksImageStoreTest, NamespacesAreIsolated) {
  CallContext other = CallContext::Background("other");
  ASSERT_OK(store_->Create(call_, Make("shared-name")).status());
  EXPECT_TRUE(IsNotFound(store_->Get(other, "shared-name").status()));
  EXPECT_TRUE(ListNames({}, &other).empty());
  EXPECT_TRUE(IsNotFound(store_->Delete(other, "shared-name")));
  EXPECT_TRUE(IsNotFound(store_->Update(other, Make("shared-name"), {}).status()));
  // The same name in another namespace is another image.
  ASSERT_OK(store_->Create(other, Make("shared-name", kDigestB)).status());
  EXPECT_EQ(store_->Get(call_, "shared-name")->target().digest(), kDigestA);
  EXPECT_EQ(store_->Get(other, "shared-name")->target().digest(), kDigestB);
  ASSERT_OK(store_->Delete(other, "shared-name"));
  EXPECT_OK(store_->Get(call_, "shared-name").status());
  // A namespace that is a prefix of another does not see its images.
  CallContext defaul = CallContext::Background("defaul");
  EXPECT_TRUE(ListNames({}, &defaul).empty());
}

TEST_F(RocksImageStoreTest, NamespaceIsRequiredAndValidated) {
  CallContext none = CallContext::Background("");
  CallContext bad = CallContext::Background("bad/ns");
  EXPECT_TRUE(IsFailedPrecondition(store_->Get(none, "a").status()));
  EXPECT_TRUE(IsFailedPrecondition(store_->List(none, {}).status()));
  EXPECT_TRUE(IsFailedPrecondition(store_->Create(none, Make("a")).status()));
  EXPECT_TRUE(IsFailedPrecondition(store_->Update(none, Make("a"), {}).status()));
  EXPECT_TRUE(IsFailedPrecondition(store_->Delete(none, "a")));
  EXPECT_TRUE(IsInvalidArgument(store_->Get(bad, "a").status()));
  EXPECT_TRUE(IsInvalidArgument(store_->List(bad, {}).status()));
  EXPECT_TRUE(IsInvalidArgument(store_->Create(bad, Make("a")).status()));
  EXPECT_TRUE(IsInvalidArgument(store_->Update(bad, Make("a"), {}).status()));
  EXPECT_TRUE(IsInvalidArgument(store_->Delete(bad, "a")));
}

TEST_F(RocksImageStoreTest, RecordsSurviveAReopenUnderTheDocumentedKey) {
  ASSERT_OK(store_->Create(call_, Make("127.0.0.1:5000/test/busybox:1.0")).status());
  Open();
  ASSERT_OK_AND_ASSIGN(Image got, store_->Get(call_, "127.0.0.1:5000/test/busybox:1.0"));
  EXPECT_EQ(got.target().digest(), kDigestA);
  // schema.h: v1/<ns>/images/<name with '/' -> %2F>.
  ASSERT_OK_AND_ASSIGN(std::string raw,
                       db_->Get("v1/default/images/127.0.0.1:5000%2Ftest%2Fbusybox:1.0"));
  Image stored;
  ASSERT_TRUE(stored.ParseFromString(raw));
  EXPECT_EQ(stored.name(), "127.0.0.1:5000/test/busybox:1.0");
  EXPECT_EQ(schema::EscapeName("a%2F/b"), "a%252F%2Fb");
  // Names that escape apart stay apart.
  ASSERT_OK(store_->Create(call_, Make("x%2Fy")).status());
  ASSERT_OK(store_->Create(call_, Make("x/y", kDigestB)).status());
  EXPECT_EQ(store_->Get(call_, "x%2Fy")->target().digest(), kDigestA);
  EXPECT_EQ(store_->Get(call_, "x/y")->target().digest(), kDigestB);
}

TEST_F(RocksImageStoreTest, CorruptRecordIsDataLossAndListSkipsIt) {
  ASSERT_OK(store_->Create(call_, Make("good")).status());
  ASSERT_OK(db_->Put(schema::ImageKey("default", "bad"), "\xff\xff not a proto"));
  EXPECT_TRUE(IsDataLoss(store_->Get(call_, "bad").status()));
  EXPECT_EQ(ListNames({}), std::vector<std::string>{"good"});
  // A record filed under another name than its own is corrupt too.
  ASSERT_OK(db_->Put(schema::ImageKey("default", "alias"), Make("good").SerializeAsString()));
  EXPECT_TRUE(IsDataLoss(store_->Get(call_, "alias").status()));
}

}  // namespace
}  // namespace berth::image
