// Unit tests of berth-shim's pieces that need no container: framing, the OCI runtime's
// output parsing, and the stdio pumps over real pipes and FIFOs.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/berth/shim/v1/shim.pb.h"
#include "services/runtime/shim/frame.h"
#include "services/runtime/shim/oci_runtime.h"
#include "services/runtime/shim/process_io.h"

namespace berth::shim {
namespace {

TEST(FrameTest, RoundTripOverSocketPair) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  v1::Request req;
  req.mutable_kill()->set_signal(9);
  req.mutable_kill()->set_exec_id("e1");
  ASSERT_EQ(WriteFrame(sv[0], req.SerializeAsString(), 1000), 0);
  ASSERT_EQ(WriteFrame(sv[0], "", 1000), 0);
  std::string payload;
  ASSERT_EQ(ReadFrame(sv[1], &payload, 1000), 0);
  v1::Request got;
  ASSERT_TRUE(got.ParseFromString(payload));
  EXPECT_EQ(got.kill().signal(), 9u);
  EXPECT_EQ(got.kill().exec_id(), "e1");
  ASSERT_EQ(ReadFrame(sv[1], &payload, 1000), 0);
  EXPECT_TRUE(payload.empty());
  close(sv[0]);
  EXPECT_EQ(ReadFrame(sv[1], &payload, 1000), ECONNRESET);
  close(sv[1]);
}

TEST(FrameTest, ReadTimesOutAndRefusesOversizedFrames) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::string payload;
  EXPECT_EQ(ReadFrame(sv[1], &payload, 10), ETIMEDOUT);
  const unsigned char huge[4] = {0xff, 0xff, 0xff, 0xff};
  ASSERT_EQ(write(sv[0], huge, 4), 4);
  EXPECT_EQ(ReadFrame(sv[1], &payload, 1000), EMSGSIZE);
  close(sv[0]);
  close(sv[1]);
}

TEST(FrameTest, ReaderSplitsFramesFedInPieces) {
  std::string wire;
  AppendFrame("hello", &wire);
  AppendFrame("", &wire);
  AppendFrame(std::string(70000, 'x'), &wire);
  FrameReader reader;
  std::vector<std::string> got;
  std::string payload;
  for (size_t i = 0; i < wire.size(); i += 7) {
    reader.Feed(wire.data() + i, std::min<size_t>(7, wire.size() - i));
    while (reader.Next(&payload) == 1) got.push_back(payload);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "hello");
  EXPECT_EQ(got[1], "");
  EXPECT_EQ(got[2].size(), 70000u);
  EXPECT_EQ(reader.buffered(), 0u);

  FrameReader bad;
  const char oversized[4] = {'\x7f', 0, 0, 0};
  bad.Feed(oversized, 4);
  EXPECT_EQ(bad.Next(&payload), -1);
}

TEST(OciRuntimeTest, ParsesPsOutput) {
  EXPECT_EQ(ParsePsOutput("[1,22,333]\n"), (std::vector<pid_t>{1, 22, 333}));
  EXPECT_TRUE(ParsePsOutput("null\n").empty());
  EXPECT_TRUE(ParsePsOutput("").empty());
  EXPECT_EQ(ParsePsOutput("[ 7 ]"), (std::vector<pid_t>{7}));
}

TEST(OciRuntimeTest, FindsLastErrorInJsonLog) {
  std::string log =
      "{\"level\":\"info\",\"msg\":\"hello\",\"time\":\"t\"}\n"
      "{\"level\":\"error\",\"msg\":\"first\",\"time\":\"t\"}\n"
      "{\"msg\": \"exec: \\\"nope\\\": executable file not found\", \"level\": \"error\"}\n";
  EXPECT_EQ(LastLogError(log), "exec: \"nope\": executable file not found");
  EXPECT_EQ(LastLogError("{\"level\":\"warning\",\"msg\":\"x\"}\n"), "");
  EXPECT_EQ(LastLogError("not json at all"), "");
}

TEST(OciRuntimeTest, MissingBinaryIsAnError) {
  char dir[] = "/tmp/shimtest.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  OciRuntimeOptions options;
  options.binary = "/nonexistent/berth-no-such-runtime";
  options.root = dir;
  options.bundle = dir;
  options.id = "c1";
  OciRuntime runtime(options);
  Result r = runtime.Start();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.message.find("berth-no-such-runtime"), std::string::npos) << r.message;
  std::string log = std::string(dir) + "/log.json";
  unlink(log.c_str());
  rmdir(dir);
}

