#include "lib/reference/reference.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth::reference {
namespace {

const std::string kHex = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const std::string kDigest = "sha256:" + kHex;
const std::string kRedis =
    "sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";

Reference MustNormalize(const std::string& s) {
  absl::StatusOr<Reference> r = Reference::ParseNormalized(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status();
  return r.ok() ? *r : Reference();
}

Reference MustParse(const std::string& s) {
  absl::StatusOr<Reference> r = Reference::Parse(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status();
  return r.ok() ? *r : Reference();
}

// The examples berth's pull path relies on.
TEST(ParseNormalized, DockerStyleNames) {
  struct Case {
    std::string input, want, familiar;
  };
  const std::vector<Case> cases = {
      {"ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"},
      {"ubuntu:16.04", "docker.io/library/ubuntu:16.04", "ubuntu:16.04"},
      {"stevvooe/ubuntu", "docker.io/stevvooe/ubuntu:latest", "stevvooe/ubuntu:latest"},
      {"myregistry.com/repo:latest", "myregistry.com/repo:latest", "myregistry.com/repo:latest"},
      {"ubuntu@" + kDigest, "docker.io/library/ubuntu@" + kDigest, "ubuntu@" + kDigest},
      {"host:5000/a/b:tag@" + kDigest, "host:5000/a/b:tag@" + kDigest,
       "host:5000/a/b:tag@" + kDigest},
      {"localhost/x", "localhost/x:latest", "localhost/x:latest"},
      {"127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest"},
      {"docker.io/library/ubuntu:latest", "docker.io/library/ubuntu:latest", "ubuntu:latest"},
      {"index.docker.io/library/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"},
      {"docker.io/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"},
      {"docker.io/library/foo/bar", "docker.io/library/foo/bar:latest", "library/foo/bar:latest"},
      {"busybox:latest@" + kRedis, "docker.io/library/busybox:latest@" + kRedis,
       "busybox:latest@" + kRedis},
  };
  for (const Case& c : cases) {
    Reference r = MustNormalize(c.input);
    EXPECT_EQ(r.String(), c.want) << c.input;
    EXPECT_EQ(r.Familiar(), c.familiar) << c.input;
    // Normalisation is idempotent.
    EXPECT_EQ(MustNormalize(r.String()), r) << c.input;
    EXPECT_EQ(MustNormalize(r.Familiar()), r) << c.input;
    // The normalised form is fully qualified.
    EXPECT_EQ(MustParse(r.String()), r) << c.input;
  }
}

TEST(ParseNormalized, Accessors) {
  Reference r = MustNormalize("ubuntu:16.04");
  EXPECT_EQ(r.domain, "docker.io");
  EXPECT_EQ(r.path, "library/ubuntu");
  EXPECT_EQ(r.tag, "16.04");
  EXPECT_TRUE(r.digest.empty());
  EXPECT_EQ(r.Hostname(), "docker.io");
  EXPECT_EQ(r.Repository(), "docker.io/library/ubuntu");
  EXPECT_EQ(r.Object(), "16.04");
  EXPECT_EQ(r.FamiliarName(), "ubuntu");

  r = MustNormalize("ubuntu@" + kDigest);
  EXPECT_EQ(r.tag, "");
  EXPECT_EQ(r.digest.ToString(), kDigest);
  EXPECT_EQ(r.Object(), "@" + kDigest);

  r = MustNormalize("host:5000/a/b:tag@" + kDigest);
  EXPECT_EQ(r.Hostname(), "host:5000");
  EXPECT_EQ(r.path, "a/b");
  EXPECT_EQ(r.Object(), "tag@" + kDigest);
  EXPECT_EQ(r.Repository(), "host:5000/a/b");
}

// distribution's normalize tests (TestValidateReferenceName, TestValidateRemoteName,
// TestParseRepositoryInfo, TestNormalizedSplitHostname), current version.
TEST(ParseNormalized, DistributionNormalizeTable) {
  struct Case {
    std::string input, name;  // name: Repository() of the result.
  };
  const std::vector<Case> cases = {
      {"docker/docker", "docker.io/docker/docker"},
      {"library/debian", "docker.io/library/debian"},
      {"debian", "docker.io/library/debian"},
      {"localhost/library/debian", "localhost/library/debian"},
      {"localhost/debian", "localhost/debian"},
      {"LOCALDOMAIN/library/debian", "LOCALDOMAIN/library/debian"},
      {"LOCALDOMAIN/debian", "LOCALDOMAIN/debian"},
      {"docker.io/docker/docker", "docker.io/docker/docker"},
      {"docker.io/library/debian", "docker.io/library/debian"},
      {"docker.io/debian", "docker.io/library/debian"},
      {"index.docker.io/docker/docker", "docker.io/docker/docker"},
      {"index.docker.io/library/debian", "docker.io/library/debian"},
      {"index.docker.io/debian", "docker.io/library/debian"},
      {"127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker"},
      {"127.0.0.1:5000/library/debian", "127.0.0.1:5000/library/debian"},
      {"127.0.0.1:5000/debian", "127.0.0.1:5000/debian"},
      {"192.168.0.1", "docker.io/library/192.168.0.1"},
      {"192.168.0.1:80", "docker.io/library/192.168.0.1"},  // ":80" is the tag.
      {"192.168.0.1:8/debian", "192.168.0.1:8/debian"},
      {"192.168.0.2:25000/debian", "192.168.0.2:25000/debian"},
      {"thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
       "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"},
      {"[fc00::1]:5000/docker", "[fc00::1]:5000/docker"},
      {"[fc00::1]:5000/docker/docker", "[fc00::1]:5000/docker/docker"},
      {"[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000/library/debian"},
      {"docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
       "docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"},
      {"Docker/docker", "Docker/docker"},
      {"DOCKER/docker", "DOCKER/docker"},
      {"docker-rules/docker", "docker.io/docker-rules/docker"},
      {"docker---rules/docker", "docker.io/docker---rules/docker"},
      {"doc/docker", "docker.io/doc/docker"},
      {"d/docker", "docker.io/d/docker"},
      {"jess/t", "docker.io/jess/t"},
      {"dock__er/docker", "docker.io/dock__er/docker"},
      {"test_com/foo", "docker.io/test_com/foo"},
      {"test.com:8080/foo", "test.com:8080/foo"},
      {"test-com:8080/foo", "test-com:8080/foo"},
      {"xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo"},
      {"docker.io/library/foo/bar", "docker.io/library/foo/bar"},
      {"store/foo/bar", "docker.io/store/foo/bar"},
      {"library/ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base"},
      {"example.com:8000/private/moonbase", "example.com:8000/private/moonbase"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(MustNormalize(c.input).Repository(), c.name) << c.input;
  }
}

TEST(ParseNormalized, FamiliarNames) {
  // distribution's TestParseRepositoryInfo: familiar, full and ambiguous spellings agree.
  struct Case {
    std::string familiar, full, ambiguous;
  };
  const std::vector<Case> cases = {
      {"fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar"},
      {"ubuntu", "docker.io/library/ubuntu", "library/ubuntu"},
      {"nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", ""},
      {"other/library", "docker.io/other/library", ""},
      {"127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", ""},
      {"127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", ""},
      {"example.com/private/moonbase", "example.com/private/moonbase", ""},
      {"example.com:8000/privatebasee", "example.com:8000/privatebasee", ""},
      {"ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base",
       "index.docker.io/library/ubuntu-12.04-base"},
      {"foo", "docker.io/library/foo", "docker.io/foo"},
      {"library/foo/bar", "docker.io/library/foo/bar", ""},
      {"store/foo/bar", "docker.io/store/foo/bar", ""},
  };
  for (const Case& c : cases) {
    std::vector<std::string> spellings = {c.familiar, c.full};
    if (!c.ambiguous.empty()) spellings.push_back(c.ambiguous);
    for (const std::string& s : spellings) {
      Reference r = MustNormalize(s);
      EXPECT_EQ(r.FamiliarName(), c.familiar) << s;
      EXPECT_EQ(r.Repository(), c.full) << s;
    }
  }
}

// Found by fuzz/reference_fuzzer: the familiar form of a Docker Hub path whose first
// component looks like a host ("docker.io/ghcr.io/x") read back as that other registry.
// Such names keep "docker.io/"; every familiar form parses back to the same reference.
TEST(ParseNormalized, FamiliarNameKeepsDockerIoWhenThePathLooksLikeAHost) {
  for (const std::string s : {"docker.io/ghcr.io/org/app:1", "docker.io/localhost/x:latest",
                              "docker.io/libraryindex.docker.io/lib/busybox:latest"}) {
    Reference r = MustNormalize(s);
    EXPECT_EQ(r.Familiar(), s);
    EXPECT_EQ(MustNormalize(r.Familiar()), r) << s;
  }
  EXPECT_EQ(MustNormalize("docker.io/library/foo.bar").Familiar(), "foo.bar:latest");
  EXPECT_EQ(MustNormalize("docker.io/foo/bar.baz").Familiar(), "foo/bar.baz:latest");
}

struct ErrorCase {
  std::string input;
  std::string reason;  // Expected after `invalid reference "<input>": `.
};

void ExpectError(absl::StatusOr<Reference> r, const ErrorCase& c) {
  ASSERT_FALSE(r.ok()) << c.input << " parsed as " << r->String();
  EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << c.input;
  const std::string msg(r.status().message());
  EXPECT_NE(msg.find(c.reason), std::string::npos) << c.input << ": " << msg;
  EXPECT_EQ(msg.rfind("invalid reference \"", 0), 0u) << msg;
}

TEST(ParseNormalized, DistributionInvalidTable) {
  const std::vector<ErrorCase> cases = {
      {"https://github.com/docker/docker", "invalid registry host \"https:\""},
      {"docker/Docker", "repository name must be lowercase"},
      {"-docker", "invalid repository path"},
      {"-docker/docker", "invalid repository path"},
      {"-docker.io/docker/docker", "invalid registry host \"-docker.io\""},
      {"docker///docker", "invalid repository path"},
      {"docker.io/docker/Docker", "repository name must be lowercase"},
      {"docker.io/docker///docker", "invalid repository path"},
      {"[fc00::1]", "invalid reference format"},
      {"[fc00::1]:5000", "invalid reference format"},
      {"fc00::1:5000/debian", "invalid registry host"},
      {"[fe80::1%eth0]:5000/debian", "invalid registry host"},
      {"[2001:db8:3:4::192.0.2.33]:5000/debian", "invalid registry host"},
      {"1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
       "cannot specify 64-byte hexadecimal strings"},
      {"docker-/docker", "invalid repository path"},
      {"-docker-/docker", "invalid repository path"},
      {"____/____", "invalid repository path"},
      {"_docker/_docker", "invalid repository path"},
      {"dock..er/docker", "invalid registry host"},  // A "." makes it a host.
      {"dock_.er/docker", "invalid registry host"},  // A "." makes it a host.
      {"dock-.er/docker", "invalid registry host"},  // A "." makes it a host.
      {"dock___er/docker", "invalid repository path"},
      {"docker/", "invalid repository path"},
      {"this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_"
       "valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_"
       "because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_"
       "is_greater_than_255/docker",
       "repository name must not be more than 255 characters"},
      {"", "repository name must have at least one component"},
      {"Ubuntu", "repository name must be lowercase"},
      {"ubuntu:", "empty tag"},
      {"ubuntu:-x", "invalid tag \"-x\""},
      {"ubuntu:a b", "invalid tag"},
      {"ubuntu:" + std::string(129, 'a'), "invalid tag: longer than 128 characters (129)"},
      {"ubuntu@sha256:abc", "invalid checksum digest length"},
      {"ubuntu@sha512:" + std::string(128, 'f'), "berth supports sha256 only"},
      {"ubuntu@sha256:" + std::string(64, 'F'), "hex must be lowercase"},
      {"ubuntu@", "invalid checksum digest format"},
      {"ubuntu@" + kDigest + "@" + kDigest, "invalid checksum digest"},
      {std::string("ubuntu\0", 7), "invalid repository path \"library/ubuntu\\x00\""},
  };
  for (const ErrorCase& c : cases) ExpectError(Reference::ParseNormalized(c.input), c);
}

TEST(ParseNormalized, NameLengthLimit) {
  // 255 characters of name (docker.io/library/ + path) are fine, 256 are not.
  const std::string prefix = "docker.io/library/";
  EXPECT_TRUE(Reference::ParseNormalized(std::string(255 - prefix.size(), 'a')).ok());
  ExpectError(Reference::ParseNormalized(std::string(256 - prefix.size(), 'a')),
              {"", "repository name must not be more than 255 characters"});
  // The tag does not count.
  EXPECT_TRUE(Reference::ParseNormalized(std::string(255 - prefix.size(), 'a') + ":" +
                                         std::string(128, 't'))
                  .ok());
  // A huge input gives a bounded message.
  absl::StatusOr<Reference> r = Reference::ParseNormalized(std::string(100000, 'a'));
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.status().message().size(), 500u);
}

// distribution's TestReferenceParse table for the fully qualified parser: entries whose
// first component is a host parse as written; host-less ones need ParseNormalized.
TEST(Parse, DistributionReferenceTable) {
  struct Case {
    std::string input, domain, path, tag, digest;
  };
  const std::vector<Case> cases = {
      {"test.com/repo:tag", "test.com", "repo", "tag", ""},
      {"test:5000/repo", "test:5000", "repo", "", ""},
      {"test:5000/repo:tag", "test:5000", "repo", "tag", ""},
      {"test:5000/repo@" + kDigest, "test:5000", "repo", "", kDigest},
      {"test:5000/repo:tag@" + kDigest, "test:5000", "repo", "tag", kDigest},
      {"a/b", "a", "b", "", ""},
      {"sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", "", ""},
      {"sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux",
       "some-long-tag", ""},
      {"b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app",
       "test.example.com", ""},
      {"xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", ""},
      {"foo/foo_bar.com:8080", "foo", "foo_bar.com", "8080", ""},
      {"192.168.1.1/repo", "192.168.1.1", "repo", "", ""},
      {"192.168.1.1:5000/repo", "192.168.1.1:5000", "repo", "", ""},
      {"192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", ""},
      {"[2001:db8::1]/repo", "[2001:db8::1]", "repo", "", ""},
      {"[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", ""},
      {"[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo", "", ""},
      {"[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", "tag", ""},
      {"[2001:db8::1]:5000/repo@" + kDigest, "[2001:db8::1]:5000", "repo", "", kDigest},
      {"[2001:db8::1]:5000/repo:tag@" + kDigest, "[2001:db8::1]:5000", "repo", "tag", kDigest},
      {"[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", "", ""},
      {"[::1]:5000/repo", "[::1]:5000", "repo", "", ""},
      {"localhost/x", "localhost", "x", "", ""},
      {"127.0.0.1:5000/x", "127.0.0.1:5000", "x", "", ""},
      {"docker.io/library/ubuntu", "docker.io", "library/ubuntu", "", ""},
      {"Registry.Example.com/x:TAG", "Registry.Example.com", "x", "TAG", ""},
  };
  for (const Case& c : cases) {
    Reference r = MustParse(c.input);
    EXPECT_EQ(r.domain, c.domain) << c.input;
    EXPECT_EQ(r.path, c.path) << c.input;
    EXPECT_EQ(r.tag, c.tag) << c.input;
    EXPECT_EQ(r.digest.ToString(), c.digest) << c.input;
    EXPECT_EQ(r.String(), c.input);  // Nothing is defaulted.
  }
  // 127 "a/" then "a": 255 characters of name, right at the limit.
  std::string at_limit;
  for (int i = 0; i < 127; ++i) at_limit += "a/";
  at_limit += "a";
  Reference r = MustParse(at_limit + ":tag-puts-this-over-max");
  EXPECT_EQ(r.domain, "a");
  EXPECT_EQ(r.Repository(), at_limit);
  ExpectError(Reference::Parse("a/" + at_limit + ":tag"),
              {"", "repository name must not be more than 255 characters"});
  ExpectError(Reference::Parse("domain/" + std::string(256, 'a') + ":tag"),
              {"", "repository name must not be more than 255 characters"});
}

TEST(Parse, DistributionInvalidTable) {
  const std::vector<ErrorCase> cases = {
      {"", "repository name must have at least one component"},
      {":justtag", "repository name must have at least one component"},
      {"@" + kDigest, "repository name must have at least one component"},
      {"example.com/repo@sha256:ffffffffffffffffffffffffffffffffff",
       "invalid checksum digest length"},
      {"example.com/validname@invaliddigest:" + kHex, "unsupported digest algorithm"},
      {"test:5000/Uppercase/lowercase:tag", "repository name must be lowercase"},
      {"aa/asdf$$^/aa", "invalid repository path \"asdf$$^/aa\""},
      {"[2001:db8::1]", "hostname required"},
      {"[2001:db8::1]:5000", "hostname required"},
      {"[2001:db8::1]:tag", "hostname required"},
      {"[fe80::1%eth0]:5000/repo", "invalid registry host"},
      {"[fe80::1%@invalidzone]:5000/repo", "invalid"},
      {"[]:5000/repo", "invalid registry host"},
      {"[::1/repo", "invalid registry host"},
      {"host:/repo", "invalid registry host"},
      {"host:50a/repo", "invalid registry host"},
      {"ho_st/repo", "invalid registry host"},
      {"host./repo", "invalid registry host"},
      {"/repo", "invalid registry host \"\""},
      // Not fully qualified: fine for ParseNormalized, refused here.
      {"ubuntu", "hostname required (not a fully qualified reference)"},
      {"ubuntu:16.04", "hostname required"},
      {"test_com", "hostname required"},
      {"test.com:tag", "hostname required"},
      {"test.com:5000", "hostname required"},
      {"ubuntu@" + kDigest, "hostname required"},
      {"example.com/", "invalid repository path \"\""},
      {"example.com/a:", "empty tag"},
      {"example.com/a:" + std::string(129, 't'), "longer than 128 characters"},
      {"example.com/a:t@g", "invalid checksum digest format"},
  };
  for (const ErrorCase& c : cases) ExpectError(Reference::Parse(c.input), c);
}

TEST(Parse, TagGrammar) {
  EXPECT_TRUE(Reference::Parse("h.io/a:" + std::string(128, 'a')).ok());
  EXPECT_TRUE(Reference::Parse("h.io/a:_x").ok());
  EXPECT_TRUE(Reference::Parse("h.io/a:1.0-rc.1_B").ok());
  EXPECT_FALSE(Reference::Parse("h.io/a:.x").ok());
  EXPECT_FALSE(Reference::Parse("h.io/a:x+y").ok());
}

TEST(Reference, Equality) {
  EXPECT_EQ(MustNormalize("ubuntu"), MustNormalize("docker.io/library/ubuntu:latest"));
  EXPECT_NE(MustNormalize("ubuntu"), MustNormalize("ubuntu:22.04"));
  EXPECT_NE(MustNormalize("ubuntu@" + kDigest), MustNormalize("ubuntu:latest@" + kDigest));
}

}  // namespace
}  // namespace berth::reference
