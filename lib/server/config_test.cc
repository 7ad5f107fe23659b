#include "lib/server/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "lib/testing/temp_dir.h"

namespace berth::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr char kFile[] = "/etc/berth/config.toml";

ConfigSection SectionOf(std::string_view text, const std::string& name) {
  absl::StatusOr<ConfigFile> file = ConfigFile::Parse(text, kFile);
  EXPECT_TRUE(file.ok()) << file.status();
  absl::StatusOr<ConfigSection> section = file->Section(name);
  EXPECT_TRUE(section.ok()) << section.status();
  return std::move(*section);
}

// Runs ParseServerConfig and the unknown-key check on `[content]` of `text`.
absl::StatusOr<ServerConfig> ParseContent(std::string_view text) {
  ConfigSection s = SectionOf(text, "content");
  ASSIGN_OR_RETURN(ServerConfig c, ParseServerConfig(s));
  RETURN_IF_ERROR(s.CheckUnknownKeys());
  return c;
}

void ExpectInvalid(const absl::Status& s, std::string_view message) {
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(std::string(s.message()), message);
}

// A temporary directory (lib/testing) with a helper to write files into it.
class TempDir {
 public:
  std::string Write(const std::string& name, std::string_view text) {
    std::string p = dir_.Path(name);
    std::ofstream(p) << text;
    return p;
  }
  const std::string& path() const { return dir_.path(); }

 private:
  testing::TempDir dir_{"cfg"};
};

// ---- typed getters ---------------------------------------------------------------------------

TEST(ConfigSection, GettersReadValues) {
  ConfigSection s = SectionOf(R"(
[content]
name = "blobs"
workers = 8
sync = true
interval = "1m30s"
mirrors = ["a", "b"]
)",
                              "content");
  EXPECT_TRUE(s.present());
  EXPECT_EQ(*s.GetString("name"), "blobs");
  EXPECT_EQ(*s.GetInt("workers", 1), 8);
  EXPECT_EQ(*s.GetBool("sync", false), true);
  EXPECT_EQ(*s.GetDuration("interval", seconds(1)), seconds(90));
  EXPECT_EQ(*s.GetStringArray("mirrors"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(s.CheckUnknownKeys().ok());
}

TEST(ConfigSection, AbsentKeysGiveDefaults) {
  ConfigSection s = SectionOf("[content]\n", "content");
  EXPECT_EQ(*s.GetString("name", "d"), "d");
  EXPECT_EQ(*s.GetInt("workers", 3), 3);
  EXPECT_EQ(*s.GetBool("sync", true), true);
  EXPECT_EQ(*s.GetDuration("interval", seconds(7)), seconds(7));
  EXPECT_EQ(*s.GetStringArray("mirrors", {"x"}), (std::vector<std::string>{"x"}));
  EXPECT_FALSE((*s.GetTable("tls"))->present());
}

TEST(ConfigSection, MissingSectionIsEmptyAndNotPresent) {
  ConfigSection s = SectionOf("[gateway]\naddress = \"tcp://h:1\"\n", "content");
  EXPECT_FALSE(s.present());
  EXPECT_EQ(*s.GetString("address", "d"), "d");
  EXPECT_TRUE(s.CheckUnknownKeys().ok());
}

TEST(ConfigSection, SectionThatIsNotATable) {
  absl::StatusOr<ConfigFile> file = ConfigFile::Parse("content = 3\n", kFile);
  ASSERT_TRUE(file.ok());
  ExpectInvalid(file->Section("content").status(),
                "config \"/etc/berth/config.toml\": content: expected a table, got integer");
}

TEST(ConfigSection, WrongTypesNameFileSectionAndKey) {
  ConfigSection s = SectionOf(R"(
[content]
root = 3
workers = "8"
sync = "yes"
interval = 30
mirrors = "a"
nested = [1]
tls = "on"
)",
                              "content");
  ExpectInvalid(
      s.GetString("root").status(),
      "config \"/etc/berth/config.toml\": [content] root: expected a string, got integer");
  ExpectInvalid(s.GetInt("workers", 0).status(),
                "config \"/etc/berth/config.toml\": [content] workers: expected an integer, got "
                "string");
  ExpectInvalid(
      s.GetBool("sync", false).status(),
      "config \"/etc/berth/config.toml\": [content] sync: expected a boolean, got string");
  ExpectInvalid(s.GetDuration("interval", seconds(1)).status(),
                "config \"/etc/berth/config.toml\": [content] interval: expected a duration string "
                "such as \"30s\", got integer");
  ExpectInvalid(s.GetStringArray("mirrors").status(),
                "config \"/etc/berth/config.toml\": [content] mirrors: expected an array of "
                "strings, got string");
  ExpectInvalid(s.GetStringArray("nested").status(),
                "config \"/etc/berth/config.toml\": [content] nested[0]: expected a string, got "
                "integer");
  ExpectInvalid(s.GetTable("tls").status(),
                "config \"/etc/berth/config.toml\": [content] tls: expected a table, got string");
}

