// Type=notify in the units is only right if each service tells systemd when it is ready:
// every berth service binary that is built is started with NOTIFY_SOCKET pointing at a
// datagram socket of the test's, as systemd does, and must send READY=1 once it serves (and
// STOPPING=1 on SIGTERM). berth-content (also as a read replica) and berth-gateway are
// always checked; berth-snapshot, berth-runtime and berth-image when they are built.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "lib/testing/child_process.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "tests/deploy/deploy_testing.h"

namespace berth::deploy_testing {
namespace {

using ::berth::testing::ChildProcess;
using ::berth::testing::TempDir;

// The listening end of a NOTIFY_SOCKET: collects the datagrams the service sends.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path_.c_str(), sizeof(sa.sun_path) - 1);
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool bound() const { return bound_; }

  // Everything received so far, datagrams separated by newlines.
  const std::string& Received() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      received_.append(buf, static_cast<size_t>(n));
      received_ += '\n';
    }
    return received_;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::string received_;
};

// Starts `argv` as systemd would for a Type=notify unit, checks READY=1 then STOPPING=1.
void ExpectNotifies(const TempDir& dir, const std::string& name, std::vector<std::string> argv) {
  SCOPED_TRACE(name);
  NotifySocket notify(dir.Path(name + ".notify"));
  ASSERT_TRUE(notify.bound());
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  env.push_back("NOTIFY_SOCKET=" + dir.Path(name + ".notify"));
  const std::string log = dir.Path(name + ".log");
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start({argv, log, log, env, ""}));
  const bool ready = testing::WaitFor(
      [&] { return notify.Received().find("READY=1") != std::string::npos || !child.Running(); },
      std::chrono::seconds(60));
  ASSERT_TRUE(ready && child.Running()) << "no READY=1; its log:\n" << ReadText(log);
  EXPECT_NE(notify.Received().find("STATUS=serving on "), std::string::npos) << notify.Received();
  ASSERT_OK(child.Signal(SIGTERM));
  ASSERT_OK_AND_ASSIGN(int status, child.Wait(std::chrono::seconds(60)));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << ReadText(log);
  EXPECT_NE(notify.Received().find("STOPPING=1"), std::string::npos) << notify.Received();
}

bool Built(const std::string& binary) { return ::access(binary.c_str(), X_OK) == 0; }

TEST(NotifyTest, EveryServiceSendsReadyAndStopping) {
  TempDir dir("bnotify");
  ASSERT_OK(WriteText(dir.Path("config.toml"), fmt::format(R"([content]
address = "unix://{d}/content.sock"
root = "{d}/content"
state = "{d}/content-state"
nats_url = ""
replica_address = "unix://{d}/replica-{{n}}.sock"

[gateway]
address = "unix://{d}/berth.sock"
root = "{d}/gateway"
state = "{d}/gateway-state"
nats_url = ""

[snapshot]
address = "unix://{d}/snapshot.sock"
root = "{d}/snapshot"
state = "{d}/snapshot-state"
content_address = "unix://{d}/content.sock"
nats_url = ""
snapshotters = ["native"]

[runtime]
address = "unix://{d}/runtime.sock"
root = "{d}/runtime"
state = "{d}/runtime-state"
nats_url = ""

[image]
address = "unix://{d}/image.sock"
root = "{d}/image"
state = "{d}/image-state"
)",
                                                           fmt::arg("d", dir.path()))));
  const std::string config = dir.Path("config.toml");
  const std::string bin = BinDir();
  ASSERT_TRUE(Built(bin + "/berth-content")) << bin;
  ASSERT_TRUE(Built(bin + "/berth-gateway")) << bin;
  ASSERT_NO_FATAL_FAILURE(
      ExpectNotifies(dir, "content", {bin + "/berth-content", "--config", config}));
  // The replica needs the primary's store, which the run above left behind.
  ASSERT_NO_FATAL_FAILURE(ExpectNotifies(
      dir, "replica", {bin + "/berth-content", "--config", config, "--replica", "1"}));
  ASSERT_NO_FATAL_FAILURE(
      ExpectNotifies(dir, "gateway", {bin + "/berth-gateway", "--config", config}));
  for (const std::string service : {"snapshot", "runtime", "image"}) {
    const std::string binary = bin + "/berth-" + service;
    if (!Built(binary)) {
      std::fprintf(stderr, "berth-%s is not built: not checked\n", service.c_str());
      continue;
    }
    ASSERT_NO_FATAL_FAILURE(ExpectNotifies(dir, service, {binary, "--config", config}));
  }
}

}  // namespace
}  // namespace berth::deploy_testing
