// Collector over in-memory backends and owners and the gateway's real RocksDB stores:
// what one collection deletes across backends, leases (live, expired, taken during the
// mark), dry runs, backends and owners that fail, failed deletions, image pins and events.
#include "gateway/gc/collector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gateway/gc/pin_store.h"
#include "gateway/owners.h"
#include "gateway/rocks_stores.h"
#include "gateway/schema.h"
#include "lib/events/recording_publisher.h"
#include "lib/status/status.h"
#include "lib/store/store.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"

namespace berth::gateway::gc {
namespace {

namespace pb = ::berth::gc::v1;
using Clock = std::chrono::system_clock;

std::string D(char c) { return "sha256:" + std::string(64, c); }

int64_t Nanos(Time t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

pb::Object Obj(const std::string& ns, const std::string& type, const std::string& id,
               std::map<std::string, std::string> labels = {},
               std::vector<std::pair<std::string, std::string>> refs = {}, int64_t size = 10) {
  pb::Object o;
  o.mutable_ref()->set_namespace_(ns);
  o.mutable_ref()->set_type(type);
  o.mutable_ref()->set_id(id);
  for (const auto& [k, v] : labels) (*o.mutable_labels())[k] = v;
  for (const auto& [type, id] : refs) {
    pb::ObjectRef* r = o.add_references();
    r->set_namespace_(ns);
    r->set_type(type);
    r->set_id(id);
  }
  const int64_t created = Nanos(Clock::now() - std::chrono::hours(1));
  o.set_created_at_unix_nanos(created);
  o.set_updated_at_unix_nanos(created);
  o.set_size(size);
  return o;
}

// A backend holding objects in memory; Sweep deletes them as a service would.
class FakeBackend final : public CollectableBackend {
 public:
  explicit FakeBackend(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }

  absl::Status List(const std::vector<std::string>& namespaces,
                    const std::function<void(pb::Object&&)>& fn) override {
    std::vector<pb::Object> copy;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++lists_;
      if (!list_error_.ok()) return list_error_;
      for (const auto& [key, o] : objects_) {
        if (std::find(namespaces.begin(), namespaces.end(), o.ref().namespace_()) !=
            namespaces.end()) {
          copy.push_back(o);
        }
      }
    }
    for (pb::Object& o : copy) fn(std::move(o));
    if (after_list_) after_list_();
    return absl::OkStatus();
  }

  absl::StatusOr<pb::SweepResponse> Sweep(const pb::SweepRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    sweeps_.push_back(request);
    if (!sweep_error_.ok()) return sweep_error_;
    pb::SweepResponse resp;
    for (const pb::ObjectRef& ref : request.objects()) {
      pb::SweepResult* r = resp.add_results();
      *r->mutable_object() = ref;
      const std::string key = Key(ref);
      auto forced = outcomes_.find(key);
      auto it = objects_.find(key);
      if (forced != outcomes_.end()) {
        r->set_outcome(forced->second);
        r->set_message("forced");
      } else if (it == objects_.end()) {
        r->set_outcome(pb::SWEEP_GONE);
      } else if (it->second.created_at_unix_nanos() > request.not_after_unix_nanos()) {
        r->set_outcome(pb::SWEEP_KEPT_NEWER);
      } else {
        r->set_outcome(pb::SWEEP_REMOVED);
        r->set_size(it->second.size());
        objects_.erase(it);
      }
    }
    return resp;
  }

  void Add(pb::Object o) {
    std::lock_guard<std::mutex> lock(mu_);
    objects_[Key(o.ref())] = std::move(o);
  }
  void Remove(const std::string& ns, const std::string& type, const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    objects_.erase(ns + "/" + type + "/" + id);
  }
  bool Has(const std::string& ns, const std::string& type, const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    return objects_.count(ns + "/" + type + "/" + id) != 0;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return objects_.size();
  }
  void FailList(absl::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    list_error_ = std::move(s);
  }
  void FailSweep(absl::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    sweep_error_ = std::move(s);
  }
  void Force(const std::string& key, pb::SweepOutcome outcome) {
    std::lock_guard<std::mutex> lock(mu_);
    outcomes_[key] = outcome;
  }
  void AfterList(std::function<void()> fn) { after_list_ = std::move(fn); }
  std::vector<pb::SweepRequest> sweeps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sweeps_;
  }

