// Puller, hermetic: the real content store (LocalStore in a temporary directory) and image
// store (RocksImageStore), with an in-memory registry (a remotes::Resolver serving blobs from a
// map, verifying digests as the real Fetcher does), an in-memory snapshotter, an applier that
// hashes the (uncompressed) layer it is given, and a lease manager that records calls.
// Covers the labels and records a pull leaves, the lease, bad documents, a wrong diffID,
// pipelined unpack, the download limits, cancellation and the error paths.
#include "services/image/pull/puller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fmt/format.h"
#include "lib/status/status.h"
#include "lib/store/store.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/temp_dir.h"
#include "services/content/local_store.h"
#include "services/image/pull/labels.h"
#include "services/image/remotes/manifest.h"
#include "services/image/remotes/media_types.h"
#include "services/image/rocks_image_store.h"
#include "services/image/schema.h"

namespace berth::image::pull {
namespace {

using Clock = std::chrono::system_clock;
using ::berth::testing::MakeImage;
using ::berth::testing::MakeLayer;
using ::berth::testing::MediaTypes;
using ::berth::testing::OciImage;
using ::berth::testing::TarEntry;

constexpr char kRegistry[] = "registry.test:5000";

remotes::Descriptor DescOf(const testing::Blob& b) {
  remotes::Descriptor d;
  d.media_type = b.media_type;
  d.digest = *digest::Digest::Parse(b.digest);
  d.size = b.size;
  return d;
}

// Blocks until `ready` or 30 s; false on timeout (a broken pipeline, not a timing).
bool WaitOn(std::mutex& mu, std::condition_variable& cv, const std::function<bool()>& ready) {
  std::unique_lock<std::mutex> lock(mu);
  return cv.wait_for(lock, std::chrono::seconds(30), ready);
}

// An in-memory registry: references -> root descriptors, digests -> bytes.
class FakeRegistry final : public remotes::Resolver {
 public:
  // Called when a blob is opened (on the fetching thread), before its first byte.
  std::function<absl::Status(const remotes::Descriptor&)> on_open;

  void AddBlob(const testing::Blob& b) { blobs_[b.digest] = b.data; }
  void AddImage(const std::string& repo_tag, const OciImage& image) {
    for (const testing::Blob* b : image.ManifestBlobs()) AddBlob(*b);
    AddBlob(image.manifest);
    refs_[std::string(kRegistry) + "/" + repo_tag] = DescOf(image.manifest);
  }
  void AddIndex(const std::string& repo_tag, const testing::OciIndex& index) {
    for (const OciImage& img : index.images) {
      for (const testing::Blob* b : img.ManifestBlobs()) AddBlob(*b);
      AddBlob(img.manifest);
    }
    AddBlob(index.index);
    refs_[std::string(kRegistry) + "/" + repo_tag] = DescOf(index.index);
  }
  // Serves `data` for `digest` (bytes that do not match it).
  void Corrupt(const std::string& digest, std::string data) { blobs_[digest] = std::move(data); }
  void AddRef(const std::string& repo_tag, remotes::Descriptor d) {
    refs_[std::string(kRegistry) + "/" + repo_tag] = std::move(d);
  }

  // Layer streams open now, and the most open at once.
  int fetches(const std::string& digest) {
    std::lock_guard<std::mutex> lock(mu_);
    return fetches_[digest];
  }
  int active() {
    std::lock_guard<std::mutex> lock(mu_);
    return active_;
  }
  int peak() {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_;
  }

  absl::StatusOr<remotes::Resolved> Resolve(const CallContext&, std::string_view ref) override {
    auto it = refs_.find(std::string(ref));
    if (it == refs_.end()) return NotFoundError(fmt::format("{}: not found", ref));
    return remotes::Resolved{std::string(ref), it->second};
  }

  absl::StatusOr<std::unique_ptr<remotes::Fetcher>> NewFetcher(const CallContext&,
                                                               std::string_view) override {
    return std::unique_ptr<remotes::Fetcher>(new Fetcher(this));
  }

  absl::StatusOr<std::unique_ptr<remotes::Pusher>> NewPusher(const CallContext&,
                                                             std::string_view) override {
    return UnimplementedError("push");
  }

