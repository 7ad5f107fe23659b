// content_bench: ingest and read throughput of a real berth-content process over its unix
// socket, next to this machine's single-core SHA-256 speed measured in the same run.
//
//   content_bench [--bin build/bin/berth-content] [--dir /var/tmp] [--size-mib 1024]
//                 [--runs 3] [--chunk-kib 1024]
//
// Steps: SHA-256 speed (`openssl speed -evp sha256 -bytes 16384`, plus the same loop
// in-process over berth's digest::Sha256); start berth-content on a fresh root under --dir;
// then per run: ingest --size-mib MiB through one Write stream exactly as ctr does (STAT with
// ref/total/expected, WRITE of --chunk-kib chunks in lock-step, COMMIT), read it back with
// one Read stream, read it back as ctr's `content get` does (one Read call per 1 MiB window),
// delete it. Prints every run and the medians, and ingest as a percentage of openssl's figure
// (the goal: >= 80%).
//
// Each run also measures the disk under --dir, just before the ingest: the same bytes written
// to a file there in 1 MiB pwrites and made durable with fdatasync, once as `dd
// conv=fdatasync` does (everything flushed at the end) and once with writeback started every
// 8 MiB as berth-content does. Commit must be durable (containerd fsyncs too), so when that
// figure is below SHA-256's the disk, not hashing, bounds the ingest; the percentages of both
// are printed.
//
// Not a test: timings are the point here. Run it on an idle machine; the root under --dir
// decides what disk is measured (see reference/benchmarking.md).
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "lib/digest/digest.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"

