// remotes::Resolver: turns an image reference into the descriptor of its root manifest or
// index, and hands out Fetchers and Pushers for the reference's repository — containerd's
// remotes.Resolver, with its locator design: a reference is resolved to a digest once, then
// everything is fetched by digest.
//
//   ASSIGN_OR_RETURN(Resolved r, resolver.Resolve(ctx, "docker.io/library/busybox:latest"));
//   ASSIGN_OR_RETURN(auto fetcher, resolver.NewFetcher(ctx, r.name));
//   ASSIGN_OR_RETURN(std::string index, FetchAll(ctx, *fetcher, r.descriptor,
//                                                 kMaxManifestSize));
//
// References are parsed with reference::Reference::ParseNormalized ("busybox" ->
// "docker.io/library/busybox:latest"). The implementation is RegistryResolver (registry.h).
//
// Thread-safety: implementations are safe to use from many threads at once.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_RESOLVER_H_
#define BERTH_SERVICES_IMAGE_REMOTES_RESOLVER_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "services/image/remotes/descriptor.h"
#include "services/image/remotes/fetcher.h"
#include "services/image/remotes/pusher.h"

namespace berth::remotes {

struct Resolved {
  // The normalised reference: "docker.io/library/busybox:latest".
  std::string name;
  // The root: a manifest or an index, with the registry's media type, digest and size.
  Descriptor descriptor;
};

class Resolver {
 public:
  virtual ~Resolver() = default;

  // Resolves `ref` to its root descriptor. A reference with a digest resolves to that digest
  // (the tag, if any, is not consulted); a tag is resolved by the first endpoint with the
  // resolve capability that knows it, in hosts.toml order (HEAD of the manifest, GET when the
  // HEAD response lacks the digest or a usable media type; after a GET, Docker-Content-Digest
  // is checked against the bytes). The descriptor is a manifest or index type, at most
  // kMaxManifestSize bytes.
  // Errors: InvalidArgument (bad reference, oversized or malformed manifest), NotFound (no
  // endpoint knows the reference), Unimplemented (schema 1 manifest), DataLoss (the digest the
  // registry claims does not match the bytes), Unauthenticated / PermissionDenied,
  // Unavailable; with several endpoints the message lists each one's failure.
  virtual absl::StatusOr<Resolved> Resolve(const CallContext& ctx, std::string_view ref) = 0;

  // A Fetcher for the repository of `ref` (tag and digest are ignored). InvalidArgument for a
  // bad reference; hosts.toml errors.
  virtual absl::StatusOr<std::unique_ptr<Fetcher>> NewFetcher(const CallContext& ctx,
                                                              std::string_view ref) = 0;

  // A Pusher for the repository of `ref`. Same errors as NewFetcher; FailedPrecondition when
  // no endpoint has the push capability.
  virtual absl::StatusOr<std::unique_ptr<Pusher>> NewPusher(const CallContext& ctx,
                                                            std::string_view ref) = 0;
};

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_RESOLVER_H_