 private:
  class Stream final : public remotes::ReadStream {
   public:
    Stream(FakeRegistry* r, const CallContext& ctx, remotes::Descriptor d, std::string data,
           int64_t offset)
        : r_(r), ctx_(ctx), desc_(std::move(d)), data_(std::move(data)), offset_(offset) {}
    ~Stream() override {
      if (RoleOf(desc_.media_type) != "layer") return;
      std::lock_guard<std::mutex> lock(r_->mu_);
      --r_->active_;
    }
    absl::StatusOr<std::size_t> Read(char* buf, std::size_t n) override {
      if (ctx_.IsCancelled()) return CancelledError("fake fetch cancelled");
      if (offset_ >= static_cast<int64_t>(data_.size())) {
        if (from_ == 0 && digest::FromBytes(data_) != desc_.digest) {
          return DataLossError(
              fmt::format("digest mismatch for {} from \"{}\"", desc_.digest.ToString(), url()));
        }
        return 0;
      }
      std::size_t take = std::min<std::size_t>({n, 64 << 10, data_.size() - offset_});
      std::memcpy(buf, data_.data() + offset_, take);
      offset_ += static_cast<int64_t>(take);
      return take;
    }
    int64_t offset() const override { return offset_; }
    std::string url() const override {
      return "https://registry.test:5000/v2/blobs/" + desc_.digest.ToString();
    }

   private:
    FakeRegistry* r_;
    CallContext ctx_;
    remotes::Descriptor desc_;
    std::string data_;
    int64_t offset_;
    int64_t from_ = offset_;
  };

  class Fetcher final : public remotes::Fetcher {
   public:
    explicit Fetcher(FakeRegistry* r) : r_(r) {}
    using remotes::Fetcher::Fetch;
    absl::StatusOr<std::unique_ptr<remotes::ReadStream>> Fetch(const CallContext& ctx,
                                                               const remotes::Descriptor& desc,
                                                               int64_t offset) override {
      auto it = r_->blobs_.find(desc.digest.ToString());
      if (it == r_->blobs_.end()) return NotFoundError(desc.digest.ToString() + ": not found");
      {
        std::lock_guard<std::mutex> lock(r_->mu_);
        ++r_->fetches_[desc.digest.ToString()];
        if (RoleOf(desc.media_type) == "layer") r_->peak_ = std::max(r_->peak_, ++r_->active_);
      }
      auto stream = std::make_unique<Stream>(r_, ctx, desc, it->second, offset);
      if (r_->on_open) RETURN_IF_ERROR(r_->on_open(desc));
      return std::unique_ptr<remotes::ReadStream>(std::move(stream));
    }

   private:
    FakeRegistry* r_;
  };

  std::map<std::string, remotes::Descriptor> refs_;
  std::map<std::string, std::string> blobs_;
  std::mutex mu_;
  std::map<std::string, int> fetches_;
  int active_ = 0;
  int peak_ = 0;
};

// An in-memory snapshotter with containerd's codes for what a pull calls.
class FakeSnapshotter final : public snapshot::Snapshotter {
 public:
  absl::StatusOr<snapshot::Info> Stat(const CallContext&, std::string_view key) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = snaps_.find(std::string(key));
    if (it == snaps_.end()) return NotFoundError(fmt::format("snapshot {}: not found", key));
    return it->second;
  }
  absl::StatusOr<snapshot::Info> Update(const CallContext&, const snapshot::Info&,
                                        const std::vector<std::string>&) override {
    return UnimplementedError("update");
  }
  absl::StatusOr<snapshot::Usage> Usage(const CallContext&, std::string_view) override {
    return UnimplementedError("usage");
  }
  absl::StatusOr<std::vector<snapshot::Mount>> Mounts(const CallContext&,
                                                      std::string_view) override {
    return UnimplementedError("mounts");
  }
  absl::StatusOr<std::vector<snapshot::Mount>> Prepare(const CallContext&, std::string_view key,
                                                       std::string_view parent,
                                                       const snapshot::Labels& labels) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (snaps_.count(std::string(key)) != 0) return AlreadyExistsError(std::string(key));
    if (!parent.empty()) {
      auto p = snaps_.find(std::string(parent));
      if (p == snaps_.end()) return NotFoundError(std::string(parent));
      if (p->second.kind != snapshot::Kind::kCommitted) {
        return InvalidArgumentError("parent not committed");
      }
    }
    snapshot::Info info;
    info.kind = snapshot::Kind::kActive;
    info.name = std::string(key);
    info.parent = std::string(parent);
    info.labels = labels;
    snaps_[info.name] = info;
    snapshot::Mount m;
    m.type = "fake";
    m.source = std::string(key);
    return std::vector<snapshot::Mount>{m};
  }
  absl::StatusOr<std::vector<snapshot::Mount>> View(const CallContext&, std::string_view,
                                                    std::string_view,
                                                    const snapshot::Labels&) override {
    return UnimplementedError("view");
  }
  absl::Status Commit(const CallContext&, std::string_view name, std::string_view key,
                      const snapshot::Labels& labels) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = snaps_.find(std::string(key));
    if (it == snaps_.end()) return NotFoundError(std::string(key));
    if (snaps_.count(std::string(name)) != 0) return AlreadyExistsError(std::string(name));
    snapshot::Info info = it->second;
    snaps_.erase(it);
    info.kind = snapshot::Kind::kCommitted;
    info.name = std::string(name);
    for (const auto& [k, v] : labels) info.labels[k] = v;
    snaps_[info.name] = info;
    return absl::OkStatus();
  }
  absl::Status Remove(const CallContext&, std::string_view key) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (snaps_.erase(std::string(key)) == 0) return NotFoundError(std::string(key));
    return absl::OkStatus();
  }
  absl::Status Walk(const CallContext&, const std::vector<std::string>&,
                    const std::function<absl::Status(const snapshot::Info&)>& fn) override {
    std::map<std::string, snapshot::Info> copy;
    {
      std::lock_guard<std::mutex> lock(mu_);
      copy = snaps_;
    }
    for (const auto& [k, info] : copy) RETURN_IF_ERROR(fn(info));
    return absl::OkStatus();
  }
  absl::Status Cleanup(const CallContext&) override { return absl::OkStatus(); }

  std::map<std::string, snapshot::Info> all() {
    std::lock_guard<std::mutex> lock(mu_);
    return snaps_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, snapshot::Info> snaps_;
};

