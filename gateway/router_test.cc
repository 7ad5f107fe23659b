#include "gateway/router.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include "gateway/owners.h"
#include "lib/server/health_service.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"

namespace berth::gateway {
namespace {

GatewayConfig TwoBackends(const std::string& dir) {
  GatewayConfig c;
  BackendConfig content;
  content.name = "content";
  content.services = {"containerd.services.content.v1.Content"};
  content.addresses = {"unix://" + dir + "/a.sock", "unix://" + dir + "/b.sock"};
  content.read_methods = {"Info", "containerd.services.content.v1.Content/Read"};
  BackendConfig snapshot;
  snapshot.name = "snapshot";
  snapshot.services = {"containerd.services.snapshots.v1.Snapshots",
                       "containerd.services.diff.v1.Diff"};
  snapshot.addresses = {"unix://" + dir + "/s.sock"};
  snapshot.read_methods = {"Stat"};
  c.backends = {content, snapshot};
  return c;
}

TEST(RouterTest, FindRoutesByServiceAndClassifiesReads) {
  testing::TempDir dir("gwrouter");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Router> router, Router::Create(TwoBackends(dir.path())));
  auto r = router->Find("/containerd.services.content.v1.Content/Info");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->backend->name(), "content");
  EXPECT_EQ(r->service, "containerd.services.content.v1.Content");
  EXPECT_EQ(r->method, "Info");
  EXPECT_TRUE(r->read);
  EXPECT_TRUE(router->Find("/containerd.services.content.v1.Content/Read")->read);
  EXPECT_FALSE(router->Find("/containerd.services.content.v1.Content/Write")->read);
  EXPECT_EQ(router->Find("/containerd.services.diff.v1.Diff/Apply")->backend->name(), "snapshot");
  EXPECT_FALSE(router->Find("/containerd.services.diff.v1.Diff/Apply")->read);
  EXPECT_TRUE(router->Find("/containerd.services.snapshots.v1.Snapshots/Stat")->read);
  for (const char* bad :
       {"", "/", "//", "/x", "/containerd.services.content.v1.Content",
        "/containerd.services.content.v1.Content/", "containerd.services.content.v1.Content/Info",
        "/containerd.services.content.v1.Content/Info/x",
        "/containerd.services.images.v1.Images/List"}) {
    EXPECT_FALSE(router->Find(bad).has_value()) << bad;
  }
}

TEST(RouterTest, ReadsRoundRobinWritesToPrimary) {
  testing::TempDir dir("gwrouter");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Router> router, Router::Create(TwoBackends(dir.path())));
  Backend& b = *router->backends()[0];
  ASSERT_EQ(b.size(), 2u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.Pick(false), b.channel(0));
  const auto first = b.Pick(true);
  const auto second = b.Pick(true);
  EXPECT_NE(first, second);
  EXPECT_EQ(b.Pick(true), first);
}

TEST(RouterTest, ReadsSkipAddressesThatAreDown) {
  testing::TempDir dir("gwrouter");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Router> router, Router::Create(TwoBackends(dir.path())));
  Backend& b = *router->backends()[0];
  b.SetHealth(1, absl::UnavailableError("replica down"));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.Pick(true), b.channel(0)) << i;
  b.SetHealth(1, absl::OkStatus());
  b.SetHealth(0, absl::UnavailableError("primary down"));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.Pick(true), b.channel(1)) << i;
  EXPECT_EQ(b.Pick(false), b.channel(0));  // writes go to the primary regardless
  // Everything down: reads still go somewhere (and fail there with Unavailable).
  b.SetHealth(1, absl::UnavailableError("replica down"));
  const auto first = b.Pick(true);
  EXPECT_NE(b.Pick(true), first);
}

TEST(RouterTest, ReadsSkipAChannelThatCannotConnect) {
  testing::TempDir dir("gwrouter");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Router> router, Router::Create(TwoBackends(dir.path())));
  Backend& b = *router->backends()[0];
  // Nothing listens on either socket: once channel 1 has tried and failed, reads avoid it
  // while channel 0 has not failed yet.
  b.channel(1)->GetState(true);
  ASSERT_TRUE(testing::WaitFor([&] {
    return b.channel(1)->GetState(false) == GRPC_CHANNEL_TRANSIENT_FAILURE;
  }));
  ASSERT_NE(b.channel(0)->GetState(false), GRPC_CHANNEL_TRANSIENT_FAILURE);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.Pick(true), b.channel(0)) << i;
}

TEST(RouterTest, DuplicateServiceRefused) {
  GatewayConfig c = TwoBackends("/tmp");
  c.backends[1].services.push_back("containerd.services.content.v1.Content");
  EXPECT_TRUE(absl::IsInvalidArgument(Router::Create(c).status()));
}

TEST(RouterTest, HealthChecksFollowTheBackend) {
  testing::TempDir dir("gwrouter");
  GatewayConfig c = TwoBackends(dir.path());
  c.backends.resize(1);
  c.backends[0].addresses.resize(1);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Router> router, Router::Create(c));
  Backend& b = *router->backends()[0];
  router->CheckAll(std::chrono::seconds(5));
  absl::Status down = b.Health();
  EXPECT_TRUE(absl::IsUnavailable(down)) << down;
  EXPECT_NE(std::string(down.message()).find("backend \"content\""), std::string::npos) << down;

  server::HealthService health;
  health.SetServingStatus("", true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + dir.Path("a.sock"), grpc::InsecureServerCredentials());
  builder.RegisterService(&health);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  // The failed check reset the channel's backoff; it reconnects in the background, so a
  // later check (the checker's next round) finds the backend.
  EXPECT_TRUE(testing::WaitFor([&] {
    router->CheckAll(std::chrono::seconds(5));
    return b.Health().ok();
  })) << b.Health();

  health.SetServingStatus("", false);
  router->CheckAll(std::chrono::seconds(5));
  EXPECT_TRUE(absl::IsUnavailable(b.Health()));
  health.Shutdown();
  server->Shutdown();
}

TEST(OwnersTest, ResourceTypesMatchPatterns) {
  EXPECT_TRUE(MatchesResourceType("content", "content"));
  EXPECT_FALSE(MatchesResourceType("content", "contents"));
  EXPECT_TRUE(MatchesResourceType("snapshots/*", "snapshots/overlayfs"));
  EXPECT_FALSE(MatchesResourceType("snapshots/*", "snapshots/"));
  EXPECT_FALSE(MatchesResourceType("snapshots/*", "snapshots"));
  EXPECT_FALSE(MatchesResourceType("snapshots/*", "snapshotsX/overlayfs"));
}

}  // namespace
}  // namespace berth::gateway
