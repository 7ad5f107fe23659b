// The mark phase on small graphs: roots, label and record edges, cycles, shared blobs,
// leases (flat and expired), pins of deleted images, and the created-after-T protection.
#include "gateway/gc/graph.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace berth::gateway::gc {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// A fixed "now"; objects are a day older unless said otherwise.
const Time kNow = Time() + hours(24 * 365 * 50);
const Time kOld = kNow - hours(24);

std::string Digest(char c) { return "sha256:" + std::string(64, c); }

ObjectKey Content(const std::string& ns, char c) { return {ns, kContent, Digest(c)}; }
ObjectKey Snap(const std::string& ns, const std::string& id) {
  return {ns, "snapshots/overlayfs", id};
}

Object Make(ObjectKey key, Labels labels = {}, std::vector<ObjectKey> refs = {},
            Time created = kOld) {
  Object o;
  o.key = std::move(key);
  o.labels = std::move(labels);
  o.references = std::move(refs);
  o.created = created;
  o.updated = created;
  return o;
}

Object Image(const std::string& ns, const std::string& name, char target) {
  return Make({ns, kImages, name}, {}, {Content(ns, target)});
}

MarkOptions Options() {
  MarkOptions o;
  o.now = kNow;
  o.not_after = kNow;
  return o;
}

// The candidates as "ns/type/id" strings, sorted.
std::vector<std::string> Swept(const MarkResult& r) {
  std::vector<std::string> out;
  for (const ObjectKey& k : r.candidates) out.push_back(ToString(k));
  return out;
}

std::vector<std::string> Keys(const std::vector<ObjectKey>& keys) {
  std::vector<std::string> out;
  for (const ObjectKey& k : keys) out.push_back(ToString(k));
  std::sort(out.begin(), out.end());
  return out;
}

// A pulled image as ctr leaves it: index -> manifest (.m.0) -> config (.config) and layers
// (.l.<i>); config -> top snapshot (gc.ref.snapshot.overlayfs); snapshots chained by parent.
std::vector<Object> PulledImage(const std::string& ns, const std::string& name, char index,
                                char manifest, char config, std::vector<char> layers,
                                std::vector<std::string> chain) {
  std::vector<Object> out;
  out.push_back(Image(ns, name, index));
  out.push_back(Make(Content(ns, index), {{"containerd.io/gc.ref.content.m.0", Digest(manifest)}}));
  Labels m{{"containerd.io/gc.ref.content.config", Digest(config)}};
  for (size_t i = 0; i < layers.size(); ++i) {
    m["containerd.io/gc.ref.content.l." + std::to_string(i)] = Digest(layers[i]);
  }
  out.push_back(Make(Content(ns, manifest), m));
  out.push_back(
      Make(Content(ns, config), {{"containerd.io/gc.ref.snapshot.overlayfs", chain.back()}}));
  for (char l : layers) out.push_back(Make(Content(ns, l)));
  for (size_t i = 0; i < chain.size(); ++i) {
    std::vector<ObjectKey> parent;
    if (i > 0) parent.push_back(Snap(ns, chain[i - 1]));
    out.push_back(Make(Snap(ns, chain[i]), {}, parent));
  }
  return out;
}

TEST(LabelReferencesTest, ContainerdRules) {
  const Labels labels = {
      {"containerd.io/gc.ref.content", Digest('a')},
      {"containerd.io/gc.ref.content.l.0", Digest('b')},
      {"containerd.io/gc.ref.content/extra", Digest('c')},
      {"containerd.io/gc.ref.contentx", Digest('d')},  // not a reference: no separator
      {"containerd.io/gc.ref.content.empty", ""},
      {"containerd.io/gc.ref.snapshot.overlayfs", "top"},
      {"containerd.io/gc.ref.snapshot.native/rootfs", "root"},
      {"containerd.io/gc.ref.snapshot.", "nothing"},
      {"containerd.io/gc.root", "2024-01-01T00:00:00Z"},
      {"other", Digest('e')},
  };
  EXPECT_EQ(Keys(LabelReferences("ns", labels)),
            (std::vector<std::string>{"ns/content/" + Digest('a'), "ns/content/" + Digest('b'),
                                      "ns/content/" + Digest('c'), "ns/snapshots/native/root",
                                      "ns/snapshots/overlayfs/top"}));
  EXPECT_TRUE(LabelReferences("ns", {}).empty());
}

