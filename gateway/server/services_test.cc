// The gateway's own services over a real gRPC server on a unix socket, with RocksDB stores, a
// scripted ResourceOwner, a RecordingPublisher and an EventHub fed by hand.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <regex>
#include <thread>

#include "gateway/event_hub.h"
#include "gateway/owners.h"
#include "gateway/rocks_stores.h"
#include "gateway/router.h"
#include "gateway/server/events_service.h"
#include "gateway/server/introspection_service.h"
#include "gateway/server/leases_service.h"
#include "gateway/server/namespaces_service.h"
#include "gateway/server/version_service.h"
#include "lib/anytype/anytype.h"
#include "lib/events/recording_publisher.h"
#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "lib/testing/wait_for.h"
#include "proto/containerd/events/namespace.pb.h"
#include "proto/containerd/events/task.pb.h"

namespace berth::gateway {
namespace {

namespace nspb = containerd::services::namespaces::v1;
namespace leasepb = containerd::services::leases::v1;
namespace evpb = containerd::services::events::v1;
namespace intro = containerd::services::introspection::v1;

// gRPC shuts itself down whenever the last gRPC object goes; keep it up for the binary.
const bool kGrpcInitialized = (grpc_init(), true);

// A ResourceOwner whose answers the test sets.
class FakeOwner final : public ResourceOwner {
 public:
  const std::string& name() const override { return name_; }

  absl::StatusOr<std::vector<std::string>> NamespaceUsage(const CallContext&,
                                                          const std::string& ns) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail_.ok()) return fail_;
    return usage_[ns];
  }
  absl::StatusOr<std::vector<LeaseResource>> ListLeaseResources(const CallContext& call,
                                                                const std::string& lease) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail_.ok()) return fail_;
    return resources_[call.ns + "/" + lease];
  }
  absl::Status AddLeaseResource(const CallContext& call, const std::string& lease,
                                const LeaseResource& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail_.ok()) return fail_;
    if (r.id.empty()) return absl::InvalidArgumentError("resource id must not be empty");
    resources_[call.ns + "/" + lease].push_back(r);
    return absl::OkStatus();
  }
  absl::Status DeleteLeaseResource(const CallContext& call, const std::string& lease,
                                   const LeaseResource& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail_.ok()) return fail_;
    auto& v = resources_[call.ns + "/" + lease];
    v.erase(std::remove(v.begin(), v.end(), r), v.end());
    return absl::OkStatus();
  }
  absl::Status DeleteLease(const CallContext& call, const std::string& lease) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail_.ok()) return fail_;
    deleted_leases_.push_back(call.ns + "/" + lease);
    resources_.erase(call.ns + "/" + lease);
    return absl::OkStatus();
  }

  void SetUsage(const std::string& ns, std::vector<std::string> usage) {
    std::lock_guard<std::mutex> lock(mu_);
    usage_[ns] = std::move(usage);
  }
  void Fail(absl::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = std::move(s);
  }
  std::vector<std::string> deleted_leases() {
    std::lock_guard<std::mutex> lock(mu_);
    return deleted_leases_;
  }

 private:
  std::string name_ = "fake";
  std::mutex mu_;
  absl::Status fail_;
  std::map<std::string, std::vector<std::string>> usage_;
  std::map<std::string, std::vector<LeaseResource>> resources_;
  std::vector<std::string> deleted_leases_;
};

class ServicesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta")));
    ASSERT_OK_AND_ASSIGN(namespaces_, RocksNamespaceStore::Open(db_.get()));
    leases_ = std::make_unique<RocksLeaseStore>(db_.get());
    auto owner = std::make_unique<FakeOwner>();
    owner_ = owner.get();
    owners_.Add(std::move(owner), {"content", "ingests"});
    hub_ = EventHub::ForTesting();

    GatewayConfig config;
    BackendConfig content;
    content.name = "content";
    content.services = {"containerd.services.content.v1.Content"};
    content.addresses = {"unix://" + dir_.Path("nothing.sock")};
    content.plugins = {"io.containerd.content.v1/content"};
    config.backends = {content};
    ASSERT_OK_AND_ASSIGN(router_, Router::Create(config));

    namespaces_service_ = std::make_unique<NamespacesService>(namespaces_.get(), leases_.get(),
                                                              &owners_, &publisher_);
    leases_service_ = std::make_unique<LeasesService>(leases_.get(), namespaces_.get(), &owners_);
    events_service_ = std::make_unique<EventsService>(&publisher_, hub_.get(), 2);
    introspection_service_ = std::make_unique<IntrospectionService>(
        router_.get(), "uuid-1", [] { return absl::OkStatus(); });

    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix:" + dir_.Path("gw.sock"), grpc::InsecureServerCredentials());
    builder.RegisterService(namespaces_service_.get());
    builder.RegisterService(leases_service_.get());
    builder.RegisterService(events_service_.get());
    builder.RegisterService(introspection_service_.get());
    builder.RegisterService(&version_service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    auto channel =
        grpc::CreateChannel("unix:" + dir_.Path("gw.sock"), grpc::InsecureChannelCredentials());
    ns_ = nspb::Namespaces::NewStub(channel);
    leases_stub_ = leasepb::Leases::NewStub(channel);
    events_ = evpb::Events::NewStub(channel);
    intro_ = intro::Introspection::NewStub(channel);
    version_ = containerd::services::version::v1::Version::NewStub(channel);
  }

  void TearDown() override {
    hub_->Shutdown();
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  // A context carrying `ns` as containerd-namespace (none when empty).
  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& ns = "default") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!ns.empty()) ctx->AddMetadata("containerd-namespace", ns);
    return ctx;
  }

  grpc::Status CreateNs(const std::string& name, std::map<std::string, std::string> labels = {}) {
    nspb::CreateNamespaceRequest req;
    req.mutable_namespace_()->set_name(name);
    req.mutable_namespace_()->mutable_labels()->insert(labels.begin(), labels.end());
    nspb::CreateNamespaceResponse resp;
    return ns_->Create(Ctx().get(), req, &resp);
  }

  grpc::Status DeleteNs(const std::string& name) {
    nspb::DeleteNamespaceRequest req;
    req.set_name(name);
    google::protobuf::Empty resp;
    return ns_->Delete(Ctx().get(), req, &resp);
  }

  grpc::Status CreateLease(const std::string& ns, const std::string& id,
                           leasepb::CreateResponse* resp) {
    leasepb::CreateRequest req;
    req.set_id(id);
    return leases_stub_->Create(Ctx(ns).get(), req, resp);
  }

  testing::TempDir dir_{"gwsvc"};
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<RocksNamespaceStore> namespaces_;
  std::unique_ptr<RocksLeaseStore> leases_;
  FakeOwner* owner_ = nullptr;
  Owners owners_;
  events::RecordingPublisher publisher_;
  std::unique_ptr<EventHub> hub_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<NamespacesService> namespaces_service_;
  std::unique_ptr<LeasesService> leases_service_;
  std::unique_ptr<EventsService> events_service_;
  std::unique_ptr<IntrospectionService> introspection_service_;
  VersionService version_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<nspb::Namespaces::Stub> ns_;
  std::unique_ptr<leasepb::Leases::Stub> leases_stub_;
  std::unique_ptr<evpb::Events::Stub> events_;
  std::unique_ptr<intro::Introspection::Stub> intro_;
  std::unique_ptr<containerd::services::version::v1::Version::Stub> version_;
};

