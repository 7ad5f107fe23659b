#include "services/image/remotes/hosts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"

namespace berth::remotes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

void Mkdir(const std::string& path) { ASSERT_EQ(mkdir(path.c_str(), 0755), 0) << path; }

std::string MessageOf(const absl::Status& s) { return std::string(s.message()); }

TEST(DefaultHostTest, Defaults) {
  RegistryHost hub = DefaultHost("docker.io");
  EXPECT_EQ(hub.BaseUrl(), "https://registry-1.docker.io/v2");
  EXPECT_EQ(hub.capabilities, kAllCapabilities);
  EXPECT_FALSE(hub.tls_first);

  RegistryHost local = DefaultHost("localhost:5000");
  EXPECT_EQ(local.scheme, "http");
  EXPECT_TRUE(local.tls_first);
  EXPECT_TRUE(local.skip_verify);
  EXPECT_EQ(local.host, "localhost:5000");

  EXPECT_TRUE(DefaultHost("127.0.0.1:41234").tls_first);
  EXPECT_TRUE(DefaultHost("[::1]:5000").tls_first);

  RegistryHost other = DefaultHost("registry.example.com:5000");
  EXPECT_EQ(other.BaseUrl(), "https://registry.example.com:5000/v2");
  EXPECT_FALSE(other.tls_first);
  EXPECT_FALSE(other.skip_verify);

  HostsOptions plain;
  plain.plain_http = true;
  EXPECT_EQ(DefaultHost("registry.example.com", plain).BaseUrl(), "http://registry.example.com/v2");
}

TEST(IsLocalhostTest, Cases) {
  EXPECT_TRUE(IsLocalhost("localhost"));
  EXPECT_TRUE(IsLocalhost("localhost:5000"));
  EXPECT_TRUE(IsLocalhost("127.0.0.1"));
  EXPECT_TRUE(IsLocalhost("127.1.2.3:80"));
  EXPECT_TRUE(IsLocalhost("[::1]:5000"));
  EXPECT_TRUE(IsLocalhost("::1"));
  EXPECT_FALSE(IsLocalhost("127.0.0.1.example.com"));
  EXPECT_FALSE(IsLocalhost("128.0.0.1"));
  EXPECT_FALSE(IsLocalhost("localhost.example.com"));
  EXPECT_FALSE(IsLocalhost("127.0.0.256"));
  EXPECT_FALSE(IsLocalhost("[::2]:5000"));
}

TEST(ParseHostsTomlTest, MirrorsInFileOrderThenServer) {
  // Keys sorted would put "alpha" first: the file order must win.
  const char* text = R"(
server = "https://registry.example.com"

[host."https://zeta.mirror.example.com"]
  capabilities = ["pull"]

[host."http://alpha.mirror.example.com:5000/prefix"]
  capabilities = ["pull", "resolve"]
  skip_verify = true
  [host."http://alpha.mirror.example.com:5000/prefix".header]
    x-one = "1"
    x-many = ["a", "b"]
)";
  ASSERT_OK_AND_ASSIGN(auto hosts, ParseHostsToml(text, "registry.example.com", "/etc/certs.d/x"));
  ASSERT_EQ(hosts.size(), 3u);
  EXPECT_EQ(hosts[0].BaseUrl(), "https://zeta.mirror.example.com/v2");
  EXPECT_EQ(hosts[0].capabilities, kCapabilityPull);
  EXPECT_EQ(hosts[1].BaseUrl(), "http://alpha.mirror.example.com:5000/prefix/v2");
  EXPECT_EQ(hosts[1].capabilities, kCapabilityPull | kCapabilityResolve);
  EXPECT_TRUE(hosts[1].skip_verify);
  EXPECT_TRUE(hosts[1].tls_first);  // http with a TLS option: TLS first, then plain
  EXPECT_THAT(hosts[1].headers,
              ElementsAre(Pair("x-one", "1"), Pair("x-many", "a"), Pair("x-many", "b")));
  EXPECT_EQ(hosts[2].BaseUrl(), "https://registry.example.com/v2");
  EXPECT_EQ(hosts[2].capabilities, kAllCapabilities);
}

