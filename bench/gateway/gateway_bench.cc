// gateway_bench: what the gateway hop costs. The same client calls go straight to the
// content service's socket and through berth-gateway, interleaved, and the figures are put
// side by side:
//   - latency of the unary Content.Info: p50, p99, mean over --calls calls each way;
//   - throughput of a Content.Write ingest of --size-mib MiB (1 MiB chunks in lock-step, as
//     ctr does) and of one Content.Read stream of it back, median of --runs each way.
//
//   gateway_bench [--dir /var/tmp] [--calls 20000] [--size-mib 256] [--runs 3]
//                 [--fake-only | --suite-only]
//
// First, the floor of any relay on this machine, before any protocol: a 64-byte ping-pong
// over unix sockets straight to an echo process, and through a relay process that only
// epolls, reads and writes. A process in the path adds two wake-ups per round trip, and on a
// VM a wake-up on the other CPU is far dearer than the copying (tens of microseconds). Left
// to itself the scheduler sometimes puts both ends on one CPU and sometimes not, so the
// processes are pinned: the client on CPU 0, the echo and the relay on CPU 1, the relayed
// echo on CPU 0. Every message then wakes a process on the other CPU, as gRPC's threads
// mostly do: two wake-ups per round trip straight, four through the relay.
//
// Then two setups, one after the other:
//   fake   an in-process scripted Content backend (gateway/testing/fake_content.h: no disk,
//          no hashing) behind an in-process gateway proxy: the cost of the hop itself;
//   suite  deploy/berth-up (BERTH_SERVICES=content) on a fresh root under --dir: the real
//          berth-content and berth-gateway processes on unix sockets.
// The targets: the hop adds under 100 us at p50 and under 10% to streaming
// throughput.
//
// Not a test: timings are the point. Run it on an idle machine.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "gateway/router.h"
#include "gateway/server/proxy_service.h"
#include "gateway/testing/fake_content.h"
#include "lib/digest/digest.h"
#include "lib/server/health_service.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"