TEST(LeaseExpiredTest, Rfc3339AndBadValues) {
  const Time now = std::chrono::system_clock::from_time_t(1700000000);  // 2023-11-14T22:13:20Z
  EXPECT_FALSE(LeaseExpired({}, now));
  EXPECT_TRUE(LeaseExpired({{kLabelExpire, "2023-11-14T22:13:19Z"}}, now));
  EXPECT_FALSE(LeaseExpired({{kLabelExpire, "2023-11-14T22:13:21Z"}}, now));
  EXPECT_FALSE(LeaseExpired({{kLabelExpire, "2023-11-14T23:13:19+01:00"}}, now - seconds(1)));
  EXPECT_TRUE(LeaseExpired({{kLabelExpire, "2023-11-14T22:13:19.5Z"}}, now));
  // containerd ignores a value it cannot parse: the lease does not expire.
  EXPECT_FALSE(LeaseExpired({{kLabelExpire, "tomorrow"}}, now));
  EXPECT_FALSE(LeaseExpired({{kLabelExpire, ""}}, now));
}

TEST(MarkTest, ImageKeepsItsWholePullAndTheRestGoes) {
  std::vector<Object> objects =
      PulledImage("default", "busybox", 'i', 'm', 'c', {'1', '2'}, {"chain1", "chain2"});
  // Left over from a pull whose image was deleted.
  objects.push_back(Make(Content("default", 'x')));
  objects.push_back(Make(Snap("default", "orphan")));
  const MarkResult r = Mark(objects, {}, Options());
  EXPECT_EQ(Swept(r), (std::vector<std::string>{"default/content/" + Digest('x'),
                                                "default/snapshots/overlayfs/orphan"}));
  for (const Object& o : objects) {
    if (o.key.id != Digest('x') && o.key.id != "orphan") {
      EXPECT_EQ(r.marked.count(o.key), 1u) << ToString(o.key);
    }
  }
}

TEST(MarkTest, DeletedImageGoesExceptWhatAnotherImageShares) {
  // Two images sharing the base layer blob and the base snapshot.
  std::vector<Object> a = PulledImage("default", "a", 'i', 'm', 'c', {'1', '2'}, {"base", "a-top"});
  std::vector<Object> b = PulledImage("default", "b", 'j', 'n', 'd', {'1'}, {"base"});
  std::vector<Object> objects;
  for (Object& o : a) {
    if (o.key.type != kImages) objects.push_back(o);  // image "a" was deleted
  }
  for (Object& o : b) {
    if (o.key.id == Digest('1') || o.key.id == "base") continue;  // listed once
    objects.push_back(o);
  }
  const MarkResult r = Mark(objects, {}, Options());
  EXPECT_EQ(Swept(r), (std::vector<std::string>{
                          "default/content/" + Digest('2'), "default/content/" + Digest('c'),
                          "default/content/" + Digest('i'), "default/content/" + Digest('m'),
                          "default/snapshots/overlayfs/a-top"}));
}

TEST(MarkTest, CyclesAreMarkedOnceAndUnreachableCyclesGo) {
  std::vector<Object> objects = {
      Image("ns", "img", 'a'),
      Make(Content("ns", 'a'), {{"containerd.io/gc.ref.content.next", Digest('b')}}),
      Make(Content("ns", 'b'), {{"containerd.io/gc.ref.content.next", Digest('a')}}),
      // A cycle nothing reaches.
      Make(Content("ns", 'c'), {{"containerd.io/gc.ref.content.next", Digest('d')}}),
      Make(Content("ns", 'd'), {{"containerd.io/gc.ref.content.next", Digest('c')}}),
      // A content <-> snapshot cycle.
      Make(Content("ns", 'e'), {{"containerd.io/gc.ref.snapshot.overlayfs", "s"}}),
      Make(Snap("ns", "s"), {{"containerd.io/gc.ref.content", Digest('e')}}),
  };
  const MarkResult r = Mark(objects, {}, Options());
  EXPECT_EQ(Swept(r),
            (std::vector<std::string>{"ns/content/" + Digest('c'), "ns/content/" + Digest('d'),
                                      "ns/content/" + Digest('e'), "ns/snapshots/overlayfs/s"}));
}

TEST(MarkTest, NamespacesDoNotShareReferences) {
  // The same blob in two namespaces: only the namespace whose image refers to it keeps it.
  std::vector<Object> objects = {Image("a", "img", 'x'), Make(Content("a", 'x')),
                                 Make(Content("b", 'x'))};
  const MarkResult r = Mark(objects, {}, Options());
  EXPECT_EQ(Swept(r), (std::vector<std::string>{"b/content/" + Digest('x')}));
}

