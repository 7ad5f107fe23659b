// The key tree of berth-snapshot's metadata database (RocksDB at <root>/meta), in one place.
//
//   version                                                   "v1"  (lib/store checks it)
//   v1/<ns>/snapshots/<snapshotter>/key/<key>                  SnapshotRecord
//   v1/<ns>/snapshots/<snapshotter>/child/<parent>/<child>     ""    parent -> children index
//   v1/<ns>/leases/<lease>/snapshots/<snapshotter>/<key>       ""    lease -> snapshot
//   sys/snapshotters/<snapshotter>/next-id                     decimal: next backend id
//
// <ns> and <lease> are containerd identifiers (no '/'). <key>, <parent> and <child> are
// snapshot keys, which may contain any byte but NUL; they are escaped with EscapeComponent
// ('%' -> "%25", '/' -> "%2F") so that each is one key component.
//
// Records are the protobuf messages of proto/berth/snapshot/v1/records.proto: a snapshot's
// backend id (its directory is <root>/<snapshotter>/snapshots/<id>, never reused while the
// record lives), kind, parent key, labels, created/updated times, the disk usage measured at
// Commit, and the leases holding it (mirroring the lease tree).
//
// Invariants (kept by MetaStore and DirectorySnapshotter):
//  - a record's directory exists (it is made before the record is written, and removed
//    after the record is deleted); a directory without a record is an orphan that Cleanup
//    removes at start;
//  - child/<p>/<c> exists  <=>  record <c> exists with parent <p> (so "has children" is
//    one prefix seek, and Remove refuses a parent);
//  - <l> in record.leases  =>  leases/<l>/snapshots/<snapshotter>/<key> exists (a lease may
//    also name a snapshot that does not exist, as containerd allows).
//
// Every change that touches several keys (create with its child and lease entries, commit,
// remove) is one store::Batch. Backend ids come from a counter that only grows: the next
// value is kept in memory and persisted with each record that uses one.
//
// Thread-safety: pure functions.
#ifndef BERTH_SERVICES_SNAPSHOT_SCHEMA_H_
#define BERTH_SERVICES_SNAPSHOT_SCHEMA_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace berth::snapshot::schema {

inline constexpr char kSchemaVersion[] = "v1";

// Escapes a snapshot key into one key component ('%' -> %25, '/' -> %2F); never empty for
// a non-empty key.
std::string EscapeComponent(std::string_view key);
// Reverses EscapeComponent. InvalidArgument for a malformed escape.
absl::StatusOr<std::string> UnescapeComponent(std::string_view component);

// v1/<ns>/snapshots/<snapshotter>/key/<key>
absl::StatusOr<std::string> SnapshotKey(std::string_view ns, std::string_view snapshotter,
                                        std::string_view key);
// v1/<ns>/snapshots/<snapshotter>/key/ (scan prefix of all records of a snapshotter)
absl::StatusOr<std::string> SnapshotPrefix(std::string_view ns, std::string_view snapshotter);
// v1/<ns>/snapshots/ (everything of a namespace)
absl::StatusOr<std::string> NamespacePrefix(std::string_view ns);
// v1/<ns>/snapshots/<snapshotter>/child/<parent>/<child>
absl::StatusOr<std::string> ChildKey(std::string_view ns, std::string_view snapshotter,
                                     std::string_view parent, std::string_view child);
// v1/<ns>/snapshots/<snapshotter>/child/<parent>/
absl::StatusOr<std::string> ChildPrefix(std::string_view ns, std::string_view snapshotter,
                                        std::string_view parent);
// v1/<ns>/leases/<lease>/snapshots/<snapshotter>/<key>
absl::StatusOr<std::string> LeaseKey(std::string_view ns, std::string_view lease,
                                     std::string_view snapshotter, std::string_view key);
// v1/<ns>/leases/<lease>/snapshots/
absl::StatusOr<std::string> LeasePrefix(std::string_view ns, std::string_view lease);
// sys/snapshotters/<snapshotter>/next-id
absl::StatusOr<std::string> NextIdKey(std::string_view snapshotter);

}  // namespace berth::snapshot::schema

#endif  // BERTH_SERVICES_SNAPSHOT_SCHEMA_H_
