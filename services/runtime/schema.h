// The on-disk schema of berth-runtime: the RocksDB key tree under [runtime] root and the
// state directory under [runtime] state, drawn here once. Functions below build every key
// and path; nothing else spells one by hand.
//
// RocksDB (<root>/meta; components joined by '/', lib/store/keys.h; <ns> is a namespace, an
// identifier, which can never start with '_', so "_runtime" cannot collide with one):
//
//   version                                   "v1" (lib/store's schema version)
//   v1/
//   ├── <ns>/containers/<id>                  containerd.services.containers.v1.Container,
//   │                                         verbatim (timestamps always set)
//   └── _runtime/
//       ├── outbox/<seq, 20 digits>           OutboxRecord: an event (a task exit) persisted
//       │                                     before it was acknowledged to the shim, until
//       │                                     the publisher has sent it; replayed at start
//       └── exits/<ns>/<id>/<proc>            "<pid> <exited_at ns>": this exit was persisted
//                                             (dedupes a shim's re-sent exit); <proc> is
//                                             "init" or "exec.<exec id>"; dropped with the task
//
// Records are in proto/berth/runtime/v1/records.proto. Containers persist across reboots;
// tasks do not (their processes do not), so tasks live in the state directory (a tmpfs):
//
//   <state>/                                  0700
//   ├── <ns>/                                 0700
//   │   └── <id>/                             0700  the task's bundle
//   │       ├── task.pb                       TaskRecord (written before the shim starts)
//   │       ├── config.json                   the container's spec, root.path = "rootfs"
//   │       ├── rootfs/                       the Tasks.Create rootfs mounts, mounted here
//   │       ├── log.json                      the OCI runtime's JSON log
//   │       ├── shim.log                      berth-shim's stdout/stderr
//   │       ├── init.pid                      written by the OCI runtime
//   │       ├── init.exit, exec-<e>.exit      "<status> <exited_at ns> <pid>", by the shim
//   │       └── exit-reported                 berth-runtime persisted init's exit (dead shim)
//   ├── _s/                                   0700  shim sockets (never abstract:
//   │   └── <hash>.sock                       CVE-2020-15257); <hash> = first 32 hex of
//   │                                         sha256("<state>/<ns>/<id>"); console sockets
//   │                                         <hash>.sock.c<n> live beside it briefly
//   └── _runc/<ns>/                           0700  the OCI runtime's --root
//
// "_s" and "_runc" start with '_', which no namespace can: a namespace named "s" or "runc"
// would otherwise put its bundles among the sockets or the runtime's state.
//
// Invariants: a bundle with task.pb has (or had) a shim; at start berth-runtime reconnects
// to every one, and a bundle without task.pb is a crashed Create and is cleaned up.
//
// Thread-safety: pure functions.
#ifndef BERTH_SERVICES_RUNTIME_SCHEMA_H_
#define BERTH_SERVICES_RUNTIME_SCHEMA_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::runtime::schema {

inline constexpr char kSchemaVersion[] = "v1";

// Under root.
inline constexpr char kMetaDir[] = "meta";
// In a bundle.
inline constexpr char kTaskRecordFile[] = "task.pb";
inline constexpr char kSpecFile[] = "config.json";
inline constexpr char kRootfsDir[] = "rootfs";
inline constexpr char kShimLogFile[] = "shim.log";
inline constexpr char kExitReportedFile[] = "exit-reported";
// Under state.
inline constexpr char kSocketDir[] = "_s";
inline constexpr char kRuncRootDir[] = "_runc";

// Keys. `ns` and `id` must be valid identifiers (callers check).
std::string ContainerKey(std::string_view ns, std::string_view id);
std::string ContainersPrefix(std::string_view ns);
std::string OutboxKey(uint64_t seq);
std::string OutboxPrefix();
// `exec_id` "" is the init process.
std::string ExitKey(std::string_view ns, std::string_view id, std::string_view exec_id);
std::string TaskExitsPrefix(std::string_view ns, std::string_view id);

// Paths.
std::string BundleDir(std::string_view state, std::string_view ns, std::string_view id);
std::string NamespaceDir(std::string_view state, std::string_view ns);
std::string SocketDir(std::string_view state);
std::string ShimSocket(std::string_view state, std::string_view ns, std::string_view id);
std::string RuncRoot(std::string_view state, std::string_view ns);
// "init.exit" or "exec-<id>.exit" in the bundle.
std::string ExitFile(std::string_view bundle, std::string_view exec_id);

}  // namespace berth::runtime::schema

#endif  // BERTH_SERVICES_RUNTIME_SCHEMA_H_
