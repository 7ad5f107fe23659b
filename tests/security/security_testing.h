// Helpers for the hostile-input tests (tests/security/): raw gRPC through the gateway socket of
// a running suite (client_testing::LocalSuite), so that the tests see exactly the codes and
// messages the services return, plus /proc readers for socket and process checks.
//
//   LocalSuite suite;  ASSERT_OK(suite.Start());
//   auto channel = Dial(suite.socket());
//   auto content = containerd::services::content::v1::Content::NewStub(channel);
//   ASSERT_OK_AND_ASSIGN(std::string dgst, WriteBlob(*content, "ns-a", "hello"));
//
// Thread-safety: free functions, each independent; Listener is safe to query from any thread.
#ifndef BERTH_TESTS_SECURITY_SECURITY_TESTING_H_
#define BERTH_TESTS_SECURITY_SECURITY_TESTING_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/containerd/services/content/v1/content.grpc.pb.h"

namespace berth::security_testing {

// A channel to a unix socket path whose client side lets messages of up to `max_bytes` each way
// through (so the server, not the client, is the one to refuse what is too big).
std::shared_ptr<grpc::Channel> Dial(const std::string& socket, int max_bytes = 64 << 20);

// A context carrying namespace `ns` (none when empty) with a deadline `timeout` from now.
std::unique_ptr<grpc::ClientContext> Ctx(const std::string& ns,
                                         std::chrono::seconds timeout = std::chrono::seconds(120));

// grpc::Status -> absl::Status (same code and message).
absl::Status FromGrpc(const grpc::Status& s);

// Writes `data` through Content.Write (ref `ref`, or one made from the digest) and commits it
// with its digest; AlreadyExists counts as success. Returns "sha256:<hex>".
// The blob is labelled `containerd.io/gc.root`: nothing else references it, and a collection
// the gateway schedules meanwhile (after any lease or snapshot removal) would rightly remove it.
absl::StatusOr<std::string> WriteBlob(containerd::services::content::v1::Content::Stub& content,
                                      const std::string& ns, const std::string& data,
                                      const std::map<std::string, std::string>& labels = {},
                                      const std::string& ref = "");

// Pids of every process of the suite at `root`: those recorded in root/run/*.pid and every
// process whose command line mentions `root` (shims, replicas), excluding the calling process.
std::vector<pid_t> SuitePids(const std::string& root);

// Inodes of the sockets process `pid` has open (from /proc/<pid>/fd, "socket:[N]").
std::set<ino_t> SocketInodes(pid_t pid);

// One line of /proc/net/unix: the socket's inode and path ("" when unbound; abstract
// addresses start with '@').
struct UnixSocketEntry {
  ino_t inode = 0;
  std::string path;
};
std::vector<UnixSocketEntry> ReadProcNetUnix();

// "<pid> (<comm>): @name" for every abstract unix socket one of `pids` holds.
std::vector<std::string> AbstractSocketsOf(const std::vector<pid_t>& pids);

// A TCP listener on 127.0.0.1:0 that accepts connections on a thread and records what each
// sends (first 64 KiB), answering nothing useful (HTTP 404). For "this URL must never be
// fetched" checks.
class Listener {
 public:
  static absl::StatusOr<std::unique_ptr<Listener>> Start();
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Answers `path` (e.g. "/v2/sec/big/manifests/1") with 200, `content_type`, a
  // Docker-Content-Digest of `body`, and `body` (GET) — a minimal hostile registry. The
  // Content-Length announced is `declared_length` when >= 0 (a lying server still sends the
  // whole body). "/v2/" always answers 200. Call before the server is used.
  void Serve(const std::string& path, const std::string& content_type, std::string body,
             int64_t declared_length = -1);

  int port() const { return port_; }
  // Connections accepted so far, and all bytes they sent.
  int connections() const { return connections_.load(); }
  std::string received() const;

 private:
  Listener() = default;
  void Loop();

  int fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> connections_{0};
  mutable std::mutex mu_;
  std::string received_;
  struct Route {
    std::string content_type;
    std::string body;
    int64_t declared_length = -1;
  };
  std::map<std::string, Route> routes_;
  std::thread thread_;
};

// Resident set size of `pid` in KiB (VmRSS), -1 when it cannot be read.
long RssKiB(pid_t pid);

// Every path under `dir` (recursively, symlinks not followed) with its mode, owner, size and
// content for regular files: a fingerprint to compare before and after.
std::string TreeFingerprint(const std::string& dir);

}  // namespace berth::security_testing

#endif  // BERTH_TESTS_SECURITY_SECURITY_TESTING_H_
