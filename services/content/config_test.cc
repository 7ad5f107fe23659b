// The [content] section: defaults, overrides and the errors that name the key.
#include "services/content/config.h"

#include <gtest/gtest.h>

#include <functional>

#include "lib/testing/status_matchers.h"

namespace berth::content {
namespace {

absl::StatusOr<ContentConfig> Parse(const std::string& text) {
  absl::StatusOr<server::ConfigFile> file =
      server::ConfigFile::Parse(text, "/etc/berth/config.toml");
  if (!file.ok()) return file.status();
  absl::StatusOr<server::ConfigSection> section = file->Section("content");
  if (!section.ok()) return section.status();
  absl::StatusOr<ContentConfig> config = ParseContentConfig(*section);
  if (!config.ok()) return config.status();
  if (absl::Status s = section->CheckUnknownKeys(); !s.ok()) return s;
  return config;
}

TEST(ContentConfigTest, Defaults) {
  ASSERT_OK_AND_ASSIGN(ContentConfig c, Parse(""));
  EXPECT_EQ(c.server.address, "unix:///run/berth/content.sock");
  EXPECT_EQ(c.server.root, "/var/lib/berth/content");
  EXPECT_EQ(c.nats_url, "nats://127.0.0.1:4222");
  EXPECT_TRUE(c.preallocate);
}

TEST(ContentConfigTest, Values) {
  ASSERT_OK_AND_ASSIGN(ContentConfig c, Parse(R"([content]
address = "unix:///tmp/c.sock"
root = "/srv/content"
metrics_address = "127.0.0.1:9102"
log_level = "debug"
nats_url = ""
preallocate = false
)"));
  EXPECT_EQ(c.server.address, "unix:///tmp/c.sock");
  EXPECT_EQ(c.server.root, "/srv/content");
  EXPECT_EQ(c.server.metrics_address, "127.0.0.1:9102");
  EXPECT_EQ(c.server.log_level, "debug");
  EXPECT_EQ(c.nats_url, "");
  EXPECT_FALSE(c.preallocate);
}

TEST(ContentConfigTest, BadValuesNameTheKey) {
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"[content]\nnats_url = \"http://x\"\n", "nats_url"},
           {"[content]\npreallocate = \"yes\"\n", "preallocate"},
           {"[content]\nroot = \"relative\"\n", "root"},
           {"[content]\nroots = \"/x\"\n", "roots"}}) {
    absl::Status s = Parse(text).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << text << s;
    EXPECT_NE(s.message().find("[content] " + key), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace berth::content

namespace berth::content {
namespace {

TEST(ContentConfigTest, ReplicaDefaults) {
  ASSERT_OK_AND_ASSIGN(ContentConfig c, Parse(""));
  EXPECT_EQ(c.replicas, 0);
  EXPECT_EQ(c.replica_address, "unix:///run/berth/content-replica-{n}.sock");
  EXPECT_EQ(c.replica_metrics_address, "");
  EXPECT_EQ(c.catch_up_interval, std::chrono::milliseconds(100));

  ASSERT_OK_AND_ASSIGN(ContentConfig r, ReplicaConfig(c, 2));
  EXPECT_EQ(r.server.address, "unix:///run/berth/content-replica-2.sock");
  EXPECT_EQ(r.server.metrics_address, "");
  EXPECT_EQ(r.server.root, "/var/lib/berth/content");  // the primary's, opened read-only
  EXPECT_EQ(r.server.state, "/run/berth/content/replica-2");
  EXPECT_EQ(r.server.ready_file, "");
  EXPECT_EQ(r.nats_url, "");
}

TEST(ContentConfigTest, ReplicaValues) {
  ASSERT_OK_AND_ASSIGN(ContentConfig c, Parse(R"([content]
address = "tcp://10.0.0.5:10400"
metrics_address = "127.0.0.1:10311"
ready_file = "/run/berth/content.ready"
replicas = 3
replica_address = "tcp://10.0.0.5:10401"
replica_metrics_address = "127.0.0.1:10321"
catch_up_interval = "1s"
tls = { cert = "/etc/berth/tls/content.crt", key = "/etc/berth/tls/content.key", ca = "/etc/berth/tls/ca.crt" }
)"));
  EXPECT_EQ(c.replicas, 3);
  EXPECT_EQ(c.catch_up_interval, std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(ContentConfig r1, ReplicaConfig(c, 1));
  EXPECT_EQ(r1.server.address, "tcp://10.0.0.5:10401");
  EXPECT_EQ(r1.server.metrics_address, "127.0.0.1:10321");
  ASSERT_OK_AND_ASSIGN(ContentConfig r3, ReplicaConfig(c, 3));
  EXPECT_EQ(r3.server.address, "tcp://10.0.0.5:10403");
  EXPECT_EQ(r3.server.metrics_address, "127.0.0.1:10323");
  EXPECT_EQ(r3.server.ready_file, "");
  ASSERT_TRUE(r3.server.tls.has_value());  // replicas serve with the primary's TLS
  EXPECT_EQ(r3.server.tls->ca, "/etc/berth/tls/ca.crt");

  EXPECT_TRUE(IsInvalidArgument(ReplicaConfig(c, 0).status()));
  EXPECT_TRUE(IsInvalidArgument(ReplicaConfig(c, kMaxReplicas + 1).status()));
}

TEST(ContentConfigTest, ReplicaAddressForms) {
  EXPECT_EQ(*ReplicaAddress("unix:///run/x/r-{n}.sock", 7, false), "unix:///run/x/r-7.sock");
  EXPECT_EQ(*ReplicaAddress("tcp://127.0.0.1:0", 5, false), "tcp://127.0.0.1:0");
  EXPECT_EQ(*ReplicaAddress("tcp://[::1]:9000", 2, false), "tcp://[::1]:9001");
  EXPECT_EQ(*ReplicaAddress("127.0.0.1:1030{n}", 4, true), "127.0.0.1:10304");
  EXPECT_EQ(*ReplicaAddress("127.0.0.1:0", 4, true), "127.0.0.1:0");
  // A unix path without {n} would be shared by every replica.
  EXPECT_TRUE(IsInvalidArgument(ReplicaAddress("unix:///run/x/r.sock", 1, false).status()));
  EXPECT_TRUE(IsInvalidArgument(ReplicaAddress("tcp://h:65535", 2, false).status()));
  EXPECT_TRUE(IsInvalidArgument(ReplicaAddress("unix://relative-{n}", 1, false).status()));
  EXPECT_TRUE(IsInvalidArgument(ReplicaAddress("no-port", 1, true).status()));
}

TEST(ContentConfigTest, BadReplicaValuesNameTheKey) {
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"[content]\nreplicas = -1\n", "replicas"},
           {"[content]\nreplicas = 65\n", "replicas"},
           {"[content]\nreplicas = \"2\"\n", "replicas"},
           {"[content]\nreplica_address = \"unix:///run/berth/r.sock\"\n", "replica_address"},
           {"[content]\nreplica_address = \"http://x/{n}\"\n", "replica_address"},
           {"[content]\nreplica_metrics_address = \"localhost\"\n", "replica_metrics_address"},
           {"[content]\ncatch_up_interval = \"soon\"\n", "catch_up_interval"}}) {
    absl::Status s = Parse(text).status();
    EXPECT_TRUE(IsInvalidArgument(s)) << text << s;
    EXPECT_NE(s.message().find("[content] " + key), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace berth::content
