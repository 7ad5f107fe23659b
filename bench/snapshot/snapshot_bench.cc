// snapshot_bench: layer application throughput and Prepare+Commit latency of berth's
// snapshot service. Driven by bench/snapshot/run.sh, which makes the fresh filesystems and
// runs `tar -xzf` beside it; usable alone:
//
//   snapshot_bench gen --out DIR [--files 16000] [--seed 1]
//       writes a tree shaped like an image layer (many small files, some large, a few
//       symlinks and hard links) for `tar -czf` to pack.
//   snapshot_bench apply --root DIR --layer FILE [--snapshotter overlayfs] [--no-prefetch]
//       ingests FILE into a LocalStore under DIR (not timed), then times the pull sequence
//       for one layer: Prepare, FileSystemApplier::Apply (read, verify, gunzip, diffID,
//       untar), Commit; prints seconds and MB/s of compressed and uncompressed bytes.
//   snapshot_bench prepcommit --root DIR [--n 200] [--snapshotter overlayfs]
//       Prepare+Commit on an empty parent, in-process: median, p90, p99, in milliseconds.
//   snapshot_bench prepcommit-grpc --address unix:///path/snapshot.sock [--n 200]
//       the same through a running berth-snapshot over gRPC (SnapshotProxy).
//
// Not a test: timings are the point. Where the roots live decides what is measured
// (reference/benchmarking.md): run.sh gives each system a fresh loop-mounted ext4.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/proxy/snapshot_proxy.h"
#include "lib/digest/digest.h"
#include "lib/status/status.h"
#include "services/content/local_store.h"
#include "services/snapshot/diff/fs_applier.h"
#include "services/snapshot/metadata.h"
#include "services/snapshot/native_snapshotter.h"
#include "services/snapshot/overlay_snapshotter.h"

namespace berth::snapshot {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void Die(const absl::Status& s) {
  std::fprintf(stderr, "snapshot_bench: %s\n", s.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Check(absl::StatusOr<T> v) {
  if (!v.ok()) Die(v.status());
  return std::move(*v);
}

void Check(const absl::Status& s) {
  if (!s.ok()) Die(s);
}

// --- gen ---------------------------------------------------------------------------------

int Gen(const std::string& out, int files, unsigned seed) {
  std::mt19937_64 rng(seed);
  static const char* kWords[] = {"lib",    "usr",  "share", "config", "const",   "return",
                                 "static", "void", "int",   "char",   "include", "define",
                                 "struct", "if",   "else",  "for",    "while",   "the",
                                 "and",    "of",   "to",    "in"};
  auto text = [&](size_t n) {
    std::string s;
    s.reserve(n + 16);
    while (s.size() < n) {
      s += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
      s += (rng() % 9 == 0) ? '\n' : ' ';
    }
    s.resize(n);
    return s;
  };
  auto binary = [&](size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i + 8 <= n; i += 8) {
      std::uint64_t v = rng();
      std::memcpy(&s[i], &v, 8);
    }
    return s;
  };
  mkdir(out.c_str(), 0755);
  std::vector<std::string> dirs = {out};
  std::int64_t bytes = 0;
  for (int i = 0; i < files; ++i) {
    if (i % 40 == 0) {  // A new directory every 40 files, 1-4 levels deep.
      std::string parent = dirs[rng() % dirs.size()];
      if (std::count(parent.begin() + out.size(), parent.end(), '/') >= 4) parent = out;
      std::string d = parent + "/d" + std::to_string(i);
      mkdir(d.c_str(), 0755);
      dirs.push_back(d);
    }
    const std::string& dir = dirs[dirs.size() - 1 - rng() % std::min<size_t>(dirs.size(), 8)];
    // Sizes: 80% 100 B-4 KiB, 18% 4-32 KiB, 2% 32 KiB-1 MiB; three in four files text-like
    // (about 3.5:1 under gzip), the rest incompressible.
    unsigned r = rng() % 100;
    size_t size = r < 80   ? 100 + rng() % 4000
                  : r < 98 ? 4096 + rng() % 28672
                           : 32768 + rng() % 1015808;
    std::string content = (rng() % 4 != 0) ? text(size) : binary(size);
    std::string path = dir + "/f" + std::to_string(i);
    std::ofstream(path, std::ios::binary) << content;
    bytes += static_cast<std::int64_t>(size);
    if (i % 500 == 0) symlink(("f" + std::to_string(i)).c_str(), (path + ".link").c_str());
    if (i % 700 == 0) link(path.c_str(), (path + ".hard").c_str());
  }
  std::printf("generated files=%d dirs=%zu bytes=%lld\n", files, dirs.size(),
              static_cast<long long>(bytes));
  return 0;
}

// --- apply -------------------------------------------------------------------------------

std::unique_ptr<DirectorySnapshotter> MakeSnapshotter(const std::string& name,
                                                      const std::string& root, MetaStore* meta) {
  if (name == "native") return Check(NativeSnapshotter::Create(root + "/native", meta));
  return Check(OverlaySnapshotter::Create(root + "/overlayfs", meta));
}

int Apply(const std::string& root, const std::string& layer, const std::string& snapshotter,
          bool prefetch) {
  CallContext ctx = CallContext::Background("bench");
  content::LocalStoreOptions copts;
  copts.root = root + "/content";
  copts.verify_blobs = false;
  auto content = Check(content::LocalStore::Open(copts));
  std::ifstream in(layer, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string blob = ss.str();
  digest::Digest d = digest::FromBytes(blob);
  content::WriterOptions w;
  w.ref = "bench-layer";
  w.total = static_cast<std::int64_t>(blob.size());
  w.expected = d;
  auto writer = content->OpenWriter(ctx, w);
  if (writer.ok()) {
    Check((*writer)->Write(std::move(blob)));
    Check((*writer)->Commit(w.total, d, {}));
  } else if (!IsAlreadyExists(writer.status())) {
    Die(writer.status());
  }
  auto meta = Check(MetaStore::Open(root + "/meta"));
  auto sn = MakeSnapshotter(snapshotter, root, meta.get());
  diff::FileSystemApplierOptions aopts;
  aopts.temp_dir = root + "/tmp";
  aopts.prefetch = prefetch;
  diff::FileSystemApplier applier(content.get(), aopts);

  auto start = Clock::now();
  auto mounts = Check(sn->Prepare(ctx, "extract", "", {}));
  auto t_prepared = Clock::now();
  diff::Descriptor desc{diff::kMediaTypeLayerGzip, d.ToString(), w.total, {}};
  diff::Descriptor applied = Check(applier.Apply(ctx, desc, mounts));
  auto t_applied = Clock::now();
  Check(sn->Commit(ctx, "layer", "extract", {}));
  auto end = Clock::now();
  double secs = Seconds(end - start);
  std::printf(
      "apply snapshotter=%s prefetch=%d seconds=%.3f prepare_ms=%.2f apply_s=%.3f "
      "commit_ms=%.1f compressed_mb=%.1f uncompressed_mb=%.1f compressed_mbps=%.1f "
      "uncompressed_mbps=%.1f diff_id=%s\n",
      snapshotter.c_str(), prefetch ? 1 : 0, secs, Seconds(t_prepared - start) * 1e3,
      Seconds(t_applied - t_prepared), Seconds(end - t_applied) * 1e3, w.total / 1e6,
      applied.size / 1e6, w.total / 1e6 / secs, applied.size / 1e6 / secs, applied.digest.c_str());
  return 0;
}

// --- prepcommit --------------------------------------------------------------------------

void Report(const char* what, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  std::printf("%s n=%zu median_ms=%.3f p90_ms=%.3f p99_ms=%.3f min_ms=%.3f\n", what, ms.size(),
              at(0.5), at(0.9), at(0.99), ms.front());
}

int PrepCommit(Snapshotter& sn, int n, const char* what) {
  CallContext ctx = CallContext::Background("bench");
  Labels labels = {{"containerd.io/gc.root", "2026-01-01T00:00:00Z"}};
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    std::string key = "prep-" + std::to_string(i);
    auto start = Clock::now();
    Check(sn.Prepare(ctx, key, "", labels).status());
    Check(sn.Commit(ctx, "commit-" + std::to_string(i), key, labels));
    ms.push_back(Seconds(Clock::now() - start) * 1e3);
  }
  Report(what, ms);
  for (int i = 0; i < n; ++i) Check(sn.Remove(ctx, "commit-" + std::to_string(i)));
  return 0;
}

}  // namespace
}  // namespace berth::snapshot

