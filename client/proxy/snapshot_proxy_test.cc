// The snapshotter conformance suite through the gRPC server (SnapshotsService on a temporary
// unix socket) and SnapshotProxy, for both snapshotters — plus Diff.Apply / Diff.Diff
// through DiffProxy, lease bookkeeping through SnapshotAdminProxy, the events the service
// publishes, and the codes on the wire. Root: the suite mounts.
#include "client/proxy/snapshot_proxy.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <memory>
#include <string>

#include "lib/digest/digest.h"
#include "lib/events/recording_publisher.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "proto/containerd/events/snapshot.pb.h"
#include "services/content/local_store.h"
#include "services/snapshot/admin.h"
#include "services/snapshot/diff/fs_applier.h"
#include "services/snapshot/diff/tar_builder.h"
#include "services/snapshot/diff/walking_diff.h"
#include "services/snapshot/metadata.h"
#include "services/snapshot/native_snapshotter.h"
#include "services/snapshot/overlay_snapshotter.h"
#include "services/snapshot/server/admin_service.h"
#include "services/snapshot/server/diff_service.h"
#include "services/snapshot/server/snapshots_service.h"
#include "services/snapshot/testsuite/fstest.h"
#include "services/snapshot/testsuite/testsuite.h"

namespace berth::proxy {
namespace {

using snapshot::Mount;

// berth-snapshot in-process: both snapshotters, the differ over a LocalStore, and the three
// gRPC services on one unix socket.
class TestServer {
 public:
  explicit TestServer(std::string root) : root_(std::move(root)) {}
  ~TestServer() { Stop(); }

  absl::Status Start() {
    if (!content_) {
      content::LocalStoreOptions copts;
      copts.root = root_ + "/content";
      copts.verify_blobs = false;
      ASSIGN_OR_RETURN(content_, content::LocalStore::Open(copts));
    }
    ASSIGN_OR_RETURN(meta_, snapshot::MetaStore::Open(root_ + "/meta"));
    ASSIGN_OR_RETURN(overlay_,
                     snapshot::OverlaySnapshotter::Create(root_ + "/overlayfs", meta_.get()));
    ASSIGN_OR_RETURN(native_, snapshot::NativeSnapshotter::Create(root_ + "/native", meta_.get()));
    RETURN_IF_ERROR(overlay_->Cleanup(CallContext::Background()));
    RETURN_IF_ERROR(native_->Cleanup(CallContext::Background()));
    applier_ = std::make_unique<snapshot::diff::FileSystemApplier>(
        content_.get(), snapshot::diff::FileSystemApplierOptions{root_ + "/tmp", true, false});
    differ_ = std::make_unique<snapshot::diff::WalkingDiff>(
        content_.get(), snapshot::diff::WalkingDiffOptions{root_ + "/tmp"});
    admin_ = std::make_unique<snapshot::MetaStoreAdmin>(meta_.get());
    snapshots_service_ = std::make_unique<snapshot::SnapshotsService>(
        std::map<std::string, snapshot::Snapshotter*>{{"overlayfs", overlay_.get()},
                                                      {"native", native_.get()}},
        &events_);
    diff_service_ = std::make_unique<snapshot::DiffService>(applier_.get(), differ_.get());
    admin_service_ = std::make_unique<snapshot::AdminService>(admin_.get());
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address(), grpc::InsecureServerCredentials());
    builder.RegisterService(snapshots_service_.get());
    builder.RegisterService(diff_service_.get());
    builder.RegisterService(admin_service_.get());
    server_ = builder.BuildAndStart();
    if (server_ == nullptr) return UnavailableError("cannot serve " + address());
    return absl::OkStatus();
  }

  void Stop() {
    if (server_) server_->Shutdown();
    server_.reset();
    snapshots_service_.reset();
    diff_service_.reset();
    admin_service_.reset();
    admin_.reset();
    differ_.reset();
    applier_.reset();
    overlay_.reset();
    native_.reset();
    meta_.reset();
  }

  std::string address() const { return "unix:" + root_ + "/snapshot.sock"; }
  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  }
  content::LocalStore* content() { return content_.get(); }
  events::RecordingPublisher& events() { return events_; }

