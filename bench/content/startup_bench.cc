// startup_bench: how long berth-content takes to start on an existing store.
//
//   startup_bench [--bin build/bin/berth-content] [--dir /var/tmp] [--blobs 10000]
//                 [--ingests 20] [--threads 16] [--runs 3]
//
// Fills a fresh root with --blobs committed blobs (small, spread over 4 namespaces, written
// by --threads writers through LocalStore) and --ingests unfinished ingests, then measures
//   - LocalStore::Open (what start-up does before serving) and the background blob check;
//   - berth-content from exec to its ready file (serving), --runs times.
// The goal: well under a second for 10,000 blobs.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "lib/digest/digest.h"
#include "services/content/local_store.h"

namespace {

using Clock = std::chrono::steady_clock;
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

int main(int argc, char** argv) {
  using namespace berth;
  std::string bin = "build/bin/berth-content";
  std::string dir = "/var/tmp";
  int blobs = 10000;
  int ingests = 20;
  int threads = 16;
  int runs = 3;
  CLI::App app("berth-content start-up time on an existing store");
  app.add_option("--bin", bin, "berth-content binary");
  app.add_option("--dir", dir, "where the store root is created");
  app.add_option("--blobs", blobs, "committed blobs");
  app.add_option("--ingests", ingests, "unfinished ingests");
  app.add_option("--threads", threads, "writers filling the store");
  app.add_option("--runs", runs, "process starts measured");
  CLI11_PARSE(app, argc, argv);

  std::string tmpl = dir + "/startup-bench.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string root = tmpl + "/root";
  auto cleanup = [&] {
    std::string rm = "rm -rf '" + tmpl + "'";
    if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "cannot remove %s\n", tmpl.c_str());
  };

  {
    content::LocalStoreOptions options;
    options.root = root;
    auto store = content::LocalStore::Open(options);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      cleanup();
      return 1;
    }
    auto t0 = Clock::now();
    std::atomic<int> next{0}, failed{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i = next++; i < blobs; i = next++) {
          CallContext ctx = CallContext::Background("ns" + std::to_string(i % 4));
          std::string data = "blob " + std::to_string(i) + std::string(1000, 'x');
          auto w = (*store)->OpenWriter(ctx, {"ref-" + std::to_string(i), 0, {}});
          if (!w.ok() || !(*w)->Write(data).ok() ||
              !(*w)->Commit(0, digest::FromBytes(data), {{"i", std::to_string(i)}}).ok()) {
            ++failed;
          }
        }
      });
    }
    for (auto& w : workers) w.join();
    for (int i = 0; i < ingests; ++i) {
      CallContext ctx = CallContext::Background("default");
      auto w = (*store)->OpenWriter(ctx, {"pending-" + std::to_string(i), 0, {}});
      if (!w.ok() || !(*w)->Write(std::string(4096, 'p')).ok()) ++failed;
    }
    std::printf("filled %d blobs + %d ingests in %.1f s (%d failures)\n", blobs, ingests,
                Ms(Clock::now() - t0) / 1000, failed.load());
  }

  {
    content::LocalStoreOptions options;
    options.root = root;
    auto t0 = Clock::now();
    auto store = content::LocalStore::Open(options);
    const double open_ms = Ms(Clock::now() - t0);
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
      cleanup();
      return 1;
    }
    (*store)->WaitForBlobCheck();
    std::printf(
        "LocalStore::Open: %.1f ms (ready to serve); background blob check done after "
        "%.1f ms; ingests %lld\n",
        open_ms, Ms(Clock::now() - t0), static_cast<long long>((*store)->IngestCount()));
  }

  const std::string config = tmpl + "/config.toml";
  const std::string ready = tmpl + "/ready";
  {
    std::ofstream f(config);
    f << "[content]\naddress = \"unix://" << tmpl << "/c.sock\"\nroot = \"" << root
      << "\"\nnats_url = \"\"\nlog_level = \"warn\"\nready_file = \"" << ready << "\"\n";
  }
  std::vector<double> starts;
  for (int run = 0; run < runs; ++run) {
    ::unlink(ready.c_str());
    auto t0 = Clock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execl(bin.c_str(), bin.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    while (::access(ready.c_str(), F_OK) != 0 && Ms(Clock::now() - t0) < 30000) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    starts.push_back(Ms(Clock::now() - t0));
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    std::printf("berth-content start %d: ready after %.1f ms\n", run + 1, starts.back());
  }
  std::sort(starts.begin(), starts.end());
  std::printf("median start to ready: %.1f ms with %d blobs\n", starts[starts.size() / 2], blobs);
  cleanup();
  return 0;
}