TEST(ConfigSection, OtherTomlTypesAreNamed) {
  ConfigSection s = SectionOf(R"(
[content]
a = 1.5
b = 1979-05-27
c = 07:32:00
d = 1979-05-27T07:32:00Z
e = []
f = {}
g = true
)",
                              "content");
  EXPECT_NE(s.GetString("a").status().message().find("got float"), absl::string_view::npos);
  EXPECT_NE(s.GetString("b").status().message().find("got date"), absl::string_view::npos);
  EXPECT_NE(s.GetString("c").status().message().find("got time"), absl::string_view::npos);
  EXPECT_NE(s.GetString("d").status().message().find("got date-time"), absl::string_view::npos);
  EXPECT_NE(s.GetString("e").status().message().find("got array"), absl::string_view::npos);
  EXPECT_NE(s.GetString("f").status().message().find("got table"), absl::string_view::npos);
  EXPECT_NE(s.GetString("g").status().message().find("got boolean"), absl::string_view::npos);
}

TEST(ConfigSection, IntRange) {
  ConfigSection s = SectionOf("[content]\nworkers = 70000\n", "content");
  ExpectInvalid(s.GetInt("workers", 1, 1, 65535).status(),
                "config \"/etc/berth/config.toml\": [content] workers: 70000 is out of range [1, "
                "65535]");
}

