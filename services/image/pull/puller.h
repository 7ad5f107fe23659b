// Puller: berth-image's server-side pull — resolve a reference at its registry, fetch what the
// image needs into the content service, unpack its layers through the snapshot service's Diff,
// and write the image record last. What it leaves is what `ctr images pull` leaves
// (reference/containerd-api.md §4), so berth and containerd clients see the same image.
//
//   Puller puller(deps, options);
//   PullRequest request;
//   request.ref = "docker.io/library/busybox:latest";
//   request.unpack = true;
//   ASSIGN_OR_RETURN(image::Image img, puller.Pull(ctx, request, on_progress));
//
// The pipeline, for one call:
//   1. resolve the reference (remotes::Resolver: hosts.toml endpoints, auth);
//   2. create a lease at the gateway (containerd.io/gc.expire = now + 24 h); every call to the
//      content and snapshot services carries it (`containerd-lease`), so nothing the pull makes
//      is collected while it runs, and nothing half-made is referenced by an image;
//   3. the root: an index is fetched, validated (remotes::ParseDocument) and labelled with
//      containerd.io/gc.ref.content.m.<i> for every entry; its manifests are chosen by platform
//      (the host's and one manifest by default, the given platforms, or all); a manifest is
//      fetched, validated, labelled .config and .l.<i>; its config fetched and parsed;
//   4. the layers of every chosen manifest are queued at once and fetched in parallel —
//      at most `max_concurrent_downloads` per pull and a semaphore shared by all pulls —
//      each streamed into the content service (Writer with ref "layer-<digest>" and the
//      expected digest: an ingest left by an interrupted pull resumes at its offset, and the
//      registry is asked for the rest with a Range request);
//   5. while they download, the unpack walks each manifest's layers in order: layer N is
//      applied as soon as it is stored (Stat(chain ID) -> exists: skip; else Prepare
//      "extract-<..> <chain ID>" on the parent chain with containerd.io/snapshot.ref,
//      Diff.Apply, check the diffID, Commit under the chain ID, label the blob
//      containerd.io/uncompressed), then the config gets containerd.io/gc.ref.snapshot.<sn>;
//   6. every stored blob carries containerd.io/distribution.source.<host> = <repository>;
//   7. the image record is created (or, when the name exists, replaced — ctr's Create then
//      Update), and the lease is deleted (also when the pull failed).
//
// Every blob goes through an in-process lock on its digest (KeyedMutex): when two pulls, in
// any namespaces, want the same blob at once, one fetches it and the other then finds it in
// the content store, so the registry sends it once. Unpacks of one chain ID in one namespace
// and snapshotter are serialised the same way.
//
// Errors name what failed: `pull "<ref>": layer sha256:<..>: digest mismatch for sha256:<..>
// from "<url>": got sha256:<..>` (DataLoss). A blob whose bytes do not match is not stored
// (its ingest is aborted); a blob cut short keeps its ingest for the next pull to resume.
//
// Thread-safety: Pull may be called from many threads at once. Progress callbacks of one
// pull are never concurrent (the Puller serialises them) but come from several threads.
#ifndef BERTH_SERVICES_IMAGE_PULL_PULLER_H_
#define BERTH_SERVICES_IMAGE_PULL_PULLER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "services/content/store.h"
#include "services/image/pull/gateway_client.h"
#include "services/image/pull/sync.h"
#include "services/image/remotes/credentials.h"
#include "services/image/remotes/registry.h"
#include "services/image/remotes/resolver.h"
#include "services/image/store.h"
#include "services/snapshot/diff/differ.h"
#include "services/snapshot/snapshotter.h"

