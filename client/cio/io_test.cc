#include "client/cio/io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"

namespace berth::cio {
namespace {

using ::berth::testing::TempDir;
using ::berth::testing::WaitFor;

bool IsFifo(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// Collects what a sink receives.
struct Collected {
  std::mutex mu;
  std::string data;
  Sink sink() {
    return [this](std::string_view d) {
      std::lock_guard<std::mutex> lock(mu);
      data.append(d);
    };
  }
  std::string get() {
    std::lock_guard<std::mutex> lock(mu);
    return data;
  }
};

// Plays the shim's part: opens an output FIFO for writing and writes `data`.
void ShimWrites(const std::string& fifo, const std::string& data) {
  int fd = open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(fd, 0) << fifo;
  ASSERT_EQ(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  close(fd);
}

TEST(FIFOSetTest, MakesAndRemovesTheFifos) {
  TempDir dir("bcio");
  ASSERT_OK_AND_ASSIGN(FIFOSet set, NewFIFOSetInDir(dir.Path("fifo/nested"), "c1", false));
  EXPECT_TRUE(IsFifo(set.config.stdin_path));
  EXPECT_TRUE(IsFifo(set.config.stdout_path));
  EXPECT_TRUE(IsFifo(set.config.stderr_path));
  EXPECT_EQ(set.config.stdout_path, set.dir + "/c1-stdout");
  EXPECT_FALSE(set.config.terminal);
  ASSERT_OK(RemoveFIFOSet(set));
  EXPECT_FALSE(Exists(set.dir));
  ASSERT_OK(RemoveFIFOSet(set));  // idempotent

  ASSERT_OK_AND_ASSIGN(FIFOSet tty, NewFIFOSetInDir(dir.path(), "c1", true, false));
  EXPECT_TRUE(tty.config.stdin_path.empty());
  EXPECT_TRUE(tty.config.stderr_path.empty());
  EXPECT_TRUE(tty.config.terminal);
  ASSERT_OK(RemoveFIFOSet(tty));
}

TEST(FIFOSetTest, RefusesBadIds) {
  TempDir dir("bcio");
  EXPECT_TRUE(absl::IsInvalidArgument(NewFIFOSetInDir(dir.path(), "", false).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(NewFIFOSetInDir(dir.path(), "a/b", false).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(NewFIFOSetInDir("relative/dir", "c1", false).status()));
}

TEST(FIFOIOTest, OutputWrittenBeforeAnyReadIsKept) {
  TempDir dir("bcio");
  Collected out, err;
  Streams s;
  s.stdout_sink = out.sink();
  s.stderr_sink = err.sink();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<IO> io, NewCreator(s, {dir.path()})("p1"));
  EXPECT_TRUE(io->config().stdin_path.empty());
  // The "process" writes and is gone at once: nothing may be lost.
  ShimWrites(io->config().stdout_path, "hello\n");
  ShimWrites(io->config().stderr_path, "oops\n");
  io->Wait();
  EXPECT_EQ(out.get(), "hello\n");
  EXPECT_EQ(err.get(), "oops\n");
  const std::string fifo_dir =
      io->config().stdout_path.substr(0, io->config().stdout_path.rfind('/'));
  ASSERT_OK(io->Close());
  EXPECT_FALSE(Exists(fifo_dir));
}

TEST(FIFOIOTest, CancelEndsCopiesWithoutAWriter) {
  TempDir dir("bcio");
  Collected out;
  Streams s;
  s.stdout_sink = out.sink();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<IO> io, NewCreator(s, {dir.path()})("p1"));
  // Nobody ever opens the write end: Wait would block, Cancel ends it.
  io->Cancel();
  io->Wait();
  ASSERT_OK(io->Close());
  EXPECT_EQ(out.get(), "");
}

TEST(FIFOIOTest, StdinIsCopiedAndClosedOnlyOnceAttached) {
  TempDir dir("bcio");
  int in[2];
  ASSERT_EQ(pipe(in), 0);
  Streams s;
  s.stdin_fd = in[0];
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<IO> io, NewCreator(s, {dir.path()})("p1"));
  // The shim's read end of the stdin FIFO.
  int shim = open(io->config().stdin_path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(shim, 0);
  ASSERT_EQ(write(in[1], "input", 5), 5);
  close(in[1]);  // end-of-file before the task is attached
  std::string got;
  ASSERT_TRUE(WaitFor(
      [&] {
        char buf[16];
        ssize_t n = read(shim, buf, sizeof(buf));
        if (n > 0) got.append(buf, static_cast<size_t>(n));
        return got == "input";
      },
      std::chrono::seconds(10)));
  std::atomic<int> closed{0};
  io->AttachStdinCloser([&] { closed++; });
  // The copier has passed on every byte but may not have read the end-of-file yet: the closer
  // runs at once if it has, else as soon as it does — before Close, and once.
  EXPECT_TRUE(WaitFor([&] { return closed.load() == 1; }, std::chrono::seconds(10)));
  ASSERT_OK(io->Close());
  EXPECT_EQ(closed.load(), 1);
  close(shim);
  close(in[0]);
}

TEST(FIFOIOTest, StdinCloserRunsAtEndOfInputAfterAttach) {
  TempDir dir("bcio");
  int in[2];
  ASSERT_EQ(pipe(in), 0);
  Streams s;
  s.stdin_fd = in[0];
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<IO> io, NewCreator(s, {dir.path()})("p1"));
  std::atomic<int> closed{0};
  io->AttachStdinCloser([&] { closed++; });
  EXPECT_EQ(closed.load(), 0);
  close(in[1]);
  ASSERT_TRUE(WaitFor([&] { return closed.load() == 1; }, std::chrono::seconds(10)));
  ASSERT_OK(io->Close());
  close(in[0]);
}

TEST(CreatorsTest, PathOnlyCreators) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<IO> null_io, NullIO()("p"));
  EXPECT_TRUE(null_io->config().stdout_path.empty());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<IO> log, LogFile("/var/log/x.log")("p"));
  EXPECT_EQ(log->config().stdout_path, "file:///var/log/x.log");
  EXPECT_EQ(log->config().stderr_path, "file:///var/log/x.log");
  EXPECT_TRUE(absl::IsInvalidArgument(LogFile("x.log")("p").status()));
  TempDir dir("bcio");
  ASSERT_OK_AND_ASSIGN(FIFOSet set, NewFIFOSetInDir(dir.path(), "p", false));
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<IO> fifos, WithFIFOs(set)("p"));
    EXPECT_EQ(fifos->config().stdout_path, set.config.stdout_path);
    ASSERT_OK(fifos->Close());
  }
  // The caller owns those FIFOs: closing the IO left them alone.
  EXPECT_TRUE(IsFifo(set.config.stdout_path));
  ASSERT_OK(RemoveFIFOSet(set));
}

}  // namespace
}  // namespace berth::cio
