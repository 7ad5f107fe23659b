// cgroup discovery and statistics over fake cgroup trees (no root needed), and the Prometheus
// names the runtime exports for them.
#include "services/runtime/cgroups.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "prometheus/text_serializer.h"
#include "services/runtime/container_metrics.h"

namespace berth::runtime::cgroups {
namespace {

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

void MkdirAll(const std::string& path) {
  std::string cur;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      cur = path.substr(0, i);
      mkdir(cur.c_str(), 0755);
    }
  }
}

constexpr char kHybridMountinfo[] =
    "30 23 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
    "31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    "32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
    "33 30 0:29 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "34 30 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
    "35 30 0:31 / /sys/fs/cgroup/with\\040space rw - cgroup cgroup rw,pids\n";

TEST(ResolveTest, HybridWithJoinedControllersAndSubtreeMounts) {
  Paths p = Resolve(
      "5:pids:/ns/c1\n4:memory:/outer/ns/c1\n3:cpu,cpuacct:/ns/c1\n1:name=systemd:/x\n0::/ns/c1\n",
      kHybridMountinfo);
  EXPECT_EQ(p.v1["cpu"], "/sys/fs/cgroup/cpu,cpuacct/ns/c1");
  EXPECT_EQ(p.v1["cpuacct"], "/sys/fs/cgroup/cpu,cpuacct/ns/c1");
  // The memory hierarchy is mounted from /outer: the path is relative to that root.
  EXPECT_EQ(p.v1["memory"], "/sys/fs/cgroup/memory/ns/c1");
  EXPECT_EQ(p.v1["name=systemd"], "/sys/fs/cgroup/systemd/x");
  EXPECT_EQ(p.v1["pids"], "/sys/fs/cgroup/with space/ns/c1");
  EXPECT_EQ(p.unified, "/sys/fs/cgroup/unified/ns/c1");
}