TEST(MarkTest, ContainerKeepsItsSnapshotChainAndImage) {
  std::vector<Object> objects = PulledImage("ns", "busybox", 'i', 'm', 'c', {'1'}, {"chain1"});
  objects.push_back(
      Make({"ns", kContainers, "c1"}, {}, {Snap("ns", "c1"), ObjectKey{"ns", kImages, "busybox"}}));
  objects.push_back(Make(Snap("ns", "c1"), {}, {Snap("ns", "chain1")}));
  // A removed container's snapshot.
  objects.push_back(Make(Snap("ns", "c2"), {}, {Snap("ns", "chain1")}));
  const MarkResult r = Mark(objects, {}, Options());
  EXPECT_EQ(Swept(r), (std::vector<std::string>{"ns/snapshots/overlayfs/c2"}));
  EXPECT_TRUE(r.pins_used.empty());  // the image exists
}

TEST(MarkTest, ContainerOfADeletedImageKeepsThePinnedContent) {
  std::vector<Object> objects;
  for (Object& o : PulledImage("ns", "busybox", 'i', 'm', 'c', {'1'}, {"chain1"})) {
    if (o.key.type != kImages) objects.push_back(o);
  }
  objects.push_back(
      Make({"ns", kContainers, "c1"}, {}, {Snap("ns", "c1"), ObjectKey{"ns", kImages, "busybox"}}));
  objects.push_back(Make(Snap("ns", "c1"), {}, {Snap("ns", "chain1")}));
  MarkOptions options = Options();
  // Without a pin the container keeps its snapshot chain only.
  MarkResult r = Mark(objects, {}, options);
  EXPECT_EQ(Swept(r),
            (std::vector<std::string>{"ns/content/" + Digest('1'), "ns/content/" + Digest('c'),
                                      "ns/content/" + Digest('i'), "ns/content/" + Digest('m')}));
  EXPECT_EQ(r.pins_used.count({"ns", "busybox"}), 1u);
  // With the pin the image's content stays too.
  options.image_pins[{"ns", "busybox"}] = Digest('i');
  r = Mark(objects, {}, options);
  EXPECT_TRUE(r.candidates.empty()) << Swept(r)[0];
  // A pin of another namespace does not count.
  options.image_pins.clear();
  options.image_pins[{"other", "busybox"}] = Digest('i');
  r = Mark(objects, {}, options);
  EXPECT_EQ(r.candidates.size(), 4u);
}

TEST(MarkTest, LiveLeasesHoldTheirResourcesAndWhatTheyReferTo) {
  std::vector<Object> objects = {
      // A pull in progress: manifest written and labelled, config being written.
      Make(Content("ns", 'm'), {{"containerd.io/gc.ref.content.config", Digest('c')},
                                {"containerd.io/gc.ref.content.l.0", Digest('1')}}),
      Make(Content("ns", 'c')),
      Make(Content("ns", '1')),
      Make({"ns", kIngests, "layer-2"}, {}, {Content("ns", '2')}, kOld),
      Make(Snap("ns", "extract-1"), {}, {}),
      // Not leased.
      Make(Content("ns", 'z')),
  };
  std::vector<Lease> leases = {
      {"ns",
       "pull",
       {{kLabelExpire, "2999-01-01T00:00:00Z"}},
       {Content("ns", 'm'), {"ns", kIngests, "layer-2"}, Snap("ns", "extract-1")}},
      // Names a resource that does not exist (yet): harmless.
      {"ns", "empty", {}, {Content("ns", 'q')}},
  };
  const MarkResult r = Mark(objects, leases, Options());
  EXPECT_EQ(Swept(r), (std::vector<std::string>{"ns/content/" + Digest('z')}));
}

TEST(MarkTest, ExpiredLeaseProtectsNothing) {
  std::vector<Object> objects = {Make(Content("ns", 'a')), Make(Snap("ns", "s"))};
  std::vector<Lease> leases = {{"ns",
                                "old",
                                {{kLabelExpire, "2000-01-01T00:00:00Z"}},
                                {Content("ns", 'a'), Snap("ns", "s")}}};
  MarkResult r = Mark(objects, leases, Options());
  EXPECT_EQ(r.candidates.size(), 2u);
  // The same lease before its expiry.
  MarkOptions before = Options();
  before.now = std::chrono::system_clock::from_time_t(946684799);  // 1999-12-31T23:59:59Z
  before.not_after = kNow;
  r = Mark(objects, leases, before);
  EXPECT_TRUE(r.candidates.empty());
}

