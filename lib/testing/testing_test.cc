#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include "lib/testing/child_process.h"
#include "lib/testing/http_get.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"

namespace berth::testing {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path);
  out << data;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// True when `pid` is gone or a zombie nobody reaped yet (an orphan waiting for init).
bool DeadOrZombie(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren == std::string::npos || line.size() < paren + 3 || line[paren + 2] == 'Z';
}

TEST(TempDir, ShortPathRemovedWithEverythingInside) {
  std::string path;
  {
    TempDir dir;
    path = dir.path();
    EXPECT_EQ(path.rfind("/tmp/berth.", 0), 0u) << path;
    // Room for a socket name under the 107-byte sun_path limit.
    EXPECT_LT(path.size(), 40u);
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(dir.Path("x.sock"), path + "/x.sock");

    ASSERT_EQ(mkdir(dir.Path("a").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(dir.Path("a/b").c_str(), 0755), 0);
    WriteFile(dir.Path("a/b/file"), "data");
    ASSERT_EQ(symlink("/etc", dir.Path("a/link-to-etc").c_str()), 0);
    // A directory a test made inaccessible is still removed.
    ASSERT_EQ(mkdir(dir.Path("locked").c_str(), 0755), 0);
    WriteFile(dir.Path("locked/f"), "x");
    ASSERT_EQ(chmod(dir.Path("locked").c_str(), 0), 0);
  }
  EXPECT_FALSE(Exists(path));
  EXPECT_TRUE(Exists("/etc/hostname") || Exists("/etc/passwd"));  // The symlink's target.
}

TEST(TempDir, MoveTransfersOwnership) {
  std::string path;
  {
    TempDir a("mv");
    path = a.path();
    TempDir b = std::move(a);
    EXPECT_EQ(b.path(), path);
    EXPECT_TRUE(a.path().empty());  // NOLINT(bugprone-use-after-move): documented state.
    EXPECT_TRUE(Exists(path));
  }
  EXPECT_FALSE(Exists(path));
}

TEST(ChildProcess, CapturesOutputAndExitCode) {
  TempDir dir;
  ChildProcessOptions options;
  options.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"};
  options.stdout_path = dir.Path("stdout");
  options.stderr_path = dir.Path("stderr");
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start(options));
  EXPECT_GT(child.Pid(), 0);
  ASSERT_OK_AND_ASSIGN(int status, child.Wait(std::chrono::seconds(30)));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_EQ(child.ReadStdout(), "out\n");
  EXPECT_EQ(child.ReadStderr(), "err\n");
  EXPECT_EQ(child.Pid(), -1);
  EXPECT_TRUE(IsFailedPrecondition(child.Wait(std::chrono::seconds(1)).status()));
  EXPECT_TRUE(IsFailedPrecondition(child.Terminate().status()));
  EXPECT_TRUE(IsNotFound(child.Signal(SIGTERM)));
}

TEST(ChildProcess, SameFileForStdoutAndStderr) {
  TempDir dir;
  ChildProcessOptions options;
  options.argv = {"sh", "-c", "echo one; echo two >&2; echo three"};
  options.stdout_path = options.stderr_path = dir.Path("log");
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start(options));
  ASSERT_OK(child.Wait(std::chrono::seconds(30)));
  EXPECT_EQ(ReadFile(dir.Path("log")), "one\ntwo\nthree\n");
}

TEST(ChildProcess, EnvironmentAndWorkingDirectory) {
  TempDir dir;
  ChildProcessOptions options;
  options.argv = {"/bin/sh", "-c", "echo \"$GREETING\"; pwd"};
  options.env = std::vector<std::string>{"GREETING=hello", "PATH=/usr/bin:/bin"};
  options.cwd = dir.path();
  options.stdout_path = dir.Path("out");
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start(options));
  ASSERT_OK(child.Wait(std::chrono::seconds(30)));
  EXPECT_EQ(ReadFile(dir.Path("out")), "hello\n" + dir.path() + "\n");
}

