#include "services/runtime/cgroups.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "fmt/format.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "lib/status/status.h"

namespace berth::runtime::cgroups {
namespace {

namespace cv1 = io::containerd::cgroups::v1;
namespace cv2 = io::containerd::cgroups::v2;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
#ifndef CGROUP2_SUPER_MAGIC
constexpr long CGROUP2_SUPER_MAGIC = 0x63677270;
#endif

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return out;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\n");
  return s.substr(b, e - b + 1);
}

// A number file; "max" reads as `max_value`. Missing or unparsable: 0.
uint64_t ReadUint(const std::string& path, uint64_t max_value = kMax) {
  std::string text;
  if (!ReadFile(path, &text)) return 0;
  text = Trim(text);
  if (text == "max") return max_value;
  return std::strtoull(text.c_str(), nullptr, 10);
}

// "key value" lines.
std::map<std::string, uint64_t> ReadKeyValues(const std::string& path) {
  std::map<std::string, uint64_t> out;
  std::string text;
  if (!ReadFile(path, &text)) return out;
  std::istringstream in(text);
  std::string key, value;
  while (in >> key >> value) out[key] = std::strtoull(value.c_str(), nullptr, 10);
  return out;
}

// Sets the uint64 field `field` of `message` when it exists.
void SetField(google::protobuf::Message* message, const std::string& field, uint64_t value) {
  const google::protobuf::FieldDescriptor* f = message->GetDescriptor()->FindFieldByName(field);
  if (f == nullptr || f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_UINT64 ||
      f->is_repeated()) {
    return;
  }
  message->GetReflection()->SetUInt64(message, f, value);
}

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 1) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string DeviceName(uint64_t major, uint64_t minor) {
  std::string text;
  if (!ReadFile(fmt::format("/sys/dev/block/{}:{}/uevent", major, minor), &text)) return "";
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("DEVNAME=", 0) == 0) return "/dev/" + line.substr(8);
  }
  return "";
}

// blkio lines: "8:0 Read 123", "8:0 123" (time, sectors), "Total 456" (skipped).
void ReadBlkio(const std::string& path, google::protobuf::RepeatedPtrField<cv1::BlkIOEntry>* out) {
  std::string text;
  if (!ReadFile(path, &text)) return;
  std::istringstream in(text);
  std::string line;
  std::map<std::string, std::string> names;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string dev, a, b;
    if (!(f >> dev >> a)) continue;
    size_t colon = dev.find(':');
    if (colon == std::string::npos) continue;
    cv1::BlkIOEntry* e = out->Add();
    e->set_major(std::strtoull(dev.substr(0, colon).c_str(), nullptr, 10));
    e->set_minor(std::strtoull(dev.substr(colon + 1).c_str(), nullptr, 10));
    if (f >> b) {
      e->set_op(a);
      e->set_value(std::strtoull(b.c_str(), nullptr, 10));
    } else {
      e->set_value(std::strtoull(a.c_str(), nullptr, 10));
    }
    auto it = names.find(dev);
    if (it == names.end()) it = names.emplace(dev, DeviceName(e->major(), e->minor())).first;
    e->set_device(it->second);
  }
}

void ReadMemoryEntry(const std::string& dir, const std::string& prefix, cv1::MemoryEntry* e) {
  e->set_usage(ReadUint(dir + "/" + prefix + "usage_in_bytes"));
  e->set_max(ReadUint(dir + "/" + prefix + "max_usage_in_bytes"));
  e->set_failcnt(ReadUint(dir + "/" + prefix + "failcnt"));
  e->set_limit(ReadUint(dir + "/" + prefix + "limit_in_bytes"));
}

