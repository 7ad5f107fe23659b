// OCI runtime specs for berth containers: containerd's default Linux spec and the spec
// options (`SpecOpt`) that shape it, as in containerd's oci package.
//
// A Spec is the runtime-spec config.json as JSON (nlohmann::json): what berth-runtime writes
// into the bundle, and what the client carries in Container.spec as an Any of type
// `types.containerd.io/opencontainers/runtime-spec/1/Spec`. Options are plain callables, so a
// program writes its own exactly like the built-in ones:
//
//   absl::Status WithHtop(const oci::SpecContext& ctx, oci::Spec* s) {
//     RETURN_IF_ERROR(oci::WithHostNamespace(oci::kPIDNamespace)(ctx, s));
//     (*s)["process"]["args"] = {"htop"};
//     return oci::WithTTY(ctx, s);
//   }
//
// The default spec (GenerateDefaultSpec) is containerd's in substance: pid, ipc, uts, mount
// and network namespaces; /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys (ro), /run and
// a read-only /sys/fs/cgroup; the default capability set in bounding, permitted and
// effective and none inheritable (CVE-2022-24769); RLIMIT_NOFILE 1024; masked and read-only
// paths (/sys/devices/virtual/powercap included); no new privileges; every device denied in
// the device cgroup except the standard character devices (WithDefaultUnixDevices); cgroups
// path /<namespace>/<id>. No seccomp profile (oci/seccomp.h's WithDefaultSeccomp adds
// containerd's), and no environment (WithImageConfig brings the image's, WithDefaultPathEnv a
// PATH).
//
// Options that look into the container's root filesystem (WithUser, WithUserID,
// WithUsername, WithAdditionalGIDs, WithAppendAdditionalGroups) read /etc/passwd and
// /etc/group through SpecContext::with_rootfs (the client mounts the container's snapshot
// read-only for the call), or from spec root.path when it is absolute and there is no
// snapshot. Reads never leave the root (openat2 RESOLVE_IN_ROOT), files are size-capped,
// and uids/gids must lie in [0, 2^31-1] (CVE-2024-40635).
//
// Thread-safety: the functions are pure; an option may be called from any thread, one spec
// per call.
#ifndef BERTH_CLIENT_OCI_SPEC_H_
#define BERTH_CLIENT_OCI_SPEC_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace berth {
class Client;
}  // namespace berth