 private:
  std::string root_;
  events::RecordingPublisher events_;
  std::unique_ptr<content::LocalStore> content_;
  std::unique_ptr<snapshot::MetaStore> meta_;
  std::unique_ptr<snapshot::OverlaySnapshotter> overlay_;
  std::unique_ptr<snapshot::NativeSnapshotter> native_;
  std::unique_ptr<snapshot::diff::FileSystemApplier> applier_;
  std::unique_ptr<snapshot::diff::WalkingDiff> differ_;
  std::unique_ptr<snapshot::MetaStoreAdmin> admin_;
  std::unique_ptr<snapshot::SnapshotsService> snapshots_service_;
  std::unique_ptr<snapshot::DiffService> diff_service_;
  std::unique_ptr<snapshot::AdminService> admin_service_;
  std::unique_ptr<grpc::Server> server_;
};

class ProxyHarness : public snapshot::testsuite::Harness {
 public:
  ProxyHarness(const std::string& root, std::string snapshotter)
      : server_(root), snapshotter_(std::move(snapshotter)) {}

  absl::Status Start() {
    RETURN_IF_ERROR(server_.Start());
    proxy_ = std::make_unique<SnapshotProxy>(server_.Channel(), snapshotter_);
    return absl::OkStatus();
  }
  snapshot::Snapshotter* snapshotter() override { return proxy_.get(); }
  absl::Status Restart() override {
    proxy_.reset();
    server_.Stop();
    return Start();
  }

 private:
  TestServer server_;
  std::string snapshotter_;
  std::unique_ptr<SnapshotProxy> proxy_;
};

absl::StatusOr<std::unique_ptr<snapshot::testsuite::Harness>> MakeProxy(const std::string& root,
                                                                        const std::string& name) {
  auto h = std::make_unique<ProxyHarness>(root, name);
  RETURN_IF_ERROR(h->Start());
  return h;
}

const bool kRegistered = [] {
  snapshot::testsuite::RegisterSnapshotterSuite(
      "ProxyOverlay", [](const std::string& root) { return MakeProxy(root, "overlayfs"); });
  snapshot::testsuite::RegisterSnapshotterSuite(
      "ProxyNative", [](const std::string& root) { return MakeProxy(root, "native"); });
  return true;
}();

class SnapshotServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(server_.Start());
    channel_ = server_.Channel();
    overlay_ = std::make_unique<SnapshotProxy>(channel_, "overlayfs");
    diff_ = std::make_unique<DiffProxy>(channel_);
    admin_ = std::make_unique<SnapshotAdminProxy>(channel_);
  }

  berth::testing::TempDir tmp_{"snapsvc"};
  TestServer server_{tmp_.path()};
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<SnapshotProxy> overlay_;
  std::unique_ptr<DiffProxy> diff_;
  std::unique_ptr<SnapshotAdminProxy> admin_;
  CallContext ctx_ = CallContext::Background("default");
};

TEST_F(SnapshotServiceTest, UnknownSnapshotterIsInvalidArgument) {
  SnapshotProxy none(channel_, "");
  SnapshotProxy bogus(channel_, "zfs");
  absl::Status s = none.Stat(ctx_, "x").status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  s = bogus.Prepare(ctx_, "x", "", {}).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("snapshotter not loaded: zfs"), absl::string_view::npos) << s;
}

TEST_F(SnapshotServiceTest, CodesCrossTheWire) {
  ASSERT_OK(overlay_->Prepare(ctx_, "a", "", {}).status());
  EXPECT_TRUE(IsAlreadyExists(overlay_->Prepare(ctx_, "a", "", {}).status()));
  EXPECT_TRUE(IsNotFound(overlay_->Prepare(ctx_, "b", "missing", {}).status()));
  ASSERT_OK(overlay_->Commit(ctx_, "c", "a", {}));
  ASSERT_OK(overlay_->Prepare(ctx_, "child", "c", {}).status());
  EXPECT_TRUE(IsFailedPrecondition(overlay_->Remove(ctx_, "c")));
  CallContext no_ns;
  EXPECT_TRUE(IsFailedPrecondition(overlay_->Stat(no_ns, "c").status()));
  CallContext bad_ns = CallContext::Background("not a namespace!");
  EXPECT_TRUE(IsInvalidArgument(overlay_->Stat(bad_ns, "c").status()));
}