// Applies by hashing the layer from the content store, gunzipped for a gzip media type: its
// diffID.
class HashingApplier final : public snapshot::diff::Applier {
 public:
  explicit HashingApplier(content::Store* cs) : cs_(cs) {}
  std::function<void(const snapshot::diff::Descriptor&)> on_apply;
  std::string wrong_diff_id;  // when set, returned instead

  absl::StatusOr<snapshot::diff::Descriptor> Apply(
      const CallContext& ctx, const snapshot::diff::Descriptor& desc,
      const std::vector<snapshot::Mount>& mounts) override {
    if (mounts.empty()) return InvalidArgumentError("no mounts");
    ASSIGN_OR_RETURN(digest::Digest d, digest::Digest::Parse(desc.digest));
    ASSIGN_OR_RETURN(std::unique_ptr<content::ReaderAt> r, cs_->OpenReader(ctx, d));
    std::string bytes(static_cast<size_t>(r->Size()), '\0');
    ASSIGN_OR_RETURN(size_t n, r->ReadAt(bytes.data(), bytes.size(), 0));
    bytes.resize(n);
    if (desc.media_type.find("gzip") != std::string::npos) {
      ASSIGN_OR_RETURN(bytes, testing::Gunzip(bytes));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      applied_.push_back(desc.digest);
    }
    if (on_apply) on_apply(desc);
    snapshot::diff::Descriptor out;
    out.media_type = snapshot::diff::kMediaTypeLayer;
    out.digest = wrong_diff_id.empty() ? digest::FromBytes(bytes).ToString() : wrong_diff_id;
    out.size = static_cast<int64_t>(bytes.size());
    return out;
  }

  std::vector<std::string> applied() {
    std::lock_guard<std::mutex> lock(mu_);
    return applied_;
  }

 private:
  content::Store* cs_;
  std::mutex mu_;
  std::vector<std::string> applied_;
};

class FakeLeases final : public LeaseManager, public NamespaceLabels {
 public:
  absl::StatusOr<std::string> Create(const CallContext& ctx,
                                     const std::map<std::string, std::string>& labels) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string id = "lease-" + std::to_string(++n_);
    created_[id] = labels;
    EXPECT_TRUE(ctx.lease.empty());
    return id;
  }
  absl::Status Delete(const CallContext& ctx, const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_FALSE(ctx.ns.empty());
    deleted_.insert(id);
    return absl::OkStatus();
  }
  absl::StatusOr<std::map<std::string, std::string>> Labels(const CallContext&) override {
    return namespace_labels;
  }

  std::map<std::string, std::string> namespace_labels;
  std::map<std::string, std::map<std::string, std::string>> created() {
    std::lock_guard<std::mutex> lock(mu_);
    return created_;
  }
  std::set<std::string> deleted() {
    std::lock_guard<std::mutex> lock(mu_);
    return deleted_;
  }

 private:
  std::mutex mu_;
  int n_ = 0;
  std::map<std::string, std::map<std::string, std::string>> created_;
  std::set<std::string> deleted_;
};

absl::StatusOr<OciImage> LayeredImage(int layers, int seed) {
  std::vector<testing::Layer> ls;
  for (int i = 0; i < layers; ++i) {
    ASSIGN_OR_RETURN(
        testing::Layer l,
        MakeLayer({TarEntry::File(fmt::format("f{}", i), fmt::format("seed {} layer {}", seed, i) +
                                                             std::string(100 << 10, 'a' + i))},
                  MediaTypes::kOci, testing::Compression::kNone));
    ls.push_back(std::move(l));
  }
  return MakeImage(std::move(ls));
}

class PullerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    content::LocalStoreOptions co;
    co.root = dir_.Path("content");
    co.verify_blobs = false;
    co.expiry_interval = std::chrono::seconds(0);
    ASSERT_OK_AND_ASSIGN(content_, content::LocalStore::Open(co));
    store::Options so;
    so.schema_version = schema::kSchemaVersion;
    ASSERT_OK_AND_ASSIGN(db_, store::Store::Open(dir_.Path("meta"), so));
    images_ = std::make_unique<RocksImageStore>(db_.get(), RocksImageStoreOptions{});
    applier_ = std::make_unique<HashingApplier>(content_.get());
  }

  std::unique_ptr<Puller> MakePuller(PullerOptions options = {}, bool leases = true) {
    PullerDeps deps;
    deps.content = content_.get();
    deps.images = images_.get();
    deps.applier = applier_.get();
    deps.snapshotters = [this](const std::string& name) -> absl::StatusOr<snapshot::Snapshotter*> {
      if (name != "overlayfs" && name != "native") {
        return InvalidArgumentError("snapshotter not loaded: " + name);
      }
      return &snapshots_[name];
    };
    deps.leases = leases ? &leases_ : nullptr;
    deps.namespaces = &leases_;
    deps.new_resolver = [this](const remotes::RegistryOptions&) {
      return std::unique_ptr<remotes::Resolver>(new Forwarding(&registry_));
    };
    return std::make_unique<Puller>(std::move(deps), std::move(options));
  }

  // Forwards to the test's registry (the Puller owns its resolvers).
  class Forwarding final : public remotes::Resolver {
   public:
    explicit Forwarding(FakeRegistry* r) : r_(r) {}
    absl::StatusOr<remotes::Resolved> Resolve(const CallContext& c, std::string_view ref) override {
      return r_->Resolve(c, ref);
    }
    absl::StatusOr<std::unique_ptr<remotes::Fetcher>> NewFetcher(const CallContext& c,
                                                                 std::string_view ref) override {
      return r_->NewFetcher(c, ref);
    }
    absl::StatusOr<std::unique_ptr<remotes::Pusher>> NewPusher(const CallContext& c,
                                                               std::string_view ref) override {
      return r_->NewPusher(c, ref);
    }

   private:
    FakeRegistry* r_;
  };

  static PullRequest Request(const std::string& repo_tag, bool unpack = true) {
    PullRequest r;
    r.ref = std::string(kRegistry) + "/" + repo_tag;
    r.unpack = unpack;
    return r;
  }

  content::Labels LabelsOf(const std::string& d) {
    absl::StatusOr<content::Info> info = content_->Info(ctx_, *digest::Digest::Parse(d));
    EXPECT_OK(info.status()) << d;
    return info.ok() ? info->labels : content::Labels{};
  }

  std::vector<std::string> Blobs() {
    std::vector<std::string> out;
    EXPECT_OK(content_->Walk(ctx_, {}, [&](const content::Info& i) {
      out.push_back(i.digest.ToString());
      return absl::OkStatus();
    }));
    return out;
  }

  testing::TempDir dir_{"bpull"};
  std::unique_ptr<content::LocalStore> content_;
  std::unique_ptr<store::Store> db_;
  std::unique_ptr<RocksImageStore> images_;
  std::map<std::string, FakeSnapshotter> snapshots_;
  std::unique_ptr<HashingApplier> applier_;
  FakeLeases leases_;
  FakeRegistry registry_;
  CallContext ctx_ = CallContext::Background("ns1");
};

