// remotes::Fetcher: opens content of one repository by descriptor, as a stream that checks the
// bytes against the descriptor while they pass (containerd's remotes.Fetcher).
//
// A pull streams each blob into the content store chunk by chunk:
//
//   ASSIGN_OR_RETURN(auto fetcher, resolver.NewFetcher(ctx, "registry.example.com/app:1"));
//   ASSIGN_OR_RETURN(auto stream, fetcher->Fetch(ctx, layer, /*offset=*/ingest.offset));
//   std::string chunk(1 << 20, '\0');
//   for (;;) {
//     ASSIGN_OR_RETURN(size_t n, stream->Read(chunk.data(), chunk.size()));
//     if (n == 0) break;                      // all bytes in, size and digest verified
//     RETURN_IF_ERROR(writer->Write(chunk.substr(0, n)));
//   }
//   RETURN_IF_ERROR(writer->Commit(layer.size, layer.digest, labels));
//
// or with CopyStream(*stream, sink) for a callback per chunk.
//
// Thread-safety: a Fetcher is safe to use from several threads at once (one Fetch per blob, in
// parallel). A ReadStream is used by one thread at a time. Fetchers and streams must not
// outlive the Resolver that made them.
#ifndef BERTH_SERVICES_IMAGE_REMOTES_FETCHER_H_
#define BERTH_SERVICES_IMAGE_REMOTES_FETCHER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "services/image/remotes/descriptor.h"

namespace berth::remotes {

// The bytes of one blob, from some offset to its end.
class ReadStream {
 public:
  virtual ~ReadStream() = default;

  // Reads up to `n` (> 0) bytes into `buf` and returns how many: at least 1 until the end,
  // then 0 — and 0 only once all descriptor.size bytes arrived and (for a stream that started
  // at offset 0) their digest matched. The last bytes of a blob are held back until that
  // check passed, so a consumer that stops at the first error never sees the end of a corrupt
  // blob. A connection that breaks or stalls mid-blob is resumed transparently with a Range
  // request from the current offset (bounded by the retry budget).
  // Errors: DataLoss naming the digest and the URL for a digest mismatch, more bytes than the
  // descriptor's size, or a blob that ends early; Unavailable when the connection broke and
  // could not be resumed; Cancelled / DeadlineExceeded from the call context. Errors are
  // sticky: later calls return the same error.
  virtual absl::StatusOr<std::size_t> Read(char* buf, std::size_t n) = 0;

  // Offset in the blob of the next byte Read returns.
  virtual std::int64_t offset() const = 0;

  // The URL the bytes come from (after redirects); for logs and messages.
  virtual std::string url() const = 0;
};

class Fetcher {
 public:
  virtual ~Fetcher() = default;

  // Opens `desc` (fetched by digest: manifests and indexes from /manifests/, anything else
  // from /blobs/), starting at byte `offset` (0 <= offset <= desc.size; a resumed ingest
  // passes its offset). Tries every endpoint with the pull capability in hosts.toml order and
  // returns the first that serves the blob; the stream is open and its status checked when
  // Fetch returns. With offset > 0 the stream checks the size of what remains but cannot
  // check the digest of the whole blob (the bytes before `offset` never pass through it): the
  // consumer must (content::Writer::Commit does). The descriptor's `urls` are never used.
  // Errors: InvalidArgument (bad descriptor or offset), NotFound when no endpoint has the blob,
  // Unauthenticated / PermissionDenied (auth failed), Unavailable (network), Unimplemented
  // (schema 1 media type); when several endpoints failed, the message lists each.
  virtual absl::StatusOr<std::unique_ptr<ReadStream>> Fetch(const CallContext& ctx,
                                                            const Descriptor& desc,
                                                            std::int64_t offset) = 0;

  absl::StatusOr<std::unique_ptr<ReadStream>> Fetch(const CallContext& ctx,
                                                    const Descriptor& desc) {
    return Fetch(ctx, desc, 0);
  }
};

// Feeds every chunk of `stream` to `sink` until the end (OK) or an error from either.
absl::Status CopyStream(ReadStream& stream,
                        const std::function<absl::Status(std::string_view)>& sink,
                        std::size_t chunk_size = 1 << 20);

// Fetches all of `desc` into memory, verified. InvalidArgument when desc.size is over
// `max_size` (manifests: kMaxManifestSize), else Fetch's and Read's errors.
absl::StatusOr<std::string> FetchAll(const CallContext& ctx, Fetcher& fetcher,
                                     const Descriptor& desc, std::int64_t max_size);

}  // namespace berth::remotes

#endif  // BERTH_SERVICES_IMAGE_REMOTES_FETCHER_H_