int main(int argc, char** argv) {
  using namespace berth::snapshot;
  CLI::App app("snapshot_bench: berth snapshot/diff throughput and latency");
  app.require_subcommand(1);
  std::string out, root, layer, address, snapshotter = "overlayfs";
  int files = 16000, n = 200;
  unsigned seed = 1;
  bool no_prefetch = false;
  auto* gen = app.add_subcommand("gen", "write a layer-like tree");
  gen->add_option("--out", out)->required();
  gen->add_option("--files", files);
  gen->add_option("--seed", seed);
  auto* apply = app.add_subcommand("apply", "time Prepare+Apply+Commit of one layer");
  apply->add_option("--root", root)->required();
  apply->add_option("--layer", layer)->required();
  apply->add_option("--snapshotter", snapshotter);
  apply->add_flag("--no-prefetch", no_prefetch);
  auto* pc = app.add_subcommand("prepcommit", "Prepare+Commit latency, in-process");
  pc->add_option("--root", root)->required();
  pc->add_option("--n", n);
  pc->add_option("--snapshotter", snapshotter);
  auto* pcg = app.add_subcommand("prepcommit-grpc", "Prepare+Commit latency over gRPC");
  pcg->add_option("--address", address)->required();
  pcg->add_option("--n", n);
  pcg->add_option("--snapshotter", snapshotter);
  CLI11_PARSE(app, argc, argv);
  if (*gen) return Gen(out, files, seed);
  if (*apply) return Apply(root, layer, snapshotter, !no_prefetch);
  if (*pc) {
    mkdir(root.c_str(), 0700);
    auto meta = Check(MetaStore::Open(root + "/meta"));
    std::unique_ptr<DirectorySnapshotter> sn;
    if (snapshotter == "native") {
      sn = Check(NativeSnapshotter::Create(root + "/native", meta.get()));
    } else {
      sn = Check(OverlaySnapshotter::Create(root + "/overlayfs", meta.get()));
    }
    return PrepCommit(*sn, n, "prepcommit-inprocess");
  }
  std::string target = address.rfind("unix://", 0) == 0 ? "unix:" + address.substr(7) : address;
  berth::proxy::SnapshotProxy proxy(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()),
                                    snapshotter);
  return PrepCommit(proxy, n, "prepcommit-grpc");
}