namespace berth::oci {

// The runtime-spec config.json document.
using Spec = nlohmann::json;

// The runtime-spec version the default spec declares.
inline constexpr char kSpecVersion[] = "1.0.2-dev";
// The PATH a process gets when neither the image nor the options give one.
inline constexpr char kDefaultPathEnv[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Largest uid/gid accepted (int32 max, as containerd since CVE-2024-40635).
inline constexpr int64_t kMaxID = 2147483647;

// Linux namespace types (runtime-spec `linux.namespaces[].type`).
inline constexpr char kPIDNamespace[] = "pid";
inline constexpr char kNetworkNamespace[] = "network";
inline constexpr char kMountNamespace[] = "mount";
inline constexpr char kIPCNamespace[] = "ipc";
inline constexpr char kUTSNamespace[] = "uts";
inline constexpr char kUserNamespace[] = "user";
inline constexpr char kCgroupNamespace[] = "cgroup";

// A runtime-spec mount (`mounts[]`).
struct Mount {
  std::string destination;
  std::string type;
  std::string source;
  std::vector<std::string> options;
};

// Calls fn with the path of a directory holding the container's root filesystem (valid
// only during the call). Returns fn's status, or the error of making the directory.
using RootfsFn = std::function<absl::Status(const std::string& root)>;

// What an option sees besides the spec: the container it is for and the client it runs in.
struct SpecContext {
  // The client building the spec; null when a spec is generated without one (tests, tools).
  // Options that need the server (WithImageConfig) fail with FailedPrecondition then.
  const Client* client = nullptr;
  // Namespace and id of the container (the default cgroups path is /<ns>/<id>).
  std::string ns;
  std::string id;
  // The container's snapshotter and rootfs snapshot key; empty when it has none.
  std::string snapshotter;
  std::string snapshot_key;
  // Runs fn with the container's root filesystem (the client mounts the snapshot
  // read-only). Unset: options use spec root.path when it is absolute.
  std::function<absl::Status(const RootfsFn& fn)> with_rootfs;
};

// A spec option: changes *spec, or returns why it cannot.
using SpecOpt = std::function<absl::Status(const SpecContext& ctx, Spec* spec)>;

// containerd's default Linux spec for ctx.id in ctx.ns (see the header comment), with
// root.path "rootfs". FailedPrecondition when ctx.ns is empty ("namespace is required"),
// InvalidArgument when ctx.id is.
absl::StatusOr<Spec> GenerateDefaultSpec(const SpecContext& ctx);

// Applies opts in order; stops at the first error, which it returns.
absl::Status ApplyOpts(const SpecContext& ctx, Spec* spec, const std::vector<SpecOpt>& opts);

// One option made of several, applied in order.
SpecOpt Compose(std::vector<SpecOpt> opts);

// The default capability set (CAP_CHOWN ... CAP_AUDIT_WRITE, 14 of them).
std::vector<std::string> DefaultCapabilities();
// The default mounts listed above, in order.
std::vector<Mount> DefaultMounts();

// --- options --------------------------------------------------------------------------------

// Replaces the spec with the default spec (use first).
SpecOpt WithDefaultSpec();
// Parses `json` as the whole spec (InvalidArgument when it is not a JSON object).
SpecOpt WithSpecFromBytes(std::string json);
// process.args = args.
SpecOpt WithProcessArgs(std::vector<std::string> args);
// process.cwd = cwd (must be absolute: InvalidArgument).
SpecOpt WithProcessCwd(std::string cwd);
// Sets "KEY=value" entries in process.env, replacing one with the same key; a bare "KEY"
// removes that key. InvalidArgument for an empty entry or one starting with '='.
SpecOpt WithEnv(std::vector<std::string> env);
// Adds the default PATH unless process.env has one.
absl::Status WithDefaultPathEnv(const SpecContext& ctx, Spec* spec);
// process.terminal = true and TERM=xterm.
absl::Status WithTTY(const SpecContext& ctx, Spec* spec);
// process.consoleSize.
SpecOpt WithTTYSize(unsigned width, unsigned height);
// hostname.
SpecOpt WithHostname(std::string hostname);
// Appends mounts (each needs an absolute destination: InvalidArgument).
SpecOpt WithMounts(std::vector<Mount> mounts);
// Removes the mounts whose destination is one of dests.
SpecOpt WithoutMounts(std::vector<std::string> dests);
// Joins the host's namespace of `type` (removes it from linux.namespaces). InvalidArgument
// for an unknown type.
SpecOpt WithHostNamespace(std::string type);
// Uses namespace `type`, at `path` when not empty (replaces one of the same type).
SpecOpt WithLinuxNamespace(std::string type, std::string path = "");
// process.noNewPrivileges = false / true.
absl::Status WithNewPrivileges(const SpecContext& ctx, Spec* spec);
absl::Status WithNoNewPrivileges(const SpecContext& ctx, Spec* spec);
// root.path (an unmanaged rootfs directory).
SpecOpt WithRootFSPath(std::string path);
// root.readonly = true.
absl::Status WithRootFSReadonly(const SpecContext& ctx, Spec* spec);
// Read-only bind mounts of the host's /etc/hosts, /etc/resolv.conf, /etc/localtime.
absl::Status WithHostHostsFile(const SpecContext& ctx, Spec* spec);
absl::Status WithHostResolvconf(const SpecContext& ctx, Spec* spec);
absl::Status WithHostLocaltime(const SpecContext& ctx, Spec* spec);
// linux.cgroupsPath.
SpecOpt WithCgroup(std::string path);
// Capabilities: set exactly / add / drop (bounding, effective, permitted; never
// inheritable). InvalidArgument for a name not of the form CAP_[A-Z_]+.
SpecOpt WithCapabilities(std::vector<std::string> caps);
SpecOpt WithAddedCapabilities(std::vector<std::string> caps);
SpecOpt WithDroppedCapabilities(std::vector<std::string> caps);
// linux.maskedPaths / linux.readonlyPaths = paths.
SpecOpt WithMaskedPaths(std::vector<std::string> paths);
SpecOpt WithReadonlyPaths(std::vector<std::string> paths);
// sysfs / cgroup mounts read-write.
absl::Status WithWriteableSysfs(const SpecContext& ctx, Spec* spec);
absl::Status WithWriteableCgroupfs(const SpecContext& ctx, Spec* spec);
// Every capability berth knows, no masked or read-only paths, writable sysfs and cgroupfs,
// every device allowed.
absl::Status WithPrivileged(const SpecContext& ctx, Spec* spec);
// Allows the standard character devices (null, zero, full, random, urandom, tty, console,
// ptmx, pts) in the device cgroup.
absl::Status WithDefaultUnixDevices(const SpecContext& ctx, Spec* spec);
// Allows every device (rwm).
absl::Status WithAllDevicesAllowed(const SpecContext& ctx, Spec* spec);
// linux.resources.memory.limit (bytes), cpu.shares, pids.limit.
SpecOpt WithMemoryLimit(uint64_t bytes);
SpecOpt WithCPUShares(uint64_t shares);
SpecOpt WithPidsLimit(int64_t limit);
// Adds or replaces annotations.
SpecOpt WithAnnotations(std::map<std::string, std::string> annotations);
// process.rlimits entry of `type` ("RLIMIT_NOFILE"), replacing one of the same type.
SpecOpt WithRlimit(std::string type, uint64_t hard, uint64_t soft);

// process.user.uid/gid as given (range-checked; no file lookup).
SpecOpt WithUIDGID(int64_t uid, int64_t gid);
// The OCI image `User` forms: "user", "uid", "user:group", "uid:gid", "uid:group",
// "user:gid". Names are looked up in the rootfs' /etc/passwd and /etc/group (NotFound when
// missing); a lone uid takes its gid from /etc/passwd, or 0. InvalidArgument for another
// form or an id out of range.
SpecOpt WithUser(std::string user);
// uid, with the gid of its /etc/passwd entry (0 when there is none or no file).
SpecOpt WithUserID(int64_t uid);
// The uid and gid of `name` in /etc/passwd (NotFound when missing).
SpecOpt WithUsername(std::string name);
// process.user.additionalGids = the gids of the /etc/group entries that list `user` (a
// name, or a uid looked up in /etc/passwd) as a member — supplementary groups are applied
// even for root (CVE-2023-25173). No /etc/group: no change.
SpecOpt WithAdditionalGIDs(std::string user);
// Appends groups (names from /etc/group, or numeric gids) to process.user.additionalGids.
SpecOpt WithAppendAdditionalGroups(std::vector<std::string> groups);

// Merges `overrides` into `defaults` by key as WithEnv does, and returns the result.
std::vector<std::string> ReplaceOrAppendEnv(std::vector<std::string> defaults,
                                            const std::vector<std::string>& overrides);

// Runs fn on the container's rootfs: ctx.with_rootfs when set, else spec root.path when it
// is absolute; FailedPrecondition ("rootfs absolute path is required") otherwise.
absl::Status WithRootfs(const SpecContext& ctx, const Spec& spec, const RootfsFn& fn);

}  // namespace berth::oci

#endif  // BERTH_CLIENT_OCI_SPEC_H_