namespace {

namespace api = containerd::services::content::v1;
using Clock = std::chrono::steady_clock;

constexpr int64_t kChunk = 1 << 20;

struct Options {
  std::string dir = "/var/tmp";
  int calls = 20000;
  int size_mib = 256;
  int runs = 3;
  bool fake_only = false;
  bool suite_only = false;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

std::shared_ptr<grpc::Channel> Dial(const std::string& socket) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(16 << 20);
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel("unix:" + socket, grpc::InsecureChannelCredentials(), args);
}

struct Path {
  const char* name;
  std::unique_ptr<api::Content::Stub> stub;
};

// CPU time (user + system) a process has used so far, in microseconds; 0 for pid <= 0.
double CpuMicros(int pid) {
  if (pid <= 0) return 0;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return 0;
  char buf[2048];
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  unsigned long utime = 0, stime = 0;
  // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) !=
      2) {
    return 0;
  }
  return static_cast<double>(utime + stime) * 1e6 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

grpc::ClientContext* Ctx(grpc::ClientContext* ctx) {
  ctx->AddMetadata("containerd-namespace", "bench");
  return ctx;
}

bool Info(api::Content::Stub& stub, const std::string& digest) {
  grpc::ClientContext ctx;
  api::InfoRequest req;
  req.set_digest(digest);
  api::InfoResponse resp;
  return stub.Info(Ctx(&ctx), req, &resp).ok();
}

// Ingests `data` in one Write stream (STAT, WRITE..., COMMIT); returns seconds, or -1.
double Write(api::Content::Stub& stub, const std::string& ref, const std::string& data,
             const std::string& digest) {
  const auto start = Clock::now();
  grpc::ClientContext ctx;
  auto stream = stub.Write(Ctx(&ctx));
  api::WriteContentRequest req;
  api::WriteContentResponse resp;
  req.set_action(api::STAT);
  req.set_ref(ref);
  req.set_total(static_cast<int64_t>(data.size()));
  req.set_expected(digest);
  if (!stream->Write(req) || !stream->Read(&resp)) {
    std::fprintf(stderr, "write %s: %s\n", ref.c_str(), stream->Finish().error_message().c_str());
    return -1;
  }
  for (int64_t off = 0; off < static_cast<int64_t>(data.size()); off += kChunk) {
    req.Clear();
    req.set_action(api::WRITE);
    req.set_offset(off);
    req.set_data(data.data() + off, std::min<int64_t>(kChunk, data.size() - off));
    if (!stream->Write(req) || !stream->Read(&resp)) {
      std::fprintf(stderr, "write: %s\n", stream->Finish().error_message().c_str());
      return -1;
    }
  }
  req.Clear();
  req.set_action(api::COMMIT);
  req.set_offset(static_cast<int64_t>(data.size()));
  req.set_total(static_cast<int64_t>(data.size()));
  req.set_expected(digest);
  if (!stream->Write(req) || !stream->Read(&resp)) {
    std::fprintf(stderr, "commit: %s\n", stream->Finish().error_message().c_str());
    return -1;
  }
  stream->WritesDone();
  grpc::Status s = stream->Finish();
  if (!s.ok()) {
    std::fprintf(stderr, "write finish: %s\n", s.error_message().c_str());
    return -1;
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Reads `size` bytes of `digest` in one Read stream; returns seconds, or -1.
double Read(api::Content::Stub& stub, const std::string& digest, int64_t size) {
  const auto start = Clock::now();
  grpc::ClientContext ctx;
  api::ReadContentRequest req;
  req.set_digest(digest);
  req.set_size(size);
  auto reader = stub.Read(Ctx(&ctx), req);
  api::ReadContentResponse resp;
  int64_t got = 0;
  while (reader->Read(&resp)) got += static_cast<int64_t>(resp.data().size());
  grpc::Status s = reader->Finish();
  if (!s.ok() || got != size) {
    std::fprintf(stderr, "read: %s (%lld of %lld bytes)\n", s.error_message().c_str(),
                 static_cast<long long>(got), static_cast<long long>(size));
    return -1;
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void Delete(api::Content::Stub& stub, const std::string& digest) {
  grpc::ClientContext ctx;
  api::DeleteContentRequest req;
  req.set_digest(digest);
  google::protobuf::Empty resp;
  stub.Delete(Ctx(&ctx), req, &resp);
}

// Runs the measurements over `paths` (direct first, gateway second). `real` says whether
// written blobs must be unique and deleted (a real content store) or not (the fake).
// `gateway_pid` (> 0 for the suite) is sampled for the CPU time the gateway spends on its
// path's calls: a figure that the machine's load does not distort the way it does latency.
void Measure(const char* setup, std::vector<Path>& paths, const Options& o, bool real,
             int gateway_pid = 0, int backend_pid = 0) {
  std::printf("\n== %s ==\n", setup);
  // A blob for Info to find.
  std::string small(4096, 'i');
  const std::string small_digest = berth::digest::FromBytes(small).ToString();
  if (real) Write(*paths[0].stub, "bench-info", small, small_digest);

  // Info latency, interleaved in blocks of 1000 so drift hits both paths alike.
  std::vector<std::vector<double>> lat(paths.size());
  for (auto& p : paths) {
    for (int i = 0; i < 500; ++i) Info(*p.stub, small_digest);
  }
  double gateway_cpu = 0;
  double backend_cpu = 0;
  for (int done = 0; done < o.calls; done += 1000) {
    for (size_t p = 0; p < paths.size(); ++p) {
      const double cpu0 = p == 1 ? CpuMicros(gateway_pid) : 0;
      const double backend0 = p == 0 ? CpuMicros(backend_pid) : 0;
      for (int i = 0; i < 1000 && done + i < o.calls; ++i) {
        const auto t = Clock::now();
        if (!Info(*paths[p].stub, small_digest)) {
          std::fprintf(stderr, "Info via %s failed\n", paths[p].name);
          return;
        }
        lat[p].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
      }
      if (p == 1) gateway_cpu += CpuMicros(gateway_pid) - cpu0;
      if (p == 0) backend_cpu += CpuMicros(backend_pid) - backend0;
    }
  }
  std::printf("Content.Info latency, %d calls each (us):\n", o.calls);
  std::printf("  %-8s %8s %8s %8s\n", "path", "p50", "p99", "mean");
  for (size_t p = 0; p < paths.size(); ++p) {
    double sum = 0;
    for (double v : lat[p]) sum += v;
    std::printf("  %-8s %8.1f %8.1f %8.1f\n", paths[p].name, Percentile(lat[p], 0.5),
                Percentile(lat[p], 0.99), sum / static_cast<double>(lat[p].size()));
  }
  for (size_t p = 1; p < paths.size(); ++p) {
    std::printf("  hop (%s): +%.1f us at p50, +%.1f us at p99\n", paths[p].name,
                Percentile(lat[p], 0.5) - Percentile(lat[0], 0.5),
                Percentile(lat[p], 0.99) - Percentile(lat[0], 0.99));
  }
  if (gateway_pid > 0) {
    std::printf("  gateway CPU: %.1f us per forwarded call (berth-content: %.1f us per call)\n",
                gateway_cpu / static_cast<double>(o.calls),
                backend_cpu / static_cast<double>(o.calls));
  }

  // Streaming throughput.
  const int64_t size = static_cast<int64_t>(o.size_mib) << 20;
  std::string data(static_cast<size_t>(size), '\0');
  std::mt19937_64 rng(1);
  for (int64_t i = 0; i + 8 <= size; i += 8) {
    const uint64_t v = rng();
    std::memcpy(&data[static_cast<size_t>(i)], &v, 8);
  }
  std::vector<std::vector<double>> write(paths.size()), read(paths.size());
  double stream_cpu = 0;
  for (int run = 0; run < o.runs; ++run) {
    for (size_t p = 0; p < paths.size(); ++p) {
      const double cpu0 = p == 1 ? CpuMicros(gateway_pid) : 0;
      // A different blob every time: a real store answers AlreadyExists to a known one.
      std::memcpy(&data[0], &run, sizeof(run));
      data[sizeof(run)] = static_cast<char>(p);
      const std::string digest = berth::digest::FromBytes(data).ToString();
      const std::string ref = "bench-" + std::to_string(run) + "-" + std::to_string(p);
      const double w = Write(*paths[p].stub, ref, data, digest);
      if (w < 0) return;
      write[p].push_back(static_cast<double>(size) / w / 1e6);
      const double r = Read(*paths[p].stub, digest, size);
      if (r < 0) return;
      read[p].push_back(static_cast<double>(size) / r / 1e6);
      if (real) Delete(*paths[p].stub, digest);
      if (p == 1) stream_cpu += CpuMicros(gateway_pid) - cpu0;
    }
  }
  std::printf("Streaming %d MiB, median of %d runs (MB/s):\n", o.size_mib, o.runs);
  std::printf("  %-8s %8s %8s\n", "path", "Write", "Read");
  for (size_t p = 0; p < paths.size(); ++p) {
    std::printf("  %-8s %8.0f %8.0f\n", paths[p].name, Median(write[p]), Median(read[p]));
  }
  for (size_t p = 1; p < paths.size(); ++p) {
    std::printf("  hop (%s): Write %+.1f%%, Read %+.1f%%\n", paths[p].name,
                (Median(write[p]) / Median(write[0]) - 1) * 100,
                (Median(read[p]) / Median(read[0]) - 1) * 100);
  }
  if (gateway_pid > 0) {
    const double gib = 2.0 * static_cast<double>(o.runs) * static_cast<double>(size) /
                       static_cast<double>(1 << 30);
    std::printf("  gateway CPU: %.0f ms per GiB forwarded (Write and Read)\n",
                stream_cpu / 1000 / gib);
  }
  if (real) Delete(*paths[0].stub, small_digest);
}

// --- The relay floor ---

constexpr size_t kPing = 64;

bool ReadFull(int fd, char* buf, size_t n) {
  while (n > 0) {
    const ssize_t got = read(fd, buf, n);
    if (got <= 0) return false;
    buf += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

bool WriteFull(int fd, const char* buf, size_t n) {
  while (n > 0) {
    const ssize_t put = write(fd, buf, n);
    if (put <= 0) return false;
    buf += put;
    n -= static_cast<size_t>(put);
  }
  return true;
}

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

// A child that waits in epoll (as a gRPC poller does) and answers each ping; exits on EOF.
pid_t StartEcho(int fd, int cpu) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  PinTo(cpu);
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  char buf[kPing];
  while (epoll_wait(ep, &ev, 1, -1) >= 0) {
    if (!ReadFull(fd, buf, kPing) || !WriteFull(fd, buf, kPing)) break;
  }
  _exit(0);
}

// A child that copies each message from one socket to the other, in both directions.
pid_t StartRelay(int client_side, int backend_side, int cpu) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  PinTo(cpu);
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = client_side;
  epoll_ctl(ep, EPOLL_CTL_ADD, client_side, &ev);
  ev.data.fd = backend_side;
  epoll_ctl(ep, EPOLL_CTL_ADD, backend_side, &ev);
  char buf[kPing];
  while (epoll_wait(ep, &ev, 1, -1) >= 0) {
    const int from = ev.data.fd;
    const int to = from == client_side ? backend_side : client_side;
    if (!ReadFull(from, buf, kPing) || !WriteFull(to, buf, kPing)) break;
  }
  _exit(0);
}

std::vector<double> PingPong(int fd, int n) {
  std::vector<double> lat;
  lat.reserve(static_cast<size_t>(n));
  char buf[kPing] = {};
  for (int i = 0; i < n; ++i) {
    const auto t = Clock::now();
    if (!WriteFull(fd, buf, kPing) || !ReadFull(fd, buf, kPing)) break;
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  return lat;
}

void MeasureRelayFloor(int calls) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
    std::printf("\n== relay floor: skipped, it needs 2 CPUs ==\n");
    return;
  }
  int direct[2], to_relay[2], from_relay[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, direct) != 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, to_relay) != 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, from_relay) != 0) {
    std::perror("socketpair");
    return;
  }
  cpu_set_t saved;
  sched_getaffinity(0, sizeof saved, &saved);
  const pid_t echo = StartEcho(direct[1], 1);
  const pid_t relayed_echo = StartEcho(from_relay[1], 0);
  const pid_t relay = StartRelay(to_relay[1], from_relay[0], 1);
  PinTo(0);
  std::vector<double> straight, relayed;
  PingPong(direct[0], 500);
  PingPong(to_relay[0], 500);
  for (int done = 0; done < calls; done += 1000) {
    const int k = std::min(1000, calls - done);
    for (double v : PingPong(direct[0], k)) straight.push_back(v);
    for (double v : PingPong(to_relay[0], k)) relayed.push_back(v);
  }
  for (int fd : {direct[0], direct[1], to_relay[0], to_relay[1], from_relay[0], from_relay[1]}) {
    close(fd);
  }
  for (pid_t pid : {echo, relayed_echo, relay}) {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  sched_setaffinity(0, sizeof saved, &saved);
  std::printf("\n== relay floor: %zu-byte ping-pong over unix sockets, no protocol, each "
              "message waking a process on the other CPU ==\n",
              kPing);
  std::printf("  direct to an echo process p50 %.1f us, through a relay process p50 %.1f us\n",
              Percentile(straight, 0.5), Percentile(relayed, 0.5));
  std::printf("  relay floor: +%.1f us at p50\n",
              Percentile(relayed, 0.5) - Percentile(straight, 0.5));
}

void RunFake(const Options& o) {
  char tmpl[] = "/tmp/gwbench.XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string backend_socket = dir + "/content.sock";
  const std::string gateway_socket = dir + "/gateway.sock";

  berth::gateway::testing::FakeContent fake;
  berth::server::HealthService health;
  health.SetServingStatus("", true);
  grpc::ServerBuilder backend_builder;
  backend_builder.AddListeningPort("unix:" + backend_socket, grpc::InsecureServerCredentials());
  backend_builder.SetMaxReceiveMessageSize(16 << 20);
  backend_builder.RegisterService(&fake);
  backend_builder.RegisterService(&health);
  std::unique_ptr<grpc::Server> backend = backend_builder.BuildAndStart();

  berth::gateway::GatewayConfig config;
  berth::gateway::BackendConfig b;
  b.name = "content";
  b.services = {"containerd.services.content.v1.Content"};
  b.addresses = {"unix://" + backend_socket};
  b.read_methods = {"Info", "Read"};
  config.backends = {b};
  auto router = berth::gateway::Router::Create(config);
  if (!router.ok()) {
    std::fprintf(stderr, "%s\n", router.status().ToString().c_str());
    return;
  }
  berth::gateway::ProxyService proxy(router->get(), {});
  auto registered = proxy.RegisteredService();
  grpc::ServerBuilder gateway_builder;
  gateway_builder.AddListeningPort("unix:" + gateway_socket, grpc::InsecureServerCredentials());
  gateway_builder.SetMaxReceiveMessageSize(16 << 20);
  gateway_builder.SetMaxSendMessageSize(16 << 20);
  gateway_builder.RegisterService(registered->get());
  std::unique_ptr<grpc::Server> gateway = gateway_builder.BuildAndStart();
  // The same proxy as a generic service: every call a bidi stream, no unary shortcut.
  const std::string generic_socket = dir + "/generic.sock";
  grpc::ServerBuilder generic_builder;
  generic_builder.AddListeningPort("unix:" + generic_socket, grpc::InsecureServerCredentials());
  generic_builder.SetMaxReceiveMessageSize(16 << 20);
  generic_builder.SetMaxSendMessageSize(16 << 20);
  generic_builder.RegisterCallbackGenericService(&proxy);
  std::unique_ptr<grpc::Server> generic = generic_builder.BuildAndStart();

  std::vector<Path> paths;
  paths.push_back({"direct", api::Content::NewStub(Dial(backend_socket))});
  paths.push_back({"gateway", api::Content::NewStub(Dial(gateway_socket))});
  paths.push_back({"generic", api::Content::NewStub(Dial(generic_socket))});
  Measure("fake: in-process scripted backend, in-process gateway proxy (generic = all bidi)", paths,
          o, false);
  generic->Shutdown();
  unlink(generic_socket.c_str());
  gateway->Shutdown();
  backend->Shutdown();
  health.Shutdown();
  unlink(backend_socket.c_str());
  unlink(gateway_socket.c_str());
  rmdir(dir.c_str());
}

void RunSuite(const Options& o) {
  std::string repo = BERTH_SOURCE_DIR;
  if (const char* s = getenv("BERTH_SOURCE_DIR")) repo = s;
  const std::string up = repo + "/deploy/berth-up";
  std::string tmpl = o.dir + "/gwbench.XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::perror("mkdtemp");
    return;
  }
  const std::string root = buf.data();
  const std::string start = "BERTH_SERVICES=content " + up + " start " + root + " >/dev/null";
  if (std::system(start.c_str()) != 0) {
    std::fprintf(stderr, "berth-up start %s failed (see %s/log)\n", root.c_str(), root.c_str());
    return;
  }
  std::vector<Path> paths;
  paths.push_back({"direct", api::Content::NewStub(Dial(root + "/run/content.sock"))});
  paths.push_back({"gateway", api::Content::NewStub(Dial(root + "/berth.sock"))});
  auto pid_of = [&](const char* name) {
    int pid = 0;
    if (FILE* f = std::fopen((root + "/run/" + name + ".pid").c_str(), "r")) {
      if (std::fscanf(f, "%d", &pid) != 1) pid = 0;
      std::fclose(f);
    }
    return pid;
  };
  Measure(("suite: berth-content and berth-gateway processes, root " + root).c_str(), paths, o,
          true, pid_of("gateway"), pid_of("content"));
  paths.clear();
  std::system((up + " stop " + root + " >/dev/null").c_str());
  std::system(("rm -rf " + root).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("gateway_bench: cost of the berth-gateway hop");
  app.add_option("--dir", o.dir, "where the suite's root goes");
  app.add_option("--calls", o.calls, "Content.Info calls per path");
  app.add_option("--size-mib", o.size_mib, "size of each streamed blob, MiB");
  app.add_option("--runs", o.runs, "streaming runs per path");
  app.add_flag("--fake-only", o.fake_only, "skip the real suite");
  app.add_flag("--suite-only", o.suite_only, "skip the in-process setup");
  CLI11_PARSE(app, argc, argv);
  // As berth-gateway's main() does (see there), for the in-process setup.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  MeasureRelayFloor(o.calls);
  if (!o.suite_only) RunFake(o);
  if (!o.fake_only) RunSuite(o);
  return 0;
}
