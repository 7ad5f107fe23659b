// Signals end a real process: server_test_main (a service main() wired like the real ones)
// is started with a config, waited for through its ready-file and systemd notify socket,
// and stopped with SIGTERM / SIGINT.
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "lib/server/health_client.h"
#include "lib/testing/child_process.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"

namespace berth::server {
namespace {

using berth::testing::ChildProcess;
using berth::testing::TempDir;
using berth::testing::WaitFor;

// build/bin/server_test_main under CTest ($BERTH_BIN), the data dependency under Bazel.
std::string TestMainPath() {
  if (const char* bin = std::getenv("BERTH_BIN"); bin != nullptr && *bin != '\0') {
    return std::string(bin) + "/server_test_main";
  }
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/" +
         (workspace != nullptr ? workspace : "berth") + "/lib/server/server_test_main";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    std::memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
    ok_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    struct timeval tv = {10, 0};  // a ceiling for a broken test only
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return ok_; }
  std::string Receive() {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n < 0 ? "<nothing received>" : std::string(buf, static_cast<size_t>(n));
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

// A Version call to server_test_main, made from a thread of its own; the server holds it
// until it is cancelled (or forever with `ignore_cancel`). The deadline is only a ceiling so
// that a broken test cannot hang.
class BackgroundCall {
 public:
  BackgroundCall(std::shared_ptr<grpc::Channel> channel, bool ignore_cancel)
      : channel_(std::move(channel)) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(2));
    if (ignore_cancel) ctx_.AddMetadata("x-berth-test", "ignore-cancel");
    thread_ = std::thread([this] {
      grpc::Slice empty("");  // a default ByteBuffer is "no message", not an empty one
      grpc::ByteBuffer request(&empty, 1);
      grpc::ByteBuffer response;
      status_ = grpc::internal::BlockingUnaryCall(
          channel_.get(),
          grpc::internal::RpcMethod("/containerd.services.version.v1.Version/Version",
                                    grpc::internal::RpcMethod::NORMAL_RPC),
          &ctx_, request, &response);
    });
  }
  ~BackgroundCall() {
    if (thread_.joinable()) {
      ctx_.TryCancel();
      thread_.join();
    }
  }
  grpc::Status Join() {
    thread_.join();
    return status_;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  grpc::ClientContext ctx_;
  grpc::Status status_;
  std::thread thread_;
};

class ServerSignalTest : public ::testing::Test {
 protected:
  // Starts server_test_main on a unix socket in the temp dir, with `shutdown_timeout`, and
  // waits until its ready-file appears.
  void StartChild(const std::string& shutdown_timeout) {
    std::ofstream(dir_.Path("config.toml"))
        << "[test]\n"
        << "address = \"unix://" << socket_ << "\"\n"
        << "ready_file = \"" << ready_ << "\"\n"
        << "shutdown_timeout = \"" << shutdown_timeout << "\"\n";
    testing::ChildProcessOptions options;
    options.argv = {TestMainPath(), dir_.Path("config.toml"), "test"};
    options.stderr_path = dir_.Path("stderr");
    options.env = std::vector<std::string>{"NOTIFY_SOCKET=" + dir_.Path("notify")};
    ASSERT_OK_AND_ASSIGN(child_, ChildProcess::Start(options));
    ASSERT_TRUE(WaitFor([&] { return Exists(ready_) || !child_->Running(); }))
        << "server_test_main did not get ready";
    ASSERT_TRUE(Exists(ready_)) << "server_test_main exited: " << child_->ReadStderr();
    ASSERT_EQ(ReadFile(ready_), "unix://" + socket_ + "\n");
  }

  // Starts a call that server_test_main holds, and waits until its handler has it.
  std::unique_ptr<BackgroundCall> StartHangingCall(bool ignore_cancel) {
    auto call = std::make_unique<BackgroundCall>(Channel(), ignore_cancel);
    EXPECT_TRUE(WaitFor([&] {
      return child_->ReadStderr().find("]: call started") != std::string::npos;
    })) << child_->ReadStderr();
    return call;
  }

  std::shared_ptr<grpc::Channel> Channel() {
    return grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
  }

  // Waits for the child to exit and returns its wait status (-1 if it did not).
  int WaitExit() {
    absl::StatusOr<int> status = child_->Wait(std::chrono::seconds(30));
    EXPECT_OK(status);
    return status.ok() ? *status : -1;
  }