TEST_F(PullerTest, LeavesContainerdsRecordsAndLabels) {
  ASSERT_OK_AND_ASSIGN(OciImage image, LayeredImage(2, 1));
  registry_.AddImage("app/one:1.0", image);
  auto puller = MakePuller();
  std::vector<Progress> progress;
  std::vector<std::string> images_seen;
  PullRequest req = Request("app/one:1.0");
  req.labels["team"] = "a";
  ASSERT_OK_AND_ASSIGN(Image img, puller->Pull(ctx_, req, [&](const Progress& p) {
    progress.push_back(p);
    if (p.image != nullptr) images_seen.push_back(p.image->name());
  }));

  // The record, written last.
  EXPECT_EQ(img.name(), req.ref);
  EXPECT_EQ(img.target().digest(), image.manifest.digest);
  EXPECT_EQ(img.target().media_type(), image.manifest.media_type);
  EXPECT_EQ(img.target().size(), image.manifest.size);
  EXPECT_EQ(img.labels().at("team"), "a");
  ASSERT_OK_AND_ASSIGN(Image stored, images_->Get(ctx_, req.ref));
  EXPECT_EQ(stored.target().digest(), image.manifest.digest);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.front().kind, Progress::Kind::kResolving);
  EXPECT_EQ(progress.back().kind, Progress::Kind::kDone);
  EXPECT_EQ(images_seen, std::vector<std::string>{req.ref});

  // containerd's labels.
  const std::vector<std::string> chain = image.ChainIds();
  const std::string source = "containerd.io/distribution.source.registry.test";
  EXPECT_EQ(LabelsOf(image.manifest.digest),
            (content::Labels{{"containerd.io/gc.ref.content.config", image.config.digest},
                             {"containerd.io/gc.ref.content.l.0", image.layers[0].blob.digest},
                             {"containerd.io/gc.ref.content.l.1", image.layers[1].blob.digest},
                             {source, "app/one"}}));
  EXPECT_EQ(LabelsOf(image.config.digest),
            (content::Labels{{"containerd.io/gc.ref.snapshot.overlayfs", chain.back()},
                             {source, "app/one"}}));
  for (const testing::Layer& l : image.layers) {
    EXPECT_EQ(LabelsOf(l.blob.digest),
              (content::Labels{{"containerd.io/uncompressed", l.diff_id}, {source, "app/one"}}));
  }
  EXPECT_EQ(Blobs().size(), 4u);

  // The chain, committed with containerd's unpacker label; no extraction snapshot left.
  std::map<std::string, snapshot::Info> snaps = snapshots_["overlayfs"].all();
  ASSERT_EQ(snaps.size(), chain.size());
  for (size_t i = 0; i < chain.size(); ++i) {
    const snapshot::Info& s = snaps[chain[i]];
    EXPECT_EQ(s.kind, snapshot::Kind::kCommitted);
    EXPECT_EQ(s.parent, i == 0 ? "" : chain[i - 1]);
    EXPECT_EQ(s.labels.at("containerd.io/snapshot.ref"), chain[i]);
  }
  EXPECT_EQ(applier_->applied(),
            (std::vector<std::string>{image.layers[0].blob.digest, image.layers[1].blob.digest}));

  // One lease, expiring in about a day, deleted at the end; every blob was taken under it.
  auto created = leases_.created();
  ASSERT_EQ(created.size(), 1u);
  const std::string lease = created.begin()->first;
  EXPECT_EQ(leases_.deleted(), std::set<std::string>{lease});
  const std::string expire = created.begin()->second.at("containerd.io/gc.expire");
  EXPECT_EQ(expire.size(), 20u) << expire;  // 2026-01-02T03:04:05Z
  ASSERT_OK_AND_ASSIGN(std::vector<content::LeaseResource> held,
                       content_->ListLeaseResources(ctx_, lease));
  std::set<std::string> held_ids;
  for (const auto& r : held) {
    if (r.type == "content") held_ids.insert(r.id);
  }
  for (const std::string& d : Blobs()) EXPECT_EQ(held_ids.count(d), 1u) << d;

  // A second pull finds everything: nothing fetched, nothing applied, same labels.
  const int layer_fetches = registry_.fetches(image.layers[0].blob.digest);
  ASSERT_OK(puller->Pull(ctx_, req, nullptr).status());
  EXPECT_EQ(registry_.fetches(image.layers[0].blob.digest), layer_fetches);
  EXPECT_EQ(applier_->applied().size(), 2u);
  EXPECT_EQ(LabelsOf(image.config.digest).size(), 2u);
  EXPECT_EQ(puller->stats().pulls, 2u);
}

TEST_F(PullerTest, ReplacesAnExistingImageRecord) {
  ASSERT_OK_AND_ASSIGN(OciImage image, LayeredImage(1, 2));
  registry_.AddImage("app/two:1.0", image);
  Image old;
  old.set_name(std::string(kRegistry) + "/app/two:1.0");
  old.mutable_target()->set_media_type(std::string(remotes::kOciManifest));
  old.mutable_target()->set_digest("sha256:" + std::string(64, 'e'));
  old.mutable_target()->set_size(1);
  (*old.mutable_labels())["old"] = "x";
  ASSERT_OK(images_->Create(ctx_, old).status());
  auto puller = MakePuller();
  ASSERT_OK_AND_ASSIGN(Image img, puller->Pull(ctx_, Request("app/two:1.0", false), nullptr));
  EXPECT_EQ(img.target().digest(), image.manifest.digest);
  EXPECT_EQ(img.labels_size(), 0);
  // Without unpack: the blobs, no snapshot, no snapshot label.
  EXPECT_TRUE(snapshots_["overlayfs"].all().empty());
  EXPECT_EQ(LabelsOf(image.config.digest).count("containerd.io/gc.ref.snapshot.overlayfs"), 0u);
  EXPECT_EQ(LabelsOf(image.layers[0].blob.digest).count("containerd.io/uncompressed"), 0u);
}

