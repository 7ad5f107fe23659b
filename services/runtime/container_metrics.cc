#include "services/runtime/container_metrics.h"

#include <map>

#include "fmt/format.h"
#include "lib/status/status.h"
#include "prometheus/exposer.h"

namespace berth::runtime {
namespace {

namespace cv1 = io::containerd::cgroups::v1;
namespace cv2 = io::containerd::cgroups::v2;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Collects samples into families by name, keeping first-seen order.
class Families {
 public:
  explicit Families(std::vector<MetricFamily>* out) : out_(out) {
    for (size_t i = 0; i < out_->size(); ++i) index_[(*out_)[i].name] = i;
  }

  void Add(const std::string& name, const std::string& help, double value,
           std::vector<ClientMetric::Label> labels, bool counter = false) {
    auto it = index_.find(name);
    if (it == index_.end()) {
      MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = counter ? MetricType::Counter : MetricType::Gauge;
      out_->push_back(std::move(f));
      it = index_.emplace(name, out_->size() - 1).first;
    }
    ClientMetric m;
    m.label = std::move(labels);
    if (counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
    (*out_)[it->second].metric.push_back(std::move(m));
  }

 private:
  std::vector<MetricFamily>* out_;
  std::map<std::string, size_t> index_;
};

std::vector<ClientMetric::Label> Base(const std::string& ns, const std::string& id) {
  return {{"container_id", id}, {"namespace", ns}};
}

std::vector<ClientMetric::Label> With(std::vector<ClientMetric::Label> labels,
                                      std::vector<ClientMetric::Label> extra) {
  labels.insert(labels.end(), extra.begin(), extra.end());
  return labels;
}

double D(uint64_t v) { return static_cast<double>(v); }

}  // namespace

void AppendV1Metrics(const std::string& ns, const std::string& id, const cv1::Metrics& m,
                     std::vector<MetricFamily>* out) {
  Families f(out);
  auto base = Base(ns, id);
  // CPU.
  const cv1::CPUStat& cpu = m.cpu();
  f.Add("container_cpu_total_nanoseconds", "The total cpu time", D(cpu.usage().total()), base);
  f.Add("container_cpu_kernel_nanoseconds", "The total kernel cpu time", D(cpu.usage().kernel()),
        base);
  f.Add("container_cpu_user_nanoseconds", "The total user cpu time", D(cpu.usage().user()), base);
  for (int i = 0; i < cpu.usage().per_cpu_size(); ++i) {
    f.Add("container_per_cpu_nanoseconds", "The total cpu time per cpu", D(cpu.usage().per_cpu(i)),
          With(base, {{"cpu", std::to_string(i)}}));
  }
  f.Add("container_cpu_throttle_periods_total", "The total cpu throttle periods",
        D(cpu.throttling().periods()), base);
  f.Add("container_cpu_throttled_periods_total", "The total cpu throttled periods",
        D(cpu.throttling().throttled_periods()), base);
  f.Add("container_cpu_throttled_time_nanoseconds", "The total cpu throttled time",
        D(cpu.throttling().throttled_time()), base);
  // Memory.
  const cv1::MemoryStat& mem = m.memory();
  const std::pair<const char*, uint64_t> stats[] = {
      {"cache", mem.cache()},
      {"rss", mem.rss()},
      {"rss_huge", mem.rss_huge()},
      {"mapped_file", mem.mapped_file()},
      {"dirty", mem.dirty()},
      {"writeback", mem.writeback()},
      {"pgpgin", mem.pg_pg_in()},
      {"pgpgout", mem.pg_pg_out()},
      {"pgfault", mem.pg_fault()},
      {"pgmajfault", mem.pg_maj_fault()},
      {"inactive_anon", mem.inactive_anon()},
      {"active_anon", mem.active_anon()},
      {"inactive_file", mem.inactive_file()},
      {"active_file", mem.active_file()},
      {"unevictable", mem.unevictable()},
      {"hierarchical_memory_limit", mem.hierarchical_memory_limit()},
      {"hierarchical_memsw_limit", mem.hierarchical_swap_limit()},
      {"total_cache", mem.total_cache()},
      {"total_rss", mem.total_rss()},
      {"total_rss_huge", mem.total_rss_huge()},
      {"total_mapped_file", mem.total_mapped_file()},
      {"total_dirty", mem.total_dirty()},
      {"total_writeback", mem.total_writeback()},
      {"total_pgpgin", mem.total_pg_pg_in()},
      {"total_pgpgout", mem.total_pg_pg_out()},
      {"total_pgfault", mem.total_pg_fault()},
      {"total_pgmajfault", mem.total_pg_maj_fault()},
      {"total_inactive_anon", mem.total_inactive_anon()},
      {"total_active_anon", mem.total_active_anon()},
      {"total_inactive_file", mem.total_inactive_file()},
      {"total_active_file", mem.total_active_file()},
      {"total_unevictable", mem.total_unevictable()},
  };
  for (const auto& [name, value] : stats) {
    f.Add(fmt::format("container_memory_{}_bytes", name), fmt::format("The {} amount", name),
          D(value), base);
  }
  const std::pair<const char*, const cv1::MemoryEntry*> entries[] = {
      {"usage", &mem.usage()},
      {"swap", &mem.swap()},
      {"kernel", &mem.kernel()},
      {"kerneltcp", &mem.kernel_tcp()},
  };
  for (const auto& [name, e] : entries) {
    f.Add(fmt::format("container_memory_{}_failcnt_total", name),
          fmt::format("The {} failcnt", name), D(e->failcnt()), base);
    f.Add(fmt::format("container_memory_{}_limit_bytes", name), fmt::format("The {} limit", name),
          D(e->limit()), base);
    f.Add(fmt::format("container_memory_{}_max_bytes", name),
          fmt::format("The {} maximum usage", name), D(e->max()), base);
    f.Add(fmt::format("container_memory_{}_usage_bytes", name), fmt::format("The {} usage", name),
          D(e->usage()), base);
  }
  f.Add("container_memory_oom_total", "The number of times a container has received an oom event",
        D(m.memory_oom_control().oom_kill()), base, /*counter=*/true);
  // Blkio.
  const cv1::BlkIOStat& b = m.blkio();
  const std::pair<const char*, const google::protobuf::RepeatedPtrField<cv1::BlkIOEntry>*> blk[] = {
      {"container_blkio_io_merged_recursive_total", &b.io_merged_recursive()},
      {"container_blkio_io_queued_recursive_total", &b.io_queued_recursive()},
      {"container_blkio_io_service_bytes_recursive_bytes", &b.io_service_bytes_recursive()},
      {"container_blkio_io_service_time_recursive_total", &b.io_service_time_recursive()},
      {"container_blkio_io_serviced_recursive_total", &b.io_serviced_recursive()},
      {"container_blkio_io_time_recursive_total", &b.io_time_recursive()},
      {"container_blkio_sectors_recursive_total", &b.sectors_recursive()},
  };
  for (const auto& [name, list] : blk) {
    for (const cv1::BlkIOEntry& e : *list) {
      f.Add(name, "The blkio statistics", D(e.value()),
            With(base, {{"op", e.op()},
                        {"device", e.device()},
                        {"major", std::to_string(e.major())},
                        {"minor", std::to_string(e.minor())}}));
    }
  }
  // Hugetlb.
  for (const cv1::HugetlbStat& h : m.hugetlb()) {
    auto labels = With(base, {{"page", h.pagesize()}});
    f.Add("container_hugetlb_usage_bytes", "The hugetlb usage", D(h.usage()), labels);
    f.Add("container_hugetlb_failcnt_total", "The hugetlb failcnt", D(h.failcnt()), labels);
    f.Add("container_hugetlb_max_bytes", "The hugetlb maximum usage", D(h.max()), labels);
  }
  // Pids.
  f.Add("container_pids_limit", "The limit to the number of pids allowed", D(m.pids().limit()),
        base);
  f.Add("container_pids_current", "The current number of pids", D(m.pids().current()), base);
}

void AppendV2Metrics(const std::string& ns, const std::string& id, const cv2::Metrics& m,
                     std::vector<MetricFamily>* out) {
  Families f(out);
  auto base = Base(ns, id);
  const cv2::CPUStat& cpu = m.cpu();
  f.Add("container_cpu_usage_usec_microseconds", "Total cpu usage (cgroup v2)", D(cpu.usage_usec()),
        base);
  f.Add("container_cpu_user_usec_microseconds", "Current cpu usage in user space (cgroup v2)",
        D(cpu.user_usec()), base);
  f.Add("container_cpu_system_usec_microseconds", "Current cpu usage in kernel space (cgroup v2)",
        D(cpu.system_usec()), base);
  f.Add("container_cpu_throttled_usec_microseconds", "Total cpu throttled time (cgroup v2)",
        D(cpu.throttled_usec()), base);
  f.Add("container_cpu_nr_periods_total",
        "Current cpu number of periods (only if controller is "
        "enabled)",
        D(cpu.nr_periods()), base);
  f.Add("container_cpu_nr_throttled_total", "Total count of throttled periods",
        D(cpu.nr_throttled()), base);
  const cv2::MemoryStat& mem = m.memory();
  const google::protobuf::Descriptor* d = mem.GetDescriptor();
  const google::protobuf::Reflection* r = mem.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = d->field(i);
    f.Add(fmt::format("container_memory_{}_bytes", field->name()),
          fmt::format("The {} amount (cgroup v2)", field->name()), D(r->GetUInt64(mem, field)),
          base);
  }
  f.Add("container_memory_oom_total", "The number of times a container has received an oom event",
        D(m.memory_events().oom()), base, /*counter=*/true);
  for (const cv2::IOEntry& e : m.io().usage()) {
    auto labels =
        With(base, {{"major", std::to_string(e.major())}, {"minor", std::to_string(e.minor())}});
    f.Add("container_io_rbytes_bytes", "IO bytes read", D(e.rbytes()), labels);
    f.Add("container_io_wbytes_bytes", "IO bytes written", D(e.wbytes()), labels);
    f.Add("container_io_rios_total", "Number of read IOs", D(e.rios()), labels);
    f.Add("container_io_wios_total", "Number of write IOs", D(e.wios()), labels);
  }
  f.Add("container_pids_limit", "The limit to the number of pids allowed (cgroup v2)",
        D(m.pids().limit()), base);
  f.Add("container_pids_current", "The current number of pids (cgroup v2)", D(m.pids().current()),
        base);
}

std::vector<MetricFamily> ContainerCollector::Collect() const {
  std::vector<MetricFamily> out;
  for (const TaskSnapshot& t : tasks_()) {
    if (mode_ == cgroups::Mode::kUnified) {
      absl::StatusOr<cv2::Metrics> m = cgroups::ReadV2(t.cgroup.unified);
      if (m.ok()) AppendV2Metrics(t.ns, t.id, *m, &out);
    } else {
      absl::StatusOr<cv1::Metrics> m = cgroups::ReadV1(t.cgroup);
      if (m.ok()) AppendV1Metrics(t.ns, t.id, *m, &out);
    }
  }
  Families f(&out);
  for (const RuntimeGauge& g : gauges_) f.Add(g.name, g.help, g.value(), {}, g.counter);
  return out;
}

namespace {

class RegistryView : public prometheus::Collectable {
 public:
  explicit RegistryView(prometheus::Registry* registry) : registry_(registry) {}
  std::vector<MetricFamily> Collect() const override { return registry_->Collect(); }

 private:
  prometheus::Registry* registry_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& address, prometheus::Registry* registry,
    std::shared_ptr<ContainerCollector> collector) {
  std::unique_ptr<MetricsEndpoint> e(new MetricsEndpoint());
  e->registry_view_ = std::make_shared<RegistryView>(registry);
  e->collector_ = std::move(collector);
  try {
    e->exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& ex) {
    return UnavailableError(fmt::format("serve metrics on {:?}: {}", address, ex.what()));
  }
  for (const char* uri : {"/metrics", "/v1/metrics"}) {
    e->exposer_->RegisterCollectable(e->registry_view_, uri);
    e->exposer_->RegisterCollectable(e->collector_, uri);
  }
  std::vector<int> ports = e->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return InternalError(fmt::format("serve metrics on {:?}: no listening port", address));
  }
  e->port_ = ports.front();
  return e;
}

MetricsEndpoint::~MetricsEndpoint() { exposer_.reset(); }

}  // namespace berth::runtime
