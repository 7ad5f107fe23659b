// The mark phase of berth's garbage collector: which objects of all services are reachable
// from a root, as containerd's metadata GC computes it (reference/containerd-api.md §8), over
// the objects the services listed (berth.gc.v1.Collectable) and the gateway's leases.
//
// Roots (per namespace):
//   - every image (it refers to its target blob) and every container (its snapshot, and its
//     image: the image's content while the container exists — when the image is gone, the
//     target it had, remembered in `MarkOptions::image_pins`);
//   - every resource of a live lease (one without `containerd.io/gc.expire`, or whose expiry
//     has not passed); with `containerd.io/gc.flat` the lease holds only its resources
//     themselves (and a snapshot's parents), not what they refer to;
//   - every object labelled `containerd.io/gc.root`;
//   - every ingest updated within `ingest_expiry` (in progress).
// Edges: the record references of an object (image -> target, snapshot -> parent,
// container -> snapshot and image, ingest -> expected blob) and its labels:
//   containerd.io/gc.ref.content, containerd.io/gc.ref.content.<x>, .../gc.ref.content/<x>
//       -> the blob named by the value (pull's .m.<i>, .l.<i>, .config)
//   containerd.io/gc.ref.snapshot.<snapshotter>, .../gc.ref.snapshot.<snapshotter>/<x>
//       -> the snapshot named by the value, in that snapshotter
// References stay within the object's namespace. Cycles are fine (each object is visited
// once per mode).
//
// Sweep candidates are the listed objects of collectable types (content, ingests,
// snapshots/*) that are not marked and were neither created nor updated after
// `MarkOptions::not_after` — an object made while a collection runs is never swept.
//
// Thread-safety: pure functions over plain values.
#ifndef BERTH_GATEWAY_GC_GRAPH_H_
#define BERTH_GATEWAY_GC_GRAPH_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace berth::gateway::gc {

using Time = std::chrono::system_clock::time_point;
using Labels = std::map<std::string, std::string>;

// Object types: containerd's lease resource types, plus the two kinds of roots.
inline constexpr char kContent[] = "content";
inline constexpr char kIngests[] = "ingests";
inline constexpr char kSnapshotsPrefix[] = "snapshots/";  // + snapshotter name
inline constexpr char kImages[] = "images";
inline constexpr char kContainers[] = "containers";
// The type the collector reports for expired leases it deleted.
inline constexpr char kLeases[] = "leases";

// Labels the collector reads.
inline constexpr char kLabelRoot[] = "containerd.io/gc.root";
inline constexpr char kLabelExpire[] = "containerd.io/gc.expire";
inline constexpr char kLabelFlat[] = "containerd.io/gc.flat";
inline constexpr char kLabelRefContent[] = "containerd.io/gc.ref.content";
inline constexpr char kLabelRefSnapshot[] = "containerd.io/gc.ref.snapshot.";

struct ObjectKey {
  std::string ns;
  std::string type;
  std::string id;

  friend bool operator<(const ObjectKey& a, const ObjectKey& b) {
    return std::tie(a.ns, a.type, a.id) < std::tie(b.ns, b.type, b.id);
  }
  friend bool operator==(const ObjectKey& a, const ObjectKey& b) {
    return a.ns == b.ns && a.type == b.type && a.id == b.id;
  }
  friend bool operator!=(const ObjectKey& a, const ObjectKey& b) { return !(a == b); }
};

// "ns/type/id", for logs and test messages.
std::string ToString(const ObjectKey& key);

// True for "snapshots/<non-empty>".
bool IsSnapshotType(std::string_view type);
// Whether the collector ever deletes objects of `type` (content, ingests, snapshots/*).
bool IsCollectableType(std::string_view type);

// One object as a service listed it (berth.gc.v1.Object).
struct Object {
  ObjectKey key;
  Labels labels;                      // Its containerd.io/gc.* labels (others may be present).
  std::vector<ObjectKey> references;  // Record references, in key.ns.
  Time created;
  Time updated;
  int64_t size = 0;
};

// One lease of the gateway with the resources the services say it holds.
struct Lease {
  std::string ns;
  std::string id;
  Labels labels;
  std::vector<ObjectKey> resources;  // In ns; types as ObjectKey::type.
};

// The references the containerd.io/gc.ref.* labels of an object in `ns` name, in label-key
// order. Labels with an empty value, a bare "containerd.io/gc.ref.snapshot." or another
// prefix refer to nothing.
std::vector<ObjectKey> LabelReferences(const std::string& ns, const Labels& labels);

// Whether a lease's containerd.io/gc.expire label (RFC 3339) lies before `now`. A missing or
// unparsable value means the lease does not expire (as containerd, which logs and ignores a
// bad value).
bool LeaseExpired(const Labels& labels, Time now);

struct MarkOptions {
  // Lease expiry and ingest age are judged at this time.
  Time now;
  // Unmarked objects created or updated after this are kept (not sweep candidates).
  Time not_after;
  // Ingests updated within this are roots (in progress); older ones are collectable unless
  // something else holds them.
  std::chrono::nanoseconds ingest_expiry = std::chrono::hours(24);
  // Image targets remembered for images that no longer exist: (namespace, image name) ->
  // digest. A container naming such an image keeps that blob (and what it refers to).
  std::map<std::pair<std::string, std::string>, std::string> image_pins;
};

struct MarkResult {
  // Every key reached from a root (listed objects, and keys referred to that no service
  // listed).
  std::set<ObjectKey> marked;
  // Listed objects of collectable types that are not marked and not newer than not_after:
  // what the sweep deletes. Sorted.
  std::vector<ObjectKey> candidates;
  // Unmarked collectable objects kept because they were created or updated after
  // not_after. Sorted.
  std::vector<ObjectKey> kept_newer;
  // Containers whose image does not exist, by (namespace, image name): the pins still needed.
  std::set<std::pair<std::string, std::string>> pins_used;
};

// Marks `objects` (from every service; keys unique) from the roots above, using `leases`
// (expired ones are ignored).
MarkResult Mark(const std::vector<Object>& objects, const std::vector<Lease>& leases,
                const MarkOptions& options);

}  // namespace berth::gateway::gc

#endif  // BERTH_GATEWAY_GC_GRAPH_H_
