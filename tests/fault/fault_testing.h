// Fixtures for berth's fault tests (tests/fault/): a whole local suite (deploy/berth-up on a
// temporary root, client/testing/suite.h) whose processes a test kills with SIGKILL, stops
// and brings back the way an operator does (`berth-up start ROOT` starts what is not
// running), plus the checks that follow a fault: every blob under the content root re-hashes
// to its name, the Prometheus counters each process serves.
//
//   FaultSuite suite;
//   ASSERT_OK(suite.Start());
//   ASSERT_OK(suite.Kill9("content"));        // SIGKILL, returns once the process is gone
//   ASSERT_OK(suite.Restart());               // berth-up start ROOT
//   EXPECT_THAT(CorruptBlobs(suite.ContentRoot()), IsEmpty());
//
// Every process and mount is stopped / removed by the destructor (berth-up stop ROOT, which
// unmounts what is mounted under ROOT), also when the test failed.
//
// Thread-safety: one thread drives a FaultSuite; the free functions are independent.
#ifndef BERTH_TESTS_FAULT_FAULT_TESTING_H_
#define BERTH_TESTS_FAULT_FAULT_TESTING_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/berth.h"
#include "client/testing/suite.h"

namespace berth::fault {

// The berth processes berth-up runs, in start order.
inline const std::vector<std::string>& BerthProcesses() {
  static const std::vector<std::string> kNames = {"content", "snapshot", "image", "runtime",
                                                  "gateway"};
  return kNames;
}

class FaultSuite {
 public:
  FaultSuite() = default;
  // berth-up stop ROOT (processes, and every mount under ROOT), then the root is removed.
  ~FaultSuite() = default;
  FaultSuite(const FaultSuite&) = delete;
  FaultSuite& operator=(const FaultSuite&) = delete;

  // `berth-up start ROOT`: Internal with the output and the logs' ends on failure.
  absl::Status Start() { return suite_.Start(); }
  // `berth-up start ROOT` again: starts whatever is not running (a killed process) and waits
  // for its ready-file; leaves running ones alone.
  absl::Status Restart() { return suite_.Start(); }
  absl::Status Stop() { return suite_.Stop(); }

  const std::string& root() const { return suite_.root(); }
  std::string socket() const { return suite_.socket(); }
  std::string Path(const std::string& name) const { return suite_.Path(name); }
  std::string Logs() const { return suite_.Logs(); }
  // ROOT/lib/<service>: the data directory of a service ("content", "snapshot", ...).
  std::string DataRoot(const std::string& service) const { return Path("lib/" + service); }

  // The pid berth-up recorded for `name` ("content", ..., "gateway", "nats") if that
  // process still runs (not a zombie); NotFound otherwise.
  absl::StatusOr<pid_t> Pid(const std::string& name) const;
  // SIGKILL to `name` (as `kill -9`), then waits until the process is gone (reaped or a
  // zombie). NotFound when it does not run; DeadlineExceeded when it does not die.
  absl::Status Kill9(const std::string& name);
  // As Kill9 with SIGTERM: a clean stop (NATS going away).
  absl::Status Terminate(const std::string& name);
  // The port of `name`'s Prometheus endpoint, from `berth-up status ROOT`. NotFound when the
  // status does not list one.
  absl::StatusOr<int> MetricsPort(const std::string& name);
  // The value of the unlabelled sample `metric` on `name`'s /metrics; NotFound when absent.
  absl::StatusOr<double> Metric(const std::string& name, const std::string& metric);

  client_testing::LocalSuite& local() { return suite_; }

  // A client of the gateway in namespace `ns`, its FIFOs under the suite's root.
  std::unique_ptr<Client> NewClient(const std::string& ns) const;

 private:
  absl::Status KillAndWait(const std::string& name, int sig);

  client_testing::LocalSuite suite_;
};

// Re-hashes every file under `content_root`/blobs/sha256 and returns a line for each one
// whose sha256 differs from its file name (or that cannot be read); empty when all are
// sound. `count` (when not null) receives the number of blobs checked.
std::vector<std::string> CorruptBlobs(const std::string& content_root, int* count = nullptr);

// Deterministic incompressible bytes (a counter-mode sha256 stream seeded with `seed`).
std::string PseudoRandomBytes(size_t size, uint64_t seed);

// True while `pid` exists and is not a zombie.
bool ProcessAlive(pid_t pid);

// Waits until every backend answers through the gateway (content Walk, snapshot Stat, image
// and container List give something other than Unavailable): what a client sees once a
// restarted process is back. DeadlineExceeded with the last error otherwise.
absl::Status WaitServing(const Client& client,
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

// The next event of `stream`, or DeadlineExceeded (the stream cancelled) after `timeout`.
absl::StatusOr<Envelope> NextWithin(EventStream& stream, std::chrono::milliseconds timeout);

// Imports the one-image OCI archive at `archive` (client_testing::WriteBusyboxArchive).
absl::StatusOr<Image> ImportArchive(const Client& client, const std::string& archive);

}  // namespace berth::fault

#endif  // BERTH_TESTS_FAULT_FAULT_TESTING_H_