TEST(ParseHostsTomlTest, DefaultServerKeepsTopLevelSettings) {
  const char* text = R"(
ca = "ca.crt"
skip_verify = false
[header]
  authorization-proxy = "x"
[host."https://mirror.example.com"]
)";
  ASSERT_OK_AND_ASSIGN(auto hosts, ParseHostsToml(text, "docker.io", "/etc/certs.d/docker.io"));
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0].BaseUrl(), "https://mirror.example.com/v2");
  EXPECT_EQ(hosts[0].capabilities, kAllCapabilities);
  EXPECT_TRUE(hosts[0].ca_files.empty());
  EXPECT_EQ(hosts[1].BaseUrl(), "https://registry-1.docker.io/v2");
  EXPECT_THAT(hosts[1].ca_files, ElementsAre("/etc/certs.d/docker.io/ca.crt"));
  EXPECT_THAT(hosts[1].headers, ElementsAre(Pair("authorization-proxy", "x")));
}

TEST(ParseHostsTomlTest, PathsSchemesAndOverride) {
  const char* text = R"(
server = "registry.example.com/api/"
[host."https://a.example.com/v2"]
[host."https://b.example.com/custom/root"]
  override_path = true
[host."https://c.example.com/x/../y//"]
)";
  ASSERT_OK_AND_ASSIGN(auto hosts, ParseHostsToml(text, "registry.example.com", "/d"));
  ASSERT_EQ(hosts.size(), 4u);
  EXPECT_EQ(hosts[0].BaseUrl(), "https://a.example.com/v2");
  EXPECT_EQ(hosts[1].BaseUrl(), "https://b.example.com/custom/root");
  EXPECT_EQ(hosts[2].BaseUrl(), "https://c.example.com/y/v2");
  EXPECT_EQ(hosts[3].BaseUrl(), "https://registry.example.com/api/v2");
}

TEST(ParseHostsTomlTest, CaAndClientForms) {
  const char* text = R"(
[host."https://a.example.com"]
  ca = ["a.crt", "/abs/b.crt"]
  client = "both.pem"
[host."https://b.example.com"]
  client = ["one.pem", ["c.cert", "c.key"], ["d.pem", ""]]
[host."http://c.example.com"]
  ca = "/abs/c.crt"
)";
  ASSERT_OK_AND_ASSIGN(auto hosts, ParseHostsToml(text, "x.io", "/etc/certs.d/x.io"));
  ASSERT_EQ(hosts.size(), 4u);
  EXPECT_THAT(hosts[0].ca_files, ElementsAre("/etc/certs.d/x.io/a.crt", "/abs/b.crt"));
  ASSERT_EQ(hosts[0].client_certificates.size(), 1u);
  EXPECT_EQ(hosts[0].client_certificates[0].cert, "/etc/certs.d/x.io/both.pem");
  EXPECT_EQ(hosts[0].client_certificates[0].key, "");
  EXPECT_THAT(hosts[1].client_certificates,
              ElementsAre(ClientCertificate{"/etc/certs.d/x.io/one.pem", ""},
                          ClientCertificate{"/etc/certs.d/x.io/c.cert", "/etc/certs.d/x.io/c.key"},
                          ClientCertificate{"/etc/certs.d/x.io/d.pem", ""}));
  EXPECT_EQ(hosts[2].scheme, "http");
  EXPECT_TRUE(hosts[2].tls_first);
  EXPECT_FALSE(hosts[2].skip_verify);
  EXPECT_EQ(hosts[3].BaseUrl(), "https://x.io/v2");
}

