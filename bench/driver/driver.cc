// bench_driver: the C++ client bench/run uses to drive containerd 1.6 and berth with the very
// same containerd v1 gRPC calls (generated stubs from proto/, namespace in metadata
// `containerd-namespace`), so that the two sockets are measured by one program.
//
//   bench_driver <command> --address SOCK --namespace NS [options]
//
// Commands (each prints one JSON object on stdout; errors go to stderr with exit code 1):
//   cycles      create-start-wait-delete cycles for --seconds at --concurrency: per cycle
//               Containers.Create (runtime io.containerd.runc.v2, spec Any of `ctr oci spec`
//               running /bin/true, snapshot key = id), Snapshots.Prepare (parent --parent, the
//               image's top chain ID), Tasks.Create (rootfs = the prepared mounts, no stdio),
//               Tasks.Start, Tasks.Wait, Tasks.Delete, Snapshots.Remove, Containers.Delete.
//   unary       --call version|content-info|content-list|containers-list|containers-get|
//               images-list|images-get [--arg X] --n N: per-call latency p50/p99 (µs).
//   start-tasks --count N containers running `sleep` (for memory with running containers).
//   populate-containers / populate-blobs / populate-images: --count records for unary and
//               scale measurements (blobs carry containerd.io/gc.root so containerd's GC keeps
//               them, and berth.bench=<prefix> so cleanup finds them).
//   apply       --layer MEDIATYPE,DIGEST,SIZE (repeatable): each on a fresh empty snapshot,
//               Prepare + Diff.Apply timed, then the snapshot removed; under one lease.
//   server-pull --ref REF [--plain-http]: berth's own server-side pull (berth.image.v1.Pull,
//               with unpack), timed; containerd has no such call.
//   cleanup     everything named --prefix: tasks killed and deleted, containers, snapshots,
//               images, blobs labelled berth.bench=<prefix>.
//
// Not a test: timings are the point. bench/run runs it; see bench/README.md.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench/driver/api.h"
#include "bench/driver/stats.h"
#include "fmt/format.h"
#include "lib/status/status.h"
#include "nlohmann/json.hpp"

namespace berth::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Common {
  std::string address;
  std::string ns = "bench";
  std::string snapshotter = "overlayfs";
  std::string prefix = "bench";
  int concurrency = 1;
  int timeout_s = 120;
  std::string runtime_binary;  // OCI runtime of the containers made; "" the daemon's default
};

bool IgnorableCleanup(const absl::Status& s) {
  return s.ok() || IsNotFound(s) || s.code() == absl::StatusCode::kFailedPrecondition;
}

// Runs fn(i) for i in [0, count) over `threads` threads; the first error wins.
absl::Status ParallelFor(int count, int threads, const std::function<absl::Status(int)>& fn) {
  std::atomic<int> next{0};
  std::mutex mu;
  absl::Status first;
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < count; i = next++) {
        absl::Status s = fn(i);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first.ok()) first = s;
          next = count;  // stop handing out work
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  return first;
}

// The steps of a cycle, in order; Cycle records each one's duration.
constexpr const char* kCycleSteps[] = {"Containers.Create", "Snapshots.Prepare", "Tasks.Create",
                                       "Tasks.Start",       "Tasks.Wait",        "Tasks.Delete",
                                       "Snapshots.Remove",  "Containers.Delete"};
constexpr int kCycleStepCount = sizeof(kCycleSteps) / sizeof(kCycleSteps[0]);