 private:
  static std::string Key(const pb::ObjectRef& r) {
    return r.namespace_() + "/" + r.type() + "/" + r.id();
  }

  std::string name_;
  mutable std::mutex mu_;
  std::map<std::string, pb::Object> objects_;
  std::map<std::string, pb::SweepOutcome> outcomes_;
  absl::Status list_error_;
  absl::Status sweep_error_;
  std::vector<pb::SweepRequest> sweeps_;
  std::function<void()> after_list_;
  int lists_ = 0;
};

// A ResourceOwner keeping lease records in memory.
class FakeOwner final : public ResourceOwner {
 public:
  explicit FakeOwner(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  absl::StatusOr<std::vector<std::string>> NamespaceUsage(const CallContext&,
                                                          const std::string&) override {
    return std::vector<std::string>{};
  }
  absl::StatusOr<std::vector<LeaseResource>> ListLeaseResources(const CallContext& call,
                                                                const std::string& lease) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail_.ok()) return fail_;
    return resources_[{call.ns, lease}];
  }
  absl::Status AddLeaseResource(const CallContext& call, const std::string& lease,
                                const LeaseResource& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    resources_[{call.ns, lease}].push_back(r);
    return absl::OkStatus();
  }
  absl::Status DeleteLeaseResource(const CallContext&, const std::string&,
                                   const LeaseResource&) override {
    return absl::OkStatus();
  }
  absl::Status DeleteLease(const CallContext& call, const std::string& lease) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail_.ok()) return fail_;
    resources_.erase({call.ns, lease});
    deleted_.push_back(call.ns + "/" + lease);
    return absl::OkStatus();
  }
  void Fail(absl::Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = std::move(s);
  }
  std::vector<std::string> deleted() const {
    std::lock_guard<std::mutex> lock(mu_);
    return deleted_;
  }

 private:
  std::string name_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::vector<LeaseResource>> resources_;
  std::vector<std::string> deleted_;
  absl::Status fail_;
};

class CollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Options store_options;
    store_options.schema_version = schema::kVersion;
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta"), store_options));
    ASSERT_OK_AND_ASSIGN(namespaces_, RocksNamespaceStore::Open(db_.get()));
    leases_ = std::make_unique<RocksLeaseStore>(db_.get());
    pins_ = std::make_unique<PinStore>(db_.get());
    ASSERT_OK(namespaces_->Touch("default").status());
    auto content_owner = std::make_unique<FakeOwner>("content");
    auto snapshot_owner = std::make_unique<FakeOwner>("snapshot");
    content_owner_ = content_owner.get();
    snapshot_owner_ = snapshot_owner.get();
    owners_.Add(std::move(content_owner), {"content", "ingests"});
    owners_.Add(std::move(snapshot_owner), {"snapshots/*"});
    CollectorDeps deps;
    deps.namespaces = namespaces_.get();
    deps.leases = leases_.get();
    deps.owners = &owners_;
    deps.backends = {&content_, &snapshot_, &image_, &runtime_};
    deps.pins = pins_.get();
    deps.publisher = &events_;
    CollectorOptions options;
    options.resolve_image = [this](const std::string& ns,
                                   const std::string& name) -> absl::StatusOr<std::string> {
      for (const auto& [key, digest] : image_targets_) {
        if (key.first == ns && key.second == name) return digest;
      }
      return absl::NotFoundError("image \"" + name + "\": not found");
    };
    collector_ = std::make_unique<Collector>(std::move(deps), options);
  }

  // A pulled image in "default": image -> index i -> manifest m -> config c (-> snapshot
  // "top" -> "base") and layers 1, 2.
  void PullImage() {
    image_.Add(Obj("default", "images", "busybox", {}, {{"content", D('i')}}));
    image_targets_[{"default", "busybox"}] = D('i');
    content_.Add(Obj("default", "content", D('i'), {{"containerd.io/gc.ref.content.m.0", D('m')}}));
    content_.Add(Obj("default", "content", D('m'),
                     {{"containerd.io/gc.ref.content.config", D('c')},
                      {"containerd.io/gc.ref.content.l.0", D('1')},
                      {"containerd.io/gc.ref.content.l.1", D('2')}}));
    content_.Add(
        Obj("default", "content", D('c'), {{"containerd.io/gc.ref.snapshot.overlayfs", "top"}}));
    content_.Add(Obj("default", "content", D('1')));
    content_.Add(Obj("default", "content", D('2')));
    snapshot_.Add(Obj("default", "snapshots/overlayfs", "base"));
    snapshot_.Add(
        Obj("default", "snapshots/overlayfs", "top", {}, {{"snapshots/overlayfs", "base"}}));
  }

  pb::Report Collect(bool dry_run = false) {
    CollectRequest request;
    request.dry_run = dry_run;
    request.reasons = {"test"};
    absl::StatusOr<pb::Report> report = collector_->Collect(request);
    EXPECT_OK(report.status());
    return report.ok() ? *report : pb::Report();
  }

  static int64_t Removed(const pb::Report& r, const std::string& type) {
    for (const pb::TypeCount& c : r.removed()) {
      if (c.type() == type) return c.removed();
    }
    return 0;
  }

  void CreateLease(const std::string& id, Labels labels = {}) {
    gateway::Lease lease;
    lease.id = id;
    lease.created_at = Clock::now();
    lease.labels = std::move(labels);
    ASSERT_OK(leases_->Create("default", lease));
  }

  testing::TempDir dir_{"gccollect"};
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<RocksNamespaceStore> namespaces_;
  std::unique_ptr<RocksLeaseStore> leases_;
  std::unique_ptr<PinStore> pins_;
  Owners owners_;
  FakeOwner* content_owner_ = nullptr;
  FakeOwner* snapshot_owner_ = nullptr;
  FakeBackend content_{"content"};
  FakeBackend snapshot_{"snapshot"};
  FakeBackend image_{"image"};
  FakeBackend runtime_{"runtime"};
  events::RecordingPublisher events_;
  std::map<std::pair<std::string, std::string>, std::string> image_targets_;
  std::unique_ptr<Collector> collector_;
};

TEST_F(CollectorTest, KeepsWhatImagesReachAndSweepsTheRest) {
  PullImage();
  content_.Add(Obj("default", "content", D('x'), {}, {}, 100));
  snapshot_.Add(
      Obj("default", "snapshots/overlayfs", "orphan", {}, {{"snapshots/overlayfs", "base"}}));
  const Time before = Clock::now();
  pb::Report r = Collect();
  EXPECT_EQ(r.objects(), 10);
  EXPECT_EQ(r.marked(), 8);
  EXPECT_EQ(Removed(r, "content"), 1);
  EXPECT_EQ(Removed(r, "snapshots/overlayfs"), 1);
  EXPECT_EQ(r.removed_objects_size(), 2);
  EXPECT_EQ(r.postponed_size(), 0);
  EXPECT_EQ(r.reasons(0), "test");
  EXPECT_FALSE(content_.Has("default", "content", D('x')));
  EXPECT_FALSE(snapshot_.Has("default", "snapshots/overlayfs", "orphan"));
  EXPECT_EQ(content_.size(), 5u);
  EXPECT_EQ(snapshot_.size(), 2u);
  // The sweep's not_after is the mark's start.
  ASSERT_EQ(content_.sweeps().size(), 1u);
  EXPECT_GE(content_.sweeps()[0].not_after_unix_nanos(), Nanos(before));
  EXPECT_EQ(content_.sweeps()[0].not_after_unix_nanos(), r.mark_time_unix_nanos());
  EXPECT_TRUE(image_.sweeps().empty());
  // One /gc/collect event for the namespace, naming what went.
  std::vector<events::Envelope> envelopes = events_.Envelopes();
  ASSERT_EQ(envelopes.size(), 1u);
  EXPECT_EQ(envelopes[0].namespace_(), "default");
  EXPECT_EQ(envelopes[0].topic(), kCollectTopic);
  EXPECT_EQ(envelopes[0].event().type_url(), kCollectEventType);
  pb::CollectEvent event;
  ASSERT_TRUE(event.ParseFromString(envelopes[0].event().value()));
  EXPECT_EQ(event.removed_size(), 2);
  EXPECT_EQ(event.removed_bytes(), 110);

  // Nothing left to do: no sweep call, no event.
  events_.Clear();
  r = Collect();
  EXPECT_EQ(r.removed_size(), 0);
  EXPECT_EQ(content_.sweeps().size(), 1u);
  EXPECT_TRUE(events_.Envelopes().empty());

  // The image goes: all of its content and snapshots follow.
  image_.Remove("default", "images", "busybox");
  r = Collect();
  EXPECT_EQ(Removed(r, "content"), 5);
  EXPECT_EQ(Removed(r, "snapshots/overlayfs"), 2);
  EXPECT_EQ(content_.size(), 0u);
  EXPECT_EQ(snapshot_.size(), 0u);
}

