#include "gateway/gc/collector.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "lib/log/log.h"
#include "lib/status/status.h"

namespace berth::gateway::gc {
namespace {

namespace pb = ::berth::gc::v1;

constexpr size_t kMaxRemovedObjects = 1000;
constexpr size_t kMaxErrors = 100;
constexpr size_t kMaxEventObjects = 1000;

int64_t UnixNanos(Time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

Time FromUnixNanos(int64_t n) {
  return Time(std::chrono::duration_cast<Time::duration>(std::chrono::nanoseconds(n)));
}

ObjectKey FromProto(const pb::ObjectRef& r) { return ObjectKey{r.namespace_(), r.type(), r.id()}; }

void ToProto(const ObjectKey& k, pb::ObjectRef* out) {
  out->set_namespace_(k.ns);
  out->set_type(k.type);
  out->set_id(k.id);
}

Object FromProto(pb::Object&& o) {
  Object out;
  out.key = FromProto(o.ref());
  out.labels.insert(o.labels().begin(), o.labels().end());
  for (const pb::ObjectRef& r : o.references()) out.references.push_back(FromProto(r));
  out.created = FromUnixNanos(o.created_at_unix_nanos());
  out.updated = FromUnixNanos(o.updated_at_unix_nanos());
  out.size = o.size();
  return out;
}

std::string Summary(const pb::Report& r) {
  std::string removed;
  for (const pb::TypeCount& c : r.removed()) {
    removed +=
        fmt::format("{}{}={}/{}B", removed.empty() ? "" : ",", c.type(), c.removed(), c.bytes());
    if (c.failed() > 0) removed += fmt::format("(failed {})", c.failed());
  }
  return removed.empty() ? "nothing" : removed;
}

}  // namespace

// The state of one Collect call.
struct Collector::Run {
  CollectRequest request;
  Time start;
  Time mark_time;  // not_after of the sweep
  std::vector<std::string> namespaces;
  std::vector<Lease> leases;    // live leases, with their resources
  std::vector<Object> objects;  // every backend's listing (fresh or earlier)
  std::map<ObjectKey, CollectableBackend*> listed_by;
  std::set<std::string> postponed;      // backend names: nothing of theirs is swept
  std::set<std::string> fresh;          // backends listed by this run
  std::set<std::string> root_backends;  // all their objects count as roots
  bool sweep_allowed = true;            // false: some backend's references are unknown
  // Results.
  pb::Report report;
  std::map<std::string, pb::TypeCount> counts;     // by type
  std::map<std::string, pb::CollectEvent> events;  // by namespace

