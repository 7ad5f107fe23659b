#include "lib/log/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace berth::log {
namespace {

// Redirects the process's stderr (fd 2) into a temporary file while alive; Take() returns
// what was written. Restores fd 2 on destruction, also when an assertion fails.
class StderrCapture {
 public:
  StderrCapture() {
    char path[] = "/tmp/berth-log-test-XXXXXX";
    fd_ = mkstemp(path);
    EXPECT_GE(fd_, 0);
    unlink(path);
    fflush(stderr);
    saved_ = dup(2);
    dup2(fd_, 2);
  }
  ~StderrCapture() { Restore(); }

  std::string Take() {
    Restore();
    std::string out;
    lseek(fd_, 0, SEEK_SET);
    char buf[4096];
    ssize_t n;
    while ((n = read(fd_, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  void Restore() {
    if (saved_ < 0) return;
    fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    saved_ = -1;
  }
  int fd_ = -1;
  int saved_ = -1;
};

class LogTest : public testing::Test {
 protected:
  void SetUp() override { unsetenv(kLevelEnv); }
  void TearDown() override { unsetenv(kLevelEnv); }
};

TEST_F(LogTest, ParseLevelAcceptsConfigNames) {
  EXPECT_EQ(*ParseLevel("trace"), Level::kTrace);
  EXPECT_EQ(*ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(*ParseLevel("info"), Level::kInfo);
  EXPECT_EQ(*ParseLevel("warn"), Level::kWarn);
  EXPECT_EQ(*ParseLevel("warning"), Level::kWarn);
  EXPECT_EQ(*ParseLevel("error"), Level::kError);
  EXPECT_EQ(*ParseLevel("critical"), Level::kCritical);
  EXPECT_EQ(*ParseLevel("off"), Level::kOff);
  EXPECT_EQ(LevelName(Level::kWarn), "warn");
  EXPECT_EQ(LevelName(Level::kError), "error");
}

TEST_F(LogTest, ParseLevelRejectsUnknown) {
  for (const char* bad : {"", "INFO", "verbose", "info "}) {
    absl::StatusOr<Level> level = ParseLevel(bad);
    ASSERT_FALSE(level.ok()) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(level.status())) << level.status();
  }
  EXPECT_EQ(ParseLevel("verbose").status().message(),
            "log level \"verbose\": must be one of trace, debug, info, warn, error, critical, off");
}

TEST_F(LogTest, InitRejectsInvalidLevel) {
  absl::Status s = Init("test", "loud");
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
}

TEST_F(LogTest, InitRejectsInvalidLevelFromEnvAndNamesIt) {
  setenv(kLevelEnv, "chatty", 1);
  absl::Status s = Init("test", "info");
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("BERTH_LOG_LEVEL"), std::string_view::npos) << s;
}

// Whether `line` is `<UTC timestamp with microseconds> <rest>`, the timestamp shaped
// 2026-11-29T04:10:00.123456Z.
bool IsTimestampThen(const std::string& line, const std::string& rest) {
  const std::string shape = "dddd-dd-ddTdd:dd:dd.ddddddZ ";
  if (line.size() != shape.size() + rest.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i) {
    const bool ok = shape[i] == 'd' ? (line[i] >= '0' && line[i] <= '9') : line[i] == shape[i];
    if (!ok) return false;
  }
  return line.compare(shape.size(), std::string::npos, rest) == 0;
}

TEST_F(LogTest, WritesTheBerthLineFormatToStderr) {
  ASSERT_TRUE(Init("content", "info").ok());
  StderrCapture capture;
  Info("blob committed digest={:?} size={}", "sha256:ab", 512);
  const std::string out = capture.Take();
  EXPECT_TRUE(IsTimestampThen(out, "info content[" + std::to_string(getpid()) +
                                       "]: blob committed digest=\"sha256:ab\" size=512\n"))
      << out;
}

TEST_F(LogTest, LevelNamesInLines) {
  ASSERT_TRUE(Init("p", "trace").ok());
  StderrCapture capture;
  Trace("t");
  Debug("d");
  Warn("w");
  Error("e");
  const std::string out = capture.Take();
  EXPECT_NE(out.find(" trace p["), std::string::npos) << out;
  EXPECT_NE(out.find(" debug p["), std::string::npos) << out;
  EXPECT_NE(out.find(" warn p["), std::string::npos) << out;
  EXPECT_NE(out.find(" error p["), std::string::npos) << out;
}

TEST_F(LogTest, LevelFiltersMessages) {
  ASSERT_TRUE(Init("test", "warn").ok());
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kWarn));
  StderrCapture capture;
  Info("hidden");
  Warn("shown");
  const std::string out = capture.Take();
  EXPECT_EQ(out.find("hidden"), std::string::npos) << out;
  EXPECT_NE(out.find("shown"), std::string::npos) << out;
}

TEST_F(LogTest, EmptyLevelMeansInfo) {
  ASSERT_TRUE(Init("test", "").ok());
  EXPECT_TRUE(Enabled(Level::kInfo));
  EXPECT_FALSE(Enabled(Level::kDebug));
}

TEST_F(LogTest, EnvOverridesConfiguredLevel) {
  setenv(kLevelEnv, "debug", 1);
  ASSERT_TRUE(Init("test", "error").ok());
  EXPECT_TRUE(Enabled(Level::kDebug));
  EXPECT_FALSE(Enabled(Level::kTrace));
}

TEST_F(LogTest, InvalidLevelKeepsPreviousSetup) {
  ASSERT_TRUE(Init("test", "error").ok());
  ASSERT_FALSE(Init("test", "nope").ok());
  EXPECT_FALSE(Enabled(Level::kWarn));
  EXPECT_TRUE(Enabled(Level::kError));
}

TEST_F(LogTest, NewlinesAreEscapedSoOneCallIsOneLine) {
  ASSERT_TRUE(Init("test", "info").ok());
  StderrCapture capture;
  Info("first\nsecond\r");
  const std::string out = capture.Take();
  EXPECT_NE(out.find("]: first\\nsecond\\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find('\n'), out.size() - 1) << out;
}

TEST_F(LogTest, DirectSpdlogUseGetsTheSameFormat) {
  ASSERT_TRUE(Init("gateway", "info").ok());
  StderrCapture capture;
  spdlog::warn("via spdlog {}", 1);
  const std::string out = capture.Take();
  EXPECT_NE(out.find("Z warn gateway[" + std::to_string(getpid()) + "]: via spdlog 1\n"),
            std::string::npos)
      << out;
}

TEST_F(LogTest, ProcessNameIsTakenLiterally) {
  ASSERT_TRUE(Init("odd%v{}", "info").ok());
  StderrCapture capture;
  Info("x");
  const std::string out = capture.Take();
  EXPECT_NE(out.find(" info odd%v{}["), std::string::npos) << out;
}

}  // namespace
}  // namespace berth::log