TEST(ConfigSection, BadDurationsNameTheKey) {
  ConfigSection s = SectionOf(R"(
[content]
a = "30x"
b = "30"
c = "-1s"
d = ""
e = "s"
f = "1.5.2s"
)",
                              "content");
  ExpectInvalid(s.GetDuration("a", seconds(1)).status(),
                "config \"/etc/berth/config.toml\": [content] a: invalid duration \"30x\": unknown "
                "unit \"x\" (use ns, us, ms, s, m or h)");
  ExpectInvalid(s.GetDuration("b", seconds(1)).status(),
                "config \"/etc/berth/config.toml\": [content] b: invalid duration \"30\": missing "
                "unit (use ns, us, ms, s, m or h)");
  ExpectInvalid(s.GetDuration("c", seconds(1)).status(),
                "config \"/etc/berth/config.toml\": [content] c: invalid duration \"-1s\": must "
                "not be negative");
  ExpectInvalid(s.GetDuration("d", seconds(1)).status(),
                "config \"/etc/berth/config.toml\": [content] d: invalid duration \"\": empty");
  EXPECT_TRUE(absl::IsInvalidArgument(s.GetDuration("e", seconds(1)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(s.GetDuration("f", seconds(1)).status()));
}

TEST(ConfigSection, UnknownKeysAreErrors) {
  ConfigSection s = SectionOf("[content]\nroot = \"/r\"\nroots = \"/x\"\n", "content");
  ASSERT_TRUE(s.GetString("root").ok());
  ExpectInvalid(s.CheckUnknownKeys(),
                "config \"/etc/berth/config.toml\": [content] roots: unknown key");
}

TEST(ConfigSection, SeveralUnknownKeysAreAllNamed) {
  ConfigSection s = SectionOf("[content]\nb = 1\na = 2\nc = 3\n", "content");
  ASSERT_TRUE(s.GetInt("c", 0).ok());
  ExpectInvalid(s.CheckUnknownKeys(),
                "config \"/etc/berth/config.toml\": [content] a: unknown key (also unknown: b)");
}

TEST(ConfigSection, UnknownKeysInSubTables) {
  ConfigSection s = SectionOf("[content.tls]\ncert = \"/c\"\nkee = \"/k\"\n", "content");
  ConfigSection* tls = *s.GetTable("tls");
  ASSERT_TRUE(tls->GetString("cert").ok());
  ExpectInvalid(s.CheckUnknownKeys(),
                "config \"/etc/berth/config.toml\": [content.tls] kee: unknown key");
}

TEST(ConfigSection, UnreadSubTableIsAnUnknownKey) {
  ConfigSection s = SectionOf("[content.extra]\nx = 1\n", "content");
  ExpectInvalid(s.CheckUnknownKeys(),
                "config \"/etc/berth/config.toml\": [content] extra: unknown key");
}

TEST(ConfigSection, MapLikeTablesAndQuotedNames) {
  ConfigSection s = SectionOf(R"(
[image.registry."docker.io"]
mirrors = ["https://m"]
[image.registry."quay.io"]
mirrors = 1
)",
                              "image");
  ConfigSection* registry = *s.GetTable("registry");
  EXPECT_EQ(registry->Keys(), (std::vector<std::string>{"docker.io", "quay.io"}));
  ConfigSection* docker = *registry->GetTable("docker.io");
  EXPECT_EQ(docker->name(), "image.registry.\"docker.io\"");
  EXPECT_EQ(*docker->GetStringArray("mirrors"), (std::vector<std::string>{"https://m"}));
  ConfigSection* quay = *registry->GetTable("quay.io");
  ExpectInvalid(quay->GetStringArray("mirrors").status(),
                "config \"/etc/berth/config.toml\": [image.registry.\"quay.io\"] mirrors: "
                "expected an array of strings, got integer");
  EXPECT_TRUE(s.CheckUnknownKeys().ok());
}

TEST(ConfigSection, HasAndMarkKnown) {
  ConfigSection s = SectionOf("[content]\nplugin = 1\n", "content");
  EXPECT_TRUE(s.Has("plugin"));
  EXPECT_FALSE(s.Has("other"));
  EXPECT_FALSE(s.CheckUnknownKeys().ok());
  s.MarkKnown("plugin");
  EXPECT_TRUE(s.CheckUnknownKeys().ok());
}

TEST(ConfigSection, InvalidValueUsesTheCommonFormat) {
  ConfigSection s = SectionOf("[content]\n", "content");
  ExpectInvalid(s.InvalidValue("workers", "must be even"),
                "config \"/etc/berth/config.toml\": [content] workers: must be even");
}

// ---- durations ---------------------------------------------------------------------------------