TEST_F(CollectorTest, NamespacesTheGatewayDoesNotKnowAreLeftAlone) {
  content_.Add(Obj("unknown", "content", D('x')));
  pb::Report r = Collect();
  EXPECT_EQ(r.objects(), 0);
  EXPECT_TRUE(content_.Has("unknown", "content", D('x')));
}

TEST_F(CollectorTest, LiveLeaseProtectsExpiredLeaseIsDeleted) {
  content_.Add(Obj("default", "content", D('a')));
  content_.Add(Obj("default", "content", D('b')));
  snapshot_.Add(Obj("default", "snapshots/overlayfs", "s"));
  CreateLease("live", {{kLabelExpire, "2999-01-01T00:00:00Z"}});
  CreateLease("expired", {{kLabelExpire, "2000-01-01T00:00:00Z"}});
  CallContext ns = CallContext::Background("default");
  ASSERT_OK(content_owner_->AddLeaseResource(ns, "live", {D('a'), "content"}));
  ASSERT_OK(snapshot_owner_->AddLeaseResource(ns, "live", {"s", "snapshots/overlayfs"}));
  ASSERT_OK(content_owner_->AddLeaseResource(ns, "expired", {D('b'), "content"}));

  pb::Report r = Collect();
  EXPECT_TRUE(content_.Has("default", "content", D('a')));
  EXPECT_TRUE(snapshot_.Has("default", "snapshots/overlayfs", "s"));
  EXPECT_FALSE(content_.Has("default", "content", D('b')));
  ASSERT_EQ(r.expired_leases_size(), 1);
  EXPECT_EQ(r.expired_leases(0), "default/expired");
  EXPECT_EQ(Removed(r, "leases"), 1);
  EXPECT_TRUE(IsNotFound(leases_->Get("default", "expired").status()));
  EXPECT_OK(leases_->Get("default", "live").status());
  // Every owner dropped its records of the expired lease.
  EXPECT_EQ(content_owner_->deleted(), std::vector<std::string>{"default/expired"});
  EXPECT_EQ(snapshot_owner_->deleted(), std::vector<std::string>{"default/expired"});
  pb::CollectEvent event;
  ASSERT_EQ(events_.Envelopes().size(), 1u);
  ASSERT_TRUE(event.ParseFromString(events_.Envelopes()[0].event().value()));
  EXPECT_EQ(event.expired_leases_size(), 1);
}

TEST_F(CollectorTest, ExpiredLeaseWhoseOwnerFailsIsKeptButProtectsNothing) {
  content_.Add(Obj("default", "content", D('b')));
  CreateLease("expired", {{kLabelExpire, "2000-01-01T00:00:00Z"}});
  ASSERT_OK(content_owner_->AddLeaseResource(CallContext::Background("default"), "expired",
                                             {D('b'), "content"}));
  snapshot_owner_->Fail(absl::UnavailableError("snapshot down"));
  pb::Report r = Collect();
  EXPECT_OK(leases_->Get("default", "expired").status());  // tried again next time
  EXPECT_EQ(r.expired_leases_size(), 0);
  EXPECT_FALSE(content_.Has("default", "content", D('b')));
  snapshot_owner_->Fail(absl::OkStatus());
  r = Collect();
  EXPECT_EQ(r.expired_leases_size(), 1);
  EXPECT_TRUE(IsNotFound(leases_->Get("default", "expired").status()));
}