// v1 memory.stat key -> MemoryStat field (identity unless listed).
std::string V1MemoryField(const std::string& key) {
  static const std::map<std::string, std::string> renames = {
      {"pgpgin", "pg_pg_in"},
      {"pgpgout", "pg_pg_out"},
      {"pgfault", "pg_fault"},
      {"pgmajfault", "pg_maj_fault"},
      {"hierarchical_memsw_limit", "hierarchical_swap_limit"},
  };
  std::string base = key, prefix;
  if (key.rfind("total_", 0) == 0) {
    prefix = "total_";
    base = key.substr(6);
  }
  auto it = renames.find(base);
  return prefix + (it == renames.end() ? base : it->second);
}

// Page sizes from a hugetlb cgroup directory's file names: hugetlb.<size>.<suffix>.
std::vector<std::string> HugePageSizes(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> sizes;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return sizes;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind("hugetlb.", 0) != 0) continue;
    if (name.size() <= suffix.size() + 8 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::string size = name.substr(8, name.size() - 8 - suffix.size());
    if (!size.empty() && size.find('.') == std::string::npos) sizes.push_back(size);
  }
  closedir(d);
  return sizes;
}

}  // namespace

Mode DetectMode(const std::string& root) {
  struct statfs fs;
  if (statfs(root.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == CGROUP2_SUPER_MAGIC) {
    return Mode::kUnified;
  }
  std::string unified = root + "/unified";
  if (statfs(unified.c_str(), &fs) == 0 && static_cast<long>(fs.f_type) == CGROUP2_SUPER_MAGIC) {
    return Mode::kHybrid;
  }
  return Mode::kLegacy;
}

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kLegacy:
      return "legacy (v1)";
    case Mode::kHybrid:
      return "hybrid (v1 + v2)";
    case Mode::kUnified:
      return "unified (v2)";
  }
  return "unknown";
}

Paths Resolve(const std::string& proc_cgroup, const std::string& mountinfo) {
  struct MountEntry {
    std::string root;
    std::string point;
    bool v2 = false;
    std::vector<std::string> controllers;
  };
  std::vector<MountEntry> mounts;
  std::istringstream mi(mountinfo);
  std::string line;
  while (std::getline(mi, line)) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash));
    std::string id, parent, dev, root, point;
    if (!(pre >> id >> parent >> dev >> root >> point)) continue;
    std::istringstream post(line.substr(dash + 3));
    std::string fstype, source, super;
    if (!(post >> fstype >> source >> super)) continue;
    MountEntry m;
    m.root = Unescape(root);
    m.point = Unescape(point);
    if (fstype == "cgroup2") {
      m.v2 = true;
    } else if (fstype == "cgroup") {
      m.controllers = Split(super, ',');
    } else {
      continue;
    }
    mounts.push_back(std::move(m));
  }
  auto relative = [](const MountEntry& m, const std::string& path) {
    if (m.root == "/" || m.root.empty()) return path;
    if (path.rfind(m.root, 0) == 0) {
      std::string rest = path.substr(m.root.size());
      return rest.empty() ? std::string("/") : rest;
    }
    return path;
  };
  auto join = [](const std::string& point, const std::string& rel) {
    if (rel == "/" || rel.empty()) return point;
    return point + rel;
  };

  Paths out;
  std::istringstream pc(proc_cgroup);
  while (std::getline(pc, line)) {
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controllers.empty()) {
      for (const MountEntry& m : mounts) {
        if (m.v2) {
          out.unified = join(m.point, relative(m, path));
          break;
        }
      }
      continue;
    }
    for (const std::string& c : Split(controllers, ',')) {
      for (const MountEntry& m : mounts) {
        if (m.v2) continue;
        bool has = false;
        for (const std::string& mc : m.controllers) has = has || mc == c;
        if (has) {
          out.v1.emplace(c, join(m.point, relative(m, path)));
          break;
        }
      }
    }
  }
  return out;
}