TEST(ParseDuration, GoSyntax) {
  EXPECT_EQ(*ParseDuration("30s"), seconds(30));
  EXPECT_EQ(*ParseDuration("100ms"), milliseconds(100));
  EXPECT_EQ(*ParseDuration("2m"), seconds(120));
  EXPECT_EQ(*ParseDuration("1h30m"), seconds(5400));
  EXPECT_EQ(*ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseDuration(".5s"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("250us"), nanoseconds(250000));
  EXPECT_EQ(*ParseDuration("250\xC2\xB5s"), nanoseconds(250000));
  EXPECT_EQ(*ParseDuration("7ns"), nanoseconds(7));
  EXPECT_EQ(*ParseDuration("0"), nanoseconds(0));
  EXPECT_EQ(*ParseDuration("0s"), nanoseconds(0));
}

TEST(ParseDuration, Rejects) {
  for (const char* bad : {"", "s", "10", "10 s", "1.s.", "-5s", "+5s", "5sec", "1e3s",
                          "99999999999h", "inf", "1.2.3s"}) {
    absl::StatusOr<nanoseconds> d = ParseDuration(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(d.status())) << bad << " -> " << d.status();
  }
}

// ---- files -------------------------------------------------------------------------------------

TEST(ConfigFile, MissingFileIsNotFoundNamingThePath) {
  TempDir dir;
  const std::string path = dir.path() + "/nope.toml";
  absl::StatusOr<ConfigFile> file = ConfigFile::Load(path);
  EXPECT_TRUE(absl::IsNotFound(file.status())) << file.status();
  EXPECT_EQ(std::string(file.status().message()),
            "config \"" + path + "\": No such file or directory");
}

TEST(ConfigFile, UnreadableFileIsAnError) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads any file";
  TempDir dir;
  const std::string path = dir.Write("secret.toml", "[content]\n");
  ASSERT_EQ(chmod(path.c_str(), 0), 0);
  EXPECT_TRUE(absl::IsPermissionDenied(ConfigFile::Load(path).status()));
}

TEST(ConfigFile, DirectoryIsAnError) {
  TempDir dir;
  EXPECT_FALSE(ConfigFile::Load(dir.path()).ok());
}

TEST(ConfigFile, SyntaxErrorNamesLineAndColumn) {
  TempDir dir;
  const std::string path = dir.Write("bad.toml", "[content]\nroot = \"/r\"\naddress = \n");
  absl::StatusOr<ConfigFile> file = ConfigFile::Load(path);
  ASSERT_TRUE(absl::IsInvalidArgument(file.status())) << file.status();
  const std::string message(file.status().message());
  EXPECT_EQ(message.rfind("config \"" + path + "\": line 3, column ", 0), 0u) << message;
}

TEST(ConfigFile, DuplicateKeyIsASyntaxError) {
  absl::StatusOr<ConfigFile> file = ConfigFile::Parse("[a]\nx = 1\nx = 2\n", kFile);
  ASSERT_TRUE(absl::IsInvalidArgument(file.status()));
  EXPECT_NE(file.status().message().find("line 3"), absl::string_view::npos) << file.status();
}

TEST(ConfigFile, SectionsOutliveTheFile) {
  absl::StatusOr<ConfigSection> s = [] {
    absl::StatusOr<ConfigFile> file = ConfigFile::Parse("[content]\nroot = \"/r\"\n", kFile);
    return file->Section("content");
  }();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->GetString("root"), "/r");
}

TEST(LoadSection, RunsTheParserAndChecksUnknownKeys) {
  TempDir dir;
  const std::string path = dir.Write("config.toml", R"(
[content]
address = "tcp://127.0.0.1:0"
gc_interval = "5m"
[gateway]
anything = 1
)");
  struct ContentConfig {
    ServerConfig server;
    nanoseconds gc_interval = seconds(60);
  };
  std::function<absl::StatusOr<ContentConfig>(ConfigSection&)> parse =
      [](ConfigSection& s) -> absl::StatusOr<ContentConfig> {
    ContentConfig c;
    ASSIGN_OR_RETURN(c.server, ParseServerConfig(s));
    ASSIGN_OR_RETURN(c.gc_interval, s.GetDuration("gc_interval", c.gc_interval));
    return c;
  };
  absl::StatusOr<ContentConfig> c = LoadSection(path, "content", parse);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.address, "tcp://127.0.0.1:0");
  EXPECT_EQ(c->gc_interval, seconds(300));

  const std::string typo = dir.Write("typo.toml", "[content]\ngc_intervall = \"5m\"\n");
  ExpectInvalid(LoadSection(typo, "content", parse).status(),
                "config \"" + typo + "\": [content] gc_intervall: unknown key");

  EXPECT_TRUE(absl::IsNotFound(LoadSection(dir.path() + "/none", "content", parse).status()));
}