namespace {

namespace api = containerd::services::content::v1;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
double MBps(int64_t bytes, double secs) { return static_cast<double>(bytes) / secs / 1e6; }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// openssl's own figure for 16 KiB blocks, in MB/s (1e6 bytes), or 0 if it cannot be run.
double OpensslSpeed() {
  FILE* p = ::popen("openssl speed -evp sha256 -bytes 16384 -seconds 3 2>/dev/null", "r");
  if (p == nullptr) return 0;
  char line[512];
  double kbps = 0;
  while (std::fgets(line, sizeof(line), p) != nullptr) {
    if (std::strncmp(line, "sha256", 6) == 0) {
      // "sha256   1470057.63k" (thousands of bytes per second).
      kbps = std::strtod(line + 6, nullptr);
    }
  }
  ::pclose(p);
  return kbps / 1000.0;
}

double InProcessSha256Speed() {
  std::string block(16384, 'x');
  berth::digest::Sha256 h;
  int64_t bytes = 0;
  auto start = Clock::now();
  while (Clock::now() - start < std::chrono::seconds(2)) {
    for (int i = 0; i < 256; ++i) h.Update(block);
    bytes += 256 * static_cast<int64_t>(block.size());
  }
  return MBps(bytes, Seconds(Clock::now() - start));
}

std::shared_ptr<grpc::Channel> Connect(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void AddNamespace(grpc::ClientContext* ctx) { ctx->AddMetadata("containerd-namespace", "bench"); }

// The test blob: a 64 MiB block of random bytes, repeated up to `size`. Only the block is
// kept in memory, so the client's own memory stays small and warm.
struct Blob {
  std::string block;
  size_t size = 0;
  std::string digest;

  // Copies [offset, offset+n) of the blob into `out`.
  void Slice(size_t offset, size_t n, std::string* out) const {
    out->resize(n);
    size_t done = 0;
    while (done < n) {
      size_t at = (offset + done) % block.size();
      size_t take = std::min(n - done, block.size() - at);
      std::memcpy(out->data() + done, block.data() + at, take);
      done += take;
    }
  }
};

Blob MakeBlob(size_t size) {
  Blob blob;
  blob.size = size;
  std::mt19937_64 rng(42);
  blob.block.resize(std::min<size_t>(size, 64 << 20));
  for (size_t i = 0; i + 8 <= blob.block.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(&blob.block[i], &v, 8);
  }
  berth::digest::Sha256 h;
  for (size_t off = 0; off < size; off += blob.block.size()) {
    h.Update(blob.block.data(), std::min(blob.block.size(), size - off));
  }
  blob.digest = h.Finish().ToString();
  return blob;
}

// Writes `blob` to a new file in `dir` in 1 MiB pwrites and fdatasyncs it; with `early`,
// writeback of every 8 MiB window is started as it is written. MB/s, or 0 on an error.
double DurableWriteSpeed(const std::string& dir, const Blob& blob, bool early) {
  const std::string path = dir + "/disk-limit";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  std::string chunk;
  bool ok = true;
  const auto start = Clock::now();
  int64_t started = 0;
  for (size_t off = 0; off < blob.size && ok; off += chunk.size()) {
    blob.Slice(off, std::min<size_t>(1 << 20, blob.size - off), &chunk);
    ok = ::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(off)) ==
         static_cast<ssize_t>(chunk.size());
    const int64_t end = static_cast<int64_t>(off + chunk.size());
    if (early && end - started >= (8 << 20)) {
      (void)::sync_file_range(fd, started, end - started, SYNC_FILE_RANGE_WRITE);
      started = end;
    }
  }
  ok = ok && ::fdatasync(fd) == 0;
  const double secs = Seconds(Clock::now() - start);
  ::close(fd);
  ::unlink(path.c_str());
  return ok ? MBps(static_cast<int64_t>(blob.size), secs) : 0;
}

bool Ingest(api::Content::Stub& stub, const Blob& blob, size_t chunk, const std::string& ref) {
  const std::string& dgst = blob.digest;
  grpc::ClientContext ctx;
  AddNamespace(&ctx);
  auto stream = stub.Write(&ctx);
  api::WriteContentRequest req;
  api::WriteContentResponse resp;
  req.set_action(api::STAT);
  req.set_ref(ref);
  req.set_total(static_cast<int64_t>(blob.size));
  req.set_expected(dgst);
  if (!stream->Write(req) || !stream->Read(&resp)) {
    std::fprintf(stderr, "open failed: %s\n", stream->Finish().error_message().c_str());
    return false;
  }
  int64_t offset = resp.offset();
  req.Clear();
  req.set_action(api::WRITE);
  while (static_cast<size_t>(offset) < blob.size) {
    size_t n = std::min(chunk, blob.size - static_cast<size_t>(offset));
    req.set_offset(offset);
    blob.Slice(static_cast<size_t>(offset), n, req.mutable_data());
    if (!stream->Write(req) || !stream->Read(&resp)) {
      std::fprintf(stderr, "write failed: %s\n", stream->Finish().error_message().c_str());
      return false;
    }
    offset = resp.offset();
  }
  req.Clear();
  req.set_action(api::COMMIT);
  req.set_offset(offset);
  req.set_total(static_cast<int64_t>(blob.size));
  req.set_expected(dgst);
  if (!stream->Write(req) || !stream->Read(&resp)) {
    std::fprintf(stderr, "commit failed: %s\n", stream->Finish().error_message().c_str());
    return false;
  }
  stream->WritesDone();
  grpc::Status s = stream->Finish();
  if (!s.ok() || resp.digest() != dgst) {
    std::fprintf(stderr, "commit: %s digest %s\n", s.error_message().c_str(),
                 resp.digest().c_str());
    return false;
  }
  return true;
}

// One Read call for [offset, offset+size); returns bytes received.
int64_t ReadRange(api::Content::Stub& stub, const std::string& dgst, int64_t offset, int64_t size) {
  grpc::ClientContext ctx;
  AddNamespace(&ctx);
  api::ReadContentRequest req;
  req.set_digest(dgst);
  req.set_offset(offset);
  req.set_size(size);
  auto reader = stub.Read(&ctx, req);
  api::ReadContentResponse resp;
  int64_t got = 0;
  while (reader->Read(&resp)) got += static_cast<int64_t>(resp.data().size());
  grpc::Status s = reader->Finish();
  if (!s.ok()) std::fprintf(stderr, "read failed: %s\n", s.error_message().c_str());
  return got;
}

bool Delete(api::Content::Stub& stub, const std::string& dgst) {
  grpc::ClientContext ctx;
  AddNamespace(&ctx);
  api::DeleteContentRequest req;
  req.set_digest(dgst);
  google::protobuf::Empty resp;
  return stub.Delete(&ctx, req, &resp).ok();
}

}  // namespace

