// deploy/berth-up with `[content] replicas = 2` in its config template: it starts nats, the
// content primary, two read replicas and the gateway, prints where the socket, metrics and
// logs are, lists the replicas after the primary in the gateway's content backend, shows
// every process in `status`, brings back one that was killed, and stops them all.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "client/proxy/content_proxy.h"
#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/testing/http_get.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "tests/deploy/deploy_testing.h"

namespace berth::deploy_testing {
namespace {

using ::berth::testing::TempDir;

bool Contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// The lines of `text` whose first word is `name`, without their indentation.
std::vector<std::string> LinesOf(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    line.erase(0, line.find_first_not_of(' '));
    if (line.rfind(name + " ", 0) == 0) out.push_back(line);
    start = end + 1;
  }
  return out;
}

// The last such line (in `start` output: the summary) or "".
std::string LineOf(const std::string& text, const std::string& name) {
  std::vector<std::string> lines = LinesOf(text, name);
  return lines.empty() ? "" : lines.back();
}

// The first such line (in `start` output: what was done to it) or "".
std::string FirstLineOf(const std::string& text, const std::string& name) {
  std::vector<std::string> lines = LinesOf(text, name);
  return lines.empty() ? "" : lines.front();
}

class BerthUpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The shipped config with two replicas.
    std::string config = ReadText(SourceDir() + "/deploy/config.toml");
    const std::string line = "\nreplicas = 0 ";
    const size_t at = config.find(line);
    ASSERT_NE(at, std::string::npos) << "deploy/config.toml has no `replicas = 0` line";
    config.replace(at, line.size(), "\nreplicas = 2 ");
    ASSERT_OK(WriteText(dir_.Path("template.toml"), config));
    env_ = {"BERTH_CONFIG=" + dir_.Path("template.toml"), "BERTH_SERVICES=content",
            "BERTH_BIN=" + BinDir()};
    // If this process dies without running destructors, a detached watcher stops the suite.
    const std::string script = fmt::format(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; [ -d {root}/run ] && "
        "exec {up} stop {root}",
        fmt::arg("pid", getpid()), fmt::arg("root", Root()), fmt::arg("up", BerthUp()));
    CommandResult w = RunCommand(
        {"sh", "-c", "setsid sh -c '" + script + "' </dev/null >/dev/null 2>&1 &"}, dir_.path());
    ASSERT_EQ(w.exit_code, 0) << w.err;
  }

  void TearDown() override {
    if (started_) {
      CommandResult r = Up("stop");
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    }
  }

  std::string Root() const { return dir_.Path("suite"); }
  std::string BerthUp() const { return SourceDir() + "/deploy/berth-up"; }
  CommandResult Up(const std::string& command) {
    if (command == "start") started_ = true;
    return RunCommand({BerthUp(), command, Root()}, dir_.path(), env_);
  }

  TempDir dir_{"bup"};
  std::vector<std::string> env_;
  bool started_ = false;
};