namespace berth::image::pull {

struct PullRequest {
  // The reference ("busybox", "127.0.0.1:5000/test/busybox:1.0", "...@sha256:<hex>").
  std::string ref;
  // Platform specifiers to pull from an index; empty: the host's (one manifest).
  std::vector<std::string> platforms;
  // Every manifest of an index.
  bool all_platforms = false;
  // Unpack every pulled manifest into `snapshotter`.
  bool unpack = false;
  // Empty: the namespace's containerd.io/defaults/snapshotter label, else the default.
  std::string snapshotter;
  // Labels of the image record.
  std::map<std::string, std::string> labels;
  // Name of the image record; empty: the normalised reference.
  std::string name;
  // Registry overrides for this pull: hosts.toml roots (empty: the Puller's), plain HTTP,
  // credentials (unset: the Puller's).
  std::vector<std::string> hosts_dirs;
  bool plain_http = false;
  std::optional<remotes::Credentials> credentials;
};

struct Progress {
  enum class Kind {
    kResolving,    // ref
    kDownloading,  // digest, offset of total
    kVerifying,    // digest
    kDone,         // digest stored; with `image`: the pull is complete
    kExists,       // digest already stored, or (with snapshot) the layer already unpacked
    kUnpacking,    // digest is applied to become `snapshot`
    kUnpacked,     // digest committed as `snapshot`
  };
  Kind kind = Kind::kResolving;
  std::string ref;
  std::string digest;
  std::string media_type;
  std::string role;  // "index", "manifest", "config", "layer"
  std::int64_t offset = 0;
  std::int64_t total = 0;
  std::string snapshot;
  // The final message only; valid during the callback.
  const image::Image* image = nullptr;
};

// Called for every step; a callback must not call back into the Puller.
using ProgressFunc = std::function<void(const Progress&)>;

struct PullerOptions {
  // Layers one pull fetches at once.
  std::size_t max_concurrent_downloads = 3;
  // Blobs all pulls together fetch at once.
  std::size_t max_concurrent_downloads_total = 12;
  // Snapshotter when neither the request nor the namespace names one.
  std::string default_snapshotter = "overlayfs";
  // How long the pull's lease protects what it made if berth-image dies before deleting it.
  std::chrono::seconds lease_expiry = std::chrono::hours(24);
  // The registry client's defaults: hosts.toml roots, credentials, retries, timeouts.
  remotes::RegistryOptions registry;
  // Largest image config read (manifests and indexes: remotes::kMaxManifestSize).
  std::int64_t max_config_size = 16 << 20;
  // Bytes per write to the content service.
  std::size_t chunk_size = 1 << 20;
  // How long an ingest locked by another writer (a client-side pull of the same blob in the
  // same namespace) is waited for.
  std::chrono::seconds locked_ingest_timeout = std::chrono::minutes(10);
  // Deadline of the clean-up calls made after a failure or cancellation (lease deletion,
  // removal of a half-applied snapshot).
  std::chrono::seconds cleanup_timeout = std::chrono::seconds(30);
};

// Makes the resolver for a set of registry options (tests substitute their own).
using ResolverFactory =
    std::function<std::unique_ptr<remotes::Resolver>(const remotes::RegistryOptions&)>;
// The snapshotter called `name`; InvalidArgument for one that does not exist.
using SnapshotterFunc =
    std::function<absl::StatusOr<snapshot::Snapshotter*>(const std::string& name)>;

// What the Puller works with. None is owned; all must outlive it.
struct PullerDeps {
  content::Store* content = nullptr;           // required
  image::Store* images = nullptr;              // required
  SnapshotterFunc snapshotters;                // required for unpack
  snapshot::diff::Applier* applier = nullptr;  // required for unpack
  LeaseManager* leases = nullptr;              // null: pulls run without a lease
  NamespaceLabels* namespaces = nullptr;       // null: no per-namespace default snapshotter
  ResolverFactory new_resolver;                // unset: RegistryResolver
};

class Puller {
 public:
  Puller(PullerDeps deps, PullerOptions options);
  ~Puller();
  Puller(const Puller&) = delete;
  Puller& operator=(const Puller&) = delete;

  // Pulls `request.ref` into ctx's namespace (required) and returns the image record as
  // stored. `progress` (may be empty) sees every step. Errors (the message starts with
  // `pull "<ref>": ` and names the blob): InvalidArgument (bad reference, platform or
  // snapshotter; a malformed or oversized document; a config whose diff IDs do not match the
  // layers), NotFound (unknown reference or blob; no manifest for the platform), DataLoss (a
  // blob's bytes do not match its digest, with the URL), FailedPrecondition (a layer that
  // unpacks to another diffID), Unauthenticated / PermissionDenied, Unavailable, Unimplemented
  // (schema 1), Cancelled / DeadlineExceeded (ctx), and the services' errors.
  absl::StatusOr<image::Image> Pull(const CallContext& ctx, const PullRequest& request,
                                    const ProgressFunc& progress);

  struct Stats {
    std::uint64_t pulls = 0;           // Pull calls that succeeded
    std::uint64_t pull_errors = 0;     // Pull calls that failed
    std::uint64_t blobs_fetched = 0;   // blobs whose bytes came from a registry
    std::uint64_t bytes_fetched = 0;   // bytes that came from registries
    std::uint64_t blobs_existing = 0;  // blobs found already stored
    std::uint64_t layers_unpacked = 0;
  };
  Stats stats() const;

  // Downloads in flight across all pulls, and the most there ever were at once.
  std::size_t downloads_in_flight() const { return downloads_.in_use(); }
  std::size_t downloads_peak() const { return downloads_.peak(); }

 private:
  class Operation;

  // The resolver for a request's registry overrides; `owned` receives a resolver made for
  // this pull alone (credentials), else a cached shared one is returned.
  absl::StatusOr<remotes::Resolver*> ResolverFor(const PullRequest& request,
                                                 std::unique_ptr<remotes::Resolver>* owned);

  PullerDeps deps_;
  PullerOptions options_;
  KeyedMutex blobs_;
  KeyedMutex unpacks_;
  Semaphore downloads_;

  std::mutex resolvers_mu_;
  // "" -> the default resolver; "<plain_http>|<hosts dirs>" -> one per override seen.
  std::map<std::string, std::unique_ptr<remotes::Resolver>> resolvers_;

  std::atomic<std::uint64_t> pulls_{0};
  std::atomic<std::uint64_t> pull_errors_{0};
  std::atomic<std::uint64_t> blobs_fetched_{0};
  std::atomic<std::uint64_t> bytes_fetched_{0};
  std::atomic<std::uint64_t> blobs_existing_{0};
  std::atomic<std::uint64_t> layers_unpacked_{0};
};

}  // namespace berth::image::pull

#endif  // BERTH_SERVICES_IMAGE_PULL_PULLER_H_
