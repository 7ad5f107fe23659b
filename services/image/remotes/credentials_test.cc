#include "services/image/remotes/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"

namespace berth::remotes {
namespace {

using ::testing::HasSubstr;

// base64("alice:s3cr:et") and base64("bob:pw").
constexpr char kConfig[] = R"({
  "auths": {
    "https://index.docker.io/v1/": {"auth": "YWxpY2U6czNjcjpldA=="},
    "registry.example.com:5000": {"auth": "Ym9iOnB3", "email": "ignored@example.com"},
    "http://token.example.com/v2/": {"username": "<token>", "identitytoken": "refresh-me"},
    "empty.example.com": {}
  },
  "credsStore": "desktop"
})";

TEST(DockerConfigTest, Lookup) {
  ASSERT_OK_AND_ASSIGN(DockerConfig config, DockerConfig::Parse(kConfig));
  EXPECT_EQ(config.size(), 3u);
  Credentials hub = config.Lookup("docker.io");
  EXPECT_EQ(hub.username, "alice");
  EXPECT_EQ(hub.password, "s3cr:et");
  EXPECT_EQ(config.Lookup("registry-1.docker.io").username, "alice");
  EXPECT_EQ(config.Lookup("index.docker.io").username, "alice");
  Credentials bob = config.Lookup("registry.example.com:5000");
  EXPECT_EQ(bob.username, "bob");
  EXPECT_EQ(bob.password, "pw");
  EXPECT_TRUE(config.Lookup("registry.example.com").empty());
  EXPECT_EQ(config.Lookup("token.example.com").identity_token, "refresh-me");
  EXPECT_TRUE(config.Lookup("empty.example.com").empty());
  EXPECT_TRUE(config.Lookup("other.example.com").empty());

  CredentialsFunc fn = config.AsFunc();
  ASSERT_OK_AND_ASSIGN(Credentials via_fn, fn("registry.example.com:5000"));
  EXPECT_EQ(via_fn.username, "bob");
}

TEST(DockerConfigTest, Errors) {
  struct Case {
    const char* json;
    const char* want;
  };
  std::vector<Case> cases = {
      {"{", "not valid JSON"},
      {"[]", "not a JSON object"},
      {R"({"auths": []})", "\"auths\" must be an object"},
      {R"({"auths": {"h": "x"}})", "auths.\"h\": must be an object"},
      {R"({"auths": {"h": {"auth": "!!!"}}})", "auths.\"h\".auth: not base64"},
      {R"({"auths": {"h": {"auth": "bm9jb2xvbg=="}}})", "not base64 of \"user:password\""},
      {R"({"auths": {"h": {"auth": 5}}})", "auths.\"h\".auth: must be a string"},
  };
  for (const Case& c : cases) {
    auto config = DockerConfig::Parse(c.json, "/home/u/.docker/config.json");
    ASSERT_FALSE(config.ok()) << c.json;
    EXPECT_TRUE(IsInvalidArgument(config.status()));
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.want)) << c.json;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("/home/u/.docker/config.json"));
  }
  // No auths at all is an empty config.
  ASSERT_OK_AND_ASSIGN(DockerConfig none, DockerConfig::Parse("{}"));
  EXPECT_EQ(none.size(), 0u);
}

TEST(DockerConfigTest, Load) {
  testing::TempDir dir("creds");
  {
    std::ofstream out(dir.Path("config.json"));
    out << kConfig;
  }
  ASSERT_OK_AND_ASSIGN(DockerConfig config, DockerConfig::Load(dir.Path("config.json")));
  EXPECT_EQ(config.Lookup("docker.io").username, "alice");
  auto missing = DockerConfig::Load(dir.Path("nope.json"));
  EXPECT_TRUE(IsNotFound(missing.status()));
}

TEST(StaticCredentialsTest, SameForEveryHost) {
  CredentialsFunc fn = StaticCredentials({"u", "p", ""});
  ASSERT_OK_AND_ASSIGN(Credentials a, fn("a.example.com"));
  ASSERT_OK_AND_ASSIGN(Credentials b, fn("b.example.com"));
  EXPECT_EQ(a.username, "u");
  EXPECT_EQ(b.password, "p");
}

}  // namespace
}  // namespace berth::remotes