TEST(ChildProcess, BadInput) {
  EXPECT_TRUE(IsInvalidArgument(ChildProcess::Start({}).status()));
  ChildProcessOptions missing;
  missing.argv = {"berth-no-such-program-xyz"};
  EXPECT_TRUE(IsNotFound(ChildProcess::Start(missing).status()));
  missing.argv = {"/nonexistent/dir/prog"};
  EXPECT_TRUE(IsNotFound(ChildProcess::Start(missing).status()));
  ChildProcessOptions bad_cwd;
  bad_cwd.argv = {"true"};
  bad_cwd.cwd = "/nonexistent/dir";
  EXPECT_TRUE(IsNotFound(ChildProcess::Start(bad_cwd).status()));
  ChildProcessOptions bad_output;
  bad_output.argv = {"true"};
  bad_output.stdout_path = "/nonexistent/dir/out";
  EXPECT_TRUE(IsNotFound(ChildProcess::Start(bad_output).status()));
}

TEST(ChildProcess, TerminateSendsSigterm) {
  ChildProcessOptions options;
  options.argv = {"sleep", "1000"};
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start(options));
  EXPECT_TRUE(child.Running());
  EXPECT_TRUE(IsDeadlineExceeded(child.Wait(std::chrono::milliseconds(0)).status()));
  ASSERT_OK_AND_ASSIGN(int status, child.Terminate(std::chrono::seconds(30)));
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_FALSE(child.Running());
}

TEST(ChildProcess, TerminateEscalatesToSigkill) {
  TempDir dir;
  ChildProcessOptions options;
  // Ignores SIGTERM; says so once the trap is in place.
  options.argv = {"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"};
  options.stdout_path = dir.Path("out");
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start(options));
  ASSERT_TRUE(WaitFor([&] { return child.ReadStdout() == "ready\n"; }));
  ASSERT_OK_AND_ASSIGN(int status, child.Terminate(std::chrono::milliseconds(100)));
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(ChildProcess, StrayGrandchildrenDieWithTheGroup) {
  TempDir dir;
  ChildProcessOptions options;
  options.argv = {"sh", "-c", "sleep 1000 & echo $! > " + dir.Path("pid") + "; wait"};
  ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start(options));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(dir.Path("pid")).find('\n') != std::string::npos; }));
  const pid_t grandchild = std::stoi(ReadFile(dir.Path("pid")));
  EXPECT_FALSE(DeadOrZombie(grandchild));
  EXPECT_EQ(getpgid(grandchild), child.Pid());
  ASSERT_OK(child.Terminate(std::chrono::seconds(30)));
  EXPECT_TRUE(WaitFor([&] { return DeadOrZombie(grandchild); }));
}

TEST(ChildProcess, DestructorKillsAndReaps) {
  pid_t pid = -1;
  {
    ChildProcessOptions options;
    options.argv = {"sleep", "1000"};
    ASSERT_OK_AND_ASSIGN(ChildProcess child, ChildProcess::Start(options));
    pid = child.Pid();
    ASSERT_GT(pid, 0);
  }
  // Reaped by us: no zombie left, so the pid is gone (ESRCH).
  EXPECT_EQ(kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(WaitFor, ReturnsWhenThePredicateHolds) {
  int calls = 0;
  EXPECT_TRUE(WaitFor([&] { return ++calls == 5; }, std::chrono::seconds(30)));
  EXPECT_EQ(calls, 5);
}

TEST(WaitFor, GivesUpAtTheDeadline) {
  int calls = 0;
  EXPECT_FALSE(WaitFor(
      [&] {
        ++calls;
        return false;
      },
      std::chrono::milliseconds(0)));
  EXPECT_GE(calls, 1);
}

TEST(HttpGet, BadInputAndNothingListening) {
  EXPECT_TRUE(IsInvalidArgument(HttpGet("localhost", 80, "/").status()));
  // Port 1 on loopback: nobody listens there in a test environment.
  absl::StatusOr<HttpResponse> r = HttpGet("127.0.0.1", 1, "/metrics");
  EXPECT_TRUE(IsUnavailable(r.status())) << r.status();
}

}  // namespace
}  // namespace berth::testing
