// Smoke test of bench/ (the only part that runs in CI): `bench/run --quick --dry-run` prints
// its plan and starts nothing, bad flags are refused, and the driver programs answer --help
// and refuse bad input. Runs no benchmark and measures nothing.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "lib/testing/child_process.h"
#include "lib/testing/temp_dir.h"

namespace berth::bench {
namespace {

using ::berth::testing::ChildProcess;
using ::berth::testing::ChildProcessOptions;
using ::berth::testing::TempDir;

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

class SmokeTest : public ::testing::Test {
 protected:
  Outcome Run(std::vector<std::string> argv) {
    ChildProcessOptions options;
    options.argv = std::move(argv);
    options.stdout_path = dir_.Path("out");
    options.stderr_path = dir_.Path("err");
    auto child = ChildProcess::Start(options);
    EXPECT_TRUE(child.ok()) << child.status();
    Outcome o;
    if (!child.ok()) return o;
    auto status = child->Wait(std::chrono::seconds(60));
    EXPECT_TRUE(status.ok()) << status.status();
    if (status.ok() && WIFEXITED(*status)) o.code = WEXITSTATUS(*status);
    o.out = child->ReadStdout();
    o.err = child->ReadStderr();
    return o;
  }

  std::string Script() const { return Env("BERTH_SOURCE_DIR", ".") + "/bench/run"; }
  std::string Bin(const std::string& name) const {
    return Env("BERTH_BIN", "build/bin") + "/" + name;
  }

  TempDir dir_{"bsmoke"};
};

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST_F(SmokeTest, QuickDryRunPrintsThePlan) {
  Outcome o = Run({"python3", Script(), "--quick", "--dry-run", "--work", dir_.Path("work")});
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_TRUE(Has(o.out, "quick mode")) << o.out;
  for (const char* scenario :
       {"pull", "apply", "run", "cycles", "memory", "unary", "ingest", "scale"}) {
    EXPECT_TRUE(Has(o.out, std::string("[run ] ") + scenario + ":")) << scenario << "\n" << o.out;
  }
  EXPECT_TRUE(Has(o.out, "loop-mounted ext4")) << o.out;
  EXPECT_TRUE(Has(o.out, "cleanup")) << o.out;
}

TEST_F(SmokeTest, DryRunHonoursOnly) {
  Outcome o = Run({"python3", Script(), "--dry-run", "--only", "pull,cycles"});
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_TRUE(Has(o.out, "full mode")) << o.out;
  EXPECT_TRUE(Has(o.out, "[run ] pull:")) << o.out;
  EXPECT_TRUE(Has(o.out, "[run ] cycles:")) << o.out;
  EXPECT_TRUE(Has(o.out, "[skip] memory:")) << o.out;
}

TEST_F(SmokeTest, BadFlagsAreRefused) {
  Outcome bogus = Run({"python3", Script(), "--bogus", "--dry-run"});
  EXPECT_EQ(bogus.code, 2) << bogus.out << bogus.err;
  Outcome scenario = Run({"python3", Script(), "--dry-run", "--only", "pull,nosuch"});
  EXPECT_EQ(scenario.code, 2) << scenario.out << scenario.err;
  EXPECT_TRUE(Has(scenario.err, "nosuch")) << scenario.err;
  Outcome rounds = Run({"python3", Script(), "--dry-run", "--rounds", "-1"});
  EXPECT_EQ(rounds.code, 2) << rounds.out << rounds.err;
}

TEST_F(SmokeTest, DriverAnswersHelp) {
  Outcome o = Run({Bin("bench_driver"), "--help"});
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  for (const char* cmd : {"cycles", "unary", "start-tasks", "populate-containers", "populate-blobs",
                          "populate-images", "apply", "cleanup"}) {
    EXPECT_TRUE(Has(o.out, cmd)) << cmd << "\n" << o.out;
  }
}

TEST_F(SmokeTest, DriverRefusesBadInput) {
  // No subcommand, a missing --address, an unknown call: refused before any RPC.
  EXPECT_NE(Run({Bin("bench_driver")}).code, 0);
  EXPECT_NE(Run({Bin("bench_driver"), "unary", "--call", "version"}).code, 0);
  Outcome call =
      Run({Bin("bench_driver"), "unary", "--address", dir_.Path("none.sock"), "--call", "nosuch"});
  EXPECT_EQ(call.code, 1) << call.out << call.err;
  EXPECT_TRUE(Has(call.err, "unknown --call")) << call.err;
  Outcome layer = Run(
      {Bin("bench_driver"), "apply", "--address", dir_.Path("none.sock"), "--layer", "nocommas"});
  EXPECT_EQ(layer.code, 1) << layer.out << layer.err;
  EXPECT_TRUE(Has(layer.err, "MEDIATYPE,DIGEST,SIZE")) << layer.err;
  for (const char* bad : {"a,b,", "a,b,12x", "a,b,-1", ",b,1"}) {
    Outcome o = Run({Bin("bench_driver"), "apply", "--address", dir_.Path("none.sock"), "--layer",
                     "application/vnd.oci.image.layer.v1.tar+gzip,sha256:00,1", "--layer", bad});
    EXPECT_EQ(o.code, 1) << bad << ": " << o.out << o.err;
    EXPECT_TRUE(Has(o.err, "--layer")) << bad << ": " << o.err;
  }
}

TEST_F(SmokeTest, ImagesAnswersHelp) {
  Outcome o = Run({Bin("bench_images"), "--help"});
  ASSERT_EQ(o.code, 0) << o.out << o.err;
  EXPECT_TRUE(Has(o.out, "serve")) << o.out;
  EXPECT_NE(Run({Bin("bench_images"), "serve"}).code, 0);  // --ready-file is required
}

}  // namespace
}  // namespace berth::bench
