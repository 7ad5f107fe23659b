// content_read_bench: Read throughput of a content backend under parallel readers, through
// the gateway (reads go round robin over the primary and its read replicas) or straight to
// one instance. bench/content/replicas.sh runs it against 1 and 3 content instances.
//
//   content_read_bench --address unix:///tmp/suite/berth.sock [--blobs 8] [--size-mib 32]
//                      [--readers 1,4,16] [--seconds 10]
//
// Steps: ingest --blobs random blobs of --size-mib MiB through --address (writes go to the
// primary; blobs already there are kept), read each back once to warm the page cache, then
// for each reader count: that many threads, each with its own connection, read whole blobs
// (one Read stream each, 1 MiB messages, blob i % blobs) for --seconds; print the total
// MB/s and reads/s. Every read's byte count is checked.
//
// Not a test: timings are the point. Run it on an idle machine (see replicas.sh).
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "lib/digest/digest.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"

namespace {

namespace api = containerd::services::content::v1;
using Clock = std::chrono::steady_clock;

constexpr char kNamespace[] = "bench";

std::shared_ptr<grpc::Channel> Connect(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per reader
  std::string target = address;
  if (target.rfind("unix://", 0) == 0) target = "unix:" + target.substr(7);
  if (target.rfind("tcp://", 0) == 0) target = target.substr(6);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// Ingests `data` unless it is there already; false on failure.
bool Ingest(api::Content::Stub& stub, const std::string& data, const std::string& dgst) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("containerd-namespace", kNamespace);
  auto stream = stub.Write(&ctx);
  api::WriteContentRequest req;
  api::WriteContentResponse resp;
  req.set_action(api::STAT);
  req.set_ref("bench-" + dgst);
  req.set_total(static_cast<int64_t>(data.size()));
  req.set_expected(dgst);
  if (!stream->Write(req) || !stream->Read(&resp)) {
    grpc::Status s = stream->Finish();
    if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS) return true;
    std::fprintf(stderr, "open writer: %s\n", s.error_message().c_str());
    return false;
  }
  constexpr size_t kChunk = 1 << 20;
  int64_t offset = resp.offset();
  req.Clear();
  req.set_action(api::WRITE);
  while (static_cast<size_t>(offset) < data.size()) {
    req.set_offset(offset);
    req.set_data(data.substr(static_cast<size_t>(offset), kChunk));
    if (!stream->Write(req) || !stream->Read(&resp)) break;
    offset = resp.offset();
  }
  req.Clear();
  req.set_action(api::COMMIT);
  req.set_offset(offset);
  req.set_total(static_cast<int64_t>(data.size()));
  req.set_expected(dgst);
  stream->Write(req);
  stream->Read(&resp);
  stream->WritesDone();
  grpc::Status s = stream->Finish();
  if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
    std::fprintf(stderr, "commit: %s\n", s.error_message().c_str());
    return false;
  }
  return true;
}

// Reads the whole blob; returns its bytes, or -1 on error.
int64_t ReadBlob(api::Content::Stub& stub, const std::string& dgst) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("containerd-namespace", kNamespace);
  api::ReadContentRequest req;
  req.set_digest(dgst);
  auto reader = stub.Read(&ctx, req);
  api::ReadContentResponse resp;
  int64_t got = 0;
  while (reader->Read(&resp)) got += static_cast<int64_t>(resp.data().size());
  grpc::Status s = reader->Finish();
  if (!s.ok()) {
    std::fprintf(stderr, "read %s: %s\n", dgst.c_str(), s.error_message().c_str());
    return -1;
  }
  return got;
}

}  // namespace

int main(int argc, char** argv) {
  std::string address;
  int blobs = 8;
  int size_mib = 32;
  std::string readers_list = "1,4,16";
  int seconds = 10;
  CLI::App app("content Read throughput under parallel readers");
  app.add_option("--address", address, "gRPC address (unix:///path or tcp://host:port)")
      ->required();
  app.add_option("--blobs", blobs, "distinct blobs read round robin")->check(CLI::Range(1, 1024));
  app.add_option("--size-mib", size_mib, "size of each blob in MiB")->check(CLI::Range(1, 4096));
  app.add_option("--readers", readers_list, "comma-separated reader counts");
  app.add_option("--seconds", seconds, "duration of each measurement")->check(CLI::Range(1, 3600));
  CLI11_PARSE(app, argc, argv);

  std::vector<int> reader_counts;
  {
    std::stringstream in(readers_list);
    for (std::string item; std::getline(in, item, ',');) reader_counts.push_back(std::stoi(item));
  }

  auto channel = Connect(address);
  auto stub = api::Content::NewStub(channel);
  std::vector<std::string> digests;
  std::vector<int64_t> sizes;
  std::mt19937_64 rng(7);
  for (int b = 0; b < blobs; ++b) {
    std::string data(static_cast<size_t>(size_mib) << 20, '\0');
    for (size_t i = 0; i + 8 <= data.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(&data[i], &v, 8);
    }
    const std::string dgst = berth::digest::FromBytes(data).ToString();
    if (!Ingest(*stub, data, dgst)) return 1;
    digests.push_back(dgst);
    sizes.push_back(static_cast<int64_t>(data.size()));
  }
  // Warm: every instance reads every blob at least once (round robin), so the page cache
  // holds them before anything is timed.
  for (int pass = 0; pass < 3; ++pass) {
    for (size_t b = 0; b < digests.size(); ++b) {
      if (ReadBlob(*stub, digests[b]) != sizes[b]) return 1;
    }
  }

  std::printf("%-8s %10s %10s\n", "readers", "MB/s", "reads/s");
  for (int readers : reader_counts) {
    std::atomic<int64_t> bytes{0};
    std::atomic<int64_t> reads{0};
    std::atomic<bool> failed{false};
    const Clock::time_point end = Clock::now() + std::chrono::seconds(seconds);
    const Clock::time_point start = Clock::now();
    std::vector<std::thread> threads;
    for (int r = 0; r < readers; ++r) {
      threads.emplace_back([&, r] {
        auto own = api::Content::NewStub(Connect(address));
        for (size_t i = static_cast<size_t>(r); Clock::now() < end; ++i) {
          const size_t b = i % digests.size();
          const int64_t got = ReadBlob(*own, digests[b]);
          if (got != sizes[b]) {
            failed = true;
            return;
          }
          bytes += got;
          ++reads;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    if (failed) {
      std::fprintf(stderr, "a read failed or returned the wrong size\n");
      return 1;
    }
    std::printf("%-8d %10.1f %10.1f\n", readers, static_cast<double>(bytes) / secs / 1e6,
                static_cast<double>(reads) / secs);
    std::fflush(stdout);
  }
  return 0;
}
