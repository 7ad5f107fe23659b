#include "gateway/gc/graph.h"

#include <algorithm>
#include <deque>
#include <map>

#include "absl/time/time.h"

namespace berth::gateway::gc {
namespace {

bool HasPrefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// How an object was reached: kFull follows every reference; kFlat (a resource of a
// containerd.io/gc.flat lease) keeps the object and, for a snapshot, its parents only.
enum class Mode { kFull, kFlat };

}  // namespace

std::string ToString(const ObjectKey& key) { return key.ns + "/" + key.type + "/" + key.id; }

bool IsSnapshotType(std::string_view type) {
  return type.size() > sizeof(kSnapshotsPrefix) - 1 && HasPrefix(type, kSnapshotsPrefix);
}

bool IsCollectableType(std::string_view type) {
  return type == kContent || type == kIngests || IsSnapshotType(type);
}

std::vector<ObjectKey> LabelReferences(const std::string& ns, const Labels& labels) {
  std::vector<ObjectKey> out;
  const std::string_view content_ref = kLabelRefContent;
  const std::string_view snapshot_ref = kLabelRefSnapshot;
  for (const auto& [key, value] : labels) {
    if (value.empty()) continue;
    if (HasPrefix(key, content_ref)) {
      // "containerd.io/gc.ref.content" itself, or a name after '.' or '/'
      // ("containerd.io/gc.ref.content.l.0"); "containerd.io/gc.ref.contentx" is not one.
      if (key.size() == content_ref.size() || key[content_ref.size()] == '.' ||
          key[content_ref.size()] == '/') {
        out.push_back(ObjectKey{ns, kContent, value});
      }
    } else if (HasPrefix(key, snapshot_ref)) {
      std::string snapshotter = key.substr(snapshot_ref.size());
      const size_t slash = snapshotter.find('/');
      if (slash != std::string::npos) snapshotter.resize(slash);
      if (snapshotter.empty()) continue;
      out.push_back(ObjectKey{ns, std::string(kSnapshotsPrefix) + snapshotter, value});
    }
  }
  return out;
}

bool LeaseExpired(const Labels& labels, Time now) {
  auto it = labels.find(kLabelExpire);
  if (it == labels.end()) return false;
  absl::Time expire;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, it->second, &expire, &error)) return false;
  return absl::FromChrono(now) > expire;
}

MarkResult Mark(const std::vector<Object>& objects, const std::vector<Lease>& leases,
                const MarkOptions& options) {
  std::map<ObjectKey, const Object*> index;
  for (const Object& o : objects) index.emplace(o.key, &o);

  std::set<ObjectKey> full;  // reached in kFull mode (edges followed)
  std::set<ObjectKey> flat;  // reached in kFlat mode only so far
  std::deque<std::pair<ObjectKey, Mode>> queue;
  MarkResult result;

  auto push = [&](const ObjectKey& key, Mode mode) {
    if (full.count(key) != 0) return;
    if (mode == Mode::kFlat && flat.count(key) != 0) return;
    (mode == Mode::kFull ? full : flat).insert(key);
    queue.emplace_back(key, mode);
  };

  // Roots.
  for (const Object& o : objects) {
    const bool root = o.key.type == kImages || o.key.type == kContainers ||
                      o.labels.count(kLabelRoot) != 0 ||
                      (o.key.type == kIngests && o.updated + options.ingest_expiry > options.now);
    if (root) push(o.key, Mode::kFull);
  }
  for (const Lease& lease : leases) {
    if (LeaseExpired(lease.labels, options.now)) continue;
    const Mode mode = lease.labels.count(kLabelFlat) != 0 ? Mode::kFlat : Mode::kFull;
    for (const ObjectKey& r : lease.resources) push(r, mode);
  }

  while (!queue.empty()) {
    auto [key, mode] = queue.front();
    queue.pop_front();
    auto it = index.find(key);
    if (it == index.end()) continue;  // referred to, but no service listed it
    const Object& o = *it->second;
    if (mode == Mode::kFlat) {
      // A flat lease keeps a snapshot usable: its parent chain, nothing else.
      if (IsSnapshotType(o.key.type)) {
        for (const ObjectKey& r : o.references) {
          if (r.type == o.key.type) push(r, Mode::kFlat);
        }
      }
      continue;
    }
    for (const ObjectKey& r : o.references) {
      if (o.key.type == kContainers && r.type == kImages && index.count(r) == 0) {
        // The container's image is gone: keep the content it had, when remembered.
        auto pin = options.image_pins.find({r.ns, r.id});
        result.pins_used.insert({r.ns, r.id});
        if (pin != options.image_pins.end()) push(ObjectKey{r.ns, kContent, pin->second}, mode);
        continue;
      }
      push(r, mode);
    }
    for (const ObjectKey& r : LabelReferences(o.key.ns, o.labels)) push(r, mode);
  }

  result.marked = std::move(full);
  result.marked.insert(flat.begin(), flat.end());
  for (const Object& o : objects) {
    if (!IsCollectableType(o.key.type) || result.marked.count(o.key) != 0) continue;
    if (o.created > options.not_after || o.updated > options.not_after) {
      result.kept_newer.push_back(o.key);
    } else {
      result.candidates.push_back(o.key);
    }
  }
  std::sort(result.candidates.begin(), result.candidates.end());
  std::sort(result.kept_newer.begin(), result.kept_newer.end());
  return result;
}

}  // namespace berth::gateway::gc