TEST_F(ServicesTest, NamespaceGetOfUnknownIsOkWithoutLabels) {
  nspb::GetNamespaceRequest req;
  req.set_name("never-made");
  nspb::GetNamespaceResponse resp;
  ASSERT_TRUE(ns_->Get(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.namespace_().name(), "never-made");
  EXPECT_TRUE(resp.namespace_().labels().empty());
  req.set_name("bad/name");
  EXPECT_EQ(ns_->Get(Ctx().get(), req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServicesTest, NamespaceCreateListUpdate) {
  ASSERT_TRUE(CreateNs("a", {{"x", "1"}}).ok());
  grpc::Status dup = CreateNs("a");
  EXPECT_EQ(dup.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(dup.error_message(), "namespace \"a\": already exists");
  EXPECT_EQ(CreateNs("a b").error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_EQ(publisher_.Envelopes().size(), 1u);
  const evpb::Envelope create = publisher_.Envelopes()[0];
  EXPECT_EQ(create.topic(), "/namespaces/create");
  EXPECT_EQ(create.namespace_(), "default");  // the caller's namespace, as containerd
  containerd::events::NamespaceCreate event;
  ASSERT_OK(anytype::Unpack(create.event(), &event));
  EXPECT_EQ(event.name(), "a");
  EXPECT_EQ(create.event().type_url(), "containerd.events.NamespaceCreate");

  nspb::UpdateNamespaceRequest update;
  update.mutable_namespace_()->set_name("a");
  (*update.mutable_namespace_()->mutable_labels())["y"] = "2";
  update.mutable_update_mask()->add_paths("labels.y");
  update.mutable_update_mask()->add_paths("labels.x");  // absent in the request: deleted
  nspb::UpdateNamespaceResponse updated;
  ASSERT_TRUE(ns_->Update(Ctx().get(), update, &updated).ok());
  EXPECT_EQ(updated.namespace_().labels().size(), 1u);
  EXPECT_EQ(updated.namespace_().labels().at("y"), "2");

  update.mutable_update_mask()->clear_paths();
  update.mutable_update_mask()->add_paths("name");
  grpc::Status bad = ns_->Update(Ctx().get(), update, &updated);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(bad.error_message(), "cannot update \"name\" field on namespace \"a\"");

  // Without a mask: replace; on an unknown namespace: create.
  update.clear_update_mask();
  update.mutable_namespace_()->set_name("b");
  ASSERT_TRUE(ns_->Update(Ctx().get(), update, &updated).ok());

  nspb::ListNamespacesRequest list;
  nspb::ListNamespacesResponse all;
  ASSERT_TRUE(ns_->List(Ctx().get(), list, &all).ok());
  ASSERT_EQ(all.namespaces_size(), 2);
  EXPECT_EQ(all.namespaces(0).name(), "a");
  EXPECT_EQ(all.namespaces(1).name(), "b");
  EXPECT_EQ(all.namespaces(1).labels().at("y"), "2");
}

TEST_F(ServicesTest, NamespaceDeleteAsksEveryOwner) {
  EXPECT_EQ(DeleteNs("nope").error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(CreateNs("full").ok());
  owner_->SetUsage("full", {"blobs", "ingests"});
  grpc::Status s = DeleteNs("full");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "namespace \"full\" must be empty, but it still has blobs, ingests");

  owner_->SetUsage("full", {});
  leasepb::CreateResponse lease;
  ASSERT_TRUE(CreateLease("full", "l", &lease).ok());
  s = DeleteNs("full");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "namespace \"full\" must be empty, but it still has leases");
  leasepb::DeleteRequest del;
  del.set_id("l");
  google::protobuf::Empty empty;
  ASSERT_TRUE(leases_stub_->Delete(Ctx("full").get(), del, &empty).ok());

  // An owner that cannot be asked: nothing is deleted.
  owner_->Fail(absl::UnavailableError("namespace usage at backend \"fake\": down"));
  s = DeleteNs("full");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  owner_->Fail(absl::OkStatus());

  publisher_.Clear();
  ASSERT_TRUE(DeleteNs("full").ok());
  ASSERT_EQ(publisher_.Envelopes().size(), 1u);
  EXPECT_EQ(publisher_.Envelopes()[0].topic(), "/namespaces/delete");
  EXPECT_EQ(DeleteNs("full").error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServicesTest, LeasesNeedANamespace) {
  leasepb::CreateRequest req;
  leasepb::CreateResponse resp;
  grpc::Status s = leases_stub_->Create(Ctx("").get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "namespace is required");
}

TEST_F(ServicesTest, LeaseLifecycle) {
  leasepb::CreateResponse resp;
  ASSERT_TRUE(CreateLease("ns1", "", &resp).ok());
  EXPECT_TRUE(std::regex_match(resp.lease().id(), std::regex("[0-9]+-[A-Za-z0-9_-]{4}")))
      << resp.lease().id();
  EXPECT_GT(resp.lease().created_at().seconds(), 1600000000);
  const std::string generated = resp.lease().id();
  leasepb::CreateRequest req;
  req.set_id("mine");
  (*req.mutable_labels())["containerd.io/gc.expire"] = "2030-01-01T00:00:00Z";
  ASSERT_TRUE(leases_stub_->Create(Ctx("ns1").get(), req, &resp).ok());
  EXPECT_EQ(leases_stub_->Create(Ctx("ns1").get(), req, &resp).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  req.set_id("bad id");
  EXPECT_EQ(leases_stub_->Create(Ctx("ns1").get(), req, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Creating a lease creates its namespace.
  EXPECT_OK(namespaces_->Get("ns1").status());

  leasepb::ListRequest list;
  leasepb::ListResponse listed;
  ASSERT_TRUE(leases_stub_->List(Ctx("ns1").get(), list, &listed).ok());
  EXPECT_EQ(listed.leases_size(), 2);
  list.add_filters("labels.\"containerd.io/gc.expire\"");
  ASSERT_TRUE(leases_stub_->List(Ctx("ns1").get(), list, &listed).ok());
  ASSERT_EQ(listed.leases_size(), 1);
  EXPECT_EQ(listed.leases(0).id(), "mine");
  list.set_filters(0, "id==" + generated);
  ASSERT_TRUE(leases_stub_->List(Ctx("ns1").get(), list, &listed).ok());
  ASSERT_EQ(listed.leases_size(), 1);
  list.set_filters(0, "id==");
  list.set_filters(0, "labels.");
  EXPECT_EQ(leases_stub_->List(Ctx("ns1").get(), list, &listed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(leases_stub_->List(Ctx("ns2").get(), leasepb::ListRequest(), &listed).ok());
  EXPECT_EQ(listed.leases_size(), 0);

  leasepb::DeleteRequest del;
  del.set_id("mine");
  google::protobuf::Empty empty;
  ASSERT_TRUE(leases_stub_->Delete(Ctx("ns1").get(), del, &empty).ok());
  EXPECT_EQ(owner_->deleted_leases(), std::vector<std::string>{"ns1/mine"});
  EXPECT_EQ(leases_stub_->Delete(Ctx("ns1").get(), del, &empty).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServicesTest, LeaseResourcesGoToTheirOwner) {
  leasepb::CreateResponse created;
  ASSERT_TRUE(CreateLease("ns", "l", &created).ok());
  google::protobuf::Empty empty;
  auto add = [&](const std::string& lease, const std::string& type, const std::string& id) {
    leasepb::AddResourceRequest req;
    req.set_id(lease);
    req.mutable_resource()->set_type(type);
    req.mutable_resource()->set_id(id);
    return leases_stub_->AddResource(Ctx("ns").get(), req, &empty);
  };
  ASSERT_TRUE(add("l", "ingests", "ref-1").ok());
  ASSERT_TRUE(add("l", "content", "sha256:b").ok());
  ASSERT_TRUE(add("l", "content", "sha256:a").ok());
  EXPECT_EQ(add("nope", "content", "sha256:a").error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status unknown = add("l", "snapshots/overlayfs", "key");
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(unknown.error_message(), "resource type \"snapshots/overlayfs\": not implemented");
  EXPECT_EQ(add("l", "content", "").error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  leasepb::ListResourcesRequest list;
  list.set_id("l");
  leasepb::ListResourcesResponse resources;
  ASSERT_TRUE(leases_stub_->ListResources(Ctx("ns").get(), list, &resources).ok());
  ASSERT_EQ(resources.resources_size(), 3);
  EXPECT_EQ(resources.resources(0).type(), "content");
  EXPECT_EQ(resources.resources(0).id(), "sha256:a");
  EXPECT_EQ(resources.resources(1).id(), "sha256:b");
  EXPECT_EQ(resources.resources(2).type(), "ingests");

  leasepb::DeleteResourceRequest del;
  del.set_id("l");
  del.mutable_resource()->set_type("content");
  del.mutable_resource()->set_id("sha256:a");
  ASSERT_TRUE(leases_stub_->DeleteResource(Ctx("ns").get(), del, &empty).ok());
  ASSERT_TRUE(leases_stub_->ListResources(Ctx("ns").get(), list, &resources).ok());
  EXPECT_EQ(resources.resources_size(), 2);
  list.set_id("nope");
  EXPECT_EQ(leases_stub_->ListResources(Ctx("ns").get(), list, &resources).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServicesTest, PublishAndForward) {
  evpb::PublishRequest req;
  req.set_topic("/tasks/exit");
  containerd::events::TaskExit exit;
  exit.set_container_id("c");
  *req.mutable_event() = anytype::Pack(exit);
  google::protobuf::Empty empty;
  EXPECT_EQ(events_->Publish(Ctx("").get(), req, &empty).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(events_->Publish(Ctx("ns").get(), req, &empty).ok());
  ASSERT_EQ(publisher_.Envelopes().size(), 1u);
  EXPECT_EQ(publisher_.Envelopes()[0].namespace_(), "ns");
  EXPECT_EQ(publisher_.Envelopes()[0].topic(), "/tasks/exit");
  EXPECT_GT(publisher_.Envelopes()[0].timestamp().seconds(), 1600000000);
  req.set_topic("tasks/exit");
  EXPECT_EQ(events_->Publish(Ctx("ns").get(), req, &empty).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  req.set_topic("/tasks/exit");
  req.mutable_event()->clear_type_url();
  EXPECT_EQ(events_->Publish(Ctx("ns").get(), req, &empty).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  evpb::ForwardRequest fwd;
  *fwd.mutable_envelope() = publisher_.Envelopes()[0];
  ASSERT_TRUE(events_->Forward(Ctx("").get(), fwd, &empty).ok());
  EXPECT_EQ(publisher_.Envelopes().size(), 2u);
  fwd.mutable_envelope()->clear_timestamp();
  EXPECT_EQ(events_->Forward(Ctx("").get(), fwd, &empty).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

evpb::Envelope Event(const std::string& ns, const std::string& container) {
  containerd::events::TaskExit exit;
  exit.set_container_id(container);
  evpb::Envelope e;
  e.set_namespace_(ns);
  e.set_topic("/tasks/exit");
  e.mutable_timestamp()->set_seconds(1700000000);
  *e.mutable_event() = anytype::Pack(exit);
  return e;
}

TEST_F(ServicesTest, SubscribeFiltersAndStaysOpenUntilShutdown) {
  grpc::ClientContext ctx;
  evpb::SubscribeRequest req;
  req.add_filters("namespace==a,event.container_id==c1");
  req.add_filters("namespace==b");
  auto reader = events_->Subscribe(&ctx, req);
  ASSERT_TRUE(testing::WaitFor([&] { return hub_->sinks() == 1; }));
  hub_->Dispatch(Event("x", "c1"));  // no clause matches
  hub_->Dispatch(Event("a", "c2"));  // first clause half matches
  hub_->Dispatch(Event("a", "c1"));
  hub_->Dispatch(Event("b", "c9"));
  evpb::Envelope got;
  ASSERT_TRUE(reader->Read(&got));
  EXPECT_EQ(got.namespace_(), "a");
  ASSERT_TRUE(reader->Read(&got));
  EXPECT_EQ(got.namespace_(), "b");
  // The gateway shutting down ends the stream with Unavailable.
  hub_->Shutdown();
  EXPECT_FALSE(reader->Read(&got));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // No new subscriptions after that.
  grpc::ClientContext again;
  auto refused = events_->Subscribe(&again, evpb::SubscribeRequest());
  EXPECT_FALSE(refused->Read(&got));
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// berth's own event types reach only subscribers that ask for them (ctr warns about every
// event it cannot decode); other types, containerd's or anyone's, reach everyone.
TEST_F(ServicesTest, BerthEventTypesOnlyForSubscribersAskingForThem) {
  grpc::ClientContext plain_ctx;
  auto plain = events_->Subscribe(&plain_ctx, evpb::SubscribeRequest());
  grpc::ClientContext berth_ctx;
  berth_ctx.AddMetadata(kBerthEventsMetadataKey, kBerthEventsAll);
  auto berth = events_->Subscribe(&berth_ctx, evpb::SubscribeRequest());
  ASSERT_TRUE(testing::WaitFor([&] { return hub_->sinks() == 2; }));
  evpb::Envelope own = Event("a", "own");
  own.set_topic("/content/commit");
  own.mutable_event()->set_type_url("berth.content.v1.ContentCommit");
  evpb::Envelope prefixed = Event("a", "prefixed");
  prefixed.mutable_event()->set_type_url("types.berth.dev/berth.content.v1.ContentCommit");
  evpb::Envelope foreign = Event("a", "foreign");
  foreign.mutable_event()->set_type_url("example.com/berthold.Event");
  // One at a time (this fixture's streams queue at most 2 events): each event is read
  // where it must arrive before the next goes out; the last one, which both streams get,
  // shows that nothing else was queued for the plain stream before it.
  evpb::Envelope got;
  for (const evpb::Envelope* e : {&own, &prefixed}) {
    hub_->Dispatch(*e);
    ASSERT_TRUE(berth->Read(&got));
    EXPECT_EQ(got.event().type_url(), e->event().type_url());
  }
  hub_->Dispatch(foreign);
  ASSERT_TRUE(berth->Read(&got));
  EXPECT_EQ(got.event().type_url(), foreign.event().type_url());
  ASSERT_TRUE(plain->Read(&got));
  EXPECT_EQ(got.event().type_url(), foreign.event().type_url());
  hub_->Dispatch(Event("a", "last"));
  ASSERT_TRUE(plain->Read(&got));
  EXPECT_EQ(got.topic(), "/tasks/exit");
  EXPECT_EQ(got.event().type_url(), Event("a", "last").event().type_url());
  ASSERT_TRUE(berth->Read(&got));
  EXPECT_EQ(got.event().type_url(), Event("a", "last").event().type_url());
  plain_ctx.TryCancel();
  berth_ctx.TryCancel();
  (void)plain->Finish();
  (void)berth->Finish();
}

TEST_F(ServicesTest, SubscriberGoingAwayIsRemoved) {
  grpc::ClientContext ctx;
  auto reader = events_->Subscribe(&ctx, evpb::SubscribeRequest());
  ASSERT_TRUE(testing::WaitFor([&] { return hub_->sinks() == 1; }));
  ctx.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(testing::WaitFor([&] { return hub_->sinks() == 0; }));
}

TEST_F(ServicesTest, SlowSubscriberLosesTheOldest) {
  // max_queued is 2 here. 50 events of 1 MiB cannot all pass HTTP/2 flow control while the
  // client reads nothing, so the stream's queue overflows and drops its oldest events; the
  // newest always arrive, in order.
  constexpr int kEvents = 50;
  grpc::ClientContext ctx;
  auto reader = events_->Subscribe(&ctx, evpb::SubscribeRequest());
  ASSERT_TRUE(testing::WaitFor([&] { return hub_->sinks() == 1; }));
  for (int i = 0; i < kEvents; ++i) {
    hub_->Dispatch(Event("ns", std::to_string(i) + ":" + std::string(1 << 20, 'x')));
  }
  EXPECT_GE(events_service_->dropped(), 1u);
  evpb::Envelope got;
  containerd::events::TaskExit exit;
  int received = 0;
  int last = -1;
  while (last != kEvents - 1) {
    ASSERT_TRUE(reader->Read(&got));
    ASSERT_OK(anytype::Unpack(got.event(), &exit));
    const int n = std::stoi(exit.container_id().substr(0, exit.container_id().find(':')));
    EXPECT_GT(n, last);
    last = n;
    ++received;
  }
  EXPECT_EQ(static_cast<uint64_t>(received) + events_service_->dropped(),
            static_cast<uint64_t>(kEvents));
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(ServicesTest, SubscribeWithBadFilterIsInvalidArgument) {
  grpc::ClientContext ctx;
  evpb::SubscribeRequest req;
  req.add_filters("topic==");
  auto reader = events_->Subscribe(&ctx, req);
  evpb::Envelope got;
  EXPECT_FALSE(reader->Read(&got));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServicesTest, IntrospectionAndVersion) {
  router_->CheckAll(std::chrono::seconds(5));  // the backend socket does not exist
  intro::PluginsRequest req;
  intro::PluginsResponse resp;
  ASSERT_TRUE(intro_->Plugins(Ctx().get(), req, &resp).ok());
  bool content = false;
  bool namespaces = false;
  for (const auto& p : resp.plugins()) {
    if (p.type() == "io.containerd.content.v1" && p.id() == "content") {
      content = true;
      EXPECT_EQ(p.init_err().code(), static_cast<int>(grpc::StatusCode::UNAVAILABLE));
      EXPECT_NE(p.init_err().message().find("backend \"content\""), std::string::npos);
    }
    if (p.type() == "io.containerd.grpc.v1" && p.id() == "namespaces") {
      namespaces = true;
      EXPECT_FALSE(p.has_init_err());
    }
  }
  EXPECT_TRUE(content);
  EXPECT_TRUE(namespaces);
  req.add_filters("type==io.containerd.content.v1");
  ASSERT_TRUE(intro_->Plugins(Ctx().get(), req, &resp).ok());
  EXPECT_EQ(resp.plugins_size(), 1);

  intro::ServerResponse server;
  ASSERT_TRUE(intro_->Server(Ctx().get(), google::protobuf::Empty(), &server).ok());
  EXPECT_EQ(server.uuid(), "uuid-1");

  containerd::services::version::v1::VersionResponse version;
  ASSERT_TRUE(version_->Version(Ctx().get(), google::protobuf::Empty(), &version).ok());
  EXPECT_FALSE(version.version().empty());
  EXPECT_FALSE(version.revision().empty());
}

}  // namespace
}  // namespace berth::gateway
