// remotes::Pusher: uploads content to one repository (containerd's remotes.Pusher).
//
// A push sends blobs first (layers, configs), then child manifests, then the root manifest or
// index, so that a registry never holds a manifest whose blobs are missing:
//
//   ASSIGN_OR_RETURN(auto pusher, resolver.NewPusher(ctx, "registry.example.com/app:1"));
//   for (const Descriptor& blob : blobs)
//     RETURN_IF_ERROR(pusher->Push(ctx, blob, *ReaderFor(blob), {.mount_from = source}).status());
//   RETURN_IF_ERROR(pusher->Push(ctx, root, *ReaderFor(root), {.tag = "1"}).status());
//
// Blobs: HEAD /blobs/<digest> first (present -> kAlreadyExists, nothing sent); then, when a
// repository of the same registry is known to hold the blob, a cross-repository mount
// (POST /blobs/uploads/?mount=<digest>&from=<repo>; 201 -> kMounted); else an upload: POST
// /blobs/uploads/ then one PUT ?digest= with all bytes (monolithic), or PATCH chunks of
// chunk_size bytes and a closing PUT ?digest= (chunked). A failed upload is retried from the
// POST within the retry budget.
// Manifests and indexes (by media type): PUT /manifests/<tag> when a tag is given, else
// PUT /manifests/<digest> (skipped when HEAD finds it); the registry's Docker-Content-Digest
// must match the descriptor.
//
// Thread-safety: a Pusher is safe to use from several threads at once (blobs in parallel).
// Pushers must not outlive the Resolver that made them.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_PUSHER_H_
#define BERTH_SERVICES_IMAGE_REMOTES_PUSHER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "services/image/remotes/descriptor.h"

namespace berth::remotes {

// Random access to the bytes being pushed (content::ReaderAt has this shape; adapt it).
// Reads may be repeated (a retried upload starts over), so it must be re-readable.
class BlobReader {
 public:
  virtual ~BlobReader() = default;

  // Reads up to `n` bytes at `offset` into `buf`; returns how many (0 only at the end).
  virtual absl::StatusOr<std::size_t> ReadAt(char* buf, std::size_t n, std::int64_t offset) = 0;
};

// A BlobReader over bytes in memory.
std::unique_ptr<BlobReader> BytesReader(std::string bytes);

enum class PushResult {
  kUploaded,       // the bytes were sent
  kAlreadyExists,  // the repository had the content: nothing was sent
  kMounted,        // mounted from PushOptions::mount_from: nothing was sent
};

struct PushOptions {
  // Manifests and indexes only: push under this tag (the root of a push) instead of by
  // digest. Must be a valid tag.
  std::string tag;
  // Blobs only: a repository path in the same registry that holds the blob (from the
  // blob's `containerd.io/distribution.source.<host>` label); tried as a cross-repository
  // mount first. Empty: no mount.
  std::string mount_from;
  // Blobs only: 0 uploads in one PUT (monolithic); > 0 sends PATCH chunks of this many bytes.
  std::int64_t chunk_size = 0;
};

class Pusher {
 public:
  virtual ~Pusher() = default;

  // Pushes `desc` with bytes from `reader` (exactly desc.size bytes from offset 0) as the file
  // comment says. Tries the endpoints with the push capability in order.
  // Errors: InvalidArgument (bad descriptor, bad tag, a manifest over kMaxManifestSize),
  // Unauthenticated / PermissionDenied (auth failed or push denied), DataLoss (the registry
  // computed another digest than desc.digest, or the reader's bytes do not match), NotFound
  // (repository unknown), Unavailable (network, 5xx after retries), the reader's errors.
  virtual absl::StatusOr<PushResult> Push(const CallContext& ctx, const Descriptor& desc,
                                          BlobReader& reader, const PushOptions& options) = 0;
};

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_PUSHER_H_
