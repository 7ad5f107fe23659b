// content::Store: berth's content-addressed blob store, in containerd's shape
// (content.Store = Manager + Provider + IngestManager + Ingester).
//
// Blobs are named by their sha256 digest and are visible per namespace: a blob exists in a
// namespace once it was committed there, even when its bytes are shared with other
// namespaces. New blobs arrive through ingests: a Writer keyed by a client-chosen `ref`
// appends bytes (resumable after a broken stream or a restart, from Status().offset), and
// Commit verifies size and digest and makes the blob visible.
//
//   ASSIGN_OR_RETURN(auto w, store.OpenWriter(ctx, {.ref = "layer-sha256:ab..",
//                                                   .total = size, .expected = dgst}));
//   ASSIGN_OR_RETURN(IngestStatus st, w->Status());      // resume from st.offset
//   RETURN_IF_ERROR(w->Write(std::move(chunk)));         // ...
//   RETURN_IF_ERROR(w->Commit(size, dgst, labels));      // AlreadyExists is success too
//
// Every method takes the CallContext of the call first; its namespace scopes the call (empty
// -> FailedPrecondition "namespace is required", invalid -> InvalidArgument) and its lease,
// when set, is attached to what the call creates (writers: the ingest and the committed blob;
// an OpenWriter that finds the blob already committed leases it too).
//
// Codes every method may return besides those listed: FailedPrecondition / InvalidArgument
// for the namespace as above, Cancelled when ctx reports cancellation during a long walk,
// Unavailable when the store (or, through a proxy, the service) cannot be reached, Internal
// for a broken store. Disk errors map as ErrnoToStatus does (ENOSPC -> ResourceExhausted,
// naming the path).
//
// Thread-safety: implementations are safe to call from any number of threads. A Writer or a
// ReaderAt is used by one thread at a time; distinct ones are independent. Writers and
// readers may outlive nothing: destroy them before the Store.
#ifndef BERTH_SERVICES_CONTENT_STORE_H_
#define BERTH_SERVICES_CONTENT_STORE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/context/call_context.h"
#include "lib/digest/digest.h"

namespace berth::content {

using Labels = std::map<std::string, std::string>;
using Time = std::chrono::system_clock::time_point;

// A committed blob as one namespace sees it.
struct Info {
  digest::Digest digest;
  int64_t size = 0;
  Time created_at;  // When it was committed in this namespace.
  Time updated_at;  // Last label change (== created_at until then).
  Labels labels;
};

// The state of one ingest.
struct IngestStatus {
  std::string ref;
  int64_t offset = 0;       // Bytes written so far; where the next write goes.
  int64_t total = 0;        // Expected size as declared by a writer; 0 when unknown.
  digest::Digest expected;  // Expected digest as declared by a writer; empty when unknown.
  Time started_at;
  Time updated_at;
};

// What OpenWriter is asked for.
struct WriterOptions {
  // The ingest's name, chosen by the client (ctr uses "<kind>-<digest>"). Any bytes, 1 to
  // kMaxRefLength of them; refs are never used as paths.
  std::string ref;
  // Expected size, or 0 when unknown. Declaring it lets the store reserve the space up
  // front (so a full disk is reported before any byte is sent).
  int64_t total = 0;
  // Expected digest, or empty. When the blob is already committed in the namespace,
  // OpenWriter returns AlreadyExists; when it is on disk for another namespace, the ingest
  // starts complete (Status().offset == total) and Commit is instant.
  digest::Digest expected;
};

inline constexpr std::size_t kMaxRefLength = 4096;

// Random access to one committed blob. Reads keep working when the blob is deleted while the
// reader is open.
class ReaderAt {
 public:
  virtual ~ReaderAt() = default;

  // Size of the blob in bytes.
  virtual int64_t Size() const = 0;

  // Reads up to `n` bytes at `offset` into `buf` and returns how many were read: n, or fewer
  // only at the end of the blob (0 at or past the end). InvalidArgument for a negative
  // offset; DataLoss / Internal for an I/O error.
  virtual absl::StatusOr<std::size_t> ReadAt(char* buf, std::size_t n, int64_t offset) = 0;
};

// One open ingest. Holding a Writer locks its ref in the namespace: another OpenWriter on
// the same ref gets Unavailable until this one is destroyed. Destroying a Writer without
// Commit leaves the ingest resumable.
class Writer {
 public:
  virtual ~Writer() = default;

  // The ingest's state (offset = bytes written so far).
  virtual absl::StatusOr<IngestStatus> Status() = 0;

  // The sha256 of the bytes written so far (for a complete shared ingest, its expected
  // digest). May wait for hashing to catch up with the writes.
  virtual absl::StatusOr<digest::Digest> Digest() = 0;

  // Appends `data` at the current offset. Taking the buffer by value lets callers hand it
  // over without a copy. An implementation may accept the bytes before they reach storage;
  // a failure to store them (ResourceExhausted naming the path for a full disk) is then
  // returned by the writer's next call instead. Either way nothing of a failed chunk counts:
  // the offset falls back to the end of the bytes stored, and the ingest stays usable,
  // resumable and abortable. FailedPrecondition after Commit.
  virtual absl::Status Write(std::string data) = 0;

