// The berth command end to end against a real local suite (deploy/berth-up with every built
// service): import, run (output, exit status, --rm, -d, --rootfs), ps, tasks, exec, metrics,
// kill, events in order, JSON output, errors; and the client examples. Root (runc, overlay
// mounts) and nats-server are needed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "client/testing/suite.h"
#include "lib/platforms/platforms.h"
#include "lib/testing/child_process.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/wait_for.h"
#include "nlohmann/json.hpp"

namespace berth::cli {
namespace {

using ::berth::testing::WaitFor;
using client_testing::LocalSuite;
using client_testing::RunResult;

constexpr char kImage[] = "docker.io/test/busybox:1";

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!client_testing::IsRoot() || !client_testing::MissingBinaries().empty()) return;
    suite_ = new LocalSuite();
    absl::Status s = suite_->Start();
    if (s.ok()) {
      s = client_testing::WriteBusyboxArchive(suite_->Path("busybox.tar"), kImage).status();
    }
    if (!s.ok()) start_error_ = new std::string(s.ToString());
  }

  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    if (!client_testing::IsRoot()) GTEST_SKIP() << "needs root (overlay mounts, runc)";
    ASSERT_EQ(client_testing::MissingBinaries(), "");
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    const char* bin = std::getenv("BERTH_BIN");
    bin_ = bin != nullptr ? bin : "build/bin";
    ns_ = "bcli" + std::to_string(getpid()) + "-" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  void TearDown() override {
    if (ns_.empty() || suite_ == nullptr) return;
    RunResult tasks = Berth({"tasks", "ls", "-q"});
    for (const std::string& id : Lines(tasks.out)) Berth({"tasks", "rm", "-f", id});
    RunResult containers = Berth({"containers", "ls", "-q"});
    for (const std::string& id : Lines(containers.out)) Berth({"containers", "rm", id});
    client_testing::RemoveNamespaceCgroups(ns_);
  }

  RunResult Berth(std::vector<std::string> args, const std::string& stdin_path = "") {
    std::vector<std::string> argv = {
        bin_ + "/berth", "-a", suite_->socket(), "-n", ns_, "--fifo-dir", suite_->Path("fifo")};
    argv.insert(argv.end(), args.begin(), args.end());
    return suite_->Run(argv, stdin_path);
  }

  void Import() {
    RunResult r = Berth({"images", "import", suite_->Path("busybox.tar")});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  static LocalSuite* suite_;
  static std::string* start_error_;
  std::string bin_;
  std::string ns_;
};

LocalSuite* CliTest::suite_ = nullptr;
std::string* CliTest::start_error_ = nullptr;

