// A content primary with two read replicas behind the gateway, as real processes: blobs
// ingested through the gateway (writes go to the primary) read back through the gateway
// (reads go round robin over all three) and through each replica on its own, with the
// primary and the other replica stopped. Replicas refuse writes, naming the primary, and
// keep following a primary that restarts.
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "client/proxy/content_proxy.h"
#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "tests/deploy/deploy_testing.h"

namespace berth::deploy_testing {
namespace {

using ::berth::testing::TempDir;

constexpr char kNs[] = "default";

class ContentReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(WriteText(Config(), fmt::format(R"([content]
address = "unix://{d}/content.sock"
root = "{d}/content"
state = "{d}/state"
nats_url = ""
replica_address = "unix://{d}/replica-{{n}}.sock"
catch_up_interval = "50ms"

[gateway]
address = "unix://{d}/berth.sock"
root = "{d}/gateway"
state = "{d}/gateway-state"
nats_url = ""

[gateway.backends.content]
services = ["containerd.services.content.v1.Content"]
addresses = ["unix://{d}/content.sock", "unix://{d}/replica-1.sock", "unix://{d}/replica-2.sock"]
read_methods = ["Info", "List", "Read", "Status", "ListStatuses"]
plugins = ["io.containerd.content.v1/content"]
internal_api = "content"
lease_resources = ["content", "ingests"]
)",
                                              fmt::arg("d", dir_.path()))));
    ASSERT_NO_FATAL_FAILURE(StartPrimary());
    ASSERT_NO_FATAL_FAILURE(StartReplica(1));
    ASSERT_NO_FATAL_FAILURE(StartReplica(2));
    ASSERT_OK_AND_ASSIGN(gateway_, Service::Start("gateway",
                                                  {BinDir() + "/berth-gateway", "--config",
                                                   Config(), "--ready-file", dir_.Path("gw.ready")},
                                                  dir_.Path("gw.ready"), dir_.path()));
    through_gateway_ = std::make_unique<proxy::ContentProxy>(Connect(gateway_->address()));
  }

  std::string Config() const { return dir_.Path("config.toml"); }

  void StartPrimary() {
    ASSERT_OK_AND_ASSIGN(primary_, Service::Start("content",
                                                  {BinDir() + "/berth-content", "--config",
                                                   Config(), "--ready-file", dir_.Path("c.ready")},
                                                  dir_.Path("c.ready"), dir_.path()));
  }

  void StartReplica(int n) {
    const std::string ready = dir_.Path(fmt::format("r{}.ready", n));
    ASSERT_OK_AND_ASSIGN(replicas_[n - 1],
                         Service::Start(fmt::format("replica-{}", n),
                                        {BinDir() + "/berth-content", "--config", Config(),
                                         "--replica", std::to_string(n), "--ready-file", ready},
                                        ready, dir_.path()));
    EXPECT_EQ(replicas_[n - 1]->address(),
              fmt::format("unix://{}/replica-{}.sock", dir_.path(), n));
  }

  // Everything the replica at `address` serves for the blobs, on its own.
  void ExpectReplicaServes(const std::string& address, const std::vector<std::string>& blobs) {
    proxy::ContentProxy replica(Connect(address));
    const CallContext ctx = CallContext::Background(kNs);
    for (const std::string& data : blobs) {
      const digest::Digest d = digest::FromBytes(data);
      ASSERT_OK_AND_ASSIGN(content::Info info, replica.Info(ctx, d));
      EXPECT_EQ(info.size, static_cast<int64_t>(data.size()));
      absl::StatusOr<std::string> read = ReadBlob(replica, kNs, d);
      ASSERT_OK(read.status());
      EXPECT_TRUE(*read == data) << address << " returned other bytes for " << d.ToString();
    }
    int listed = 0;
    ASSERT_OK(replica.Walk(ctx, {}, [&](const content::Info&) {
      ++listed;
      return absl::OkStatus();
    }));
    EXPECT_EQ(listed, static_cast<int>(blobs.size()));
    // Writes are refused, naming the primary.
    absl::Status refused = Ingest(replica, kNs, "not-here", "data");
    EXPECT_TRUE(IsFailedPrecondition(refused)) << refused;
    EXPECT_NE(refused.message().find(dir_.Path("content.sock")), std::string::npos) << refused;
    absl::Status deleted = replica.Delete(ctx, digest::FromBytes(blobs[0]));
    EXPECT_TRUE(IsFailedPrecondition(deleted)) << deleted;
  }

  TempDir dir_{"brepl"};
  std::unique_ptr<Service> primary_;
  std::unique_ptr<Service> replicas_[2];
  std::unique_ptr<Service> gateway_;
  std::unique_ptr<proxy::ContentProxy> through_gateway_;
};