// One create-start-wait-delete cycle of container `id` on a snapshot of `parent`; the
// milliseconds of each step in kCycleSteps order go to `step_ms`.
absl::Status Cycle(Api& api, const Common& c, const std::string& parent, const std::string& id,
                   const ContainerSpec& spec, double (&step_ms)[kCycleStepCount]) {
  int step = 0;
  Clock::time_point t = Clock::now();
  auto lap = [&] {
    const Clock::time_point now = Clock::now();
    step_ms[step++] = Seconds(now - t) * 1e3;
    t = now;
  };
  // The container record first: it references the snapshot, so containerd's garbage
  // collector (which may run at any time) never takes the active snapshot between Prepare
  // and Tasks.Create. containerd's Go client gets the same protection from a lease.
  RETURN_IF_ERROR(api.ContainerCreate(id, c.snapshotter, id, spec));
  lap();
  ASSIGN_OR_RETURN(Mounts mounts, api.Prepare(c.snapshotter, id, parent));
  lap();
  RETURN_IF_ERROR(api.TaskCreate(id, mounts));
  lap();
  RETURN_IF_ERROR(api.TaskStart(id));
  lap();
  ASSIGN_OR_RETURN(uint32_t code, api.TaskWait(id));
  lap();
  if (code != 0) {
    return absl::InternalError(fmt::format("container \"{}\": exit status {}", id, code));
  }
  RETURN_IF_ERROR(api.TaskDelete(id));
  lap();
  RETURN_IF_ERROR(api.SnapshotRemove(c.snapshotter, id));
  lap();
  RETURN_IF_ERROR(api.ContainerDelete(id));
  lap();
  return absl::OkStatus();
}

// Best-effort removal of container `id`: its task, record and snapshot.
absl::Status RemoveContainer(Api& api, const Common& c, const std::string& id) {
  absl::Status s = api.TaskKill(id, SIGKILL);
  if (s.ok()) (void)api.TaskWait(id);
  s = api.TaskDelete(id);
  if (!IgnorableCleanup(s)) return s;
  s = api.SnapshotRemove(c.snapshotter, id);
  if (!IgnorableCleanup(s)) return s;
  s = api.ContainerDelete(id);
  if (!IgnorableCleanup(s)) return s;
  return absl::OkStatus();
}