TEST_F(CliTest, VersionNamespacesAndJson) {
  RunResult r = Berth({"version"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "Server:")) << r.out;
  EXPECT_TRUE(Contains(r.out, "UUID: ")) << r.out;

  const std::string other = ns_ + "-x";
  ASSERT_EQ(Berth({"namespaces", "create", other, "team=a"}).exit_code, 0);
  r = Berth({"ns", "create", other});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "already exists")) << r.err;
  r = Berth({"namespaces", "ls"});
  EXPECT_TRUE(Contains(r.out, "NAME")) << r.out;
  EXPECT_TRUE(Contains(r.out, other + "   team=a")) << r.out;
  r = Berth({"namespaces", "ls", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << r.out;
  bool found = false;
  for (const auto& n : j) found = found || (n["name"] == other && n["labels"]["team"] == "a");
  EXPECT_TRUE(found) << r.out;
  ASSERT_EQ(Berth({"namespaces", "rm", other}).exit_code, 0);
  EXPECT_FALSE(Contains(Berth({"namespaces", "ls", "-q"}).out, other + "\n"));

  r = Berth({"info"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "serving:  yes")) << r.out;
}

TEST_F(CliTest, ErrorsAreOneLineWithTheCode) {
  RunResult r = Berth({"containers", "info", "nosuch"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "berth: ")) << r.err;
  EXPECT_TRUE(Contains(r.err, "(not found)")) << r.err;
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  r = Berth({"run"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = Berth({"tasks", "kill", "-s", "NOPE", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "invalid signal")) << r.err;
  r = Berth({"bogus-command"});
  EXPECT_NE(r.exit_code, 0);
  r = suite_->Run(
      {bin_ + "/berth", "-a", suite_->Path("nothing.sock"), "--timeout", "2", "containers", "ls"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "unavailable") || Contains(r.err, "deadline")) << r.err;
}

TEST_F(CliTest, ImportListCheckAndContent) {
  Import();
  RunResult r = Berth({"images", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "REF")) << r.out;
  EXPECT_TRUE(Contains(r.out, kImage)) << r.out;
  EXPECT_TRUE(Contains(r.out, "linux/")) << r.out;
  EXPECT_EQ(Berth({"images", "ls", "-q"}).out, std::string(kImage) + "\n");
  r = Berth({"images", "check", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json check = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(check.is_array() && check.size() == 1) << r.out;
  EXPECT_EQ(check[0]["complete"], true);
  EXPECT_EQ(check[0]["unpacked"], true);  // import unpacks
  r = Berth({"content", "ls", "-q"});
  EXPECT_EQ(Lines(r.out).size(), 3u) << r.out;  // layer, config, manifest
  r = Berth({"snapshots", "ls"});
  EXPECT_TRUE(Contains(r.out, "Committed")) << r.out;

  // content ingest from stdin, then get it back.
  const std::string file = suite_->Path("blob.txt");
  { std::ofstream(file) << "some bytes"; }
  ASSERT_EQ(Berth({"content", "ingest", "myref"}, file).exit_code, 0);
  r = Berth({"content", "get",
             "sha256:1a0e0a1b0b0d3e2b6d7c8cd4c0c6d2ac6a4b1d6c0c0bfa7b0ad5f6d4a3c2b1a0"});
  EXPECT_EQ(r.exit_code, 1);  // not there
  r = Berth({"content", "ls", "--format", "json"});
  nlohmann::json blobs = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(blobs.is_array()) << r.out;
  std::string digest;
  for (const auto& b : blobs) {
    if (b["size"] == 10) digest = b["digest"];
  }
  ASSERT_FALSE(digest.empty()) << r.out;
  EXPECT_EQ(Berth({"content", "get", digest}).out, "some bytes");

  r = Berth({"images", "rm", kImage, "docker.io/test/nosuch:1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "not found")) << r.err;
  EXPECT_EQ(Berth({"images", "ls", "-q"}).out, "");
}

TEST_F(CliTest, RunPrintsOutputAndPropagatesExitStatus) {
  Import();
  RunResult r = Berth({"run", "--rm", kImage, "c1", "echo", "hi"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi\n");
  r = Berth({"run", "--rm", kImage, "c2", "sh", "-c", "echo to-stderr >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err, "to-stderr\n");
  r = Berth({"run", "--rm", "--env", "GREETING=hello", kImage, "c3", "sh", "-c", "echo $GREETING"});
  EXPECT_EQ(r.out, "hello\n") << r.err;
  // stdin reaches the container.
  const std::string input = suite_->Path("input.txt");
  { std::ofstream(input) << "line one\nline two\n"; }
  r = Berth({"run", "--rm", kImage, "c4", "cat"}, input);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "line one\nline two\n");
  // --rm left nothing behind.
  EXPECT_EQ(Berth({"containers", "ls", "-q"}).out, "");
  EXPECT_EQ(Berth({"snapshots", "ls", "-q"}).out.find("c1"), std::string::npos);
  EXPECT_EQ(Berth({"tasks", "ls", "-q"}).out, "");
  // Without --rm the container stays, stopped task deleted.
  r = Berth({"run", kImage, "c5", "true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Berth({"containers", "ls", "-q"}).out, "c5\n");
  r = Berth({"run", kImage, "c5", "true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "already exists")) << r.err;
  EXPECT_EQ(Berth({"containers", "rm", "c5"}).exit_code, 0);
  r = Berth({"run", "--rm", "docker.io/test/missing:1", "c6", "true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "not found")) << r.err;
}

TEST_F(CliTest, PullProgressIsLineBasedOnANonTerminal) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<testing::Registry> registry, testing::Registry::Start());
  testing::ImageOptions options;
  options.architecture = platforms::DefaultPlatform().architecture;
  ASSERT_OK_AND_ASSIGN(testing::OciImage image, testing::BusyboxImage(options));
  ASSERT_OK(registry->Push("test/busybox", "1.0", image));
  const std::string ref = registry->Reference("test/busybox", "1.0");

  RunResult r = Berth({"pull", "--plain-http", ref});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // Every line is `<kind> key=value...`; the last one names the image.
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_GE(lines.size(), 3u) << r.out;
  std::set<std::string> kinds;
  std::map<std::string, std::string> layer_done;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    std::vector<std::string> words;
    size_t start = 0;
    while (start <= lines[i].size()) {
      size_t sp = lines[i].find(' ', start);
      if (sp == std::string::npos) sp = lines[i].size();
      words.push_back(lines[i].substr(start, sp - start));
      start = sp + 1;
    }
    kinds.insert(words[0]);
    EXPECT_TRUE(std::set<std::string>({"resolving", "downloading", "verifying", "done", "exists",
                                       "unpacking", "unpacked"})
                    .count(words[0]))
        << lines[i];
    std::map<std::string, std::string> kv;
    for (size_t w = 1; w < words.size(); ++w) {
      size_t eq = words[w].find('=');
      ASSERT_NE(eq, std::string::npos) << lines[i];
      kv[words[w].substr(0, eq)] = words[w].substr(eq + 1);
    }
    if (words[0] == "done" && kv["role"] == "layer") layer_done = kv;
  }
  EXPECT_TRUE(kinds.count("resolving")) << r.out;
  EXPECT_TRUE(kinds.count("unpacked")) << r.out;
  EXPECT_EQ(layer_done["digest"], image.layers[0].blob.digest) << r.out;
  EXPECT_EQ(layer_done["total"], std::to_string(image.layers[0].blob.size)) << r.out;
  EXPECT_EQ(lines.back(), "image " + ref + " digest=" + image.manifest.digest);

  r = Berth({"run", "--rm", ref, "p1", "echo", "pulled"});
  EXPECT_EQ(r.out, "pulled\n") << r.err;
  r = Berth({"pull", "-q", "--plain-http", ref});
  EXPECT_EQ(r.out, ref + "\n") << r.err;
  r = Berth({"pull", "--plain-http", registry->Reference("test/busybox", "nosuchtag")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "(not found)")) << r.err;
}

TEST_F(CliTest, RunWithATerminal) {
  ASSERT_EQ(std::system("command -v script >/dev/null 2>&1"), 0)
      << "script(1) is not installed (bsdutils)";
  Import();
  // script(1) gives berth a pseudo-terminal; -e passes the exit status on.
  const std::string cmd = bin_ + "/berth -a " + suite_->socket() + " -n " + ns_ + " --fifo-dir " +
                          suite_->Path("fifo") + " run --rm -t " + kImage +
                          " tty1 sh -c 'tty; echo $TERM; exit 5'";
  RunResult r = suite_->Run({"script", "-qec", cmd, "/dev/null"});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "/dev/pts/")) << r.out;
  EXPECT_TRUE(Contains(r.out, "xterm")) << r.out;
  EXPECT_EQ(Berth({"containers", "ls", "-q"}).out, "");
}

TEST_F(CliTest, RunRootfsDirectory) {
  const std::string rootfs = suite_->Path("rootfs-" + ns_);
  ASSERT_OK(client_testing::MakeBusyboxRootfs(rootfs));
  RunResult r = Berth({"run", "--rm", "--rootfs", rootfs, "r1", "/bin/echo", "from rootfs"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from rootfs\n");
  r = Berth({"run", "--rm", "--rootfs", "-u", "app", rootfs, "r2", "id", "-u"});
  EXPECT_EQ(r.out, "1000\n") << r.err;
}

TEST_F(CliTest, DetachedPsExecMetricsKill) {
  Import();
  RunResult r = Berth({"run", "-d", kImage, "d1", "sleep", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Berth({"ps"});
  EXPECT_TRUE(Contains(r.out, "CONTAINER")) << r.out;
  EXPECT_TRUE(Contains(r.out, "RUNNING")) << r.out;
  r = Berth({"ps", "--format", "json"});
  nlohmann::json ps = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(ps.is_array() && ps.size() == 1) << r.out;
  EXPECT_EQ(ps[0]["id"], "d1");
  EXPECT_EQ(ps[0]["image"], kImage);
  EXPECT_EQ(ps[0]["status"], "RUNNING");
  EXPECT_GT(ps[0]["pid"].get<int>(), 0);

  r = Berth({"tasks", "exec", "--exec-id", "e1", "d1", "echo", "x"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "x\n");
  r = Berth({"tasks", "exec", "--exec-id", "e2", "d1", "sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  r = Berth({"tasks", "ps", "d1"});
  EXPECT_TRUE(Contains(r.out, std::to_string(ps[0]["pid"].get<int>()))) << r.out;
  r = Berth({"tasks", "metrics", "d1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "pids.current")) << r.out;
  r = Berth({"tasks", "metrics", "--format", "json", "d1"});
  EXPECT_TRUE(nlohmann::json::parse(r.out, nullptr, false).contains("data")) << r.out;
  ASSERT_EQ(Berth({"tasks", "pause", "d1"}).exit_code, 0);
  EXPECT_TRUE(Contains(Berth({"tasks", "ls"}).out, "PAUSED"));
  ASSERT_EQ(Berth({"tasks", "resume", "d1"}).exit_code, 0);
  // A running container cannot be removed.
  r = Berth({"containers", "rm", "d1"});
  EXPECT_EQ(r.exit_code, 1);

  ASSERT_EQ(Berth({"tasks", "kill", "-s", "KILL", "d1"}).exit_code, 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Contains(Berth({"tasks", "ls"}).out, "STOPPED");
      },
      std::chrono::seconds(30)));
  EXPECT_TRUE(Contains(Berth({"ps"}).out, "STOPPED (137)"));
  r = Berth({"tasks", "rm", "d1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "137")) << r.err;
  EXPECT_EQ(Berth({"containers", "rm", "d1"}).exit_code, 0);
  EXPECT_EQ(Berth({"containers", "ls", "-q"}).out, "");
}

TEST_F(CliTest, EventsInOrder) {
  Import();
  const std::string out = suite_->Path("events-" + ns_ + ".out");
  testing::ChildProcessOptions o;
  o.argv = {bin_ + "/berth", "-a", suite_->socket(), "events", "namespace==" + ns_};
  o.stdout_path = out;
  o.stderr_path = out + ".err";
  ASSERT_OK_AND_ASSIGN(testing::ChildProcess events, testing::ChildProcess::Start(o));
  // Until the subscription is in place: make namespace events and wait to see one.
  int n = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        Berth({"namespaces", "label", ns_, "probe=" + std::to_string(n++)});
        return Contains(client_testing::ReadFile(out), "/namespaces/update");
      },
      std::chrono::seconds(30)))
      << client_testing::ReadFile(out + ".err");
  RunResult r = Berth({"run", "--rm", kImage, "ev1", "sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  ASSERT_TRUE(WaitFor([&] { return Contains(client_testing::ReadFile(out), "/containers/delete"); },
                      std::chrono::seconds(30)))
      << client_testing::ReadFile(out);
  std::vector<std::string> topics;
  std::string exit_line;
  for (const std::string& line : Lines(client_testing::ReadFile(out))) {
    // <time> <namespace> <topic> <json>
    std::vector<std::string> f;
    size_t start = 0;
    for (int i = 0; i < 3; ++i) {
      size_t sp = line.find(' ', start);
      f.push_back(line.substr(start, sp - start));
      start = sp + 1;
    }
    EXPECT_EQ(f[1], ns_) << line;
    if (f[2].compare(0, 7, "/tasks/") == 0) topics.push_back(f[2]);
    if (f[2] == "/tasks/exit") exit_line = line;
  }
  EXPECT_EQ(topics, (std::vector<std::string>{"/tasks/create", "/tasks/start", "/tasks/exit",
                                              "/tasks/delete"}));
  EXPECT_TRUE(Contains(exit_line, "\"container_id\":\"ev1\"")) << exit_line;
  EXPECT_TRUE(Contains(exit_line, "\"exit_status\":3")) << exit_line;
  EXPECT_TRUE(events.Running());
}

TEST_F(CliTest, ExamplesRun) {
  Import();
  char host_ns[256] = {0};
  ASSERT_GT(readlink("/proc/self/ns/pid", host_ns, sizeof(host_ns) - 1), 0);
  RunResult r = suite_->Run({bin_ + "/berth-example-htop", "-a", suite_->socket(), "-n", ns_,
                             kImage, "readlink", "/proc/self/ns/pid"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string(host_ns) + "\n");
  // Runs a shell that exits 143 on SIGTERM, which the example sends after 3 seconds (then
  // SIGKILL, 137, should the shell not have set its trap yet on a loaded machine); without the
  // kill it would exit 0 after 60 seconds.
  r = suite_->Run({bin_ + "/berth-example-run", "-a", suite_->socket(), "-n", ns_, kImage, "sh",
                   "-c",
                   "trap 'exit 143' TERM; i=0; while [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "exited with status: 143") ||
              Contains(r.out, "exited with status: 137"))
      << r.out << r.err.substr(0, 2000);
  EXPECT_EQ(Berth({"containers", "ls", "-q"}).out, "");
}

}  // namespace
}  // namespace berth::cli