TEST_F(CollectorTest, LeaseTakenWhileTheMarkRunsStillProtects) {
  content_.Add(Obj("default", "content", D('a')));
  CreateLease("pull");
  // After the listings (the mark's view), a pull attaches the existing blob to its lease —
  // what Content.Write does when the blob already exists.
  runtime_.AfterList([this] {
    ASSERT_OK(content_owner_->AddLeaseResource(CallContext::Background("default"), "pull",
                                               {D('a'), "content"}));
  });
  pb::Report r = Collect();
  EXPECT_TRUE(content_.Has("default", "content", D('a')));
  EXPECT_EQ(r.in_use(), 1);
  EXPECT_TRUE(content_.sweeps().empty());
}

TEST_F(CollectorTest, DryRunDeletesNothing) {
  PullImage();
  content_.Add(Obj("default", "content", D('x')));
  CreateLease("expired", {{kLabelExpire, "2000-01-01T00:00:00Z"}});
  pb::Report r = Collect(/*dry_run=*/true);
  EXPECT_TRUE(r.dry_run());
  ASSERT_EQ(r.removed_objects_size(), 1);
  EXPECT_EQ(r.removed_objects(0).id(), D('x'));
  EXPECT_TRUE(content_.Has("default", "content", D('x')));
  EXPECT_TRUE(content_.sweeps().empty());
  EXPECT_OK(leases_->Get("default", "expired").status());
  EXPECT_TRUE(events_.Envelopes().empty());
}

TEST_F(CollectorTest, ABackendThatIsDownPostponesItsObjectsOnly) {
  PullImage();
  Collect();  // every backend listed once
  // Leftovers on both sides; the orphan snapshot refers to a blob nothing else keeps.
  content_.Add(Obj("default", "content", D('x')));
  snapshot_.Add(
      Obj("default", "snapshots/overlayfs", "orphan", {{"containerd.io/gc.ref.content", D('k')}}));
  content_.Add(Obj("default", "content", D('k')));
  Collect();  // orphan and k go... unless the snapshot backend is down:
  EXPECT_FALSE(content_.Has("default", "content", D('k')));

  snapshot_.Add(
      Obj("default", "snapshots/overlayfs", "orphan2", {{"containerd.io/gc.ref.content", D('y')}}));
  content_.Add(Obj("default", "content", D('y')));
  // A snapshot the backend refuses to remove (busy) stays, with the blob it refers to.
  snapshot_.Add(
      Obj("default", "snapshots/overlayfs", "busy", {{"containerd.io/gc.ref.content", D('b')}}));
  content_.Add(Obj("default", "content", D('b')));
  snapshot_.Force("default/snapshots/overlayfs/busy", pb::SWEEP_IN_USE);
  Collect();  // listed while up: orphan2 and y go; busy stays, b went with it unmarked
  EXPECT_FALSE(content_.Has("default", "content", D('y')));
  EXPECT_TRUE(snapshot_.Has("default", "snapshots/overlayfs", "busy"));
  content_.Add(Obj("default", "content", D('b')));  // b again, old
  // Made after that listing: orphan3 and the blob it refers to.
  pb::Object orphan3 =
      Obj("default", "snapshots/overlayfs", "orphan3", {{"containerd.io/gc.ref.content", D('z')}});
  pb::Object z = Obj("default", "content", D('z'));
  z.set_created_at_unix_nanos(Nanos(Clock::now()));
  z.set_updated_at_unix_nanos(z.created_at_unix_nanos());
  snapshot_.Add(orphan3);
  content_.Add(z);
  content_.Add(Obj("default", "content", D('w')));
  snapshot_.FailList(absl::UnavailableError("snapshot: connection refused"));
  const size_t snapshot_sweeps = snapshot_.sweeps().size();
  pb::Report r = Collect();
  ASSERT_EQ(r.postponed_size(), 1);
  EXPECT_EQ(r.postponed(0).rfind("snapshot: ", 0), 0u) << r.postponed(0);
  EXPECT_EQ(snapshot_.sweeps().size(), snapshot_sweeps);  // nothing of its swept
  EXPECT_TRUE(snapshot_.Has("default", "snapshots/overlayfs", "orphan3"));
  // Content is still collected: w, which nothing refers to. z is referred to by a snapshot
  // the gateway cannot see now; it is newer than the snapshot backend's last listing, which
  // is the mark's time now, so it is kept.
  EXPECT_FALSE(content_.Has("default", "content", D('w')));
  EXPECT_TRUE(content_.Has("default", "content", D('z')));
  // b is old, and only "busy" refers to it, which the gateway knows from the last listing:
  // everything of a postponed backend counts as a root, so b stays.
  EXPECT_TRUE(content_.Has("default", "content", D('b')));
  EXPECT_LT(r.mark_time_unix_nanos(), r.started_at_unix_nanos());
}

