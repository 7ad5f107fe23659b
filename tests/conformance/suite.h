// Suite: one local berth suite for a conformance test — deploy/berth-up on a temporary root —
// and Debian's unmodified `ctr` pointed at its gateway socket.
//
//   Suite suite;
//   ASSERT_OK(suite.Start());                 // berth-up start ROOT
//   CtrResult r = suite.Ctr({"namespaces", "ls"});
//   EXPECT_EQ(r.exit_code, 0) << r.err;
//   // the destructor runs berth-up stop ROOT, also when the test failed
//
// If the test process dies without running destructors (a crash, a ctest timeout), a small
// detached watcher started with the suite notices and runs `berth-up stop ROOT`, so no
// daemon outlives the test.
//
// Paths come from the environment CTest sets: $BERTH_SOURCE_DIR (deploy/berth-up) and
// $BERTH_BIN (the binaries berth-up starts).
//
// Thread-safety: one thread drives a Suite.
#ifndef BERTH_TESTS_CONFORMANCE_SUITE_H_
#define BERTH_TESTS_CONFORMANCE_SUITE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/testing/temp_dir.h"

namespace berth::conformance {

struct CtrResult {
  int exit_code = -1;  // -1 when ctr did not exit normally
  std::string out;
  std::string err;
};

class Suite {
 public:
  Suite();
  // Stops the suite if it was started.
  ~Suite();

  // Extra "KEY=value" environment for berth-up (e.g. BERTH_CONFIG=<another template>).
  void SetEnv(std::vector<std::string> env) { env_ = std::move(env); }

  // `berth-up start ROOT`; Internal with berth-up's output when it fails.
  absl::Status Start();
  // `berth-up stop ROOT`.
  absl::Status Stop();
  // `berth-up status ROOT`: its exit code (0 = everything runs) and output.
  CtrResult Status();

  const std::string& root() const { return dir_.path(); }
  std::string socket() const { return dir_.Path("berth.sock"); }
  // A fresh path in the root for the test's own files.
  std::string Path(const std::string& name) const { return dir_.Path(name); }
  // The pid berth-up recorded for `name` ("content", "gateway", "nats"), or -1.
  int Pid(const std::string& name) const;

  // Runs `ctr -a <socket> [-n ns] args...` to completion (up to 120 s), with stdin from
  // `stdin_path` when not empty.
  CtrResult Ctr(const std::vector<std::string>& args, const std::string& ns = "",
                const std::string& stdin_path = "");
  // As Ctr, with stdout going to `stdout_path` (for large output) instead of CtrResult::out.
  CtrResult CtrToFile(const std::vector<std::string>& args, const std::string& ns,
                      const std::string& stdout_path);

 private:
  CtrResult Run(const std::vector<std::string>& argv, const std::string& stdout_path,
                const std::vector<std::string>& extra_env = {});
  CtrResult BerthUp(const std::string& command);

  testing::TempDir dir_{"bconf"};
  std::string berth_up_;
  bool started_ = false;
  int runs_ = 0;
  std::vector<std::string> env_;
};

// Reads a whole file ("" when it cannot be read).
std::string ReadFile(const std::string& path);

}  // namespace berth::conformance

#endif  // BERTH_TESTS_CONFORMANCE_SUITE_H_