  // Discards the ingest's bytes. Only size 0 is supported (InvalidArgument otherwise).
  virtual absl::Status Truncate(int64_t size) = 0;

  // Verifies and commits the ingest as a blob of the namespace, with `labels`:
  //  - `size` > 0 must equal the bytes written, else FailedPrecondition
  //    `unexpected commit size <written>, expected <size>`;
  //  - a non-empty `expected` must equal the digest of the bytes written, else
  //    FailedPrecondition `unexpected commit digest <actual>, expected <expected>`;
  //  - InvalidArgument for invalid labels.
  // After a failed check the ingest stays as it was (reopen it to go on: over the wire a
  // failed call ends the stream, so the Writer may be unusable). On success the ingest is gone and
  // the blob is visible in the namespace; AlreadyExists when it was already committed there (the
  // ingest is gone too: callers treat it as success). A lease in the context of OpenWriter is
  // attached to the blob. Later calls on the writer return FailedPrecondition.
  virtual absl::Status Commit(int64_t size, const digest::Digest& expected,
                              const Labels& labels) = 0;
};

// Reading committed blobs.
class Provider {
 public:
  virtual ~Provider() = default;

  // Opens a committed blob for reading. NotFound when it is not committed in the namespace.
  virtual absl::StatusOr<std::unique_ptr<ReaderAt>> OpenReader(const CallContext& ctx,
                                                               const digest::Digest& digest) = 0;
};

// Blob metadata.
class Manager {
 public:
  virtual ~Manager() = default;

  // The blob's metadata. NotFound when it is not committed in the namespace.
  virtual absl::StatusOr<content::Info> Info(const CallContext& ctx,
                                             const digest::Digest& digest) = 0;

  // Updates the blob named by info.digest and returns the result. Only labels are mutable:
  // `fieldpaths` are "labels" (replace all labels with info.labels) or "labels.<key>" (set
  // that label from info.labels, or delete it when info.labels has no such key or its value
  // is empty); no paths replaces all labels. updated_at is set to now. NotFound when absent,
  // InvalidArgument for another path or for labels over the limit (lib/labels).
  virtual absl::StatusOr<content::Info> Update(const CallContext& ctx, const content::Info& info,
                                               const std::vector<std::string>& fieldpaths) = 0;

  // Calls fn for every blob of the namespace matching `filters` (containerd filter syntax,
  // ORed; empty matches all; fields `digest`, `size`, `labels.<key>`), in digest order,
  // until fn returns an error, which Walk then returns. InvalidArgument for a bad filter.
  virtual absl::Status Walk(const CallContext& ctx, const std::vector<std::string>& filters,
                            const std::function<absl::Status(const content::Info&)>& fn) = 0;

  // Removes the blob from the namespace. Its bytes go when no namespace holds it any more
  // (open readers keep working). NotFound when it is not committed in the namespace.
  virtual absl::Status Delete(const CallContext& ctx, const digest::Digest& digest) = 0;
};

// Inspecting and dropping ingests.
class IngestManager {
 public:
  virtual ~IngestManager() = default;

  // The ingest `ref` of the namespace. NotFound when there is none.
  virtual absl::StatusOr<IngestStatus> Status(const CallContext& ctx, const std::string& ref) = 0;

  // The namespace's ingests matching `filters` (fields `ref`, `expected`; ORed; empty
  // matches all), sorted by ref. InvalidArgument for a bad filter.
  virtual absl::StatusOr<std::vector<IngestStatus>> ListStatuses(
      const CallContext& ctx, const std::vector<std::string>& filters) = 0;

  // Drops the ingest and its bytes. NotFound when there is none; Unavailable while a Writer
  // holds it (`ref "<ref>" locked`).
  virtual absl::Status Abort(const CallContext& ctx, const std::string& ref) = 0;
};

// Starting ingests.
class Ingester {
 public:
  virtual ~Ingester() = default;

  // Opens (creating or resuming) the ingest options.ref of the namespace and locks it.
  //  - InvalidArgument: empty or too long ref, negative total;
  //  - AlreadyExists `content <digest>: already exists` when options.expected is committed
  //    in the namespace (the context's lease is attached to it first);
  //  - Unavailable `ref "<ref>" locked ...` while another Writer holds the ref;
  //  - ResourceExhausted naming the path when options.total cannot be reserved on disk (the
  //    ingest exists and can be aborted).
  // Resuming keeps the ingest's bytes, start time and declared total/expected (a new
  // total/expected only fills in one that was unknown).
  virtual absl::StatusOr<std::unique_ptr<content::Writer>> OpenWriter(
      const CallContext& ctx, const WriterOptions& options) = 0;
};

// The whole content store.
class Store : public Manager, public Provider, public IngestManager, public Ingester {};

}  // namespace berth::content

#endif  // BERTH_SERVICES_CONTENT_STORE_H_
