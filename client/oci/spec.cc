#include "client/oci/spec.h"

#include <algorithm>
#include <set>
#include <utility>

#include "client/oci/user.h"
#include "fmt/format.h"
#include "lib/status/status.h"

namespace berth::oci {
namespace {

using json = nlohmann::json;

const char* const kAllCapabilities[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

const char* const kNamespaceTypes[] = {
    kPIDNamespace, kNetworkNamespace, kMountNamespace,  kIPCNamespace,
    kUTSNamespace, kUserNamespace,    kCgroupNamespace, "time"};

// Returns (*j)[key], making it an object first when it is not one.
json& Obj(json* j, const char* key) {
  if (!j->is_object()) *j = json::object();
  json& v = (*j)[key];
  if (!v.is_object()) v = json::object();
  return v;
}

json& Arr(json* j, const char* key) {
  if (!j->is_object()) *j = json::object();
  json& v = (*j)[key];
  if (!v.is_array()) v = json::array();
  return v;
}

json& Process(Spec* s) { return Obj(s, "process"); }
json& Linux(Spec* s) { return Obj(s, "linux"); }
json& Resources(Spec* s) { return Obj(&Linux(s), "resources"); }
json& User(Spec* s) {
  json& user = Obj(&Process(s), "user");
  if (!user.contains("uid")) user["uid"] = 0;
  if (!user.contains("gid")) user["gid"] = 0;
  return user;
}

json MountJson(const Mount& m) {
  json j = {{"destination", m.destination}, {"type", m.type}, {"source", m.source}};
  j["options"] = m.options;
  return j;
}

bool ValidCap(const std::string& c) {
  if (c.size() <= 4 || c.compare(0, 4, "CAP_") != 0) return false;
  return std::all_of(c.begin() + 4, c.end(),
                     [](char ch) { return (ch >= 'A' && ch <= 'Z') || ch == '_'; });
}

absl::Status CheckCaps(const std::vector<std::string>& caps) {
  for (const std::string& c : caps) {
    if (!ValidCap(c)) return InvalidArgumentError(fmt::format("invalid capability {:?}", c));
  }
  return absl::OkStatus();
}

json DeviceRule(const char* type, int64_t major, int64_t minor) {
  json d = {{"allow", true}, {"type", type}, {"major", major}, {"access", "rwm"}};
  if (minor >= 0) d["minor"] = minor;
  return d;
}

void SetCapSets(Spec* s, const std::vector<std::string>& caps) {
  json& c = Obj(&Process(s), "capabilities");
  for (const char* set : {"bounding", "effective", "permitted"}) c[set] = caps;
}

// Splits "a:b" at the first ':'.
std::vector<std::string> SplitColon(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(':', start);
    if (pos == std::string::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

bool IsNumber(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

absl::StatusOr<std::vector<PasswdEntry>> ReadPasswd(const std::string& root) {
  ASSIGN_OR_RETURN(std::string text, ReadFileInRoot(root, "/etc/passwd"));
  return ParsePasswd(text);
}

absl::StatusOr<std::vector<GroupEntry>> ReadGroup(const std::string& root) {
  ASSIGN_OR_RETURN(std::string text, ReadFileInRoot(root, "/etc/group"));
  return ParseGroup(text);
}

}  // namespace

std::vector<std::string> DefaultCapabilities() {
  return {"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
          "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
          "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
          "CAP_KILL",    "CAP_AUDIT_WRITE"};
}

std::vector<Mount> DefaultMounts() {
  return {
      {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}},
      {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
      {"/dev/pts",
       "devpts",
       "devpts",
       {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
      {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
      {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
      {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}},
      {"/run", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
      {"/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}},
  };
}

absl::StatusOr<Spec> GenerateDefaultSpec(const SpecContext& ctx) {
  if (ctx.ns.empty()) return FailedPreconditionError("generate spec: namespace is required");
  if (ctx.id.empty()) return InvalidArgumentError("generate spec: container id is required");
  Spec s = json::object();
  s["ociVersion"] = kSpecVersion;
  s["root"] = {{"path", "rootfs"}};
  std::vector<std::string> caps = DefaultCapabilities();
  s["process"] = {
      {"terminal", false},
      {"user", {{"uid", 0}, {"gid", 0}}},
      {"args", json::array()},
      {"cwd", "/"},
      {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
      {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
      {"noNewPrivileges", true},
  };
  json mounts = json::array();
  for (const Mount& m : DefaultMounts()) mounts.push_back(MountJson(m));
  s["mounts"] = std::move(mounts);
  json namespaces = json::array();
  for (const char* t :
       {kPIDNamespace, kIPCNamespace, kUTSNamespace, kMountNamespace, kNetworkNamespace}) {
    namespaces.push_back({{"type", t}});
  }
  s["linux"] = {
      {"maskedPaths",
       {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
      {"cgroupsPath", "/" + ctx.ns + "/" + ctx.id},
      {"resources", {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}}},
      {"namespaces", std::move(namespaces)},
  };
  RETURN_IF_ERROR(WithDefaultUnixDevices(ctx, &s));
  return s;
}

absl::Status ApplyOpts(const SpecContext& ctx, Spec* spec, const std::vector<SpecOpt>& opts) {
  for (const SpecOpt& o : opts) {
    if (!o) continue;
    RETURN_IF_ERROR(o(ctx, spec));
  }
  return absl::OkStatus();
}

SpecOpt Compose(std::vector<SpecOpt> opts) {
  return
      [opts = std::move(opts)](const SpecContext& ctx, Spec* s) { return ApplyOpts(ctx, s, opts); };
}

SpecOpt WithDefaultSpec() {
  return [](const SpecContext& ctx, Spec* s) -> absl::Status {
    ASSIGN_OR_RETURN(*s, GenerateDefaultSpec(ctx));
    return absl::OkStatus();
  };
}

SpecOpt WithSpecFromBytes(std::string text) {
  return [text = std::move(text)](const SpecContext&, Spec* s) -> absl::Status {
    json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object()) return InvalidArgumentError("spec: not a JSON object");
    *s = std::move(parsed);
    return absl::OkStatus();
  };
}

SpecOpt WithProcessArgs(std::vector<std::string> args) {
  return [args = std::move(args)](const SpecContext&, Spec* s) {
    Process(s)["args"] = args;
    return absl::OkStatus();
  };
}

SpecOpt WithProcessCwd(std::string cwd) {
  return [cwd = std::move(cwd)](const SpecContext&, Spec* s) -> absl::Status {
    if (cwd.empty() || cwd[0] != '/') {
      return InvalidArgumentError(fmt::format("process cwd {:?}: must be absolute", cwd));
    }
    Process(s)["cwd"] = cwd;
    return absl::OkStatus();
  };
}

std::vector<std::string> ReplaceOrAppendEnv(std::vector<std::string> defaults,
                                            const std::vector<std::string>& overrides) {
  auto key_of = [](const std::string& e) { return e.substr(0, e.find('=')); };
  for (const std::string& o : overrides) {
    const std::string key = key_of(o);
    const bool unset = o.find('=') == std::string::npos;
    auto it = std::find_if(defaults.begin(), defaults.end(),
                           [&](const std::string& d) { return key_of(d) == key; });
    if (unset) {
      if (it != defaults.end()) defaults.erase(it);
    } else if (it != defaults.end()) {
      *it = o;
    } else {
      defaults.push_back(o);
    }
  }
  return defaults;
}

SpecOpt WithEnv(std::vector<std::string> env) {
  return [env = std::move(env)](const SpecContext&, Spec* s) -> absl::Status {
    for (const std::string& e : env) {
      if (e.empty() || e[0] == '=') {
        return InvalidArgumentError(fmt::format("invalid environment entry {:?}", e));
      }
    }
    json& p = Process(s);
    std::vector<std::string> current;
    if (p.contains("env") && p["env"].is_array())
      current = p["env"].get<std::vector<std::string>>();
    p["env"] = ReplaceOrAppendEnv(std::move(current), env);
    return absl::OkStatus();
  };
}

absl::Status WithDefaultPathEnv(const SpecContext&, Spec* s) {
  json& p = Process(s);
  std::vector<std::string> current;
  if (p.contains("env") && p["env"].is_array()) current = p["env"].get<std::vector<std::string>>();
  for (const std::string& e : current) {
    if (e.compare(0, 5, "PATH=") == 0) return absl::OkStatus();
  }
  current.push_back(kDefaultPathEnv);
  p["env"] = current;
  return absl::OkStatus();
}

absl::Status WithTTY(const SpecContext&, Spec* s) {
  json& p = Process(s);
  p["terminal"] = true;
  std::vector<std::string> env;
  if (p.contains("env") && p["env"].is_array()) env = p["env"].get<std::vector<std::string>>();
  p["env"] = ReplaceOrAppendEnv(std::move(env), {"TERM=xterm"});
  return absl::OkStatus();
}

SpecOpt WithTTYSize(unsigned width, unsigned height) {
  return [=](const SpecContext&, Spec* s) {
    Process(s)["consoleSize"] = {{"width", width}, {"height", height}};
    return absl::OkStatus();
  };
}

SpecOpt WithHostname(std::string hostname) {
  return [hostname = std::move(hostname)](const SpecContext&, Spec* s) {
    (*s)["hostname"] = hostname;
    return absl::OkStatus();
  };
}

SpecOpt WithMounts(std::vector<Mount> mounts) {
  return [mounts = std::move(mounts)](const SpecContext&, Spec* s) -> absl::Status {
    for (const Mount& m : mounts) {
      if (m.destination.empty() || m.destination[0] != '/') {
        return InvalidArgumentError(
            fmt::format("mount destination {:?}: must be absolute", m.destination));
      }
    }
    json& list = Arr(s, "mounts");
    for (const Mount& m : mounts) list.push_back(MountJson(m));
    return absl::OkStatus();
  };
}

SpecOpt WithoutMounts(std::vector<std::string> dests) {
  return [dests = std::move(dests)](const SpecContext&, Spec* s) {
    json& list = Arr(s, "mounts");
    json kept = json::array();
    for (json& m : list) {
      std::string d = m.value("destination", "");
      while (d.size() > 1 && d.back() == '/') d.pop_back();
      if (std::find(dests.begin(), dests.end(), d) == dests.end()) kept.push_back(std::move(m));
    }
    list = std::move(kept);
    return absl::OkStatus();
  };
}

SpecOpt WithHostNamespace(std::string type) {
  return [type = std::move(type)](const SpecContext&, Spec* s) -> absl::Status {
    if (std::find_if(std::begin(kNamespaceTypes), std::end(kNamespaceTypes),
                     [&](const char* t) { return type == t; }) == std::end(kNamespaceTypes)) {
      return InvalidArgumentError(fmt::format("unknown namespace type {:?}", type));
    }
    json& list = Arr(&Linux(s), "namespaces");
    json kept = json::array();
    for (json& n : list) {
      if (n.value("type", "") != type) kept.push_back(std::move(n));
    }
    list = std::move(kept);
    return absl::OkStatus();
  };
}

SpecOpt WithLinuxNamespace(std::string type, std::string path) {
  return [type = std::move(type), path = std::move(path)](const SpecContext&,
                                                          Spec* s) -> absl::Status {
    if (std::find_if(std::begin(kNamespaceTypes), std::end(kNamespaceTypes),
                     [&](const char* t) { return type == t; }) == std::end(kNamespaceTypes)) {
      return InvalidArgumentError(fmt::format("unknown namespace type {:?}", type));
    }
    json entry = {{"type", type}};
    if (!path.empty()) entry["path"] = path;
    json& list = Arr(&Linux(s), "namespaces");
    for (json& n : list) {
      if (n.value("type", "") == type) {
        n = entry;
        return absl::OkStatus();
      }
    }
    list.push_back(entry);
    return absl::OkStatus();
  };
}

absl::Status WithNewPrivileges(const SpecContext&, Spec* s) {
  Process(s)["noNewPrivileges"] = false;
  return absl::OkStatus();
}

absl::Status WithNoNewPrivileges(const SpecContext&, Spec* s) {
  Process(s)["noNewPrivileges"] = true;
  return absl::OkStatus();
}

SpecOpt WithRootFSPath(std::string path) {
  return [path = std::move(path)](const SpecContext&, Spec* s) {
    Obj(s, "root")["path"] = path;
    return absl::OkStatus();
  };
}

absl::Status WithRootFSReadonly(const SpecContext&, Spec* s) {
  Obj(s, "root")["readonly"] = true;
  return absl::OkStatus();
}

namespace {
absl::Status BindHostFile(Spec* s, const char* path) {
  Arr(s, "mounts").push_back(MountJson({path, "bind", path, {"rbind", "ro"}}));
  return absl::OkStatus();
}
}  // namespace

absl::Status WithHostHostsFile(const SpecContext&, Spec* s) {
  return BindHostFile(s, "/etc/hosts");
}
absl::Status WithHostResolvconf(const SpecContext&, Spec* s) {
  return BindHostFile(s, "/etc/resolv.conf");
}
absl::Status WithHostLocaltime(const SpecContext&, Spec* s) {
  return BindHostFile(s, "/etc/localtime");
}

SpecOpt WithCgroup(std::string path) {
  return [path = std::move(path)](const SpecContext&, Spec* s) {
    Linux(s)["cgroupsPath"] = path;
    return absl::OkStatus();
  };
}

SpecOpt WithCapabilities(std::vector<std::string> caps) {
  return [caps = std::move(caps)](const SpecContext&, Spec* s) -> absl::Status {
    RETURN_IF_ERROR(CheckCaps(caps));
    SetCapSets(s, caps);
    return absl::OkStatus();
  };
}

SpecOpt WithAddedCapabilities(std::vector<std::string> caps) {
  return [caps = std::move(caps)](const SpecContext&, Spec* s) -> absl::Status {
    RETURN_IF_ERROR(CheckCaps(caps));
    json& c = Obj(&Process(s), "capabilities");
    for (const char* set : {"bounding", "effective", "permitted"}) {
      json& list = Arr(&c, set);
      for (const std::string& cap : caps) {
        if (std::find(list.begin(), list.end(), cap) == list.end()) list.push_back(cap);
      }
    }
    return absl::OkStatus();
  };
}

SpecOpt WithDroppedCapabilities(std::vector<std::string> caps) {
  return [caps = std::move(caps)](const SpecContext&, Spec* s) -> absl::Status {
    RETURN_IF_ERROR(CheckCaps(caps));
    json& c = Obj(&Process(s), "capabilities");
    for (const char* set : {"bounding", "effective", "permitted", "inheritable", "ambient"}) {
      if (!c.contains(set) || !c[set].is_array()) continue;
      json kept = json::array();
      for (json& cap : c[set]) {
        if (std::find(caps.begin(), caps.end(), cap.get<std::string>()) == caps.end()) {
          kept.push_back(std::move(cap));
        }
      }
      c[set] = std::move(kept);
    }
    return absl::OkStatus();
  };
}

SpecOpt WithMaskedPaths(std::vector<std::string> paths) {
  return [paths = std::move(paths)](const SpecContext&, Spec* s) {
    Linux(s)["maskedPaths"] = paths;
    return absl::OkStatus();
  };
}

SpecOpt WithReadonlyPaths(std::vector<std::string> paths) {
  return [paths = std::move(paths)](const SpecContext&, Spec* s) {
    Linux(s)["readonlyPaths"] = paths;
    return absl::OkStatus();
  };
}

namespace {
void MakeWritable(Spec* s, const std::string& type) {
  for (json& m : Arr(s, "mounts")) {
    if (m.value("type", "") != type || !m.contains("options")) continue;
    for (json& o : m["options"]) {
      if (o == "ro") o = "rw";
    }
  }
}
}  // namespace

absl::Status WithWriteableSysfs(const SpecContext&, Spec* s) {
  MakeWritable(s, "sysfs");
  return absl::OkStatus();
}

absl::Status WithWriteableCgroupfs(const SpecContext&, Spec* s) {
  MakeWritable(s, "cgroup");
  return absl::OkStatus();
}

absl::Status WithPrivileged(const SpecContext& ctx, Spec* s) {
  SetCapSets(s, std::vector<std::string>(std::begin(kAllCapabilities), std::end(kAllCapabilities)));
  Linux(s)["maskedPaths"] = json::array();
  Linux(s)["readonlyPaths"] = json::array();
  RETURN_IF_ERROR(WithWriteableSysfs(ctx, s));
  RETURN_IF_ERROR(WithWriteableCgroupfs(ctx, s));
  return WithAllDevicesAllowed(ctx, s);
}

absl::Status WithDefaultUnixDevices(const SpecContext&, Spec* s) {
  json& devices = Arr(&Resources(s), "devices");
  devices.push_back(DeviceRule("c", 1, 3));     // /dev/null
  devices.push_back(DeviceRule("c", 1, 8));     // /dev/random
  devices.push_back(DeviceRule("c", 1, 7));     // /dev/full
  devices.push_back(DeviceRule("c", 5, 0));     // /dev/tty
  devices.push_back(DeviceRule("c", 1, 5));     // /dev/zero
  devices.push_back(DeviceRule("c", 1, 9));     // /dev/urandom
  devices.push_back(DeviceRule("c", 5, 1));     // /dev/console
  devices.push_back(DeviceRule("c", 136, -1));  // /dev/pts/*
  devices.push_back(DeviceRule("c", 5, 2));     // /dev/ptmx
  return absl::OkStatus();
}

absl::Status WithAllDevicesAllowed(const SpecContext&, Spec* s) {
  Resources(s)["devices"] = json::array({{{"allow", true}, {"access", "rwm"}}});
  return absl::OkStatus();
}

SpecOpt WithMemoryLimit(uint64_t bytes) {
  return [bytes](const SpecContext&, Spec* s) {
    Obj(&Resources(s), "memory")["limit"] = static_cast<int64_t>(bytes);
    return absl::OkStatus();
  };
}

SpecOpt WithCPUShares(uint64_t shares) {
  return [shares](const SpecContext&, Spec* s) {
    Obj(&Resources(s), "cpu")["shares"] = shares;
    return absl::OkStatus();
  };
}

SpecOpt WithPidsLimit(int64_t limit) {
  return [limit](const SpecContext&, Spec* s) {
    Obj(&Resources(s), "pids")["limit"] = limit;
    return absl::OkStatus();
  };
}

SpecOpt WithAnnotations(std::map<std::string, std::string> annotations) {
  return [annotations = std::move(annotations)](const SpecContext&, Spec* s) {
    json& a = Obj(s, "annotations");
    for (const auto& [k, v] : annotations) a[k] = v;
    return absl::OkStatus();
  };
}

SpecOpt WithRlimit(std::string type, uint64_t hard, uint64_t soft) {
  return [type = std::move(type), hard, soft](const SpecContext&, Spec* s) -> absl::Status {
    if (type.compare(0, 7, "RLIMIT_") != 0) {
      return InvalidArgumentError(fmt::format("invalid rlimit type {:?}", type));
    }
    json& list = Arr(&Process(s), "rlimits");
    json entry = {{"type", type}, {"hard", hard}, {"soft", soft}};
    for (json& r : list) {
      if (r.value("type", "") == type) {
        r = entry;
        return absl::OkStatus();
      }
    }
    list.push_back(entry);
    return absl::OkStatus();
  };
}

absl::Status WithRootfs(const SpecContext& ctx, const Spec& spec, const RootfsFn& fn) {
  if (ctx.with_rootfs) return ctx.with_rootfs(fn);
  std::string root;
  if (spec.contains("root") && spec["root"].is_object()) root = spec["root"].value("path", "");
  if (root.empty() || root[0] != '/') {
    return FailedPreconditionError("rootfs absolute path is required");
  }
  return fn(root);
}

SpecOpt WithUIDGID(int64_t uid, int64_t gid) {
  return [uid, gid](const SpecContext&, Spec* s) -> absl::Status {
    if (uid < 0 || uid > kMaxID)
      return InvalidArgumentError(fmt::format("uid {} out of range", uid));
    if (gid < 0 || gid > kMaxID)
      return InvalidArgumentError(fmt::format("gid {} out of range", gid));
    json& u = User(s);
    u["uid"] = uid;
    u["gid"] = gid;
    return absl::OkStatus();
  };
}

SpecOpt WithUserID(int64_t uid) {
  return [uid](const SpecContext& ctx, Spec* s) -> absl::Status {
    if (uid < 0 || uid > kMaxID)
      return InvalidArgumentError(fmt::format("uid {} out of range", uid));
    int64_t gid = 0;
    RETURN_IF_ERROR(WithRootfs(ctx, *s, [&](const std::string& root) -> absl::Status {
      absl::StatusOr<std::vector<PasswdEntry>> users = ReadPasswd(root);
      if (IsNotFound(users.status())) return absl::OkStatus();
      if (!users.ok()) return users.status();
      for (const PasswdEntry& u : *users) {
        if (u.uid == uid) {
          gid = u.gid;
          break;
        }
      }
      return absl::OkStatus();
    }));
    json& u = User(s);
    u["uid"] = uid;
    u["gid"] = gid;
    return absl::OkStatus();
  };
}

SpecOpt WithUsername(std::string name) {
  return [name = std::move(name)](const SpecContext& ctx, Spec* s) -> absl::Status {
    int64_t uid = -1, gid = -1;
    RETURN_IF_ERROR(WithRootfs(ctx, *s, [&](const std::string& root) -> absl::Status {
      ASSIGN_OR_RETURN(std::vector<PasswdEntry> users, ReadPasswd(root));
      for (const PasswdEntry& u : users) {
        if (u.name == name) {
          uid = u.uid;
          gid = u.gid;
          return absl::OkStatus();
        }
      }
      return NotFoundError(fmt::format("user {:?}: no such user in /etc/passwd", name));
    }));
    json& u = User(s);
    u["uid"] = uid;
    u["gid"] = gid;
    return absl::OkStatus();
  };
}

SpecOpt WithUser(std::string user) {
  return [user = std::move(user)](const SpecContext& ctx, Spec* s) -> absl::Status {
    std::vector<std::string> parts = SplitColon(user);
    if (user.empty() || parts.size() > 2 || parts[0].empty() ||
        (parts.size() == 2 && parts[1].empty())) {
      return InvalidArgumentError(fmt::format("invalid USER value {:?}", user));
    }
    if (parts.size() == 1) {
      if (IsNumber(parts[0])) {
        ASSIGN_OR_RETURN(int64_t uid, ParseID(parts[0], "uid"));
        return WithUserID(uid)(ctx, s);
      }
      return WithUsername(parts[0])(ctx, s);
    }
    int64_t uid = 0, gid = 0;
    std::string username, groupname;
    if (IsNumber(parts[0])) {
      ASSIGN_OR_RETURN(uid, ParseID(parts[0], "uid"));
    } else {
      username = parts[0];
    }
    if (IsNumber(parts[1])) {
      ASSIGN_OR_RETURN(gid, ParseID(parts[1], "gid"));
    } else {
      groupname = parts[1];
    }
    if (!username.empty() || !groupname.empty()) {
      RETURN_IF_ERROR(WithRootfs(ctx, *s, [&](const std::string& root) -> absl::Status {
        if (!username.empty()) {
          ASSIGN_OR_RETURN(std::vector<PasswdEntry> users, ReadPasswd(root));
          auto it = std::find_if(users.begin(), users.end(),
                                 [&](const PasswdEntry& u) { return u.name == username; });
          if (it == users.end()) {
            return NotFoundError(fmt::format("user {:?}: no such user in /etc/passwd", username));
          }
          uid = it->uid;
        }
        if (!groupname.empty()) {
          ASSIGN_OR_RETURN(std::vector<GroupEntry> groups, ReadGroup(root));
          auto it = std::find_if(groups.begin(), groups.end(),
                                 [&](const GroupEntry& g) { return g.name == groupname; });
          if (it == groups.end()) {
            return NotFoundError(fmt::format("group {:?}: no such group in /etc/group", groupname));
          }
          gid = it->gid;
        }
        return absl::OkStatus();
      }));
    }
    json& u = User(s);
    u["uid"] = uid;
    u["gid"] = gid;
    return absl::OkStatus();
  };
}

SpecOpt WithAdditionalGIDs(std::string user) {
  return [user = std::move(user)](const SpecContext& ctx, Spec* s) -> absl::Status {
    std::vector<int64_t> gids;
    bool changed = false;
    RETURN_IF_ERROR(WithRootfs(ctx, *s, [&](const std::string& root) -> absl::Status {
      std::string name = user;
      if (IsNumber(user)) {
        ASSIGN_OR_RETURN(int64_t uid, ParseID(user, "uid"));
        absl::StatusOr<std::vector<PasswdEntry>> users = ReadPasswd(root);
        if (IsNotFound(users.status())) return absl::OkStatus();
        if (!users.ok()) return users.status();
        auto it = std::find_if(users->begin(), users->end(),
                               [&](const PasswdEntry& u) { return u.uid == uid; });
        if (it == users->end()) return absl::OkStatus();
        name = it->name;
      }
      absl::StatusOr<std::vector<GroupEntry>> groups = ReadGroup(root);
      if (IsNotFound(groups.status())) return absl::OkStatus();
      if (!groups.ok()) return groups.status();
      for (const GroupEntry& g : *groups) {
        if (g.name == name) continue;  // Only supplementary groups.
        if (std::find(g.members.begin(), g.members.end(), name) != g.members.end()) {
          gids.push_back(g.gid);
        }
      }
      changed = true;
      return absl::OkStatus();
    }));
    if (changed) User(s)["additionalGids"] = gids;
    return absl::OkStatus();
  };
}

SpecOpt WithAppendAdditionalGroups(std::vector<std::string> groups) {
  return [groups = std::move(groups)](const SpecContext& ctx, Spec* s) -> absl::Status {
    std::vector<int64_t> gids;
    RETURN_IF_ERROR(WithRootfs(ctx, *s, [&](const std::string& root) -> absl::Status {
      std::vector<GroupEntry> entries;
      bool loaded = false;
      for (const std::string& g : groups) {
        if (IsNumber(g)) {
          ASSIGN_OR_RETURN(int64_t gid, ParseID(g, "gid"));
          gids.push_back(gid);
          continue;
        }
        if (!loaded) {
          ASSIGN_OR_RETURN(entries, ReadGroup(root));
          loaded = true;
        }
        auto it = std::find_if(entries.begin(), entries.end(),
                               [&](const GroupEntry& e) { return e.name == g; });
        if (it == entries.end()) {
          return NotFoundError(fmt::format("group {:?}: no such group in /etc/group", g));
        }
        gids.push_back(it->gid);
      }
      return absl::OkStatus();
    }));
    json& list = Arr(&User(s), "additionalGids");
    for (int64_t g : gids) list.push_back(g);
    return absl::OkStatus();
  };
}

}  // namespace berth::oci