TEST(ResolveTest, UnifiedAndGarbage) {
  Paths p = Resolve("0::/system.slice/x.scope\n",
                    "25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
  EXPECT_TRUE(p.v1.empty());
  EXPECT_EQ(p.unified, "/sys/fs/cgroup/system.slice/x.scope");
  EXPECT_TRUE(Resolve("garbage\n", "more garbage\n").empty());
  // A controller without a mount is skipped.
  EXPECT_TRUE(Resolve("7:rdma:/a\n", kHybridMountinfo).v1.empty());
}

TEST(ForPidTest, SelfAndMissing) {
  ASSERT_OK_AND_ASSIGN(Paths self, ForPid(getpid()));
  EXPECT_FALSE(self.empty());
  EXPECT_TRUE(IsNotFound(ForPid(999999999).status()));
}

TEST(ReadV1Test, ReadsEveryController) {
  testing::TempDir dir("brcg");
  std::string cpu = dir.Path("cpu"), acct = dir.Path("acct"), mem = dir.Path("mem"),
              pids = dir.Path("pids"), blkio = dir.Path("blkio"), huge = dir.Path("huge");
  for (const std::string& d : {cpu, acct, mem, pids, blkio, huge}) MkdirAll(d);
  Write(pids + "/pids.current", "3\n");
  Write(pids + "/pids.max", "max\n");
  Write(acct + "/cpuacct.usage", "123456789\n");
  Write(acct + "/cpuacct.usage_percpu", "100 200 \n");
  Write(acct + "/cpuacct.stat", "user 5\nsystem 7\n");
  Write(cpu + "/cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 999\n");
  Write(mem + "/memory.stat",
        "cache 4096\nrss 8192\npgfault 11\npgpgin 12\nhierarchical_memsw_limit 77\n"
        "total_rss 16384\ntotal_pgmajfault 3\nunknown_key 5\n");
  Write(mem + "/memory.usage_in_bytes", "65536\n");
  Write(mem + "/memory.limit_in_bytes", "9223372036854771712\n");
  Write(mem + "/memory.max_usage_in_bytes", "70000\n");
  Write(mem + "/memory.failcnt", "1\n");
  Write(mem + "/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  Write(blkio + "/blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 100\n8:0 Write 200\n8:0 Total 300\nTotal 300\n");
  Write(blkio + "/blkio.sectors_recursive", "8:0 42\n");
  Write(huge + "/hugetlb.2MB.usage_in_bytes", "2097152\n");
  Write(huge + "/hugetlb.2MB.max_usage_in_bytes", "4194304\n");
  Write(huge + "/hugetlb.2MB.failcnt", "0\n");
  Paths p;
  p.v1 = {{"cpu", cpu},   {"cpuacct", acct}, {"memory", mem},
          {"pids", pids}, {"blkio", blkio},  {"hugetlb", huge}};
  ASSERT_OK_AND_ASSIGN(io::containerd::cgroups::v1::Metrics m, ReadV1(p));
  EXPECT_EQ(m.pids().current(), 3u);
  EXPECT_EQ(m.pids().limit(), 0u);  // "max" is 0 in v1, as containerd
  EXPECT_EQ(m.cpu().usage().total(), 123456789u);
  ASSERT_EQ(m.cpu().usage().per_cpu_size(), 2);
  EXPECT_EQ(m.cpu().usage().per_cpu(1), 200u);
  long hz = sysconf(_SC_CLK_TCK);
  EXPECT_EQ(m.cpu().usage().user(), 5u * (1000000000u / static_cast<uint64_t>(hz)));
  EXPECT_EQ(m.cpu().usage().kernel(), 7u * (1000000000u / static_cast<uint64_t>(hz)));
  EXPECT_EQ(m.cpu().throttling().periods(), 10u);
  EXPECT_EQ(m.cpu().throttling().throttled_periods(), 2u);
  EXPECT_EQ(m.cpu().throttling().throttled_time(), 999u);
  EXPECT_EQ(m.memory().cache(), 4096u);
  EXPECT_EQ(m.memory().rss(), 8192u);
  EXPECT_EQ(m.memory().pg_fault(), 11u);
  EXPECT_EQ(m.memory().pg_pg_in(), 12u);
  EXPECT_EQ(m.memory().hierarchical_swap_limit(), 77u);
  EXPECT_EQ(m.memory().total_rss(), 16384u);
  EXPECT_EQ(m.memory().total_pg_maj_fault(), 3u);
  EXPECT_EQ(m.memory().usage().usage(), 65536u);
  EXPECT_EQ(m.memory().usage().max(), 70000u);
  EXPECT_EQ(m.memory().usage().failcnt(), 1u);
  EXPECT_EQ(m.memory().swap().usage(), 0u);  // no memsw files: zero
  EXPECT_EQ(m.memory_oom_control().oom_kill(), 2u);
  ASSERT_EQ(m.blkio().io_service_bytes_recursive_size(), 3);
  EXPECT_EQ(m.blkio().io_service_bytes_recursive(1).op(), "Write");
  EXPECT_EQ(m.blkio().io_service_bytes_recursive(1).major(), 8u);
  EXPECT_EQ(m.blkio().io_service_bytes_recursive(1).value(), 200u);
  ASSERT_EQ(m.blkio().sectors_recursive_size(), 1);
  EXPECT_EQ(m.blkio().sectors_recursive(0).value(), 42u);
  EXPECT_EQ(m.blkio().sectors_recursive(0).op(), "");
  ASSERT_EQ(m.hugetlb_size(), 1);
  EXPECT_EQ(m.hugetlb(0).pagesize(), "2MB");
  EXPECT_EQ(m.hugetlb(0).max(), 4194304u);

  EXPECT_TRUE(IsNotFound(ReadV1(Paths{}).status()));

  // Prometheus names and labels (reference §7.2).
  std::vector<prometheus::MetricFamily> families;
  AppendV1Metrics("default", "c1", m, &families);
  std::string text = prometheus::TextSerializer().Serialize(families);
  for (const char* want : {
           "container_cpu_total_nanoseconds{container_id=\"c1\",namespace=\"default\"} 123456789",
           "container_per_cpu_nanoseconds{container_id=\"c1\",namespace=\"default\",cpu=\"1\"} 200",
           "container_cpu_throttled_periods_total{container_id=\"c1\",namespace=\"default\"} 2",
           "container_memory_cache_bytes{container_id=\"c1\",namespace=\"default\"} 4096",
           "container_memory_pgfault_bytes{",
           "container_memory_total_rss_bytes{",
           "container_memory_usage_usage_bytes{container_id=\"c1\",namespace=\"default\"} 65536",
           "container_memory_kerneltcp_failcnt_total{",
           "# TYPE container_memory_oom_total counter",
           "container_memory_oom_total{container_id=\"c1\",namespace=\"default\"} 2",
           "container_blkio_io_service_bytes_recursive_bytes{container_id=\"c1\",namespace="
           "\"default\",op=\"Write\",device=",
           "container_hugetlb_max_bytes{container_id=\"c1\",namespace=\"default\",page=\"2MB\"}",
           "container_pids_current{container_id=\"c1\",namespace=\"default\"} 3",
       }) {
    EXPECT_NE(text.find(want), std::string::npos) << want;
  }
}

TEST(ReadV2Test, ReadsEveryFile) {
  testing::TempDir dir("brcg");
  std::string d = dir.path();
  Write(d + "/pids.current", "4\n");
  Write(d + "/pids.max", "100\n");
  Write(d + "/cpu.stat",
        "usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 5\nnr_throttled 1\n"
        "throttled_usec 20\n");
  Write(d + "/memory.stat", "anon 4096\nfile 8192\npgfault 9\nthp_fault_alloc 1\nbogus 7\n");
  Write(d + "/memory.current", "12288\n");
  Write(d + "/memory.max", "max\n");
  Write(d + "/memory.swap.current", "0\n");
  Write(d + "/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  Write(d + "/io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
  Write(d + "/hugetlb.2MB.current", "0\n");
  Write(d + "/hugetlb.2MB.max", "max\n");
  Write(d + "/hugetlb.2MB.rsvd.current", "0\n");
  ASSERT_OK_AND_ASSIGN(io::containerd::cgroups::v2::Metrics m, ReadV2(d));
  EXPECT_EQ(m.pids().current(), 4u);
  EXPECT_EQ(m.pids().limit(), 100u);
  EXPECT_EQ(m.cpu().usage_usec(), 1000u);
  EXPECT_EQ(m.cpu().throttled_usec(), 20u);
  EXPECT_EQ(m.memory().anon(), 4096u);
  EXPECT_EQ(m.memory().pgfault(), 9u);
  EXPECT_EQ(m.memory().usage(), 12288u);
  EXPECT_EQ(m.memory().usage_limit(), UINT64_MAX);  // "max"
  EXPECT_EQ(m.memory_events().oom_kill(), 1u);
  ASSERT_EQ(m.io().usage_size(), 1);
  EXPECT_EQ(m.io().usage(0).wbytes(), 20u);
  EXPECT_EQ(m.io().usage(0).wios(), 2u);
  ASSERT_EQ(m.hugetlb_size(), 1);
  EXPECT_EQ(m.hugetlb(0).pagesize(), "2MB");
  EXPECT_TRUE(IsNotFound(ReadV2(d + "/missing").status()));
  EXPECT_TRUE(IsNotFound(ReadV2("").status()));

  std::vector<prometheus::MetricFamily> families;
  AppendV2Metrics("ns", "c2", m, &families);
  std::string text = prometheus::TextSerializer().Serialize(families);
  for (const char* want : {
           "container_cpu_usage_usec_microseconds{container_id=\"c2\",namespace=\"ns\"} 1000",
           "container_cpu_nr_throttled_total{container_id=\"c2\",namespace=\"ns\"} 1",
           "container_memory_anon_bytes{container_id=\"c2\",namespace=\"ns\"} 4096",
           "container_memory_usage_bytes{container_id=\"c2\",namespace=\"ns\"} 12288",
           "container_memory_oom_total{container_id=\"c2\",namespace=\"ns\"} 1",
           "container_io_wbytes_bytes{container_id=\"c2\",namespace=\"ns\",major=\"8\",minor=\"0\"}"
           " "
           "20",
           "container_pids_limit{container_id=\"c2\",namespace=\"ns\"} 100",
       }) {
    EXPECT_NE(text.find(want), std::string::npos) << want;
  }
}

TEST(DetectModeTest, NamesAMode) {
  Mode m = DetectMode();
  EXPECT_NE(std::string(ModeName(m)), "unknown");
  // A directory that is no cgroup filesystem at all reads as legacy.
  testing::TempDir dir("brcg");
  EXPECT_EQ(DetectMode(dir.path()), Mode::kLegacy);
}

}  // namespace
}  // namespace berth::runtime::cgroups
