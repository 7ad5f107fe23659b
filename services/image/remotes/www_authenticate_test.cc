#include "services/image/remotes/www_authenticate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lib/testing/status_matchers.h"

namespace berth::remotes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(WwwAuthenticateTest, DockerHubBearer) {
  ASSERT_OK_AND_ASSIGN(auto cs,
                       ParseWwwAuthenticate(R"(Bearer realm="https://auth.docker.io/token",)"
                                            R"(service="registry.docker.io",)"
                                            R"(scope="repository:library/ubuntu:pull")"));
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "bearer");
  EXPECT_THAT(cs[0].params, ElementsAre(Pair("realm", "https://auth.docker.io/token"),
                                        Pair("scope", "repository:library/ubuntu:pull"),
                                        Pair("service", "registry.docker.io")));
  EXPECT_EQ(cs[0].Param("service"), "registry.docker.io");
  EXPECT_EQ(cs[0].Param("missing"), "");
}

TEST(WwwAuthenticateTest, BasicAndCaseAndSpaces) {
  ASSERT_OK_AND_ASSIGN(auto cs, ParseWwwAuthenticate("BASIC  Realm = \"Registry Realm\" "));
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].scheme, "basic");
  EXPECT_EQ(cs[0].Param("realm"), "Registry Realm");
}

TEST(WwwAuthenticateTest, SeveralChallenges) {
  ASSERT_OK_AND_ASSIGN(
      auto cs,
      ParseWwwAuthenticate(R"(Basic realm="a, b", Bearer realm=https://t/token, service=reg,)"
                           R"( error="insufficient_scope", Negotiate, NTLM abc+/def==)"));
  ASSERT_EQ(cs.size(), 4u);
  EXPECT_EQ(cs[0].scheme, "basic");
  EXPECT_EQ(cs[0].Param("realm"), "a, b");
  EXPECT_EQ(cs[1].scheme, "bearer");
  EXPECT_EQ(cs[1].Param("realm"), "https://t/token");
  EXPECT_EQ(cs[1].Param("service"), "reg");
  EXPECT_EQ(cs[1].Param("error"), "insufficient_scope");
  EXPECT_EQ(cs[2].scheme, "negotiate");
  EXPECT_TRUE(cs[2].params.empty());
  EXPECT_EQ(cs[3].scheme, "ntlm");
  EXPECT_EQ(cs[3].token68, "abc+/def==");
}

TEST(WwwAuthenticateTest, QuotedStringEscapes) {
  ASSERT_OK_AND_ASSIGN(auto cs, ParseWwwAuthenticate(R"(Bearer realm="a\"b\\c",scope="")"));
  EXPECT_EQ(cs[0].Param("realm"), "a\"b\\c");
  EXPECT_EQ(cs[0].Param("scope"), "");
}

TEST(WwwAuthenticateTest, Errors) {
  for (const char* bad : {"", "   ", "Bearer realm=\"unterminated", "Bearer realm=,service=x",
                          "Bearer realm=\"a\" service=\"b\"", "Bearer realm=a,realm=b", "=x",
                          "Bearer realm=\"a\x01\"", "Bearer realm=\"x\"junk"}) {
    auto cs = ParseWwwAuthenticate(bad);
    ASSERT_FALSE(cs.ok()) << bad;
    EXPECT_TRUE(IsInvalidArgument(cs.status())) << bad;
    EXPECT_THAT(std::string(cs.status().message()), HasSubstr("invalid WWW-Authenticate header"));
  }
  // Messages stay short even for a huge header.
  auto huge = ParseWwwAuthenticate("Bearer realm=\"" + std::string(100000, 'x'));
  ASSERT_FALSE(huge.ok());
  EXPECT_LT(huge.status().message().size(), 400u);
}

TEST(ScopeTest, RepositoryScopeAndMerge) {
  EXPECT_EQ(RepositoryScope("library/ubuntu", false), "repository:library/ubuntu:pull");
  EXPECT_EQ(RepositoryScope("a/b", true), "repository:a/b:pull,push");
  EXPECT_THAT(
      MergeScopes({"repository:a:push", "repository:b:pull", "repository:a:pull",
                   "registry:catalog:*", "repository:a:pull", "weird"}),
      ElementsAre("registry:catalog:*", "repository:a:pull,push", "repository:b:pull", "weird"));
  EXPECT_THAT(MergeScopes({"repository:host:5000/x:pull"}),
              ElementsAre("repository:host:5000/x:pull"));
}

}  // namespace
}  // namespace berth::remotes