TEST_F(PullerTest, IndexLabelsEveryEntryAndPullsTheChosenPlatform) {
  ASSERT_OK_AND_ASSIGN(testing::OciIndex index, testing::MultiPlatformIndex());
  registry_.AddIndex("app/multi:1.0", index);
  const OciImage* amd64 = index.Find("linux", "amd64");
  const OciImage* arm64 = index.Find("linux", "arm64");
  auto puller = MakePuller();
  PullRequest req = Request("app/multi:1.0");
  req.platforms = {"linux/arm64"};
  // The namespace's default snapshotter is used.
  leases_.namespace_labels["containerd.io/defaults/snapshotter"] = "native";
  ASSERT_OK_AND_ASSIGN(Image img, puller->Pull(ctx_, req, nullptr));
  EXPECT_EQ(img.target().digest(), index.index.digest);
  content::Labels labels = LabelsOf(index.index.digest);
  EXPECT_EQ(labels["containerd.io/gc.ref.content.m.0"], index.images[0].manifest.digest);
  EXPECT_EQ(labels["containerd.io/gc.ref.content.m.1"], index.images[1].manifest.digest);
  EXPECT_EQ(registry_.fetches(arm64->manifest.digest), 1);
  EXPECT_EQ(registry_.fetches(amd64->manifest.digest), 0);
  EXPECT_EQ(registry_.fetches(amd64->config.digest), 0);
  EXPECT_EQ(snapshots_["native"].all().size(), arm64->layers.size());
  EXPECT_TRUE(snapshots_["overlayfs"].all().empty());
  EXPECT_EQ(LabelsOf(arm64->config.digest).count("containerd.io/gc.ref.snapshot.native"), 1u);

  // No manifest for the platform: NotFound naming the index, no image.
  req.ref = std::string(kRegistry) + "/app/multi:1.0";
  req.name = "other";
  req.platforms = {"linux/s390x"};
  absl::Status s = puller->Pull(ctx_, req, nullptr).status();
  EXPECT_TRUE(IsNotFound(s)) << s;
  EXPECT_NE(s.message().find(index.index.digest), absl::string_view::npos) << s;
  EXPECT_TRUE(IsNotFound(images_->Get(ctx_, "other").status()));
  EXPECT_EQ(leases_.deleted().size(), 2u);
}

TEST_F(PullerTest, RefusesBadDocumentsAndStoresNothingOfThem) {
  auto puller = MakePuller();
  // An ambiguous document: both manifests and layers (GHSA-5j5w-g665-5m35).
  testing::Blob ambiguous = testing::MakeBlob(
      std::string(remotes::kOciManifest),
      R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
      R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:)" +
          std::string(64, 'a') + R"(","size":2},"layers":[],"manifests":[]})");
  registry_.AddBlob(ambiguous);
  registry_.AddRef("bad/ambiguous:1", DescOf(ambiguous));
  absl::Status s = puller->Pull(ctx_, Request("bad/ambiguous:1"), nullptr).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find(ambiguous.digest), absl::string_view::npos) << s;
  EXPECT_TRUE(Blobs().empty());
  ASSERT_OK_AND_ASSIGN(auto ingests, content_->ListStatuses(ctx_, {}));
  EXPECT_TRUE(ingests.empty());

  // A manifest over the size limit is not even fetched.
  remotes::Descriptor huge = DescOf(ambiguous);
  huge.size = remotes::kMaxManifestSize + 1;
  registry_.AddRef("bad/huge:1", huge);
  const int fetches = registry_.fetches(ambiguous.digest);
  s = puller->Pull(ctx_, Request("bad/huge:1"), nullptr).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  EXPECT_EQ(registry_.fetches(ambiguous.digest), fetches);

  // A config whose diff IDs do not match the layers.
  ASSERT_OK_AND_ASSIGN(OciImage image, LayeredImage(2, 3));
  ASSERT_OK_AND_ASSIGN(OciImage one, LayeredImage(1, 4));
  // Manifest of `image` but the config of the one-layer image.
  std::string manifest = image.manifest.data;
  const size_t at = manifest.find(image.config.digest);
  ASSERT_NE(at, std::string::npos);
  manifest.replace(at, image.config.digest.size(), one.config.digest);
  const std::string size_field = "\"size\":" + std::to_string(image.config.size);
  const size_t sz = manifest.find(size_field, at);
  ASSERT_NE(sz, std::string::npos);
  manifest.replace(sz, size_field.size(), "\"size\":" + std::to_string(one.config.size));
  testing::Blob mixed = testing::MakeBlob(image.manifest.media_type, manifest);
  registry_.AddImage("app/three:1", image);
  registry_.AddBlob(one.config);
  registry_.AddBlob(mixed);
  registry_.AddRef("bad/mixed:1", DescOf(mixed));
  s = puller->Pull(ctx_, Request("bad/mixed:1"), nullptr).status();
  EXPECT_TRUE(IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("mismatched image rootfs"), absl::string_view::npos) << s;

  // Unknown reference.
  s = puller->Pull(ctx_, Request("nothing/here:1"), nullptr).status();
  EXPECT_TRUE(IsNotFound(s)) << s;
  // Bad requests.
  EXPECT_TRUE(IsInvalidArgument(puller->Pull(ctx_, PullRequest{}, nullptr).status()));
  PullRequest bad = Request("app/three:1");
  bad.platforms = {"linux/"};
  EXPECT_TRUE(IsInvalidArgument(puller->Pull(ctx_, bad, nullptr).status()));
  bad = Request("app/three:1");
  bad.snapshotter = "zfs";
  EXPECT_TRUE(IsInvalidArgument(puller->Pull(ctx_, bad, nullptr).status()));
  EXPECT_TRUE(IsFailedPrecondition(
      puller->Pull(CallContext::Background(""), Request("app/three:1"), nullptr).status()));
  ASSERT_OK_AND_ASSIGN(std::vector<Image> all, images_->List(ctx_, {}));
  EXPECT_TRUE(all.empty());
  // Every lease taken was deleted.
  EXPECT_EQ(leases_.deleted().size(), leases_.created().size());
}