absl::StatusOr<Paths> ForPid(pid_t pid) {
  std::string cgroup, mountinfo;
  std::string file = fmt::format("/proc/{}/cgroup", pid);
  if (!ReadFile(file, &cgroup))
    return NotFoundError(fmt::format("read {:?}: no such process", file));
  if (!ReadFile("/proc/self/mountinfo", &mountinfo)) {
    return InternalError("read \"/proc/self/mountinfo\": failed");
  }
  return Resolve(cgroup, mountinfo);
}

absl::StatusOr<cv1::Metrics> ReadV1(const Paths& paths) {
  if (paths.v1.empty()) return NotFoundError("cgroup v1 metrics: the process has no v1 cgroups");
  cv1::Metrics m;
  auto dir = [&](const char* controller) -> std::string {
    auto it = paths.v1.find(controller);
    return it == paths.v1.end() ? std::string() : it->second;
  };
  if (std::string d = dir("pids"); !d.empty()) {
    m.mutable_pids()->set_current(ReadUint(d + "/pids.current"));
    m.mutable_pids()->set_limit(ReadUint(d + "/pids.max", 0));
  }
  if (std::string d = dir("cpuacct"); !d.empty()) {
    cv1::CPUUsage* u = m.mutable_cpu()->mutable_usage();
    u->set_total(ReadUint(d + "/cpuacct.usage"));
    std::string text;
    if (ReadFile(d + "/cpuacct.usage_percpu", &text)) {
      std::istringstream in(text);
      std::string v;
      while (in >> v) u->add_per_cpu(std::strtoull(v.c_str(), nullptr, 10));
    }
    std::map<std::string, uint64_t> stat = ReadKeyValues(d + "/cpuacct.stat");
    long ticks = sysconf(_SC_CLK_TCK);
    uint64_t ns_per_tick = ticks > 0 ? 1000000000ull / static_cast<uint64_t>(ticks) : 10000000ull;
    u->set_user(stat["user"] * ns_per_tick);
    u->set_kernel(stat["system"] * ns_per_tick);
  }
  if (std::string d = dir("cpu"); !d.empty()) {
    std::map<std::string, uint64_t> stat = ReadKeyValues(d + "/cpu.stat");
    cv1::Throttle* t = m.mutable_cpu()->mutable_throttling();
    t->set_periods(stat["nr_periods"]);
    t->set_throttled_periods(stat["nr_throttled"]);
    t->set_throttled_time(stat["throttled_time"]);
  }
  if (std::string d = dir("memory"); !d.empty()) {
    cv1::MemoryStat* mem = m.mutable_memory();
    for (const auto& [key, value] : ReadKeyValues(d + "/memory.stat")) {
      SetField(mem, V1MemoryField(key), value);
    }
    ReadMemoryEntry(d, "memory.", mem->mutable_usage());
    ReadMemoryEntry(d, "memory.memsw.", mem->mutable_swap());
    ReadMemoryEntry(d, "memory.kmem.", mem->mutable_kernel());
    ReadMemoryEntry(d, "memory.kmem.tcp.", mem->mutable_kernel_tcp());
    std::map<std::string, uint64_t> oom = ReadKeyValues(d + "/memory.oom_control");
    m.mutable_memory_oom_control()->set_oom_kill_disable(oom["oom_kill_disable"]);
    m.mutable_memory_oom_control()->set_under_oom(oom["under_oom"]);
    m.mutable_memory_oom_control()->set_oom_kill(oom["oom_kill"]);
  }
  if (std::string d = dir("blkio"); !d.empty()) {
    cv1::BlkIOStat* b = m.mutable_blkio();
    ReadBlkio(d + "/blkio.io_service_bytes_recursive", b->mutable_io_service_bytes_recursive());
    if (b->io_service_bytes_recursive_size() == 0) {
      ReadBlkio(d + "/blkio.throttle.io_service_bytes_recursive",
                b->mutable_io_service_bytes_recursive());
    }
    ReadBlkio(d + "/blkio.io_serviced_recursive", b->mutable_io_serviced_recursive());
    if (b->io_serviced_recursive_size() == 0) {
      ReadBlkio(d + "/blkio.throttle.io_serviced_recursive", b->mutable_io_serviced_recursive());
    }
    ReadBlkio(d + "/blkio.io_queued_recursive", b->mutable_io_queued_recursive());
    ReadBlkio(d + "/blkio.io_service_time_recursive", b->mutable_io_service_time_recursive());
    ReadBlkio(d + "/blkio.io_wait_time_recursive", b->mutable_io_wait_time_recursive());
    ReadBlkio(d + "/blkio.io_merged_recursive", b->mutable_io_merged_recursive());
    ReadBlkio(d + "/blkio.time_recursive", b->mutable_io_time_recursive());
    ReadBlkio(d + "/blkio.sectors_recursive", b->mutable_sectors_recursive());
  }
  if (std::string d = dir("hugetlb"); !d.empty()) {
    for (const std::string& size : HugePageSizes(d, ".usage_in_bytes")) {
      cv1::HugetlbStat* h = m.add_hugetlb();
      h->set_pagesize(size);
      h->set_usage(ReadUint(d + "/hugetlb." + size + ".usage_in_bytes"));
      h->set_max(ReadUint(d + "/hugetlb." + size + ".max_usage_in_bytes"));
      h->set_failcnt(ReadUint(d + "/hugetlb." + size + ".failcnt"));
    }
  }
  return m;
}