TEST_F(CollectorTest, ABackendNeverListedStopsTheSweep) {
  PullImage();
  content_.Add(Obj("default", "content", D('x')));
  image_.FailList(absl::UnavailableError("image: connection refused"));
  pb::Report r = Collect();
  EXPECT_TRUE(content_.Has("default", "content", D('x')));
  EXPECT_TRUE(content_.sweeps().empty());
  EXPECT_EQ(r.postponed_size(), 1);
  EXPECT_GE(r.errors_size(), 1);
  image_.FailList(absl::OkStatus());
  Collect();
  EXPECT_FALSE(content_.Has("default", "content", D('x')));
}

TEST_F(CollectorTest, AnOwnerThatCannotAnswerKeepsItsBackendsObjects) {
  content_.Add(
      Obj("default", "content", D('a'), {{"containerd.io/gc.ref.snapshot.overlayfs", "s"}}));
  snapshot_.Add(Obj("default", "snapshots/overlayfs", "s"));
  snapshot_.Add(Obj("default", "snapshots/overlayfs", "t"));
  CreateLease("pull");
  content_owner_->Fail(absl::UnavailableError("content: timeout"));
  pb::Report r = Collect();
  // Content might be leased: kept, with what it refers to; other snapshots still go.
  EXPECT_TRUE(content_.Has("default", "content", D('a')));
  EXPECT_TRUE(snapshot_.Has("default", "snapshots/overlayfs", "s"));
  EXPECT_FALSE(snapshot_.Has("default", "snapshots/overlayfs", "t"));
  ASSERT_GE(r.postponed_size(), 1);
  EXPECT_EQ(r.postponed(0).rfind("content: ", 0), 0u);
}

TEST_F(CollectorTest, FailedDeletionsAreCountedAndTheSweepGoesOn) {
  content_.Add(Obj("default", "content", D('a')));
  content_.Add(Obj("default", "content", D('b')));
  content_.Add(Obj("default", "content", D('c')));
  content_.Force("default/content/" + D('a'), pb::SWEEP_FAILED);
  content_.Force("default/content/" + D('b'), pb::SWEEP_IN_USE);
  pb::Report r = Collect();
  EXPECT_EQ(Removed(r, "content"), 1);
  ASSERT_EQ(r.removed_size(), 1);
  EXPECT_EQ(r.removed(0).failed(), 1);
  EXPECT_EQ(r.in_use(), 1);
  ASSERT_EQ(r.errors_size(), 1);
  EXPECT_NE(r.errors(0).find(D('a')), std::string::npos);
  EXPECT_FALSE(content_.Has("default", "content", D('c')));

  // A sweep call that fails postpones that backend only.
  content_.Add(Obj("default", "content", D('d')));
  snapshot_.Add(Obj("default", "snapshots/overlayfs", "s"));
  content_.FailSweep(absl::UnavailableError("content went away"));
  r = Collect();
  EXPECT_TRUE(content_.Has("default", "content", D('d')));
  EXPECT_FALSE(snapshot_.Has("default", "snapshots/overlayfs", "s"));
  EXPECT_EQ(r.postponed_size(), 1);
}

TEST_F(CollectorTest, SweepsInBatches) {
  CollectorDeps deps;
  deps.namespaces = namespaces_.get();
  deps.leases = leases_.get();
  deps.owners = &owners_;
  deps.backends = {&content_};
  CollectorOptions options;
  options.sweep_batch = 2;
  Collector small(std::move(deps), options);
  for (char c : {'a', 'b', 'c', 'd', 'e'}) content_.Add(Obj("default", "content", D(c)));
  ASSERT_OK(small.Collect({}).status());
  EXPECT_EQ(content_.sweeps().size(), 3u);
  EXPECT_EQ(content_.size(), 0u);
}

