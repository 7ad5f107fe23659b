// push::Pusher: berth-image's server-side push — the tree of an image record (index ->
// manifests -> configs and layers), read from the content service, uploaded to a registry
// with remotes::Pusher. What arrives at the registry is what `ctr images push` sends.
//
//   Pusher pusher(deps, options);
//   PushRequest request;
//   request.ref = "docker.io/library/busybox:latest";          // the image record
//   request.target = "127.0.0.1:5000/mirror/busybox:1.0";      // where it goes
//   ASSIGN_OR_RETURN(remotes::Descriptor root, pusher.Push(ctx, request, on_progress));
//
// For one call:
//   1. the image record `ref` is looked up in ctx's namespace (as given, then normalised);
//   2. its tree is read from the content service: an index (at most remotes::kMaxManifestSize
//      bytes, validated by remotes::ParseIndex) contributes the manifests chosen by platform
//      (every manifest unless platforms / all_platforms say otherwise — each chosen one must
//      be stored, as containerd's push requires), a manifest its config and layers;
//   3. the blobs (configs, layers; each digest once) are pushed in parallel by
//      `max_concurrent_uploads` workers: remotes::Pusher HEADs first (EXISTS), mounts from a
//      repository of the same registry named by the blob's
//      `containerd.io/distribution.source.<host>` label (MOUNTED), else uploads (UPLOADED;
//      chunked when request.chunk_size > 0);
//   4. then the manifests by digest, and the root last under the target's tag (by digest
//      when the target has no tag), so the registry never holds a manifest whose blobs are
//      missing;
//   5. every pushed blob's distribution-source label gains the target repository, so a later
//      push to another repository of that registry mounts instead of uploading (best effort:
//      a failed label update does not fail the push).
//
// Thread-safety: Push may be called from many threads at once. Progress callbacks of one push
// are never concurrent (the Pusher serialises them) but come from several threads.
#ifndef BERTH_SERVICES_IMAGE_PUSH_PUSHER_H_
#define BERTH_SERVICES_IMAGE_PUSH_PUSHER_H_

#include <atomic>
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
#include "services/image/remotes/credentials.h"
#include "services/image/remotes/descriptor.h"
#include "services/image/remotes/registry.h"
#include "services/image/remotes/resolver.h"
#include "services/image/store.h"

namespace berth::image::push {

struct PushRequest {
  // Name of the image record ("docker.io/library/busybox:latest"; "busybox" is also looked up
  // normalised).
  std::string ref;
  // Target reference; empty: the image's name. A tag names the root; a digest-only target
  // pushes the root by digest.
  std::string target;
  // Platform specifiers selecting manifests of an index; empty (and all_platforms unset):
  // every manifest of the index.
  std::vector<std::string> platforms;
  bool all_platforms = false;
  // Registry overrides for this push: hosts.toml roots (empty: the Pusher's), plain HTTP,
  // credentials (unset: the Pusher's).
  std::vector<std::string> hosts_dirs;
  bool plain_http = false;
  std::optional<remotes::Credentials> credentials;
  // > 0: blobs are uploaded in PATCH chunks of this many bytes; 0: one PUT per blob.
  std::int64_t chunk_size = 0;
};

struct Progress {
  enum class Kind {
    kPushing,   // digest is being pushed
    kUploaded,  // its bytes were sent
    kExists,    // the repository had it already
    kMounted,   // mounted from `mounted_from`
    kDone,      // the root is pushed as `ref` (the last message)
  };
  Kind kind = Kind::kPushing;
  // kDone: the normalised target reference.
  std::string ref;
  std::string digest;
  std::string media_type;
  std::string role;  // "index", "manifest", "config", "layer"
  std::int64_t size = 0;
  std::string mounted_from;
};

// Called for every step; must not call back into the Pusher.
using ProgressFunc = std::function<void(const Progress&)>;

struct PusherOptions {
  // Blobs one push uploads at once.
  std::size_t max_concurrent_uploads = 3;
  // The registry client's defaults: hosts.toml roots, credentials, retries, timeouts.
  remotes::RegistryOptions registry;
};

// Makes the resolver for a set of registry options (tests substitute their own).
using ResolverFactory =
    std::function<std::unique_ptr<remotes::Resolver>(const remotes::RegistryOptions&)>;

// What the Pusher works with. None is owned; all must outlive it.
struct PusherDeps {
  content::Store* content = nullptr;  // required
  image::Store* images = nullptr;     // required
  ResolverFactory new_resolver;       // unset: RegistryResolver
};

class Pusher {
 public:
  Pusher(PusherDeps deps, PusherOptions options);
  ~Pusher();
  Pusher(const Pusher&) = delete;
  Pusher& operator=(const Pusher&) = delete;

  // Pushes the image record `request.ref` of ctx's namespace (required) to `request.target`
  // and returns the root descriptor pushed. `progress` (may be empty) sees every step.
  // Errors (the message starts with `push "<ref>": `): InvalidArgument (empty ref, bad
  // target or platform, a malformed or oversized document, a record whose target is not a
  // manifest or index), NotFound (no such image record — named —, or content of the chosen
  // tree not stored — the digest named), Unauthenticated / PermissionDenied, Unavailable,
  // DataLoss (the registry computed another digest), Cancelled / DeadlineExceeded, and the
  // content service's errors.
  absl::StatusOr<remotes::Descriptor> Push(const CallContext& ctx, const PushRequest& request,
                                           const ProgressFunc& progress);

  struct Stats {
    std::uint64_t pushes = 0;          // Push calls that succeeded
    std::uint64_t push_errors = 0;     // Push calls that failed
    std::uint64_t blobs_uploaded = 0;  // blobs and manifests whose bytes were sent
    std::uint64_t blobs_mounted = 0;   // blobs mounted from another repository
    std::uint64_t blobs_existing = 0;  // blobs and manifests the registry had
  };
  Stats stats() const;

 private:
  class Operation;
  absl::StatusOr<remotes::Resolver*> ResolverFor(const PushRequest& request,
                                                 std::unique_ptr<remotes::Resolver>* owned);

  PusherDeps deps_;
  PusherOptions options_;
  std::mutex resolvers_mu_;
  std::map<std::string, std::unique_ptr<remotes::Resolver>> resolvers_;
  std::atomic<std::uint64_t> pushes_{0};
  std::atomic<std::uint64_t> push_errors_{0};
  std::atomic<std::uint64_t> blobs_uploaded_{0};
  std::atomic<std::uint64_t> blobs_mounted_{0};
  std::atomic<std::uint64_t> blobs_existing_{0};
};

}  // namespace berth::image::push

#endif  // BERTH_SERVICES_IMAGE_PUSH_PUSHER_H_
