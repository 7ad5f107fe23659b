#include "lib/platforms/platforms.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace berth::platforms {
namespace {

Platform P(std::string os, std::string arch, std::string variant = "") {
  return Platform{std::move(os), std::move(arch), std::move(variant)};
}

Platform MustParse(const std::string& s) {
  absl::StatusOr<Platform> p = Parse(s);
  EXPECT_TRUE(p.ok()) << s << ": " << p.status();
  return p.ok() ? *p : Platform();
}

// containerd's TestParseSelector (platforms_test.go), minus the wildcard cases it skips.
TEST(Parse, ContainerdSelectorTable) {
  const Platform host = DefaultPlatform();
  const std::string default_variant =
      host.architecture == "arm" && host.variant != "v7" ? host.variant : "";
  auto join = [](std::vector<std::string> parts) {
    std::string out;
    for (const std::string& p : parts) {
      if (p.empty()) continue;
      out += (out.empty() ? "" : "/") + p;
    }
    return out;
  };
  struct Case {
    std::string input;
    Platform expected;
    std::vector<Platform> matches;
    std::string formatted;
  };
  const std::vector<Case> cases = {
      {"linux/arm64",
       P("linux", "arm64"),
       {P("linux", "aarch64"), P("linux", "aarch64", "v8"), P("linux", "arm64", "v8")},
       "linux/arm64"},
      {"linux/arm64/v8",
       P("linux", "arm64", "v8"),
       {P("linux", "aarch64"), P("linux", "aarch64", "v8"), P("linux", "arm64")},
       "linux/arm64/v8"},
      {"linux/arm",
       P("linux", "arm"),
       {P("linux", "arm", "v7"), P("linux", "armhf"), P("linux", "arm", "7")},
       "linux/arm"},
      {"linux/arm/v6", P("linux", "arm", "v6"), {P("linux", "armel")}, "linux/arm/v6"},
      {"linux/arm/v7",
       P("linux", "arm", "v7"),
       {P("linux", "arm"), P("linux", "armhf")},
       "linux/arm/v7"},
      {"arm", P("linux", "arm"), {}, "linux/arm"},
      {"armel", P("linux", "arm", "v6"), {}, "linux/arm/v6"},
      {"armhf", P("linux", "arm"), {}, "linux/arm"},
      {"Aarch64", P("linux", "arm64"), {}, "linux/arm64"},
      {"x86_64", P("linux", "amd64"), {}, "linux/amd64"},
      {"Linux/x86_64", P("linux", "amd64"), {}, "linux/amd64"},
      {"i386", P("linux", "386"), {}, "linux/386"},
      {"linux",
       P("linux", host.architecture, default_variant),
       {},
       join({"linux", host.architecture, default_variant})},
      {"s390x", P("linux", "s390x"), {}, "linux/s390x"},
      {"linux/s390x", P("linux", "s390x"), {}, "linux/s390x"},
      {"macOS",
       P("darwin", host.architecture, default_variant),
       {},
       join({"darwin", host.architecture, default_variant})},
  };
  for (const Case& c : cases) {
    Platform p = MustParse(c.input);
    EXPECT_EQ(p, c.expected) << c.input << " -> " << Format(p);
    Matcher m = Ordered({p});
    EXPECT_TRUE(m.Match(c.expected)) << c.input;
    for (const Platform& other : c.matches) {
      EXPECT_TRUE(m.Match(other)) << c.input << " should match " << Format(other);
    }
    EXPECT_EQ(Format(p), c.formatted) << c.input;
    // Formatting round-trips.
    EXPECT_EQ(Format(MustParse(Format(p))), Format(p)) << c.input;
  }
}

// containerd's TestParseSelectorInvalid, plus berth's os check and messages.
TEST(Parse, RefusesBadSpecifiers) {
  struct Case {
    std::string input, message;
  };
  const std::vector<Case> cases = {
      {"", R"("": invalid platform specifier: component "" must match ^[A-Za-z0-9_.-]+$)"},
      {"/linux/arm", R"(component "" must match)"},
      {"linux/arm/", R"(component "" must match)"},
      {"linux/", R"("linux/": invalid platform specifier: component "")"},
      {"linux /arm", R"(component "linux " must match)"},
      {"linux/&arm", R"(component "&arm" must match)"},
      {"linux/arm/foo/bar", "too many components (at most os/architecture/variant)"},
      {"*", "wildcards are not supported"},
      {"linux/*", "wildcards are not supported"},
      {"foo", R"("foo": invalid platform specifier: unknown operating system or architecture)"},
      {"foo/amd64", R"(unknown operating system "foo")"},
      {"plan8/amd64/v2", R"(unknown operating system "plan8")"},
      {std::string("linux\0/amd64", 12), R"(component "linux\x00" must match)"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Platform> p = Parse(c.input);
    ASSERT_FALSE(p.ok()) << c.input;
    EXPECT_TRUE(absl::IsInvalidArgument(p.status())) << c.input;
    EXPECT_NE(std::string(p.status().message()).find(c.message), std::string::npos)
        << c.input << ": " << p.status();
  }
  // A long specifier is cut in the message.
  absl::StatusOr<Platform> p = Parse(std::string(10000, 'x'));
  ASSERT_FALSE(p.ok());
  EXPECT_LT(p.status().message().size(), 300u);
}

TEST(Parse, BriefExamples) {
  EXPECT_EQ(MustParse("linux/amd64"), P("linux", "amd64"));
  EXPECT_EQ(MustParse("linux/arm64/v8"), P("linux", "arm64", "v8"));
  EXPECT_EQ(MustParse("linux/arm/v7"), P("linux", "arm", "v7"));
  EXPECT_EQ(MustParse("amd64"), P("linux", "amd64"));
  EXPECT_EQ(MustParse("linux/amd64/v3"), P("linux", "amd64", "v3"));
  EXPECT_EQ(MustParse("linux/amd64/v1"), P("linux", "amd64"));
  EXPECT_EQ(MustParse("linux/arm/5"), P("linux", "arm", "v5"));
  EXPECT_EQ(MustParse("linux/loong64"), P("linux", "loong64"));
  EXPECT_EQ(MustParse("windows/amd64"), P("windows", "amd64"));
  // Two-part forms accept architectures berth does not know, as containerd does.
  EXPECT_EQ(MustParse("linux/newarch"), P("linux", "newarch"));
}

TEST(Normalize, CanonicalForms) {
  EXPECT_EQ(Normalize(P("linux", "arm64", "v8")), Normalize(P("linux", "arm64")));
  EXPECT_EQ(Normalize(P("linux", "arm64", "v8")), P("linux", "arm64"));
  EXPECT_EQ(Normalize(P("linux", "aarch64")), P("linux", "arm64"));
  EXPECT_EQ(Normalize(P("linux", "arm")), P("linux", "arm", "v7"));
  EXPECT_EQ(Normalize(P("linux", "armhf")), P("linux", "arm", "v7"));
  EXPECT_EQ(Normalize(P("linux", "armel")), P("linux", "arm", "v6"));
  EXPECT_EQ(Normalize(P("linux", "arm", "6")), P("linux", "arm", "v6"));
  EXPECT_EQ(Normalize(P("linux", "amd64")), P("linux", "amd64"));
  EXPECT_EQ(Normalize(P("linux", "x86_64", "v1")), P("linux", "amd64"));
  EXPECT_EQ(Normalize(P("linux", "amd64", "V3")), P("linux", "amd64", "v3"));
  EXPECT_EQ(Normalize(P("Linux", "i386", "x")), P("linux", "386"));
  EXPECT_EQ(Normalize(P("macOS", "arm64")), P("darwin", "arm64"));
  EXPECT_EQ(Normalize(P("", "amd64")), P("linux", "amd64"));
}

TEST(Format, SkipsEmptyParts) {
  EXPECT_EQ(Format(P("linux", "amd64")), "linux/amd64");
  EXPECT_EQ(Format(P("linux", "arm", "v7")), "linux/arm/v7");
  EXPECT_EQ(Format(P("linux", "")), "linux");
  EXPECT_EQ(Format(P("", "amd64")), "unknown");
}

TEST(FromUnameMachine, MapsKernelNames) {
  EXPECT_EQ(FromUnameMachine("x86_64"), P("linux", "amd64"));
  EXPECT_EQ(FromUnameMachine("i686"), P("linux", "386"));
  EXPECT_EQ(FromUnameMachine("aarch64"), P("linux", "arm64"));
  EXPECT_EQ(FromUnameMachine("armv7l"), P("linux", "arm", "v7"));
  EXPECT_EQ(FromUnameMachine("armv6l"), P("linux", "arm", "v6"));
  EXPECT_EQ(FromUnameMachine("armv5tel"), P("linux", "arm", "v5"));
  EXPECT_EQ(FromUnameMachine("armv8l"), P("linux", "arm", "v8"));
  EXPECT_EQ(FromUnameMachine("ppc64le"), P("linux", "ppc64le"));
  EXPECT_EQ(FromUnameMachine("s390x"), P("linux", "s390x"));
  EXPECT_EQ(FromUnameMachine("riscv64"), P("linux", "riscv64"));
  EXPECT_EQ(FromUnameMachine("loongarch64"), P("linux", "loong64"));
}

TEST(DefaultPlatform, IsTheBuildTarget) {
  Platform host = DefaultPlatform();
  EXPECT_EQ(host.os, "linux");
  EXPECT_EQ(host, Normalize(host));
#if defined(__x86_64__)
  EXPECT_EQ(host, P("linux", "amd64"));
#elif defined(__aarch64__)
  EXPECT_EQ(host, P("linux", "arm64"));
#endif
  EXPECT_TRUE(Default().Match(host));
}

// containerd's TestOnly (compare_test.go) where berth agrees: amd64 does not fall back to
// 386 here, as the brief for berth asks; arm64 does not take 32-bit arm.
TEST(Only, ContainerdTable) {
  struct Case {
    std::string platform;
    std::vector<std::string> match, no_match;
  };
  const std::vector<Case> cases = {
      {"linux/amd64",
       {"linux/amd64", "linux/amd64/v1"},
       {"linux/386", "linux/amd64/v2", "linux/arm/v7", "linux/arm64", "windows/amd64",
        "windows/arm"}},
      {"linux/386",
       {"linux/386"},
       {"linux/amd64", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm"}},
      {"windows/amd64",
       {"windows/amd64"},
       {"linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm"}},
      {"linux/arm/v8",
       {"linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8"},
       {"linux/amd64", "linux/arm/v4", "linux/arm64", "windows/amd64", "windows/arm"}},
      {"linux/arm/v7",
       {"linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7"},
       {"linux/amd64", "linux/arm/v4", "linux/arm/v8", "linux/arm64", "windows/amd64",
        "windows/arm"}},
      {"linux/arm/v6",
       {"linux/arm/v5", "linux/arm/v6"},
       {"linux/amd64", "linux/arm", "linux/arm/v4", "linux/arm/v7", "linux/arm/v8", "linux/arm64",
        "windows/amd64", "windows/arm"}},
      {"linux/arm/v5",
       {"linux/arm/v5"},
       {"linux/amd64", "linux/arm", "linux/arm/v4", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8",
        "linux/arm64", "windows/amd64", "windows/arm"}},
      {"linux/arm/v4",
       {"linux/arm/v4"},
       {"linux/amd64", "linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8",
        "linux/arm64", "windows/amd64", "windows/arm"}},
      {"linux/arm64",
       {"linux/arm64", "linux/arm64/v8"},
       {"linux/amd64", "linux/arm", "linux/arm/v4", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7",
        "linux/arm/v8", "linux/arm/v9", "linux/arm64/v9", "linux/arm64/v8.1", "windows/amd64",
        "windows/arm"}},
      {"linux/amd64/v3",
       {"linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/amd64/v1"},
       {"linux/amd64/v4", "linux/386", "linux/arm64"}},
      {"linux/arm64/v8.2",
       {"linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64", "linux/arm64/v8"},
       {"linux/arm64/v8.3", "linux/arm64/v9", "linux/arm/v7"}},
      {"linux/arm64/v9.1",
       {"linux/arm64/v9.1", "linux/arm64/v9", "linux/arm64/v8.6", "linux/arm64/v8.1",
        "linux/arm64"},
       {"linux/arm64/v9.2", "linux/arm64/v8.7"}},
  };
  for (const Case& c : cases) {
    Matcher m = Only(MustParse(c.platform));
    for (const std::string& s : c.match) {
      EXPECT_TRUE(m.Match(MustParse(s))) << "Only(" << c.platform << ") should match " << s;
    }
    for (const std::string& s : c.no_match) {
      EXPECT_FALSE(m.Match(MustParse(s))) << "Only(" << c.platform << ") should not match " << s;
    }
  }
}

std::vector<std::string> SortedBest(const Matcher& m, const std::vector<std::string>& in) {
  std::vector<Platform> ps;
  for (const std::string& s : in) {
    Platform p = MustParse(s);
    if (m.Match(p)) ps.push_back(p);
  }
  std::stable_sort(ps.begin(), ps.end(),
                   [&](const Platform& a, const Platform& b) { return m.Less(a, b); });
  std::vector<std::string> out;
  for (const Platform& p : ps) out.push_back(Format(Normalize(p)));
  return out;
}

TEST(Only, OrdersBestFirst) {
  // An arm/v7 host takes v7 over v6 over v5, whatever the index order.
  EXPECT_EQ(
      SortedBest(Only(P("linux", "arm", "v7")), {"linux/arm/v5", "linux/amd64", "linux/arm/v6",
                                                 "linux/arm/v7", "linux/arm64", "linux/arm/v8"}),
      (std::vector<std::string>{"linux/arm/v7", "linux/arm/v6", "linux/arm/v5"}));
  // amd64/v3 prefers v3, then v2, then baseline.
  EXPECT_EQ(SortedBest(Only(P("linux", "amd64", "v3")),
                       {"linux/amd64", "linux/amd64/v2", "linux/amd64/v4", "linux/amd64/v3"}),
            (std::vector<std::string>{"linux/amd64/v3", "linux/amd64/v2", "linux/amd64"}));
  // Plain amd64 takes only baseline amd64.
  EXPECT_EQ(SortedBest(Only(P("linux", "amd64")), {"linux/amd64/v2", "linux/386", "linux/amd64"}),
            (std::vector<std::string>{"linux/amd64"}));

  Matcher m = Only(P("linux", "arm", "v7"));
  EXPECT_TRUE(m.Less(P("linux", "arm", "v7"), P("linux", "arm", "v6")));
  EXPECT_FALSE(m.Less(P("linux", "arm", "v6"), P("linux", "arm", "v7")));
  EXPECT_FALSE(m.Less(P("linux", "arm", "v7"), P("linux", "arm")));   // Same after normalising.
  EXPECT_TRUE(m.Less(P("linux", "arm", "v5"), P("linux", "amd64")));  // Match beats no match.
  EXPECT_FALSE(m.Less(P("linux", "amd64"), P("linux", "s390x")));
  EXPECT_EQ(m.platforms().size(), 3u);
}

// Found by fuzz/platforms_fuzzer: a huge variant number made Only() list every version below
// it (a million platforms for "arm/v999999", seconds per Match). Such a variant is not one
// berth knows how to expand: it matches itself only.
TEST(Only, HugeVariantNumbersAreNotExpanded) {
  for (const char* spec :
       {"linux/arm/v999999", "linux/amd64/v999999", "linux/arm64/v999999", "linux/arm/v100"}) {
    Matcher m = Only(MustParse(spec));
    EXPECT_EQ(m.platforms().size(), 1u) << spec;
    EXPECT_TRUE(m.Match(MustParse(spec))) << spec;
    EXPECT_FALSE(m.Match(P("linux", "arm", "v7"))) << spec;
  }
  // Two-digit versions still expand (nothing real uses them, but the rule stays uniform).
  EXPECT_EQ(Only(P("linux", "arm", "v10")).platforms().size(), 6u);
}

TEST(Ordered, KeepsTheGivenPreference) {
  Matcher m = Ordered({P("linux", "arm64"), P("linux", "amd64"), P("linux", "aarch64", "v8")});
  EXPECT_EQ(m.platforms().size(), 2u);  // aarch64/v8 is arm64 again.
  EXPECT_TRUE(m.Match(P("linux", "amd64")));
  EXPECT_FALSE(m.Match(P("linux", "386")));
  EXPECT_TRUE(m.Less(P("linux", "arm64"), P("linux", "amd64")));
  EXPECT_FALSE(m.Less(P("linux", "amd64"), P("linux", "arm64")));
}

TEST(All, MatchesEverythingWithoutPreference) {
  Matcher m = All();
  EXPECT_TRUE(m.Match(P("linux", "amd64")));
  EXPECT_TRUE(m.Match(P("windows", "arm")));
  EXPECT_TRUE(m.Match(P("", "")));
  EXPECT_FALSE(m.Less(P("linux", "amd64"), P("linux", "arm64")));
  EXPECT_FALSE(m.Less(P("linux", "arm64"), P("linux", "amd64")));
  EXPECT_TRUE(m.platforms().empty());
  EXPECT_FALSE(Matcher().Match(P("linux", "amd64")));
}

}  // namespace
}  // namespace berth::platforms