TEST_F(SnapshotServiceTest, ListStreamsInBatches) {
  for (int i = 0; i < 250; ++i) {
    ASSERT_OK(overlay_->Prepare(ctx_, "k" + std::to_string(1000 + i), "", {}).status());
  }
  int seen = 0;
  ASSERT_OK(overlay_->Walk(ctx_, {}, [&](const snapshot::Info&) {
    ++seen;
    return absl::OkStatus();
  }));
  EXPECT_EQ(seen, 250);
  // An error from fn ends the walk early.
  seen = 0;
  absl::Status s = overlay_->Walk(ctx_, {}, [&](const snapshot::Info&) {
    return ++seen == 120 ? absl::AbortedError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(seen, 120);
  EXPECT_TRUE(IsInvalidArgument(
      overlay_->Walk(ctx_, {"kind=="}, [](const snapshot::Info&) { return absl::OkStatus(); })));
}

TEST_F(SnapshotServiceTest, EventsArePublished) {
  server_.events().Clear();
  ASSERT_OK(overlay_->Prepare(ctx_, "p", "", {}).status());
  ASSERT_OK(overlay_->Commit(ctx_, "c", "p", {}));
  ASSERT_OK(overlay_->View(ctx_, "v", "c", {}).status());
  ASSERT_OK(overlay_->Remove(ctx_, "v"));
  EXPECT_TRUE(IsNotFound(overlay_->Remove(ctx_, "v")));  // Failed calls publish nothing.
  auto envelopes = server_.events().Envelopes();
  ASSERT_EQ(envelopes.size(), 4u);
  EXPECT_EQ(envelopes[0].topic(), "/snapshot/prepare");
  EXPECT_EQ(envelopes[0].event().type_url(), "containerd.events.SnapshotPrepare");
  EXPECT_EQ(envelopes[0].namespace_(), "default");
  containerd::events::SnapshotPrepare prepare;
  ASSERT_TRUE(prepare.ParseFromString(envelopes[0].event().value()));
  EXPECT_EQ(prepare.key(), "p");
  EXPECT_EQ(envelopes[1].topic(), "/snapshot/commit");
  containerd::events::SnapshotCommit commit;
  ASSERT_TRUE(commit.ParseFromString(envelopes[1].event().value()));
  EXPECT_EQ(commit.key(), "p");
  EXPECT_EQ(commit.name(), "c");
  EXPECT_EQ(envelopes[2].topic(), "/snapshot/prepare");
  EXPECT_EQ(envelopes[3].topic(), "/snapshot/remove");
  // A failing publisher does not fail the call.
  server_.events().FailWith(absl::UnavailableError("bus down"));
  EXPECT_OK(overlay_->Prepare(ctx_, "q", "", {}).status());
  server_.events().FailWith(absl::OkStatus());
}

TEST_F(SnapshotServiceTest, LeasesAttachWhatTheyCreate) {
  CallContext leased = ctx_;
  leased.lease = "pull-1";
  ASSERT_OK(overlay_->Prepare(leased, "extract-1", "", {}).status());
  ASSERT_OK_AND_ASSIGN(auto held, admin_->ListLeaseResources(ctx_, "pull-1"));
  EXPECT_EQ(held, (std::vector<snapshot::LeaseResource>{{"extract-1", "snapshots/overlayfs"}}));
  ASSERT_OK(overlay_->Commit(leased, "sha256:chain1", "extract-1", {}));
  ASSERT_OK_AND_ASSIGN(held, admin_->ListLeaseResources(ctx_, "pull-1"));
  EXPECT_EQ(held, (std::vector<snapshot::LeaseResource>{{"sha256:chain1", "snapshots/overlayfs"}}));
  // Explicit resources; the snapshot need not exist.
  ASSERT_OK(admin_->AddLeaseResource(ctx_, "pull-1", {"future/key", "snapshots/native"}));
  ASSERT_OK(admin_->AddLeaseResource(ctx_, "pull-1", {"future/key", "snapshots/native"}));
  ASSERT_OK_AND_ASSIGN(held, admin_->ListLeaseResources(ctx_, "pull-1"));
  EXPECT_EQ(held.size(), 2u);
  EXPECT_TRUE(IsUnimplemented(admin_->AddLeaseResource(ctx_, "pull-1", {"x", "content"})));
  EXPECT_TRUE(IsInvalidArgument(admin_->AddLeaseResource(ctx_, "pull-1", {"", "snapshots/x"})));
  EXPECT_TRUE(IsInvalidArgument(admin_->ListLeaseResources(ctx_, "bad lease!").status()));
  ASSERT_OK(admin_->DeleteLeaseResource(ctx_, "pull-1", {"future/key", "snapshots/native"}));
  ASSERT_OK_AND_ASSIGN(snapshot::NamespaceUsage usage, admin_->NamespaceUsage(ctx_, "default"));
  EXPECT_EQ(usage.snapshots, 1);
  EXPECT_EQ(usage.leases, 1);
  ASSERT_OK(admin_->DeleteLease(ctx_, "pull-1"));
  ASSERT_OK_AND_ASSIGN(held, admin_->ListLeaseResources(ctx_, "pull-1"));
  EXPECT_TRUE(held.empty());
  ASSERT_OK(overlay_->Remove(ctx_, "sha256:chain1"));
  ASSERT_OK_AND_ASSIGN(usage, admin_->NamespaceUsage(ctx_, "default"));
  EXPECT_TRUE(usage.empty());
  EXPECT_TRUE(IsInvalidArgument(admin_->NamespaceUsage(ctx_, "").status()));
}

TEST_F(SnapshotServiceTest, DiffApplyAndDiffThroughTheWire) {
  std::string tar = snapshot::diff::TarBuilder()
                        .Dir("etc", 0755)
                        .File("etc/os-release", "ID=berth\n", 0644)
                        .Whiteout("nothing")
                        .Build();
  std::string gz = snapshot::diff::GzipBytes(tar);
  digest::Digest d = digest::FromBytes(gz);
  content::WriterOptions w;
  w.ref = "layer";
  ASSERT_OK_AND_ASSIGN(auto writer, server_.content()->OpenWriter(ctx_, w));
  ASSERT_OK(writer->Write(gz));
  ASSERT_OK(writer->Commit(static_cast<std::int64_t>(gz.size()), d, {}));

  ASSERT_OK_AND_ASSIGN(auto mounts, overlay_->Prepare(ctx_, "extract", "", {}));
  snapshot::diff::Descriptor layer{
      snapshot::diff::kMediaTypeLayerGzip, d.ToString(), static_cast<std::int64_t>(gz.size()), {}};
  ASSERT_OK_AND_ASSIGN(auto applied, diff_->Apply(ctx_, layer, mounts));
  EXPECT_EQ(applied.media_type, snapshot::diff::kMediaTypeLayer);
  EXPECT_EQ(applied.digest, digest::FromBytes(tar).ToString());
  EXPECT_EQ(applied.size, static_cast<std::int64_t>(tar.size()));
  ASSERT_OK(overlay_->Commit(ctx_, "base", "extract", {}));

  // Diff of the committed layer against nothing gives the same tree back.
  ASSERT_OK_AND_ASSIGN(auto view, overlay_->View(ctx_, "look", "base", {}));
  ASSERT_OK_AND_ASSIGN(auto made, diff_->Compare(ctx_, {}, view, {}));
  EXPECT_EQ(made.media_type, snapshot::diff::kMediaTypeLayerGzip);
  ASSERT_OK_AND_ASSIGN(auto again, overlay_->Prepare(ctx_, "again", "", {}));
  ASSERT_OK(diff_->Apply(ctx_, made, again).status());
  ASSERT_OK(overlay_->Commit(ctx_, "again-c", "again", {}));
  ASSERT_OK_AND_ASSIGN(auto v2, overlay_->View(ctx_, "look2", "again-c", {}));
  ASSERT_EQ(v2.size(), 1u);
  ASSERT_EQ(view.size(), 1u);
  EXPECT_OK(snapshot::fstest::CheckDirectoryEqual(view[0].source, v2[0].source));

  // Codes.
  snapshot::diff::Descriptor missing = layer;
  missing.digest = digest::FromBytes("none").ToString();
  EXPECT_TRUE(IsNotFound(diff_->Apply(ctx_, missing, mounts).status()));
  snapshot::diff::Descriptor encrypted = layer;
  encrypted.media_type += "+encrypted";
  EXPECT_TRUE(IsUnimplemented(diff_->Apply(ctx_, encrypted, again).status()));
}

}  // namespace
}  // namespace berth::proxy