// Runs poll rounds over the pump until `done` or 1000 rounds.
void PumpUntil(Pump* pump, const std::function<bool()>& done) {
  for (int i = 0; i < 1000 && !done(); ++i) {
    std::vector<struct pollfd> fds;
    pump->AddPollFds(&fds);
    if (fds.empty()) break;
    ASSERT_GE(poll(fds.data(), fds.size(), 1000), 0);
    pump->HandlePoll(fds);
  }
}

TEST(PumpTest, CopiesUntilEofAndClosesDestination) {
  int a[2], b[2];
  ASSERT_EQ(pipe(a), 0);
  ASSERT_EQ(pipe(b), 0);
  Pump pump(a[0], b[1], true, true);
  ASSERT_EQ(write(a[1], "hello", 5), 5);
  close(a[1]);
  PumpUntil(&pump, [&] { return pump.done(); });
  EXPECT_TRUE(pump.done());
  char buf[16];
  ASSERT_EQ(read(b[0], buf, sizeof buf), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_EQ(read(b[0], buf, sizeof buf), 0);  // EOF: the pump closed its write end
  close(b[0]);
}

TEST(PumpTest, DrainDeliversWhatWasWrittenThenCloses) {
  int a[2], b[2];
  ASSERT_EQ(pipe(a), 0);
  ASSERT_EQ(pipe(b), 0);
  Pump pump(a[0], b[1], true, true);
  ASSERT_EQ(write(a[1], "abc", 3), 3);
  pump.Drain();  // the writer is still open: without Drain the pump would wait forever
  EXPECT_TRUE(pump.done());
  char buf[16];
  ASSERT_EQ(read(b[0], buf, sizeof buf), 3);
  EXPECT_EQ(read(b[0], buf, sizeof buf), 0);
  close(a[1]);
  close(b[0]);
}

TEST(ProcessIoTest, StdinFifoReachesEofOnlyAfterCloseStdin) {
  char dir[] = "/tmp/shimtest.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string in = std::string(dir) + "/stdin";
  ASSERT_EQ(mkfifo(in.c_str(), 0600), 0);
  // The client's write end, as ctr opens it.
  int client = open(in.c_str(), O_RDWR | O_NONBLOCK);
  ASSERT_GE(client, 0);
  std::unique_ptr<ProcessIo> io;
  Result r = ProcessIo::Open(in, "", "", false, "", &io);
  ASSERT_TRUE(r.ok()) << r.message;
  ProcessStdio stdio = io->stdio();
  ASSERT_GE(stdio.in, 0);
  int process_stdin = dup(stdio.in);  // what the container process would hold
  io->Started(-1);
  ASSERT_EQ(write(client, "x", 1), 1);
  close(client);  // the client went away: the process must not see EOF yet
  for (int i = 0; i < 5; ++i) {
    std::vector<struct pollfd> fds;
    io->AddPollFds(&fds);
    poll(fds.data(), fds.size(), 10);
    io->HandlePoll(fds);
  }
  char c;
  ASSERT_EQ(read(process_stdin, &c, 1), 1);
  EXPECT_EQ(c, 'x');
  int flags = fcntl(process_stdin, F_GETFL);
  fcntl(process_stdin, F_SETFL, flags | O_NONBLOCK);
  EXPECT_EQ(read(process_stdin, &c, 1), -1);  // nothing, but not EOF
  io->CloseStdin();
  EXPECT_EQ(read(process_stdin, &c, 1), 0);  // now EOF
  close(process_stdin);
  io.reset();
  unlink(in.c_str());
  rmdir(dir);
}

TEST(ProcessIoTest, BadPathsAreErrors) {
  std::unique_ptr<ProcessIo> io;
  Result r = ProcessIo::Open("/nonexistent/dir/stdin", "", "", false, "", &io);
  EXPECT_EQ(r.code, kNotFound) << r.message;
  r = ProcessIo::Open("", "binary:///usr/bin/logger", "", false, "", &io);
  EXPECT_EQ(r.code, kUnimplemented) << r.message;
  r = ProcessIo::Open("", "file://relative", "", false, "", &io);
  EXPECT_EQ(r.code, kInvalidArgument) << r.message;
}

}  // namespace
}  // namespace berth::shim