TEST(ParseHostsTomlTest, DialTimeout) {
  ASSERT_OK_AND_ASSIGN(auto hosts, ParseHostsToml("dial_timeout = \"1m30s\"\n[host.\"https://m\"]\n"
                                                  "dial_timeout = \"250ms\"\n",
                                                  "x.io", "/d"));
  EXPECT_EQ(hosts[0].dial_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(hosts[1].dial_timeout, std::chrono::milliseconds(90000));
}

TEST(ParseHostsTomlTest, Errors) {
  struct Case {
    const char* text;
    const char* want;
  };
  std::vector<Case> cases = {
      {"[host.\"https://m\"]\ncapabilities = [\"pull\", \"fetch\"]\n",
       "host.\"https://m\".capabilities[1]: unknown capability \"fetch\""},
      {"[host.\"https://m\"]\ncapabilities = \"pull\"\n", "capabilities: must be an array"},
      {"[host.\"https://m\"]\nskip_verify = \"yes\"\n", "skip_verify: must be a boolean"},
      {"[host.\"https://m\"]\nca = 5\n", "ca: must be a string or an array of strings"},
      {"[host.\"https://m\"]\nca = [\"a\", 1]\n", "ca[1]: must be a string"},
      {"[host.\"https://m\"]\nclient = [[\"a\", \"b\", \"c\"]]\n", "invalid client cert pair"},
      {"[host.\"https://m\"]\nclient = 3\n", "client: must be a string"},
      {"[host.\"https://m\"]\ndial_timeout = \"soon\"\n", "dial_timeout: invalid duration"},
      {"[host.\"https://m\"]\n[host.\"https://m\".header]\nx = 1\n", "header.x: must be a string"},
      {"[host.\"https://m\".host.\"https://n\"]\n", "nested host tables are not allowed"},
      {"[host.\"ftp://m\"]\n", "unsupported scheme \"ftp\""},
      {"server = \"https://\"\n", "invalid host"},
      {"server = 5\n", "server: must be a string"},
      {"host = \"x\"\n", "host: must be a table"},
      {"[host.\"https://m\"]\ncapabilities = [\n", "line "},
  };
  for (const Case& c : cases) {
    auto hosts = ParseHostsToml(c.text, "x.io", "/d", {}, "/d/hosts.toml");
    ASSERT_FALSE(hosts.ok()) << c.text;
    EXPECT_TRUE(IsInvalidArgument(hosts.status())) << c.text;
    EXPECT_THAT(MessageOf(hosts.status()), HasSubstr(c.want)) << c.text;
    EXPECT_THAT(MessageOf(hosts.status()), HasSubstr("/d/hosts.toml")) << c.text;
  }
}

TEST(ParseHostsTomlTest, UnknownKeysAreIgnoredAsContainerdDoes) {
  ASSERT_OK_AND_ASSIGN(
      auto hosts,
      ParseHostsToml("future_key = 1\n[host.\"https://m\"]\nproxy = \"x\"\n", "x.io", "/d"));
  EXPECT_EQ(hosts.size(), 2u);
}

TEST(ConfigureHostsTest, NoConfigGivesTheDefault) {
  ASSERT_OK_AND_ASSIGN(auto hosts, ConfigureHosts("docker.io", {}));
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].host, "registry-1.docker.io");
  testing::TempDir empty("hosts");
  HostsOptions options;
  options.config_paths = {empty.path()};
  ASSERT_OK_AND_ASSIGN(hosts, ConfigureHosts("r.example.com:5000", options));
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].BaseUrl(), "https://r.example.com:5000/v2");
}

TEST(ConfigureHostsTest, DirectoryLookupOrder) {
  testing::TempDir first("hosts");
  testing::TempDir second("hosts");
  HostsOptions options;
  options.config_paths = {first.path(), second.path()};

  // Only _default in the second root.
  Mkdir(second.Path("_default"));
  Write(second.Path("_default/hosts.toml"), "[host.\"https://default.mirror\"]\n");
  ASSERT_OK_AND_ASSIGN(auto hosts, ConfigureHosts("r.example.com:5000", options));
  EXPECT_EQ(hosts[0].host, "default.mirror");

  // The verbatim name in the first root wins over the second root.
  Mkdir(first.Path("r.example.com:5000"));
  Write(first.Path("r.example.com:5000/hosts.toml"), "[host.\"https://verbatim.mirror\"]\n");
  ASSERT_OK_AND_ASSIGN(hosts, ConfigureHosts("r.example.com:5000", options));
  EXPECT_EQ(hosts[0].host, "verbatim.mirror");

  // host_port_ wins over host:port.
  Mkdir(first.Path("r.example.com_5000_"));
  Write(first.Path("r.example.com_5000_/hosts.toml"), "[host.\"https://underscore.mirror\"]\n");
  ASSERT_OK_AND_ASSIGN(hosts, ConfigureHosts("r.example.com:5000", options));
  EXPECT_EQ(hosts[0].host, "underscore.mirror");
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[1].BaseUrl(), "https://r.example.com:5000/v2");

  // _default in the first root serves other hosts.
  Mkdir(first.Path("_default"));
  Write(first.Path("_default/hosts.toml"), "server = \"https://only.example.com\"\n");
  ASSERT_OK_AND_ASSIGN(hosts, ConfigureHosts("q.example.com", options));
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].host, "only.example.com");
}