  TempDir dir_{"sig"};
  const std::string socket_ = dir_.Path("run/test.sock");
  const std::string ready_ = dir_.Path("ready");
  NotifySocket notify_{dir_.Path("notify")};
  std::optional<ChildProcess> child_;
};

TEST_F(ServerSignalTest, SigtermShutsDownCleanly) {
  ASSERT_TRUE(notify_.ok());
  ASSERT_NO_FATAL_FAILURE(StartChild("1h"));
  const std::string ready = notify_.Receive();
  EXPECT_EQ(ready.rfind("READY=1\n", 0), 0u) << ready;

  auto watch = std::make_unique<HealthWatch>(Channel());
  absl::StatusOr<HealthStatus> first = watch->Next();
  ASSERT_OK(first);
  EXPECT_EQ(*first, HealthStatus::kServing);

  ASSERT_OK(child_->Signal(SIGTERM));
  // Health turns NOT_SERVING as soon as shutdown begins, then the watch is ended so that it
  // does not hold the shutdown up.
  absl::StatusOr<HealthStatus> second = watch->Next();
  ASSERT_OK(second);
  EXPECT_EQ(*second, HealthStatus::kNotServing);
  absl::Status end = watch->Next().status();
  EXPECT_TRUE(absl::IsUnavailable(end)) << end;
  EXPECT_NE(end.message().find("server is shutting down"), absl::string_view::npos) << end;
  EXPECT_EQ(notify_.Receive(), "STOPPING=1");
  // Close our connection: gRPC's shutdown also waits for connected clients to answer its
  // GOAWAY, which an idle C++ client only does on its 5 s backup poll.
  watch.reset();

  const int status = WaitExit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status << "\n"
                                                             << child_->ReadStderr();
  const std::string log = child_->ReadStderr();
  EXPECT_NE(log.find("]: received Terminated; shutting down"), std::string::npos) << log;
  EXPECT_NE(log.find("]: stopped address="), std::string::npos) << log;
  EXPECT_FALSE(Exists(socket_));
  EXPECT_FALSE(Exists(ready_));
}

TEST_F(ServerSignalTest, SigintShutsDownCleanly) {
  ASSERT_NO_FATAL_FAILURE(StartChild("1h"));
  absl::StatusOr<HealthStatus> health = CheckHealth(*Channel());
  ASSERT_OK(health);
  EXPECT_EQ(*health, HealthStatus::kServing);
  ASSERT_OK(child_->Signal(SIGINT));
  const int status = WaitExit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status << "\n"
                                                             << child_->ReadStderr();
  EXPECT_FALSE(Exists(socket_));
}

TEST_F(ServerSignalTest, InFlightCallsAreCancelledAfterTheShutdownTimeout) {
  ASSERT_NO_FATAL_FAILURE(StartChild("200ms"));
  std::unique_ptr<BackgroundCall> call = StartHangingCall(false);
  ASSERT_OK(child_->Signal(SIGTERM));
  // Nothing on our side ends the call: the server cancels it when the timeout has passed,
  // and then exits cleanly.
  grpc::Status call_status = call->Join();
  EXPECT_FALSE(call_status.ok());
  EXPECT_NE(call_status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << "the call was not cancelled by the server";
  call.reset();  // closes the connection (see SigtermShutsDownCleanly)
  const int status = WaitExit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status << "\n"
                                                             << child_->ReadStderr();
}

TEST_F(ServerSignalTest, SecondSignalDuringShutdownExitsAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartChild("1h"));
  std::unique_ptr<BackgroundCall> call = StartHangingCall(false);
  HealthWatch watch(Channel());
  ASSERT_OK(watch.Next());
  ASSERT_OK(child_->Signal(SIGTERM));
  // Shutdown has begun (NOT_SERVING) and is held up by the call for up to an hour.
  absl::StatusOr<HealthStatus> second = watch.Next();
  ASSERT_OK(second);
  EXPECT_EQ(*second, HealthStatus::kNotServing);
  ASSERT_OK(child_->Signal(SIGTERM));
  const int status = WaitExit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "wait status " << status << "\n"
                                                             << child_->ReadStderr();
  EXPECT_NE(child_->ReadStderr().find("during shutdown; exiting now"), std::string::npos);
}

TEST_F(ServerSignalTest, HandlerIgnoringCancellationIsCutOffByExit) {
  ASSERT_NO_FATAL_FAILURE(StartChild("100ms"));
  std::unique_ptr<BackgroundCall> call = StartHangingCall(true);
  ASSERT_OK(child_->Signal(SIGTERM));
  // The call outlives the timeout and the cancellation; Run() ends the process.
  const int status = WaitExit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "wait status " << status << "\n"
                                                             << child_->ReadStderr();
  EXPECT_NE(child_->ReadStderr().find("calls did not end after the shutdown timeout"),
            std::string::npos)
      << child_->ReadStderr();
}

TEST_F(ServerSignalTest, BadConfigExitsWithTheKeyNamed) {
  std::ofstream(dir_.Path("config.toml")) << "[test]\naddress = 1\n";
  testing::ChildProcessOptions options;
  options.argv = {TestMainPath(), dir_.Path("config.toml"), "test"};
  options.stderr_path = dir_.Path("stderr");
  ASSERT_OK_AND_ASSIGN(child_, ChildProcess::Start(options));
  const int status = WaitExit();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "wait status " << status;
  EXPECT_NE(child_->ReadStderr().find("[test] address: expected a string, got integer"),
            std::string::npos)
      << child_->ReadStderr();
}

}  // namespace
}  // namespace berth::server