absl::StatusOr<json> RunCycles(const Common& c, const std::string& parent, double seconds,
                               int max_errors) {
  Api api(c.address, c.ns, std::chrono::seconds(c.timeout_s));
  ContainerSpec spec;
  spec.runtime_binary = c.runtime_binary;
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::vector<double> steps_ms[kCycleStepCount];
  std::atomic<int> errors{0};
  std::string first_error;
  std::atomic<bool> stop{false};
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> workers;
  for (int w = 0; w < c.concurrency; ++w) {
    workers.emplace_back([&, w] {
      for (int n = 0; !stop && Clock::now() < deadline; ++n) {
        const std::string id = fmt::format("{}-{}-{}", c.prefix, w, n);
        const Clock::time_point t0 = Clock::now();
        double step_ms[kCycleStepCount] = {};
        absl::Status s = Cycle(api, c, parent, id, spec, step_ms);
        const double ms = Seconds(Clock::now() - t0) * 1e3;
        std::lock_guard<std::mutex> lock(mu);
        if (s.ok()) {
          latencies_ms.push_back(ms);
          for (int i = 0; i < kCycleStepCount; ++i) steps_ms[i].push_back(step_ms[i]);
        } else {
          if (first_error.empty()) first_error = s.ToString();
          if (++errors > max_errors) stop = true;
          (void)RemoveContainer(api, c, id);
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  const double elapsed = Seconds(Clock::now() - start);
  json out = {{"cycles", latencies_ms.size()},
              {"seconds", elapsed},
              {"per_second", latencies_ms.size() / elapsed},
              {"concurrency", c.concurrency},
              {"errors", errors.load()}};
  if (!first_error.empty()) out["first_error"] = first_error;
  if (latencies_ms.empty()) {
    return absl::InternalError("cycles: no cycle completed: " + first_error);
  }
  ASSIGN_OR_RETURN(Summary sum, Summarize(latencies_ms));
  out["p50_ms"] = sum.p50;
  out["p99_ms"] = sum.p99;
  // Where a cycle's time goes: each step's p50, in order.
  json steps = json::array();
  for (int i = 0; i < kCycleStepCount; ++i) {
    ASSIGN_OR_RETURN(Summary step, Summarize(steps_ms[i]));
    steps.push_back({{"step", kCycleSteps[i]}, {"p50_ms", step.p50}, {"p99_ms", step.p99}});
  }
  out["steps"] = steps;
  return out;
}

absl::StatusOr<json> RunUnary(const Common& c, const std::string& call, const std::string& arg,
                              int n, int warmup) {
  Api api(c.address, c.ns, std::chrono::seconds(c.timeout_s));
  std::function<absl::Status()> fn;
  int64_t items = -1;
  if (call == "version") {
    fn = [&] { return api.Version().status(); };
  } else if (call == "content-info") {
    fn = [&] { return api.ContentInfo(arg).status(); };
  } else if (call == "content-list") {
    fn = [&] {
      auto r = api.ContentList();
      if (r.ok()) items = *r;
      return r.status();
    };
  } else if (call == "containers-list") {
    fn = [&] {
      auto r = api.ContainerList();
      if (r.ok()) items = *r;
      return r.status();
    };
  } else if (call == "containers-get") {
    fn = [&] { return api.ContainerGet(arg); };
  } else if (call == "images-list") {
    fn = [&] {
      auto r = api.ImageNames();
      if (r.ok()) items = static_cast<int64_t>(r->size());
      return r.status();
    };
  } else if (call == "images-get") {
    fn = [&] { return api.ImageGet(arg); };
  } else {
    return absl::InvalidArgumentError(fmt::format("unary: unknown --call \"{}\"", call));
  }
  if (n < 1) return absl::InvalidArgumentError("unary: --n must be at least 1");
  for (int i = 0; i < warmup; ++i) RETURN_IF_ERROR(fn());
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    const Clock::time_point t0 = Clock::now();
    RETURN_IF_ERROR(fn());
    us.push_back(Seconds(Clock::now() - t0) * 1e6);
  }
  ASSIGN_OR_RETURN(Summary sum, Summarize(us));
  json out = {{"call", call},        {"n", n},           {"p50_us", sum.p50}, {"p99_us", sum.p99},
              {"mean_us", sum.mean}, {"min_us", sum.min}};
  if (items >= 0) out["items"] = items;
  return out;
}

absl::StatusOr<json> StartTasks(const Common& c, const std::string& parent, int count) {
  Api api(c.address, c.ns, std::chrono::seconds(c.timeout_s));
  ContainerSpec spec;
  spec.runtime_binary = c.runtime_binary;
  spec.args = {"/bin/sleep", "100000"};
  const Clock::time_point t0 = Clock::now();
  RETURN_IF_ERROR(ParallelFor(count, c.concurrency, [&](int i) -> absl::Status {
    const std::string id = fmt::format("{}-{}", c.prefix, i);
    RETURN_IF_ERROR(api.ContainerCreate(id, c.snapshotter, id, spec));
    ASSIGN_OR_RETURN(Mounts mounts, api.Prepare(c.snapshotter, id, parent));
    RETURN_IF_ERROR(api.TaskCreate(id, mounts));
    return api.TaskStart(id);
  }));
  return json{{"started", count}, {"seconds", Seconds(Clock::now() - t0)}};
}

absl::StatusOr<json> PopulateContainers(const Common& c, int count) {
  Api api(c.address, c.ns, std::chrono::seconds(c.timeout_s));
  ContainerSpec spec;
  spec.runtime_binary = c.runtime_binary;
  const Clock::time_point t0 = Clock::now();
  RETURN_IF_ERROR(ParallelFor(count, c.concurrency, [&](int i) {
    return api.ContainerCreate(fmt::format("{}-{}", c.prefix, i), "", "", spec);
  }));
  return json{{"created", count}, {"seconds", Seconds(Clock::now() - t0)}};
}

absl::StatusOr<json> PopulateBlobs(const Common& c, int count, int size) {
  Api api(c.address, c.ns, std::chrono::seconds(c.timeout_s));
  std::mutex mu;
  std::string first;
  const Clock::time_point t0 = Clock::now();
  RETURN_IF_ERROR(ParallelFor(count, c.concurrency, [&](int i) -> absl::Status {
    std::string data = fmt::format("berth bench blob {} {}\n", c.prefix, i);
    if (static_cast<int>(data.size()) < size) data.resize(size, 'x');
    const std::string ref = fmt::format("{}-blob-{}", c.prefix, i);
    absl::StatusOr<std::string> d =
        api.WriteBlob(ref, data, {{"containerd.io/gc.root", "bench"}, {"berth.bench", c.prefix}});
    if (!d.ok() && d.status().code() != absl::StatusCode::kAlreadyExists) return d.status();
    if (i == 0 && d.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      first = *d;
    }
    return absl::OkStatus();
  }));
  return json{{"created", count}, {"seconds", Seconds(Clock::now() - t0)}, {"first", first}};
}

absl::StatusOr<json> PopulateImages(const Common& c, int count, const std::string& media_type,
                                    const std::string& digest, int64_t size) {
  Api api(c.address, c.ns, std::chrono::seconds(c.timeout_s));
  const Clock::time_point t0 = Clock::now();
  RETURN_IF_ERROR(ParallelFor(count, c.concurrency, [&](int i) {
    return api.ImageCreate(fmt::format("bench.local/{}/img-{}:latest", c.prefix, i), media_type,
                           digest, size);
  }));
  return json{{"created", count},
              {"seconds", Seconds(Clock::now() - t0)},
              {"first", fmt::format("bench.local/{}/img-0:latest", c.prefix)}};
}

struct LayerArg {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
};

// Parses --layer MEDIATYPE,DIGEST,SIZE.
absl::StatusOr<LayerArg> ParseLayer(const std::string& spec) {
  const size_t a = spec.find(',');
  const size_t b = spec.rfind(',');
  if (a == std::string::npos || a == b || a == 0 || b == a + 1) {
    return absl::InvalidArgumentError(
        fmt::format("apply: --layer \"{}\": want MEDIATYPE,DIGEST,SIZE", spec));
  }
  LayerArg out{spec.substr(0, a), spec.substr(a + 1, b - a - 1), 0};
  const std::string size = spec.substr(b + 1);
  size_t used = 0;
  try {
    out.size = std::stoll(size, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (size.empty() || used != size.size() || out.size < 0) {
    return absl::InvalidArgumentError(fmt::format("apply: --layer \"{}\": bad size", spec));
  }
  return out;
}

absl::StatusOr<json> ApplyLayersLeased(Api& api, const Common& c,
                                       const std::vector<LayerArg>& layers) {
  double total = 0;
  int i = 0;
  for (const LayerArg& layer : layers) {
    const std::string key = fmt::format("{}-apply-{}", c.prefix, i++);
    (void)api.SnapshotRemove(c.snapshotter, key);
    const Clock::time_point t0 = Clock::now();
    ASSIGN_OR_RETURN(Mounts mounts, api.Prepare(c.snapshotter, key, ""));
    RETURN_IF_ERROR(api.Apply(layer.media_type, layer.digest, layer.size, mounts).status());
    total += Seconds(Clock::now() - t0);
    RETURN_IF_ERROR(api.SnapshotRemove(c.snapshotter, key));
  }
  return json{{"seconds", total}, {"layers", layers.size()}};
}

absl::StatusOr<json> ApplyLayers(const Common& c, const std::vector<std::string>& specs) {
  std::vector<LayerArg> layers;
  for (const std::string& spec : specs) {
    ASSIGN_OR_RETURN(LayerArg layer, ParseLayer(spec));
    layers.push_back(std::move(layer));
  }
  Api api(c.address, c.ns, std::chrono::seconds(c.timeout_s));
  // Under a lease, as containerd's client unpacks: the snapshot is not referenced by anything
  // else, and containerd's garbage collector would otherwise remove it mid-apply.
  ASSIGN_OR_RETURN(std::string lease, api.LeaseCreate());
  api.UseLease(lease);
  absl::StatusOr<json> out = ApplyLayersLeased(api, c, layers);
  api.UseLease("");
  absl::Status deleted = api.LeaseDelete(lease);
  if (out.ok() && !deleted.ok()) return deleted;
  return out;
}

absl::StatusOr<json> ServerPull(const Common& c, const std::string& ref, bool plain_http) {
  Api api(c.address, c.ns, std::chrono::seconds(c.timeout_s));
  const Clock::time_point t0 = Clock::now();
  ASSIGN_OR_RETURN(int messages, api.ServerPull(ref, plain_http, /*unpack=*/true));
  return json{{"seconds", Seconds(Clock::now() - t0)}, {"messages", messages}};
}

absl::StatusOr<json> Cleanup(const Common& c) {
  Api api(c.address, c.ns, std::chrono::seconds(c.timeout_s));
  const std::string dash = c.prefix + "-";
  int containers = 0, snapshots = 0, images = 0, blobs = 0;
  ASSIGN_OR_RETURN(std::vector<std::string> ids, api.ContainerIds());
  std::vector<std::string> mine;
  for (const auto& id : ids) {
    if (id.rfind(dash, 0) == 0) mine.push_back(id);
  }
  RETURN_IF_ERROR(ParallelFor(static_cast<int>(mine.size()), std::max(4, c.concurrency),
                              [&](int i) { return RemoveContainer(api, c, mine[i]); }));
  containers = static_cast<int>(mine.size());
  ASSIGN_OR_RETURN(std::vector<std::string> keys, api.SnapshotKeys(c.snapshotter));
  for (const auto& k : keys) {
    if (k.rfind(dash, 0) == 0 && IgnorableCleanup(api.SnapshotRemove(c.snapshotter, k))) {
      ++snapshots;
    }
  }
  absl::StatusOr<std::vector<std::string>> names = api.ImageNames();
  if (names.ok()) {
    const std::string image_prefix = "bench.local/" + c.prefix + "/";
    std::vector<std::string> drop;
    for (const auto& n : *names) {
      if (n.rfind(image_prefix, 0) == 0) drop.push_back(n);
    }
    RETURN_IF_ERROR(ParallelFor(static_cast<int>(drop.size()), 4, [&](int i) {
      absl::Status s = api.ImageDelete(drop[i]);
      return IgnorableCleanup(s) ? absl::OkStatus() : s;
    }));
    images = static_cast<int>(drop.size());
  }
  ASSIGN_OR_RETURN(std::vector<std::string> digests,
                   api.ContentDigests(fmt::format("labels.\"berth.bench\"=={}", c.prefix)));
  RETURN_IF_ERROR(ParallelFor(static_cast<int>(digests.size()), 4, [&](int i) {
    absl::Status s = api.ContentDelete(digests[i]);
    return IgnorableCleanup(s) ? absl::OkStatus() : s;
  }));
  blobs = static_cast<int>(digests.size());
  return json{
      {"containers", containers}, {"snapshots", snapshots}, {"images", images}, {"blobs", blobs}};
}

void AddCommon(CLI::App* cmd, Common& c) {
  cmd->add_option("--address", c.address, "containerd API socket (unix path or unix://...)")
      ->required();
  cmd->add_option("--namespace", c.ns, "namespace (metadata containerd-namespace)");
  cmd->add_option("--snapshotter", c.snapshotter, "snapshotter");
  cmd->add_option("--prefix", c.prefix, "prefix of every object name the command makes");
  cmd->add_option("--concurrency", c.concurrency, "parallel clients")->check(CLI::Range(1, 256));
  cmd->add_option("--timeout", c.timeout_s, "deadline of each call, seconds")
      ->check(CLI::Range(1, 3600));
  cmd->add_option("--runtime-binary", c.runtime_binary,
                  "OCI runtime binary of the containers made (as ctr run --runc-binary)");
}

int Print(const absl::StatusOr<json>& r) {
  if (!r.ok()) {
    std::cerr << "bench_driver: " << r.status() << "\n";
    return 1;
  }
  std::cout << r->dump() << std::endl;
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "bench_driver: drives containerd or berth over the containerd v1 gRPC API for bench/run"};
  app.require_subcommand(1);
  Common c;
  std::string parent, call, arg, media_type, digest;
  double seconds = 10;
  int n = 1000, warmup = 20, count = 0, size = 256, max_errors = 10;
  int64_t target_size = 0;
  std::vector<std::string> layers;

  CLI::App* cycles = app.add_subcommand("cycles", "create-start-wait-delete cycles per second");
  AddCommon(cycles, c);
  cycles->add_option("--parent", parent, "committed snapshot the rootfs is prepared on")
      ->required();
  cycles->add_option("--seconds", seconds, "how long to run")->check(CLI::Range(0.1, 3600.0));
  cycles->add_option("--max-errors", max_errors, "give up after this many failed cycles");

  CLI::App* unary = app.add_subcommand("unary", "latency of one unary call, p50/p99");
  AddCommon(unary, c);
  unary
      ->add_option("--call", call,
                   "version|content-info|content-list|containers-list|"
                   "containers-get|images-list|images-get")
      ->required();
  unary->add_option("--arg", arg, "digest / id / name the call takes");
  unary->add_option("--n", n, "measured calls")->check(CLI::Range(1, 10000000));
  unary->add_option("--warmup", warmup, "calls before measuring")->check(CLI::Range(0, 100000));

  CLI::App* start = app.add_subcommand("start-tasks", "start --count sleeping containers");
  AddCommon(start, c);
  start->add_option("--parent", parent, "committed snapshot the rootfs is prepared on")->required();
  start->add_option("--count", count, "containers")->required()->check(CLI::Range(1, 100000));

  CLI::App* pc = app.add_subcommand("populate-containers", "create --count container records");
  AddCommon(pc, c);
  pc->add_option("--count", count, "records")->required()->check(CLI::Range(1, 10000000));

  CLI::App* pb = app.add_subcommand("populate-blobs", "write --count small blobs");
  AddCommon(pb, c);
  pb->add_option("--count", count, "blobs")->required()->check(CLI::Range(1, 10000000));
  pb->add_option("--size", size, "bytes per blob")->check(CLI::Range(1, 64 << 20));

  CLI::App* pi = app.add_subcommand("populate-images", "create --count image records");
  AddCommon(pi, c);
  pi->add_option("--count", count, "records")->required()->check(CLI::Range(1, 10000000));
  pi->add_option("--media-type", media_type, "target media type")->required();
  pi->add_option("--digest", digest, "target digest")->required();
  pi->add_option("--size", target_size, "target size")->required();

  CLI::App* apply = app.add_subcommand("apply", "Diff.Apply of layers onto empty snapshots");
  AddCommon(apply, c);
  apply->add_option("--layer", layers, "MEDIATYPE,DIGEST,SIZE (repeatable)")->required();

  std::string ref;
  bool plain_http = false;
  CLI::App* sp = app.add_subcommand("server-pull", "berth's server-side pull + unpack, timed");
  AddCommon(sp, c);
  sp->add_option("--ref", ref, "image reference")->required();
  sp->add_flag("--plain-http", plain_http, "the registry speaks HTTP");

  CLI::App* cleanup = app.add_subcommand("cleanup", "remove everything named --prefix");
  AddCommon(cleanup, c);

  CLI11_PARSE(app, argc, argv);
  if (*cycles) return Print(RunCycles(c, parent, seconds, max_errors));
  if (*unary) return Print(RunUnary(c, call, arg, n, warmup));
  if (*start) return Print(StartTasks(c, parent, count));
  if (*pc) return Print(PopulateContainers(c, count));
  if (*pb) return Print(PopulateBlobs(c, count, size));
  if (*pi) return Print(PopulateImages(c, count, media_type, digest, target_size));
  if (*apply) return Print(ApplyLayers(c, layers));
  if (*sp) return Print(ServerPull(c, ref, plain_http));
  if (*cleanup) return Print(Cleanup(c));
  return 2;
}

}  // namespace
}  // namespace berth::bench

int main(int argc, char** argv) { return berth::bench::Main(argc, argv); }