TEST(MarkTest, FlatLeaseHoldsResourcesAndSnapshotParentsOnly) {
  std::vector<Object> objects = {
      Make(Content("ns", 'm'), {{"containerd.io/gc.ref.content.config", Digest('c')}}),
      Make(Content("ns", 'c')),
      Make(Snap("ns", "base")),
      Make(Snap("ns", "top"), {{"containerd.io/gc.ref.content", Digest('x')}},
           {Snap("ns", "base")}),
      Make(Content("ns", 'x')),
  };
  std::vector<Lease> leases = {
      {"ns", "flat", {{kLabelFlat, "true"}}, {Content("ns", 'm'), Snap("ns", "top")}}};
  MarkResult r = Mark(objects, leases, Options());
  EXPECT_EQ(Swept(r),
            (std::vector<std::string>{"ns/content/" + Digest('c'), "ns/content/" + Digest('x')}));
  // Reached both flat and fully (an image refers to the manifest): fully wins.
  objects.push_back(Image("ns", "img", 'm'));
  r = Mark(objects, leases, Options());
  EXPECT_EQ(Swept(r), (std::vector<std::string>{"ns/content/" + Digest('x')}));
}

TEST(MarkTest, GcRootLabelIsARoot) {
  std::vector<Object> objects = {
      Make(Snap("ns", "mine"), {{kLabelRoot, "2024-01-01T00:00:00Z"}}, {Snap("ns", "base")}),
      Make(Snap("ns", "base")),
      Make(Content("ns", 'r'), {{kLabelRoot, ""}, {"containerd.io/gc.ref.content", Digest('s')}}),
      Make(Content("ns", 's')),
      Make(Content("ns", 't')),
  };
  const MarkResult r = Mark(objects, {}, Options());
  EXPECT_EQ(Swept(r), (std::vector<std::string>{"ns/content/" + Digest('t')}));
}

TEST(MarkTest, IngestsInProgressAreRootsExpiredOnesGo) {
  MarkOptions options = Options();
  options.ingest_expiry = hours(24);
  std::vector<Object> objects = {
      Make({"ns", kIngests, "active"}, {}, {Content("ns", 'a')}, kNow - minutes(1)),
      Make(Content("ns", 'a')),  // what the active ingest will become (shared bytes)
      Make({"ns", kIngests, "stale"}, {}, {}, kNow - hours(25)),
  };
  MarkResult r = Mark(objects, {}, options);
  EXPECT_EQ(Swept(r), (std::vector<std::string>{"ns/ingests/stale"}));
  // A lease keeps a stale ingest.
  r = Mark(objects, {{"ns", "l", {}, {{"ns", kIngests, "stale"}}}}, options);
  EXPECT_TRUE(r.candidates.empty());
}

TEST(MarkTest, ObjectsCreatedOrUpdatedAfterTheMarkAreKept) {
  const Time mark = kNow - minutes(5);
  MarkOptions options = Options();
  options.not_after = mark;
  Object updated = Make(Content("ns", 'u'));
  updated.updated = mark + seconds(1);  // relabelled while the collection ran
  std::vector<Object> objects = {
      Make(Content("ns", 'o')),                             // old, unreferenced: swept
      Make(Content("ns", 'n'), {}, {}, mark + seconds(1)),  // new: kept
      Make(Snap("ns", "new"), {}, {}, mark + seconds(1)),
      updated,
      Make(Content("ns", 'e'), {}, {}, mark),  // exactly at the mark: not after it
  };
  const MarkResult r = Mark(objects, {}, options);
  EXPECT_EQ(Swept(r),
            (std::vector<std::string>{"ns/content/" + Digest('e'), "ns/content/" + Digest('o')}));
  EXPECT_EQ(Keys(r.kept_newer),
            (std::vector<std::string>{"ns/content/" + Digest('n'), "ns/content/" + Digest('u'),
                                      "ns/snapshots/overlayfs/new"}));
}

TEST(MarkTest, RootsAreNeverCandidates) {
  // Images and containers are roots even without references; an unknown type is never swept.
  std::vector<Object> objects = {Make({"ns", kImages, "img"}), Make({"ns", kContainers, "c"}),
                                 Make({"ns", "leases", "l"}), Make({"ns", "snapshots/", "x"})};
  const MarkResult r = Mark(objects, {}, Options());
  EXPECT_TRUE(r.candidates.empty());
  EXPECT_TRUE(IsCollectableType("snapshots/native"));
  EXPECT_FALSE(IsCollectableType("snapshots/"));
  EXPECT_FALSE(IsCollectableType(kImages));
}

TEST(MarkTest, EmptyInput) {
  const MarkResult r = Mark({}, {}, Options());
  EXPECT_TRUE(r.marked.empty());
  EXPECT_TRUE(r.candidates.empty());
}

}  // namespace
}  // namespace berth::gateway::gc