TEST_F(PullerTest, CorruptLayerIsNotStoredAndNamesTheDigest) {
  ASSERT_OK_AND_ASSIGN(OciImage image, LayeredImage(2, 5));
  registry_.AddImage("app/corrupt:1", image);
  std::string bad = image.layers[1].blob.data;
  bad[bad.size() / 2] ^= 0x55;
  registry_.Corrupt(image.layers[1].blob.digest, bad);
  auto puller = MakePuller();
  absl::Status s = puller->Pull(ctx_, Request("app/corrupt:1"), nullptr).status();
  EXPECT_TRUE(IsDataLoss(s)) << s;
  EXPECT_NE(s.message().find("digest mismatch for " + image.layers[1].blob.digest),
            absl::string_view::npos)
      << s;
  EXPECT_TRUE(
      content_->Info(ctx_, *digest::Digest::Parse(image.layers[1].blob.digest)).status().code() ==
      absl::StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto ingests, content_->ListStatuses(ctx_, {}));
  for (const auto& i : ingests) EXPECT_NE(i.ref, "layer-" + image.layers[1].blob.digest);
  EXPECT_TRUE(IsNotFound(images_->Get(ctx_, std::string(kRegistry) + "/app/corrupt:1").status()));
  // No extraction snapshot is left behind.
  for (const auto& [name, info] : snapshots_["overlayfs"].all()) {
    EXPECT_EQ(info.kind, snapshot::Kind::kCommitted) << name;
  }
}

TEST_F(PullerTest, WrongDiffIdFailsAndRemovesTheExtractionSnapshot) {
  ASSERT_OK_AND_ASSIGN(OciImage image, LayeredImage(1, 6));
  registry_.AddImage("app/diff:1", image);
  applier_->wrong_diff_id = "sha256:" + std::string(64, '0');
  auto puller = MakePuller();
  absl::Status s = puller->Pull(ctx_, Request("app/diff:1"), nullptr).status();
  EXPECT_TRUE(IsFailedPrecondition(s)) << s;
  EXPECT_NE(s.message().find("wrong diff id"), absl::string_view::npos) << s;
  EXPECT_TRUE(snapshots_["overlayfs"].all().empty());
  EXPECT_EQ(LabelsOf(image.layers[0].blob.digest).count("containerd.io/uncompressed"), 0u);
  EXPECT_TRUE(IsNotFound(images_->Get(ctx_, std::string(kRegistry) + "/app/diff:1").status()));
}

// Layer 0 is applied while the last layer is still downloading: the last layer's stream does
// not start until layer 0 was applied (the test would fail after 30 s without pipelining).
TEST_F(PullerTest, UnpacksEarlyLayersWhileLaterOnesDownload) {
  ASSERT_OK_AND_ASSIGN(OciImage image, LayeredImage(3, 7));
  registry_.AddImage("app/pipe:1", image);
  std::mutex mu;
  std::condition_variable cv;
  bool first_applied = false;
  applier_->on_apply = [&](const snapshot::diff::Descriptor& d) {
    if (d.digest != image.layers[0].blob.digest) return;
    std::lock_guard<std::mutex> lock(mu);
    first_applied = true;
    cv.notify_all();
  };
  registry_.on_open = [&](const remotes::Descriptor& d) -> absl::Status {
    if (d.digest.ToString() != image.layers[2].blob.digest) return absl::OkStatus();
    if (!WaitOn(mu, cv, [&] { return first_applied; })) {
      return UnavailableError("layer 0 was not applied while layer 2 was downloading");
    }
    return absl::OkStatus();
  };
  auto puller = MakePuller();
  ASSERT_OK(puller->Pull(ctx_, Request("app/pipe:1"), nullptr).status());
  EXPECT_EQ(applier_->applied().size(), 3u);
}

