#include "lib/testing/nats_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/testing/status_matchers.h"

namespace berth::testing {
namespace {

// Connects to 127.0.0.1:port and returns the first line the server sends ("" on failure).
std::string FirstLine(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  struct sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string line;
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0) {
    char c;
    while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  }
  close(fd);
  return line;
}

TEST(NatsServer, StartsStopsAndRestartsOnTheSamePort) {
  NatsServer nats;
  EXPECT_EQ(nats.Url(), "");
  ASSERT_OK(nats.Start());
  EXPECT_TRUE(nats.Running());
  const int port = nats.Port();
  ASSERT_GT(port, 0);
  EXPECT_EQ(nats.Url(), "nats://127.0.0.1:" + std::to_string(port));
  std::string info = FirstLine(port);
  EXPECT_EQ(info.rfind("INFO {", 0), 0u) << info;
  EXPECT_NE(info.find("\"jetstream\":true"), std::string::npos) << info;
  EXPECT_TRUE(IsFailedPrecondition(nats.Start()));

  ASSERT_OK(nats.Stop());
  EXPECT_FALSE(nats.Running());
  EXPECT_EQ(FirstLine(port), "");
  ASSERT_OK(nats.Stop());  // Stopping twice is fine.

  ASSERT_OK(nats.Start());
  EXPECT_EQ(nats.Port(), port);
  EXPECT_EQ(FirstLine(port).rfind("INFO {", 0), 0u);
  EXPECT_NE(nats.Log().find("Server is ready"), std::string::npos) << nats.Log();
}

TEST(NatsServer, TwoServersGetDifferentPorts) {
  NatsServer a;
  NatsServer b;
  ASSERT_OK(a.Start());
  ASSERT_OK(b.Start());
  EXPECT_NE(a.Port(), b.Port());
}

TEST(NatsServer, BadArgumentsReportTheLog) {
  NatsServer nats;
  nats.SetExtraArgs({"--no-such-flag"});
  absl::Status s = nats.Start();
  EXPECT_TRUE(IsUnavailable(s)) << s;
  EXPECT_NE(s.message().find("no-such-flag"), std::string::npos) << s;
}

}  // namespace
}  // namespace berth::testing
