// The on-disk schema of berth-content: the files under its root and the RocksDB key tree,
// drawn here once. Functions below build every key; nothing else spells a key by hand.
//
// Files (<root> = [content] root, default /var/lib/berth/content):
//
//   <root>/blobs/sha256/<hex>        committed blobs, mode 0444, shared by all namespaces
//   <root>/ingest/<ingest id>/       one ingest; <ingest id> = hex sha256("<ns>/<ref>"), so a
//       data                         ref (any bytes, "/.." included) never becomes a path
//       ref                          the ref, verbatim
//       namespace                    the namespace
//       startedat, updatedat         RFC 3339 UTC with nanoseconds; the data file's mtime
//                                    counts as an update too (updatedat is not rewritten on
//                                    every write)
//       total                        declared size, decimal (absent: unknown)
//       expected                     declared digest (absent: unknown)
//   <root>/meta/                     the RocksDB database below
//
// Keys (components joined by '/', lib/store/keys.h; <ns> is a namespace, an identifier,
// which can never start with '_', so "_content" cannot collide with one):
//
//   version                                        "v1" (lib/store's schema version)
//   v1/
//   ├── <ns>/content/
//   │   ├── blob/<digest>                          BlobRecord: size, created/updated, labels
//   │   └── lease/<lease>/
//   │       ├── content/<digest>                   ""   the lease holds the blob
//   │       └── ingests/<ingest id>                ref  the lease holds the ingest
//   └── _content/
//       ├── holders/<digest>/<ns>                  size (decimal): <ns> holds the blob; the
//       │                                          file goes when the last holder does
//       └── ingest/<ingest id>                     IngestRecord: namespace, ref, shared,
//                                                  leases
//
// Records are the protobuf messages of proto/berth/content/v1/records.proto.
//
// Invariants (kept by LocalStore; each change is one WriteBatch):
//  - blob/<d> exists in <ns>  <=>  holders/<d>/<ns> exists, and then blobs/sha256/<hex(d)>
//    exists (the file is renamed into place and its directory fsync'd before the batch; a
//    crash in between leaves a verified blob no namespace holds, which a later commit of the
//    same digest adopts instantly or garbage collection removes).
//  - ingest/<id> exists  <=>  <root>/ingest/<id>/ exists with ref and namespace files
//    (start-up reconciliation restores this: a directory without a record gets one, a record
//    without a directory is dropped).
//  - <l> in ingest/<id>.leases  =>  lease/<l>/ingests/<id> exists; commit and abort remove
//    those keys with the record. (A lease may also name an ingest that does not exist yet,
//    through ContentAdmin.AddLeaseResource, as containerd allows; such a key stays until
//    the lease's records are deleted.)
//
// Thread-safety: pure functions.
#ifndef BERTH_SERVICES_CONTENT_SCHEMA_H_
#define BERTH_SERVICES_CONTENT_SCHEMA_H_

#include <string>
#include <string_view>

#include "lib/digest/digest.h"

namespace berth::content::schema {

inline constexpr char kSchemaVersion[] = "v1";

// Directories and files under the root.
inline constexpr char kBlobsDir[] = "blobs/sha256";
inline constexpr char kIngestDir[] = "ingest";
inline constexpr char kMetaDir[] = "meta";
inline constexpr char kDataFile[] = "data";
inline constexpr char kRefFile[] = "ref";
inline constexpr char kNamespaceFile[] = "namespace";
inline constexpr char kStartedAtFile[] = "startedat";
inline constexpr char kUpdatedAtFile[] = "updatedat";
inline constexpr char kTotalFile[] = "total";
inline constexpr char kExpectedFile[] = "expected";
// Suffix of files being replaced atomically (write, fsync, rename); strays are removed at
// start.
inline constexpr char kTempSuffix[] = ".tmp";

// hex sha256("<ns>/<ref>"): the ingest's directory name and key component. `ns` is an
// identifier (no '/'), so distinct (ns, ref) pairs never share an id.
std::string IngestId(std::string_view ns, std::string_view ref);

// Keys. Namespaces and lease ids must be valid identifiers and digests parsed ones (callers
// check); ingest ids come from IngestId.
std::string BlobKey(std::string_view ns, const digest::Digest& d);
std::string BlobPrefix(std::string_view ns);       // Every blob/<digest> of the namespace.
std::string NamespacePrefix(std::string_view ns);  // Everything of the namespace.
std::string LeaseContentKey(std::string_view ns, std::string_view lease, const digest::Digest& d);
std::string LeaseIngestKey(std::string_view ns, std::string_view lease, std::string_view id);
std::string LeasePrefix(std::string_view ns, std::string_view lease);  // One lease.
std::string LeasesPrefix(std::string_view ns);                         // All leases of ns.
std::string HolderKey(const digest::Digest& d, std::string_view ns);
std::string HoldersPrefix(const digest::Digest& d);  // Holders of one blob.
std::string AllHoldersPrefix();                      // Holders of every blob.
std::string IngestKey(std::string_view id);
std::string AllIngestsPrefix();

}  // namespace berth::content::schema

#endif  // BERTH_SERVICES_CONTENT_SCHEMA_H_