absl::StatusOr<cv2::Metrics> ReadV2(const std::string& dir) {
  struct stat st;
  if (dir.empty() || stat(dir.c_str(), &st) != 0) {
    return NotFoundError(fmt::format("cgroup v2 metrics {:?}: no such cgroup", dir));
  }
  cv2::Metrics m;
  m.mutable_pids()->set_current(ReadUint(dir + "/pids.current"));
  m.mutable_pids()->set_limit(ReadUint(dir + "/pids.max"));
  for (const auto& [key, value] : ReadKeyValues(dir + "/cpu.stat")) {
    SetField(m.mutable_cpu(), key, value);
  }
  cv2::MemoryStat* mem = m.mutable_memory();
  for (const auto& [key, value] : ReadKeyValues(dir + "/memory.stat")) {
    if (key == "usage" || key == "usage_limit" || key == "swap_usage" || key == "swap_limit") {
      continue;
    }
    SetField(mem, key, value);
  }
  mem->set_usage(ReadUint(dir + "/memory.current"));
  mem->set_usage_limit(ReadUint(dir + "/memory.max"));
  mem->set_swap_usage(ReadUint(dir + "/memory.swap.current"));
  mem->set_swap_limit(ReadUint(dir + "/memory.swap.max"));
  for (const auto& [key, value] : ReadKeyValues(dir + "/memory.events")) {
    SetField(m.mutable_memory_events(), key, value);
  }
  std::string text;
  if (ReadFile(dir + "/io.stat", &text)) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string dev, kv;
      if (!(f >> dev)) continue;
      size_t colon = dev.find(':');
      if (colon == std::string::npos) continue;
      cv2::IOEntry* e = m.mutable_io()->add_usage();
      e->set_major(std::strtoull(dev.substr(0, colon).c_str(), nullptr, 10));
      e->set_minor(std::strtoull(dev.substr(colon + 1).c_str(), nullptr, 10));
      while (f >> kv) {
        size_t eq = kv.find('=');
        if (eq == std::string::npos) continue;
        SetField(e, kv.substr(0, eq), std::strtoull(kv.substr(eq + 1).c_str(), nullptr, 10));
      }
    }
  }
  for (const std::string& size : HugePageSizes(dir, ".current")) {
    cv2::HugeTlbStat* h = m.add_hugetlb();
    h->set_pagesize(size);
    h->set_current(ReadUint(dir + "/hugetlb." + size + ".current"));
    h->set_max(ReadUint(dir + "/hugetlb." + size + ".max"));
  }
  return m;
}

}  // namespace berth::runtime::cgroups