TEST(ConfigureHostsTest, BrokenFileIsAnError) {
  testing::TempDir root("hosts");
  Mkdir(root.Path("x.io"));
  Write(root.Path("x.io/hosts.toml"), "[host.\"https://m\"\n");
  HostsOptions options;
  options.config_paths = {root.path()};
  auto hosts = ConfigureHosts("x.io", options);
  ASSERT_FALSE(hosts.ok());
  EXPECT_THAT(MessageOf(hosts.status()), HasSubstr(root.Path("x.io/hosts.toml")));
}

TEST(ConfigureHostsTest, DockerCertsDirectory) {
  testing::TempDir root("hosts");
  Mkdir(root.Path("x.io"));
  Write(root.Path("x.io/ca.crt"), "-");
  Write(root.Path("x.io/client.cert"), "-");
  Write(root.Path("x.io/client.key"), "-");
  HostsOptions options;
  options.config_paths = {root.path()};
  ASSERT_OK_AND_ASSIGN(auto hosts, ConfigureHosts("x.io", options));
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].BaseUrl(), "https://x.io/v2");
  EXPECT_THAT(hosts[0].ca_files, ElementsAre(root.Path("x.io/ca.crt")));
  EXPECT_THAT(
      hosts[0].client_certificates,
      ElementsAre(ClientCertificate{root.Path("x.io/client.cert"), root.Path("x.io/client.key")}));
  Write(root.Path("x.io/lonely.cert"), "-");
  auto broken = ConfigureHosts("x.io", options);
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(MessageOf(broken.status()), HasSubstr("missing key \"lonely.key\""));
}

TEST(ConfigureHostsTest, RefusesPathsAsHosts) {
  EXPECT_TRUE(IsInvalidArgument(ConfigureHosts("../etc", {}).status()));
  EXPECT_TRUE(IsInvalidArgument(ConfigureHosts("", {}).status()));
  EXPECT_TRUE(IsInvalidArgument(ConfigureHosts("..", {}).status()));
}

TEST(HostsHelpersTest, SplitConfigPath) {
  EXPECT_THAT(SplitConfigPath("/etc/containerd/certs.d:/etc/docker/certs.d"),
              ElementsAre("/etc/containerd/certs.d", "/etc/docker/certs.d"));
  EXPECT_THAT(SplitConfigPath("::/a::"), ElementsAre("/a"));
  EXPECT_TRUE(SplitConfigPath("").empty());
}

TEST(HostsHelpersTest, ParseGoDuration) {
  EXPECT_EQ(*ParseGoDuration("1s"), std::chrono::milliseconds(1000));
  EXPECT_EQ(*ParseGoDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(*ParseGoDuration("1h2m3s"), std::chrono::milliseconds(3723000));
  EXPECT_EQ(*ParseGoDuration("1.5s"), std::chrono::milliseconds(1500));
  EXPECT_EQ(*ParseGoDuration("0"), std::chrono::milliseconds(0));
  EXPECT_EQ(*ParseGoDuration("2000us"), std::chrono::milliseconds(2));
  for (const char* bad : {"", "1", "s", "1x", "-1s", "1..2s", "1s2", "."}) {
    EXPECT_TRUE(IsInvalidArgument(ParseGoDuration(bad).status())) << bad;
  }
}

}  // namespace
}  // namespace berth::remotes