TEST_F(BerthUpTest, StartsReplicasAndTellsWhereEverythingIs) {
  CommandResult start = Up("start");
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;
  const std::string root = Root();
  EXPECT_TRUE(Contains(start.out, "socket   " + root + "/berth.sock")) << start.out;
  EXPECT_TRUE(Contains(start.out, root + "/log/")) << start.out;
  for (const std::string name : {"content", "content-replica-1", "content-replica-2", "gateway"}) {
    const std::string line = LineOf(start.out, name);
    EXPECT_TRUE(Contains(line, "metrics http://127.0.0.1:")) << name << ": " << start.out;
    EXPECT_TRUE(Contains(line, "log " + root + "/log/" + name + ".log")) << start.out;
  }
  EXPECT_TRUE(Contains(LineOf(start.out, "content-replica-2"),
                       "unix://" + root + "/run/content-replica-2.sock"))
      << start.out;
  EXPECT_TRUE(Contains(LineOf(start.out, "nats"), "nats://127.0.0.1:")) << start.out;

  // The gateway's content backend lists the primary first, then the replicas.
  const std::string config = ReadText(root + "/config.toml");
  EXPECT_TRUE(Contains(config, fmt::format("addresses = [\"unix://{r}/run/content.sock\", "
                                           "\"unix://{r}/run/content-replica-1.sock\", "
                                           "\"unix://{r}/run/content-replica-2.sock\"]",
                                           fmt::arg("r", root))))
      << config;

  CommandResult status = Up("status");
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
  for (const std::string name :
       {"nats", "content", "content-replica-1", "content-replica-2", "gateway"}) {
    EXPECT_TRUE(Contains(LineOf(status.out, name), "running  pid ")) << name << ": " << status.out;
  }
  // A replica's metrics are where status says.
  std::smatch m;
  const std::string replica_line = LineOf(status.out, "content-replica-1");
  ASSERT_TRUE(std::regex_search(replica_line, m, std::regex("http://127\\.0\\.0\\.1:([0-9]+)/")))
      << replica_line;
  ASSERT_OK_AND_ASSIGN(testing::HttpResponse metrics,
                       testing::HttpGet("127.0.0.1", std::stoi(m[1].str()), "/metrics"));
  EXPECT_EQ(metrics.status, 200);
  EXPECT_TRUE(Contains(metrics.body, "berth_content")) << metrics.body.substr(0, 2000);

  // Written through the gateway, read through each replica's own socket.
  proxy::ContentProxy gateway(Connect("unix://" + root + "/berth.sock"));
  const std::string data = RandomBytes(2 << 20, 21);
  ASSERT_OK(Ingest(gateway, "default", "up-blob", data));
  for (int n = 1; n <= 2; ++n) {
    proxy::ContentProxy replica(
        Connect(fmt::format("unix://{}/run/content-replica-{}.sock", root, n)));
    absl::StatusOr<std::string> read = ReadBlob(replica, "default", digest::FromBytes(data));
    ASSERT_OK(read.status());
    EXPECT_TRUE(*read == data);
  }

  // A killed replica: status says so (exit 3); start brings back only it.
  const int pid = std::atoi(ReadText(root + "/run/content-replica-2.pid").c_str());
  const int primary = std::atoi(ReadText(root + "/run/content.pid").c_str());
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(testing::WaitFor([&] { return Up("status").exit_code == 3; }));
  status = Up("status");
  EXPECT_TRUE(Contains(LineOf(status.out, "content-replica-2"), "stopped")) << status.out;
  start = Up("start");
  ASSERT_EQ(start.exit_code, 0) << start.out << start.err;
  EXPECT_TRUE(Contains(FirstLineOf(start.out, "content-replica-2"), "started")) << start.out;
  EXPECT_TRUE(Contains(FirstLineOf(start.out, "content-replica-1"), "already running"))
      << start.out;
  EXPECT_TRUE(Contains(FirstLineOf(start.out, "content"), "already running")) << start.out;
  EXPECT_EQ(std::atoi(ReadText(root + "/run/content.pid").c_str()), primary);
  EXPECT_EQ(Up("status").exit_code, 0);

  CommandResult stop = Up("stop");
  started_ = false;
  ASSERT_EQ(stop.exit_code, 0) << stop.out << stop.err;
  EXPECT_TRUE(Contains(stop.out, "content-replica-1")) << stop.out;
  status = Up("status");
  EXPECT_EQ(status.exit_code, 3);
  for (const std::string name :
       {"nats", "content", "content-replica-1", "content-replica-2", "gateway"}) {
    EXPECT_TRUE(Contains(LineOf(status.out, name), "stopped")) << name << ": " << status.out;
  }
  EXPECT_NE(::kill(pid, 0), 0);
}

TEST_F(BerthUpTest, BadReplicaCountIsRefused) {
  env_.push_back("BERTH_CONTENT_REPLICAS=lots");
  CommandResult start = Up("start");
  EXPECT_NE(start.exit_code, 0);
  EXPECT_TRUE(Contains(start.err, "content replicas")) << start.out << start.err;
}

}  // namespace
}  // namespace berth::deploy_testing
