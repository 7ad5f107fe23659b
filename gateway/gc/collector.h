// Collector: one garbage collection across berth's services, run by the gateway
// (gateway/gc/README.md has the whole design). Collect():
//
//   1. leases: every lease whose containerd.io/gc.expire has passed is deleted (each
//      ResourceOwner drops its records, then the gateway's record goes); the live ones are
//      asked for their resources (ResourceOwner::ListLeaseResources);
//   2. listing: every CollectableBackend lists its objects in the gateway's namespaces;
//   3. mark (graph.h) from the roots, with the image pins (pin_store.h);
//   4. sweep: the unmarked objects of collectable types, minus whatever a lease holds at
//      that moment (asked again, so a lease taken or extended while the mark ran still
//      protects), go to the backend that listed them, which deletes each unless it was
//      created or updated after the mark's time.
//
// Failure handling, per backend (containerd #3923: one failure never aborts the sweep):
//  - a deletion that fails is logged, counted and reported; the others go on;
//  - a backend whose listing fails is "postponed": none of its objects is swept, and its last
//    complete listing (from an earlier collection) stands in for it — all of those objects
//    count as roots, and the mark's time moves back to when that listing began, so anything
//    it may have referred to since is newer and kept. Without any earlier listing of it,
//    nothing is swept at all this time (its references are unknown);
//  - an owner that cannot say what the leases hold postpones its backend likewise (all of
//    its objects count as roots).
//
// Thread-safety: Collect must not run concurrently with itself (the Scheduler serialises
// it); PinImage may be called from any thread at any time.
#ifndef BERTH_GATEWAY_GC_COLLECTOR_H_
#define BERTH_GATEWAY_GC_COLLECTOR_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/gc/backend.h"
#include "gateway/gc/graph.h"
#include "gateway/gc/pin_store.h"
#include "gateway/lease_store.h"
#include "gateway/namespace_store.h"
#include "gateway/owners.h"
#include "lib/events/publisher.h"
#include "proto/berth/gc/v1/gc.pb.h"

namespace berth::gateway::gc {

// Topic and type of the event published per namespace after a collection that removed
// something there or expired a lease there.
inline constexpr char kCollectTopic[] = "/gc/collect";
inline constexpr char kCollectEventType[] = "berth.gc.v1.CollectEvent";

struct CollectRequest {
  // Mark only; report what a sweep would remove. Expired leases are not deleted either.
  bool dry_run = false;
  // Why it runs (Report.reasons).
  std::vector<std::string> reasons;
};

// The target digest of image `name` in namespace `ns` (Images.Get through the image backend).
using ImageResolver =
    std::function<absl::StatusOr<std::string>(const std::string& ns, const std::string& name)>;

struct CollectorOptions {
  // Ingests updated within this are in progress (roots); older ones, held by nothing, are
  // aborted. containerd's default, and berth-content's own expiry, is 24 h.
  std::chrono::nanoseconds ingest_expiry = std::chrono::hours(24);
  // Objects per Sweep call.
  size_t sweep_batch = 1000;
  // Deadline of each call to a ResourceOwner (lease resources, lease deletion).
  std::chrono::nanoseconds owner_timeout = std::chrono::seconds(10);
  // How PinImage learns an image's target; unset: PinImage does nothing.
  ImageResolver resolve_image;
};

struct CollectorDeps {
  NamespaceStore* namespaces = nullptr;  // required
  LeaseStore* leases = nullptr;          // required
  const Owners* owners = nullptr;        // required (may hold no owner)
  std::vector<CollectableBackend*> backends;
  PinStore* pins = nullptr;                // optional: no image pins
  events::Publisher* publisher = nullptr;  // optional: no /gc/collect events
};

class Collector {
 public:
  // Nothing is owned; everything must outlive the Collector.
  Collector(CollectorDeps deps, CollectorOptions options);

  // Runs one collection and returns what it did. An error (nothing collected) only when the
  // gateway's own stores fail (namespaces, leases, pins); backends failing are reported in
  // the Report (postponed, errors), not as an error.
  absl::StatusOr<berth::gc::v1::Report> Collect(const CollectRequest& request);

  // Remembers the current target of image `name` in `ns`, so that containers naming it keep
  // its content after it is deleted (called just before an Images.Delete is forwarded).
  // NotFound when the image does not exist; errors of the resolver or the pin store.
  absl::Status PinImage(const std::string& ns, const std::string& name);

 private:
  // A backend's complete listing.
  struct Listing {
    Time started;
    std::vector<Object> objects;
  };
  struct Run;

  absl::Status CollectLeases(Run& run);
  void ListBackends(Run& run);
  absl::Status UpdatePins(Run& run, const MarkResult& mark, const Pins& pins);
  void Sweep(Run& run, const MarkResult& mark);
  // What the live leases hold now, in the namespaces of `namespaces`.
  std::set<ObjectKey> LeasedNow(Run& run, const std::set<std::string>& namespaces);
  void Postpone(Run& run, const std::string& backend, const std::string& reason);
  void Publish(const Run& run);
  CallContext OwnerContext(const std::string& ns) const;

  CollectorDeps deps_;
  CollectorOptions options_;
  // The last complete listing of each backend, by name (touched by Collect only).
  std::map<std::string, std::shared_ptr<const Listing>> listings_;
};

}  // namespace berth::gateway::gc

#endif  // BERTH_GATEWAY_GC_COLLECTOR_H_