TEST_F(ContentReplicasTest, IngestThroughGatewayReadThroughEachReplica) {
  const std::vector<std::string> blobs = {RandomBytes(5 << 20, 1), RandomBytes(100000, 2),
                                          RandomBytes(1, 3)};
  for (size_t i = 0; i < blobs.size(); ++i) {
    ASSERT_OK(Ingest(*through_gateway_, kNs, fmt::format("blob-{}", i), blobs[i]));
  }
  // Reads through the gateway go round robin over the primary and both replicas: six reads
  // of each blob reach every instance twice, and every one has every blob at once.
  for (int round = 0; round < 6; ++round) {
    for (const std::string& data : blobs) {
      absl::StatusOr<std::string> read = ReadBlob(*through_gateway_, kNs, digest::FromBytes(data));
      ASSERT_OK(read.status()) << "round " << round;
      ASSERT_TRUE(*read == data) << "round " << round;
    }
  }

  // An unfinished ingest (on the primary) is seen by the replicas' Status and ListStatuses.
  const std::string partial = RandomBytes(300000, 4);
  {
    ASSERT_OK_AND_ASSIGN(auto writer, through_gateway_->OpenWriter(CallContext::Background(kNs),
                                                                   {"partial", 600000, {}}));
    ASSERT_OK(writer->Write(partial));
  }
  for (const auto& replica : replicas_) {
    proxy::ContentProxy direct(Connect(replica->address()));
    const CallContext ctx = CallContext::Background(kNs);
    // The primary writes accepted chunks behind its replies: wait for the bytes to land.
    EXPECT_TRUE(testing::WaitFor([&] {
      absl::StatusOr<content::IngestStatus> st = direct.Status(ctx, "partial");
      return st.ok() && st->offset == 300000;
    })) << replica->Log();
    ASSERT_OK_AND_ASSIGN(content::IngestStatus st, direct.Status(ctx, "partial"));
    EXPECT_EQ(st.total, 600000);
    ASSERT_OK_AND_ASSIGN(std::vector<content::IngestStatus> all, direct.ListStatuses(ctx, {}));
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].ref, "partial");
  }
  ASSERT_OK(through_gateway_->Abort(CallContext::Background(kNs), "partial"));

  // Each replica alone: the primary and the other replica stopped.
  ASSERT_OK(primary_->Stop());
  ASSERT_OK(replicas_[1]->Stop());
  ASSERT_NO_FATAL_FAILURE(ExpectReplicaServes(replicas_[0]->address(), blobs));
  ASSERT_NO_FATAL_FAILURE(StartReplica(2));
  ASSERT_OK(replicas_[0]->Stop());
  ASSERT_NO_FATAL_FAILURE(ExpectReplicaServes(replicas_[1]->address(), blobs));

  // The primary comes back: replicas follow what it commits and deletes after its restart.
  ASSERT_NO_FATAL_FAILURE(StartPrimary());
  ASSERT_NO_FATAL_FAILURE(StartReplica(1));
  const std::string late = RandomBytes(200000, 5);
  // The gateway's channel to the primary reconnects on its own: retry until it is back.
  absl::Status ingested;
  ASSERT_TRUE(testing::WaitFor([&] {
    ingested = Ingest(*through_gateway_, kNs, "late", late);
    return ingested.ok();
  })) << ingested;
  for (const auto& replica : replicas_) {
    proxy::ContentProxy direct(Connect(replica->address()));
    absl::StatusOr<std::string> read = ReadBlob(direct, kNs, digest::FromBytes(late));
    ASSERT_OK(read.status()) << replica->Log();
    EXPECT_TRUE(*read == late);
  }
  ASSERT_OK(through_gateway_->Delete(CallContext::Background(kNs), digest::FromBytes(blobs[1])));
  for (const auto& replica : replicas_) {
    proxy::ContentProxy direct(Connect(replica->address()));
    EXPECT_TRUE(IsNotFound(ReadBlob(direct, kNs, digest::FromBytes(blobs[1])).status()));
    EXPECT_TRUE(testing::WaitFor([&] {
      return IsNotFound(
          direct.Info(CallContext::Background(kNs), digest::FromBytes(blobs[1])).status());
    }));
  }

  EXPECT_OK(gateway_->Stop());
  for (const auto& replica : replicas_) EXPECT_OK(replica->Stop());
  EXPECT_OK(primary_->Stop());
}

// A replica cannot start without a primary's store, and says why.
TEST(ContentReplicaProcessTest, RefusesToStartWithoutAPrimaryStore) {
  TempDir dir("brepl");
  ASSERT_OK(
      WriteText(dir.Path("config.toml"),
                fmt::format("[content]\nroot = \"{d}/nothing\"\nstate = \"{d}/state\"\n"
                            "replica_address = \"unix://{d}/r-{{n}}.sock\"\nnats_url = \"\"\n",
                            fmt::arg("d", dir.path()))));
  CommandResult r = RunCommand(
      {BinDir() + "/berth-content", "--config", dir.Path("config.toml"), "--replica", "1"},
      dir.path());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find(dir.Path("nothing")), std::string::npos) << r.out << r.err;
  // Out of range.
  r = RunCommand(
      {BinDir() + "/berth-content", "--config", dir.Path("config.toml"), "--replica", "0"},
      dir.path());
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace berth::deploy_testing