// Per pull at most max_concurrent_downloads streams; all pulls together at most
// max_concurrent_downloads_total. Streams wait for each other until the limit is first reached,
// so the peak is the limit exactly.
TEST_F(PullerTest, DownloadLimits) {
  ASSERT_OK_AND_ASSIGN(OciImage image, LayeredImage(6, 8));
  ASSERT_OK_AND_ASSIGN(OciImage other, LayeredImage(6, 9));
  registry_.AddImage("app/many:1", image);
  registry_.AddImage("app/other:1", other);
  std::mutex mu;
  std::condition_variable cv;
  int opened = 0;
  int limit = 2;
  int layers = 6;
  registry_.on_open = [&](const remotes::Descriptor& d) -> absl::Status {
    if (RoleOf(d.media_type) != "layer") return absl::OkStatus();
    std::unique_lock<std::mutex> lock(mu);
    ++opened;
    cv.notify_all();
    // Hold until `limit` streams have been open at once, or no more will come. Once the peak
    // was reached nothing waits: a pull that runs ahead and finishes must not leave the other's
    // streams waiting for a count only two pulls together can reach.
    if (!cv.wait_for(lock, std::chrono::seconds(30),
                     [&] { return registry_.peak() >= limit || opened == layers; })) {
      return UnavailableError("streams did not overlap");
    }
    return absl::OkStatus();
  };
  PullerOptions options;
  options.max_concurrent_downloads = 2;
  options.max_concurrent_downloads_total = 8;
  {
    auto puller = MakePuller(options);
    ASSERT_OK(puller->Pull(ctx_, Request("app/many:1", false), nullptr).status());
    EXPECT_EQ(registry_.peak(), 2);
    // The global semaphore also counts the manifest and config fetches.
    EXPECT_LE(puller->downloads_peak(), 3u);
  }
  // Two pulls of 3 per pull, 4 in all.
  options.max_concurrent_downloads = 3;
  options.max_concurrent_downloads_total = 4;
  {
    std::lock_guard<std::mutex> lock(mu);
    opened = 0;
    limit = 4;
    layers = 12;
  }
  ASSERT_OK_AND_ASSIGN(OciImage third, LayeredImage(6, 10));
  ASSERT_OK_AND_ASSIGN(OciImage fourth, LayeredImage(6, 11));
  registry_.AddImage("app/third:1", third);
  registry_.AddImage("app/fourth:1", fourth);
  auto puller = MakePuller(options);
  absl::Status a, b;
  std::thread ta([&] { a = puller->Pull(ctx_, Request("app/third:1", false), nullptr).status(); });
  std::thread tb([&] {
    b = puller->Pull(CallContext::Background("ns2"), Request("app/fourth:1", false), nullptr)
            .status();
  });
  ta.join();
  tb.join();
  EXPECT_OK(a);
  EXPECT_OK(b);
  EXPECT_EQ(puller->downloads_peak(), 4u);
  EXPECT_EQ(registry_.peak(), 4);
}

TEST_F(PullerTest, CancelledPullDeletesItsLeaseAndCreatesNoImage) {
  ASSERT_OK_AND_ASSIGN(OciImage image, LayeredImage(2, 12));
  registry_.AddImage("app/cancel:1", image);
  std::atomic<bool> cancel{false};
  CallContext ctx = ctx_;
  ctx.cancelled = [&] { return cancel.load(); };
  auto puller = MakePuller();
  absl::Status s = puller
                       ->Pull(ctx, Request("app/cancel:1"),
                              [&](const Progress& p) {
                                if (p.kind == Progress::Kind::kDownloading && p.role == "layer")
                                  cancel = true;
                              })
                       .status();
  EXPECT_TRUE(IsCancelled(s)) << s;
  EXPECT_TRUE(IsNotFound(images_->Get(ctx_, std::string(kRegistry) + "/app/cancel:1").status()));
  EXPECT_EQ(leases_.deleted().size(), 1u);
  EXPECT_EQ(puller->stats().pull_errors, 1u);
  // Nothing is applied once cancelled; the next pull completes.
  ASSERT_OK(puller->Pull(ctx_, Request("app/cancel:1"), nullptr).status());
}

TEST_F(PullerTest, PullsWithoutALeaseManager) {
  ASSERT_OK_AND_ASSIGN(OciImage image, LayeredImage(1, 13));
  registry_.AddImage("app/nolease:1", image);
  auto puller = MakePuller({}, /*leases=*/false);
  ASSERT_OK(puller->Pull(ctx_, Request("app/nolease:1"), nullptr).status());
  EXPECT_TRUE(leases_.created().empty());
}

}  // namespace
}  // namespace berth::image::pull