// ---- listen addresses ---------------------------------------------------------------------------

TEST(ParseListenAddress, Unix) {
  absl::StatusOr<ListenAddress> a = ParseListenAddress("unix:///run/berth/content.sock");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, ListenAddress::Kind::kUnix);
  EXPECT_EQ(a->path, "/run/berth/content.sock");
  EXPECT_EQ(a->GrpcTarget(), "unix:/run/berth/content.sock");
  EXPECT_EQ(a->ToString(), "unix:///run/berth/content.sock");
}

TEST(ParseListenAddress, Tcp) {
  absl::StatusOr<ListenAddress> a = ParseListenAddress("tcp://127.0.0.1:0");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, ListenAddress::Kind::kTcp);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  EXPECT_EQ(a->GrpcTarget(), "127.0.0.1:0");

  a = ParseListenAddress("tcp://[::1]:65535");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 65535);
  EXPECT_EQ(a->GrpcTarget(), "[::1]:65535");
  EXPECT_EQ(a->ToString(), "tcp://[::1]:65535");

  a = ParseListenAddress("tcp://berth-content.internal:7000");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "berth-content.internal");
}

TEST(ParseListenAddress, Rejects) {
  const std::string long_path = "unix:///" + std::string(107, 'a');
  for (const std::string& bad :
       {std::string(""), std::string("/run/berth/x.sock"), std::string("unix://"),
        std::string("unix://relative.sock"), std::string("unix:relative.sock"),
        std::string("unix:@abstract"), std::string("unix-abstract:name"), long_path,
        std::string("tcp://"), std::string("tcp://host"), std::string("tcp://:80"),
        std::string("tcp://host:"), std::string("tcp://host:65536"), std::string("tcp://host:12x"),
        std::string("tcp://host:80/path"), std::string("tcp://::1:80"), std::string("tcp://[::1"),
        std::string("tcp://[::1]"), std::string("http://host:80")}) {
    absl::StatusOr<ListenAddress> a = ParseListenAddress(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(a.status())) << bad << " -> " << a.status();
  }
  EXPECT_EQ(ParseListenAddress("unix:@x").status().message(),
            "listen address \"unix:@x\": abstract unix sockets are not supported (use "
            "unix:///path)");
  // 107 bytes is the longest path that fits sockaddr_un.
  EXPECT_TRUE(ParseListenAddress("unix:///" + std::string(106, 'a')).ok());
}

// ---- ServerConfig ------------------------------------------------------------------------------

TEST(ServerConfig, DefaultsCarryTheServiceName) {
  absl::StatusOr<ServerConfig> c = ParseContent("");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->address, "unix:///run/berth/content.sock");
  EXPECT_EQ(c->root, "/var/lib/berth/content");
  EXPECT_EQ(c->state, "/run/berth/content");
  EXPECT_EQ(c->log_level, "info");
  EXPECT_FALSE(c->tls.has_value());
  EXPECT_EQ(c->metrics_address, "");
  EXPECT_EQ(c->ready_file, "");
  EXPECT_EQ(c->shutdown_timeout, seconds(10));
}

TEST(ServerConfig, ReadsEverySharedKey) {
  absl::StatusOr<ServerConfig> c = ParseContent(R"(
[content]
address = "tcp://0.0.0.0:7001"
metrics_address = "127.0.0.1:9101"
log_level = "debug"
root = "/srv/berth/content"
state = "/run/b/content"
ready_file = "/run/b/content.ready"
shutdown_timeout = "3s"
[content.tls]
cert = "/etc/berth/tls/content.pem"
key = "/etc/berth/tls/content-key.pem"
ca = "/etc/berth/tls/ca.pem"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->address, "tcp://0.0.0.0:7001");
  EXPECT_EQ(c->metrics_address, "127.0.0.1:9101");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->root, "/srv/berth/content");
  EXPECT_EQ(c->state, "/run/b/content");
  EXPECT_EQ(c->ready_file, "/run/b/content.ready");
  EXPECT_EQ(c->shutdown_timeout, seconds(3));
  ASSERT_TRUE(c->tls.has_value());
  EXPECT_EQ(c->tls->cert, "/etc/berth/tls/content.pem");
  EXPECT_EQ(c->tls->key, "/etc/berth/tls/content-key.pem");
  EXPECT_EQ(c->tls->ca, "/etc/berth/tls/ca.pem");
}