  void Error(std::string message) {
    log::Warn("gc: {}", message);
    if (static_cast<size_t>(report.errors_size()) < kMaxErrors)
      report.add_errors(std::move(message));
  }
  void Removed(const ObjectKey& key, int64_t size) {
    pb::TypeCount& c = counts[key.type];
    c.set_removed(c.removed() + 1);
    c.set_bytes(c.bytes() + size);
    if (static_cast<size_t>(report.removed_objects_size()) < kMaxRemovedObjects) {
      ToProto(key, report.add_removed_objects());
    } else {
      report.set_removed_objects_truncated(true);
    }
  }
};

Collector::Collector(CollectorDeps deps, CollectorOptions options)
    : deps_(std::move(deps)), options_(std::move(options)) {}

CallContext Collector::OwnerContext(const std::string& ns) const {
  CallContext ctx = CallContext::Background(ns);
  ctx.deadline = std::chrono::system_clock::now() +
                 std::chrono::duration_cast<Time::duration>(options_.owner_timeout);
  return ctx;
}

void Collector::Postpone(Run& run, const std::string& backend, const std::string& reason) {
  if (!run.postponed.insert(backend).second) return;
  log::Warn("gc: backend postponed backend={:?} reason={:?}", backend, reason);
  run.report.add_postponed(fmt::format("{}: {}", backend, reason));
}

absl::Status Collector::CollectLeases(Run& run) {
  for (const std::string& ns : run.namespaces) {
    ASSIGN_OR_RETURN(std::vector<gateway::Lease> leases, deps_.leases->List(ns));
    for (const gateway::Lease& l : leases) {
      if (LeaseExpired(l.labels, run.start)) {
        if (run.request.dry_run) continue;
        // As Leases.Delete: the owners drop their records first; the lease record goes
        // once all of them did (else it is tried again next time — it protects nothing
        // meanwhile, being expired).
        bool dropped = true;
        for (ResourceOwner* owner : deps_.owners->all()) {
          if (absl::Status s = owner->DeleteLease(OwnerContext(ns), l.id); !s.ok()) {
            run.Error(fmt::format("expired lease {}/{}: {}", ns, l.id, s.ToString()));
            dropped = false;
          }
        }
        if (!dropped) continue;
        if (absl::Status s = deps_.leases->Delete(ns, l.id); !s.ok() && !IsNotFound(s)) {
          run.Error(fmt::format("expired lease {}/{}: {}", ns, l.id, s.ToString()));
          continue;
        }
        log::Info("gc: expired lease deleted namespace={:?} lease={:?}", ns, l.id);
        run.report.add_expired_leases(ns + "/" + l.id);
        run.events[ns].add_expired_leases(l.id);
        pb::TypeCount& c = run.counts[kLeases];
        c.set_removed(c.removed() + 1);
        continue;
      }
      Lease lease{ns, l.id, l.labels, {}};
      for (ResourceOwner* owner : deps_.owners->all()) {
        absl::StatusOr<std::vector<LeaseResource>> resources =
            owner->ListLeaseResources(OwnerContext(ns), l.id);
        if (!resources.ok()) {
          // What this owner's objects are leased to is unknown: keep all of them (and what
          // they refer to).
          Postpone(run, owner->name(), resources.status().ToString());
          run.root_backends.insert(owner->name());
          continue;
        }
        for (const LeaseResource& r : *resources) lease.resources.push_back({ns, r.type, r.id});
      }
      run.leases.push_back(std::move(lease));
    }
  }
  return absl::OkStatus();
}

void Collector::ListBackends(Run& run) {
  for (CollectableBackend* backend : deps_.backends) {
    auto listing = std::make_shared<Listing>();
    listing->started = std::chrono::system_clock::now();
    absl::Status s = backend->List(run.namespaces, [&](pb::Object&& o) {
      listing->objects.push_back(FromProto(std::move(o)));
    });
    std::shared_ptr<const Listing> use;
    if (s.ok()) {
      listings_[backend->name()] = listing;
      run.fresh.insert(backend->name());
      use = listing;
    } else {
      Postpone(run, backend->name(), s.ToString());
      auto it = listings_.find(backend->name());
      if (it == listings_.end()) {
        // Its references are unknown: sweeping anything could break what it holds.
        run.sweep_allowed = false;
        run.Error(fmt::format("no listing of backend {:?} yet: nothing is swept", backend->name()));
        continue;
      }
      use = it->second;
      run.root_backends.insert(backend->name());
      run.mark_time = std::min(run.mark_time, use->started);
    }
    for (const Object& o : use->objects) {
      run.listed_by.emplace(o.key, backend);
      run.objects.push_back(o);
    }
  }
}

absl::Status Collector::UpdatePins(Run& run, const MarkResult& mark, const Pins& pins) {
  if (deps_.pins == nullptr || run.request.dry_run) return absl::OkStatus();
  // Only from a complete view: every backend listed by this run.
  if (run.fresh.size() != deps_.backends.size()) return absl::OkStatus();
  std::map<ObjectKey, const Object*> images;
  for (const Object& o : run.objects) {
    if (o.key.type == kImages) images.emplace(o.key, &o);
  }
  std::set<std::pair<std::string, std::string>> keep = mark.pins_used;
  for (const Object& o : run.objects) {
    if (o.key.type != kContainers) continue;
    for (const ObjectKey& r : o.references) {
      if (r.type != kImages) continue;
      auto image = images.find(r);
      if (image == images.end()) continue;
      // The container's image exists: remember its current target.
      for (const ObjectKey& target : image->second->references) {
        if (target.type != kContent) continue;
        keep.insert({r.ns, r.id});
        auto pin = pins.find({r.ns, r.id});
        if (pin == pins.end() || pin->second != target.id) {
          RETURN_IF_ERROR(deps_.pins->Put(r.ns, r.id, target.id));
        }
      }
    }
  }
  for (const auto& [key, digest] : pins) {
    if (keep.count(key) == 0) RETURN_IF_ERROR(deps_.pins->Delete(key.first, key.second));
  }
  return absl::OkStatus();
}

std::set<ObjectKey> Collector::LeasedNow(Run& run, const std::set<std::string>& namespaces) {
  std::set<ObjectKey> out;
  const Time now = std::chrono::system_clock::now();
  for (const std::string& ns : namespaces) {
    absl::StatusOr<std::vector<gateway::Lease>> leases = deps_.leases->List(ns);
    if (!leases.ok()) {
      // Nothing in this namespace can be known to be unleased.
      for (CollectableBackend* b : deps_.backends) {
        Postpone(run, b->name(), leases.status().ToString());
      }
      return out;
    }
    for (const gateway::Lease& l : *leases) {
      if (LeaseExpired(l.labels, now)) continue;
      for (ResourceOwner* owner : deps_.owners->all()) {
        absl::StatusOr<std::vector<LeaseResource>> resources =
            owner->ListLeaseResources(OwnerContext(ns), l.id);
        if (!resources.ok()) {
          Postpone(run, owner->name(), resources.status().ToString());
          continue;
        }
        for (const LeaseResource& r : *resources) out.insert({ns, r.type, r.id});
      }
    }
  }
  return out;
}

void Collector::Sweep(Run& run, const MarkResult& mark) {
  if (run.request.dry_run) {
    for (const ObjectKey& k : mark.candidates) {
      if (run.postponed.count(run.listed_by.at(k)->name()) == 0) run.Removed(k, 0);
    }
    return;
  }
  std::set<std::string> namespaces;
  for (const ObjectKey& k : mark.candidates) namespaces.insert(k.ns);
  if (namespaces.empty()) return;
  const std::set<ObjectKey> leased = LeasedNow(run, namespaces);

  std::map<CollectableBackend*, std::vector<ObjectKey>> by_backend;
  for (const ObjectKey& k : mark.candidates) {
    CollectableBackend* b = run.listed_by.at(k);
    if (run.postponed.count(b->name()) != 0) continue;
    if (leased.count(k) != 0) {
      run.report.set_in_use(run.report.in_use() + 1);
      continue;
    }
    by_backend[b].push_back(k);
  }
  // In the backends' order (content, snapshot, ...), for a predictable order of deletions.
  for (CollectableBackend* backend : deps_.backends) {
    auto found = by_backend.find(backend);
    if (found == by_backend.end()) continue;
    const std::vector<ObjectKey>& keys = found->second;
    for (size_t i = 0; i < keys.size(); i += options_.sweep_batch) {
      pb::SweepRequest req;
      req.set_not_after_unix_nanos(UnixNanos(run.mark_time));
      for (size_t j = i; j < keys.size() && j < i + options_.sweep_batch; ++j) {
        ToProto(keys[j], req.add_objects());
      }
      absl::StatusOr<pb::SweepResponse> resp = backend->Sweep(req);
      if (!resp.ok()) {
        Postpone(run, backend->name(), resp.status().ToString());
        break;
      }
      for (const pb::SweepResult& r : resp->results()) {
        const ObjectKey key = FromProto(r.object());
        switch (r.outcome()) {
          case pb::SWEEP_REMOVED: {
            run.Removed(key, r.size());
            pb::CollectEvent& e = run.events[key.ns];
            if (static_cast<size_t>(e.removed_size()) < kMaxEventObjects) {
              ToProto(key, e.add_removed());
            } else {
              e.set_truncated(true);
            }
            e.set_removed_bytes(e.removed_bytes() + r.size());
            log::Debug("gc: removed object={:?} size={}", ToString(key), r.size());
            break;
          }
          case pb::SWEEP_KEPT_NEWER:
            run.report.set_kept_newer(run.report.kept_newer() + 1);
            break;
          case pb::SWEEP_IN_USE:
            run.report.set_in_use(run.report.in_use() + 1);
            break;
          case pb::SWEEP_FAILED: {
            pb::TypeCount& c = run.counts[key.type];
            c.set_failed(c.failed() + 1);
            run.Error(fmt::format("delete {}: {}", ToString(key), r.message()));
            break;
          }
          case pb::SWEEP_NOT_COLLECTABLE:
            run.Error(fmt::format("delete {}: backend {:?} does not collect it", ToString(key),
                                  backend->name()));
            break;
          default:  // SWEEP_GONE: deleted meanwhile by someone else
            break;
        }
      }
    }
  }
}

void Collector::Publish(const Run& run) {
  if (deps_.publisher == nullptr) return;
  for (const auto& [ns, event] : run.events) {
    if (absl::Status s = deps_.publisher->Publish(ns, kCollectTopic, event, kCollectEventType);
        !s.ok()) {
      log::Warn("gc: event not published namespace={:?} error={:?}", ns, s.ToString());
    }
  }
}

absl::StatusOr<pb::Report> Collector::Collect(const CollectRequest& request) {
  Run run;
  run.request = request;
  run.start = std::chrono::system_clock::now();
  run.mark_time = run.start;
  run.report.set_started_at_unix_nanos(UnixNanos(run.start));
  run.report.set_dry_run(request.dry_run);
  for (const std::string& r : request.reasons) run.report.add_reasons(r);

  ASSIGN_OR_RETURN(std::vector<Namespace> namespaces, deps_.namespaces->List());
  for (const Namespace& ns : namespaces) run.namespaces.push_back(ns.name);
  RETURN_IF_ERROR(CollectLeases(run));
  ListBackends(run);
  // Pins are read after the listings: an image deleted before the image backend listed (so
  // missing from it) was pinned before its deletion was forwarded.
  Pins pins;
  if (deps_.pins != nullptr) {
    ASSIGN_OR_RETURN(pins, deps_.pins->Load());
  }

  MarkOptions mark_options;
  mark_options.now = run.start;
  mark_options.not_after = run.mark_time;
  mark_options.ingest_expiry = options_.ingest_expiry;
  mark_options.image_pins = pins;
  // Backends that cannot say what leases hold, or that were listed from an earlier view:
  // everything of theirs is kept, with all it refers to.
  if (!run.root_backends.empty()) {
    for (Object& o : run.objects) {
      if (run.root_backends.count(run.listed_by.at(o.key)->name()) != 0) {
        o.labels[kLabelRoot] = "backend postponed";
      }
    }
  }
  const MarkResult mark = Mark(run.objects, run.leases, mark_options);
  run.report.set_mark_time_unix_nanos(UnixNanos(run.mark_time));
  run.report.set_objects(static_cast<int64_t>(run.objects.size()));
  int64_t marked = 0;
  for (const Object& o : run.objects) marked += mark.marked.count(o.key);
  run.report.set_marked(marked);
  run.report.set_kept_newer(static_cast<int64_t>(mark.kept_newer.size()));

  if (absl::Status s = UpdatePins(run, mark, pins); !s.ok()) {
    run.Error(fmt::format("image pins: {}", s.ToString()));
  }
  if (run.sweep_allowed) Sweep(run, mark);

  for (auto& [type, count] : run.counts) {
    count.set_type(type);
    *run.report.add_removed() = count;
  }
  const Time end = std::chrono::system_clock::now();
  run.report.set_duration_nanos(UnixNanos(end) - UnixNanos(run.start));
  Publish(run);
  log::Info(
      "gc: {} duration={}ms objects={} marked={} removed={} kept_newer={} in_use={} "
      "expired_leases={} postponed={} errors={}",
      request.dry_run ? "dry run done" : "collection done", run.report.duration_nanos() / 1000000,
      run.report.objects(), run.report.marked(), Summary(run.report), run.report.kept_newer(),
      run.report.in_use(), run.report.expired_leases_size(), run.report.postponed_size(),
      run.report.errors_size());
  return std::move(run.report);
}

absl::Status Collector::PinImage(const std::string& ns, const std::string& name) {
  if (deps_.pins == nullptr || !options_.resolve_image) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string digest, options_.resolve_image(ns, name));
  return deps_.pins->Put(ns, name, digest);
}

}  // namespace berth::gateway::gc