TEST_F(CollectorTest, ContainersKeepTheContentOfTheirDeletedImage) {
  PullImage();
  runtime_.Add(Obj("default", "containers", "c1", {},
                   {{"snapshots/overlayfs", "c1"}, {"images", "busybox"}}));
  snapshot_.Add(Obj("default", "snapshots/overlayfs", "c1", {}, {{"snapshots/overlayfs", "top"}}));
  // The gateway pins the image before forwarding its deletion.
  ASSERT_OK(collector_->PinImage("default", "busybox"));
  EXPECT_TRUE(IsNotFound(collector_->PinImage("default", "nothing")));
  image_.Remove("default", "images", "busybox");
  Collect();
  EXPECT_EQ(content_.size(), 5u);
  EXPECT_EQ(snapshot_.size(), 3u);
  ASSERT_OK_AND_ASSIGN(Pins pins, pins_->Load());
  EXPECT_EQ(pins.size(), 1u);

  // The container goes: so do its snapshot, the image's content, and the pin.
  runtime_.Remove("default", "containers", "c1");
  Collect();
  EXPECT_EQ(content_.size(), 0u);
  EXPECT_EQ(snapshot_.size(), 0u);
  ASSERT_OK_AND_ASSIGN(pins, pins_->Load());
  EXPECT_TRUE(pins.empty());
}

TEST_F(CollectorTest, CollectionsRememberTheImagesOfContainers) {
  PullImage();
  runtime_.Add(Obj("default", "containers", "c1", {}, {{"images", "busybox"}}));
  Collect();  // no PinImage: the collection itself pins the container's image
  ASSERT_OK_AND_ASSIGN(Pins pins, pins_->Load());
  ASSERT_EQ(pins.size(), 1u);
  EXPECT_EQ((pins[{"default", "busybox"}]), D('i'));
  // The image is deleted behind the gateway's back: its content stays for the container.
  image_.Remove("default", "images", "busybox");
  Collect();
  EXPECT_TRUE(content_.Has("default", "content", D('1')));
}

TEST(PinStoreTest, RoundTripAndBadInput) {
  testing::TempDir dir("gcpins");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<store::Store> db, store::Store::Open(dir.Path("meta")));
  PinStore pins(db.get());
  ASSERT_OK(pins.Put("ns", "registry:5000/a/b:tag", D('a')));
  ASSERT_OK(pins.Put("ns", "with\nnewline", D('b')));
  ASSERT_OK(pins.Put("other", "registry:5000/a/b:tag", D('c')));
  ASSERT_OK_AND_ASSIGN(Pins all, pins.Load());
  EXPECT_EQ(all.size(), 3u);
  EXPECT_EQ((all[{"ns", "registry:5000/a/b:tag"}]), D('a'));
  EXPECT_EQ((all[{"ns", "with\nnewline"}]), D('b'));
  ASSERT_OK(pins.Delete("ns", "registry:5000/a/b:tag"));
  ASSERT_OK(pins.Delete("ns", "never"));
  ASSERT_OK_AND_ASSIGN(all, pins.Load());
  EXPECT_EQ(all.size(), 2u);
  EXPECT_TRUE(absl::IsInvalidArgument(pins.Put("", "x", D('a'))));
  EXPECT_TRUE(absl::IsInvalidArgument(pins.Put("a/b", "x", D('a'))));
  EXPECT_TRUE(absl::IsInvalidArgument(pins.Put("ns", "", D('a'))));
  EXPECT_TRUE(absl::IsInvalidArgument(pins.Put("ns", "x", "")));
  // A key that does not decode is skipped.
  ASSERT_OK(db->Put(PinStore::Prefix() + "ns/zz", D('a')));
  ASSERT_OK_AND_ASSIGN(all, pins.Load());
  EXPECT_EQ(all.size(), 2u);
}

}  // namespace
}  // namespace berth::gateway::gc