TEST(ServerConfig, InlineTlsTableWithoutCa) {
  absl::StatusOr<ServerConfig> c = ParseContent(
      "[content]\naddress = \"tcp://h:1\"\ntls = { cert = \"/c.pem\", key = \"/k.pem\" }\n");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->tls.has_value());
  EXPECT_EQ(c->tls->ca, "");
}

TEST(ServerConfig, BadValuesNameTheKey) {
  const std::string prefix = "config \"/etc/berth/config.toml\": ";
  ExpectInvalid(ParseContent("[content]\naddress = 5\n").status(),
                prefix + "[content] address: expected a string, got integer");
  ExpectInvalid(ParseContent("[content]\naddress = \"unix://rel.sock\"\n").status(),
                prefix +
                    "[content] address: listen address \"unix://rel.sock\": the socket path must "
                    "be absolute (unix:///run/berth/<service>.sock)");
  ExpectInvalid(ParseContent("[content.tls]\ncert = \"/c\"\n").status(),
                prefix + "[content.tls] key: required when the tls table is present");
  ExpectInvalid(ParseContent("[content.tls]\nkey = \"/k\"\n").status(),
                prefix + "[content.tls] cert: required when the tls table is present");
  ExpectInvalid(ParseContent("[content.tls]\ncert = \"c.pem\"\nkey = \"/k\"\n").status(),
                prefix + "[content.tls] cert: \"c.pem\" is not an absolute path");
  ExpectInvalid(ParseContent("[content.tls]\ncert = \"/c\"\nkey = \"/k\"\nca = 1\n").status(),
                prefix + "[content.tls] ca: expected a string, got integer");
  ExpectInvalid(
      ParseContent("[content.tls]\ncert = \"/c\"\nkey = \"/k\"\nclient_ca = \"/x\"\n").status(),
      prefix + "[content.tls] client_ca: unknown key");
  ExpectInvalid(ParseContent("[content]\ntls = true\n").status(),
                prefix + "[content] tls: expected a table, got boolean");
  ExpectInvalid(ParseContent("[content]\nmetrics_address = \"localhost\"\n").status(),
                prefix + "[content] metrics_address: \"localhost\" must be host:port");
  ExpectInvalid(ParseContent("[content]\nlog_level = \"loud\"\n").status(),
                prefix +
                    "[content] log_level: log level \"loud\": must be one of trace, debug, info, "
                    "warn, error, critical, off");
  ExpectInvalid(ParseContent("[content]\nroot = \"var/lib\"\n").status(),
                prefix + "[content] root: \"var/lib\" is not an absolute path");
  ExpectInvalid(ParseContent("[content]\nstate = \"\"\n").status(),
                prefix + "[content] state: \"\" is not an absolute path");
  ExpectInvalid(ParseContent("[content]\nready_file = \"ready\"\n").status(),
                prefix + "[content] ready_file: \"ready\" is not an absolute path");
  ExpectInvalid(ParseContent("[content]\nshutdown_timeout = \"0s\"\n").status(),
                prefix + "[content] shutdown_timeout: must be greater than 0");
  ExpectInvalid(ParseContent("[content]\nshutdown_timeout = \"soon\"\n").status(),
                prefix +
                    "[content] shutdown_timeout: invalid duration \"soon\": expected a number at "
                    "\"soon\"");
  ExpectInvalid(ParseContent("[content]\nadress = \"tcp://h:1\"\n").status(),
                prefix + "[content] adress: unknown key");
}

}  // namespace
}  // namespace berth::server