int main(int argc, char** argv) {
  std::string bin = "build/bin/berth-content";
  std::string dir = "/var/tmp";
  int size_mib = 1024;
  int runs = 3;
  int chunk_kib = 1024;
  std::string address;
  bool read = true;
  CLI::App app("content ingest/read throughput against a real berth-content");
  app.add_option("--bin", bin, "berth-content binary");
  app.add_option("--dir", dir, "where the store root is created");
  app.add_option("--size-mib", size_mib, "blob size in MiB");
  app.add_option("--runs", runs, "runs (medians are reported)");
  app.add_option("--chunk-kib", chunk_kib, "write chunk size in KiB (ctr: 1024)");
  app.add_option("--read", read, "also measure reads (false: ingest and delete only)");
  app.add_option("--address", address,
                 "use a running berth-content at this gRPC address (unix:/path) instead");
  CLI11_PARSE(app, argc, argv);

  std::printf("sha256 single core, 16 KiB blocks:\n");
  const double openssl = OpensslSpeed();
  std::printf("  openssl speed -evp sha256: %8.0f MB/s\n", openssl);
  std::printf("  berth digest::Sha256:      %8.0f MB/s\n", InProcessSha256Speed());

  std::string tmpl = dir + "/content-bench.XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string root = tmpl + "/root";
  const std::string socket = tmpl + "/content.sock";
  const std::string ready = tmpl + "/ready";
  const std::string config = tmpl + "/config.toml";
  pid_t pid = -1;
  auto cleanup = [&] {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    std::string rm = "rm -rf '" + tmpl + "'";
    if (std::system(rm.c_str()) != 0) std::fprintf(stderr, "cannot remove %s\n", tmpl.c_str());
  };
  if (address.empty()) {
    {
      std::ofstream f(config);
      f << "[content]\naddress = \"unix://" << socket << "\"\nroot = \"" << root
        << "\"\nnats_url = \"\"\nlog_level = \"warn\"\nready_file = \"" << ready << "\"\n";
    }
    pid = ::fork();
    if (pid == 0) {
      ::execl(bin.c_str(), bin.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
      std::perror("exec berth-content");
      ::_exit(127);
    }
    for (int i = 0; i < 500 && ::access(ready.c_str(), F_OK) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (::access(ready.c_str(), F_OK) != 0) {
      std::fprintf(stderr, "berth-content did not become ready\n");
      cleanup();
      return 1;
    }
    address = "unix:" + socket;
  }

  const size_t size = static_cast<size_t>(size_mib) << 20;
  const Blob blob = MakeBlob(size);
  const std::string& dgst = blob.digest;
  auto stub = api::Content::NewStub(Connect(address));
  std::printf("blob: %d MiB, chunks of %d KiB, server %s\n", size_mib, chunk_kib,
              pid > 0 ? root.c_str() : address.c_str());

  std::vector<double> ingest, read_stream, read_windows, disk_late, disk_early;
  bool ok = true;
  for (int run = 0; run < runs && ok; ++run) {
    disk_late.push_back(DurableWriteSpeed(tmpl, blob, /*early=*/false));
    disk_early.push_back(DurableWriteSpeed(tmpl, blob, /*early=*/true));
    std::printf("run %d: disk, write + fdatasync %7.0f MB/s, with early writeback %7.0f MB/s\n",
                run + 1, disk_late.back(), disk_early.back());
    auto t0 = Clock::now();
    ok = Ingest(*stub, blob, static_cast<size_t>(chunk_kib) << 10, "bench-" + std::to_string(run));
    const double ti = Seconds(Clock::now() - t0);
    if (!ok) break;
    int64_t got = static_cast<int64_t>(size), got2 = got;
    double tr = 0, tw = 0;
    if (read) {
      t0 = Clock::now();
      got = ReadRange(*stub, dgst, 0, 0);
      tr = Seconds(Clock::now() - t0);
      t0 = Clock::now();
      got2 = 0;
      for (int64_t off = 0; off < static_cast<int64_t>(size); off += 1 << 20) {
        got2 += ReadRange(*stub, dgst, off, std::min<int64_t>(1 << 20, size - off));
      }
      tw = Seconds(Clock::now() - t0);
    }
    ok = got == static_cast<int64_t>(size) && got2 == static_cast<int64_t>(size) &&
         Delete(*stub, dgst);
    ingest.push_back(MBps(size, ti));
    read_stream.push_back(read ? MBps(size, tr) : 0);
    read_windows.push_back(read ? MBps(size, tw) : 0);
    std::printf(
        "run %d: ingest %7.0f MB/s  read(one stream) %7.0f MB/s  "
        "read(1 MiB calls) %7.0f MB/s\n",
        run + 1, ingest.back(), read_stream.back(), read_windows.back());
  }
  cleanup();
  if (!ok) return 1;
  const double mi = Median(ingest);
  const double disk = std::max(Median(disk_late), Median(disk_early));
  std::printf(
      "median: ingest %.0f MB/s (%.0f%% of openssl sha256, %.0f%% of the disk's durable write "
      "%.0f MB/s), read %.0f MB/s, read in 1 MiB calls %.0f MB/s\n",
      mi, openssl > 0 ? 100 * mi / openssl : 0, disk > 0 ? 100 * mi / disk : 0, disk,
      Median(read_stream), Median(read_windows));
  return 0;
}
