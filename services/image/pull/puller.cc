#include "services/image/pull/puller.h"

#include <time.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <thread>
#include <utility>

#include "fmt/format.h"
#include "lib/labels/labels.h"
#include "lib/log/log.h"
#include "lib/platforms/platforms.h"
#include "lib/status/status.h"
#include "services/image/pull/labels.h"
#include "services/image/remotes/fetcher.h"
#include "services/image/remotes/manifest.h"
#include "services/image/remotes/media_types.h"

namespace berth::image::pull {
namespace {

using Clock = std::chrono::system_clock;

// How deep indexes may nest (an index of indexes of manifests is depth 2).
constexpr int kMaxIndexDepth = 4;

std::string Rfc3339(Clock::time_point t) {
  const time_t secs = Clock::to_time_t(t);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool IsLockedError(const absl::Status& s) {
  return IsUnavailable(s) && s.message().find("locked") != absl::string_view::npos;
}

snapshot::diff::Descriptor ToDiffDescriptor(const remotes::Descriptor& d) {
  snapshot::diff::Descriptor out;
  out.media_type = d.media_type;
  out.digest = d.digest.ToString();
  out.size = d.size;
  out.annotations = d.annotations;
  return out;
}

// "<role> <digest>", how errors name a blob.
std::string BlobName(const remotes::Descriptor& d) {
  return RoleOf(d.media_type) + " " + d.digest.ToString();
}

}  // namespace

// One pull: its context, lease, registry handles, layer download workers and progress.
class Puller::Operation {
 public:
  Operation(Puller* puller, const CallContext& caller, const PullRequest& request,
            const ProgressFunc& progress)
      : puller_(puller), caller_(caller), request_(request), progress_(progress) {
    ctx_ = caller;
    ctx_.cancelled = [this] {
      return aborted_.load(std::memory_order_relaxed) || caller_.IsCancelled();
    };
  }

  ~Operation() { StopWorkers(); }

  absl::StatusOr<image::Image> Run();

 private:
  // A layer blob queued for download (one per digest per pull).
  struct Layer {
    remotes::Descriptor desc;
    bool done = false;  // guarded by mu_
    absl::Status status;
  };

  // A manifest the pull handles: its layers and what its config says.
  struct ManifestPlan {
    remotes::Descriptor manifest;
    remotes::Descriptor config;
    std::vector<digest::Digest> diff_ids;
    std::vector<Layer*> layers;
  };

  absl::Status Prepare();
  absl::Status HandleRoot();
  absl::Status HandleIndex(const remotes::Descriptor& desc, int depth);
  absl::Status HandleManifest(const remotes::Descriptor& desc);
  absl::Status Unpack(const ManifestPlan& plan);
  absl::Status UnpackLayer(snapshot::Snapshotter* sn, const remotes::Descriptor& layer,
                           const digest::Digest& diff_id, const digest::Digest& chain_id,
                           const digest::Digest& parent);
  absl::StatusOr<image::Image> WriteImage();

  // Makes sure the document `desc` (index, manifest, config; at most max_size bytes) is in the
  // content store and returns its bytes. `labels_of` validates the bytes and returns the
  // labels the blob must carry (the GC references to its children); it runs before a new blob
  // is committed, so an invalid document is never stored.
  absl::StatusOr<std::string> EnsureDocument(
      const remotes::Descriptor& desc, std::int64_t max_size,
      const std::function<absl::StatusOr<content::Labels>(const std::string&)>& labels_of);
  // Makes sure the blob `desc` is in the content store, streaming it from the registry
  // (resuming an ingest) when it is not.
  absl::Status EnsureBlob(const remotes::Descriptor& desc);
  // Opens the ingest of `desc`; nullptr (and OK) when the blob is already stored. Waits while
  // another writer holds the ref.
  absl::StatusOr<std::unique_ptr<content::Writer>> OpenWriter(const remotes::Descriptor& desc);
  // Adds `labels` and the distribution source to a stored blob's labels.
  absl::Status LabelStored(const digest::Digest& d, const content::Labels& extra);
  absl::StatusOr<std::string> ReadStored(const remotes::Descriptor& desc);

  Layer* QueueLayer(const remotes::Descriptor& desc);
  absl::Status WaitLayer(Layer* layer);
  void Worker();
  void StopWorkers();
  void Fail(const absl::Status& s);

  void Emit(Progress p);
  void EmitBlob(Progress::Kind kind, const remotes::Descriptor& d, std::int64_t offset = 0);
  CallContext CleanupContext() const;

  Puller* const puller_;
  const CallContext& caller_;
  const PullRequest& request_;
  const ProgressFunc& progress_;
  // The caller's context, with the lease once there is one, cancelled when the pull aborts.
  CallContext ctx_;
  std::atomic<bool> aborted_{false};

  std::unique_ptr<remotes::Resolver> owned_resolver_;
  remotes::Resolver* resolver_ = nullptr;
  remotes::Resolved resolved_;
  std::unique_ptr<remotes::Fetcher> fetcher_;
  DistributionSource source_;
  std::optional<platforms::Matcher> matcher_;
  std::string snapshotter_;
  std::string lease_;

  std::vector<ManifestPlan> plans_;

  std::mutex progress_mu_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Layer>> layers_;        // guarded by mu_ (the vector)
  std::map<digest::Digest, Layer*> layer_by_digest_;  // guarded by mu_
  std::deque<Layer*> queue_;                          // guarded by mu_
  std::vector<std::thread> workers_;
  std::size_t idle_workers_ = 0;  // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  absl::Status failure_;          // guarded by mu_: the first worker error
};

absl::StatusOr<image::Image> Puller::Operation::Run() {
  absl::Status s = Prepare();
  if (s.ok()) s = HandleRoot();
  for (size_t i = 0; s.ok() && i < plans_.size(); ++i) {
    if (request_.unpack) {
      s = Unpack(plans_[i]);
    } else {
      for (Layer* l : plans_[i].layers) {
        s = WaitLayer(l);
        if (!s.ok()) break;
      }
    }
  }
  if (IsCancelled(s) && !caller_.IsCancelled()) {
    // Cancelled by the pull itself: a download failed while this thread was busy. That failure
    // is the error.
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_.ok()) s = failure_;
  }
  absl::StatusOr<image::Image> result = s.ok() ? WriteImage() : absl::StatusOr<image::Image>(s);
  if (!result.ok()) aborted_ = true;
  StopWorkers();
  if (!lease_.empty()) {
    CallContext cleanup = CleanupContext();
    cleanup.lease.clear();
    if (absl::Status d = puller_->deps_.leases->Delete(cleanup, lease_); !d.ok()) {
      log::Warn(
          "pull: lease not deleted (it expires by itself) namespace={:?} lease={:?} "
          "error={:?}",
          ctx_.ns, lease_, d.ToString());
    }
  }
  if (!result.ok()) {
    // Cancellation by the caller wins over the errors it caused downstream.
    absl::Status e = result.status();
    if (caller_.IsCancelled() && !IsCancelled(e)) e = CancelledError("cancelled by the caller");
    return Annotate(e, fmt::format("pull {:?}", request_.ref));
  }
  Progress done;
  done.kind = Progress::Kind::kDone;
  done.ref = request_.ref;
  done.digest = result->target().digest();
  done.media_type = result->target().media_type();
  done.role = RoleOf(done.media_type);
  done.total = result->target().size();
  done.offset = done.total;
  done.image = &*result;
  Emit(std::move(done));
  return result;
}

absl::Status Puller::Operation::Prepare() {
  if (request_.ref.empty()) return InvalidArgumentError("a reference is required");
  if (ctx_.ns.empty()) return FailedPreconditionError("namespace is required");
  ASSIGN_OR_RETURN(platforms::Matcher m,
                   remotes::MatcherFor(request_.platforms, request_.all_platforms));
  matcher_ = std::move(m);
  const PullerDeps& deps = puller_->deps_;
  if (request_.unpack) {
    if (deps.applier == nullptr || !deps.snapshotters) {
      return FailedPreconditionError("unpack is not available: no snapshot service configured");
    }
    snapshotter_ = request_.snapshotter;
    if (snapshotter_.empty() && deps.namespaces != nullptr) {
      ASSIGN_OR_RETURN(auto labels, deps.namespaces->Labels(ctx_));
      if (auto it = labels.find(kDefaultSnapshotterLabel); it != labels.end()) {
        snapshotter_ = it->second;
      }
    }
    if (snapshotter_.empty()) snapshotter_ = puller_->options_.default_snapshotter;
    ASSIGN_OR_RETURN(snapshot::Snapshotter * sn, deps.snapshotters(snapshotter_));
    // Fail before downloading anything when the snapshotter does not exist (the snapshot
    // service answers InvalidArgument "snapshotter not loaded"): a probe for a key no pull
    // makes is NotFound on a real one.
    if (absl::Status probe = sn->Stat(ctx_, "berth-pull-probe").status();
        !probe.ok() && !IsNotFound(probe)) {
      return Annotate(probe, fmt::format("snapshotter {:?}", snapshotter_));
    }
  }

  Progress p;
  p.kind = Progress::Kind::kResolving;
  p.ref = request_.ref;
  Emit(std::move(p));
  ASSIGN_OR_RETURN(resolver_, puller_->ResolverFor(request_, &owned_resolver_));
  ASSIGN_OR_RETURN(resolved_, resolver_->Resolve(ctx_, request_.ref));
  ASSIGN_OR_RETURN(source_, DistributionSourceOf(resolved_.name));
  ASSIGN_OR_RETURN(fetcher_, resolver_->NewFetcher(ctx_, resolved_.name));

  if (deps.leases != nullptr) {
    const auto expire =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(puller_->options_.lease_expiry);
    ASSIGN_OR_RETURN(lease_, deps.leases->Create(ctx_, {{kGcExpireLabel, Rfc3339(expire)}}));
    ctx_.lease = lease_;
  }
  return absl::OkStatus();
}

absl::Status Puller::Operation::HandleRoot() {
  const remotes::Descriptor& root = resolved_.descriptor;
  if (remotes::IsIndexType(root.media_type)) return HandleIndex(root, 1);
  if (remotes::IsManifestType(root.media_type)) return HandleManifest(root);
  return InvalidArgumentError(
      fmt::format("{} {:?} resolves to media type {:?}: not a manifest or "
                  "an index",
                  root.digest.ToString(), resolved_.name, root.media_type));
}

absl::Status Puller::Operation::HandleIndex(const remotes::Descriptor& desc, int depth) {
  if (depth > kMaxIndexDepth) {
    return InvalidArgumentError(fmt::format("index {}: indexes nested deeper than {}",
                                            desc.digest.ToString(), kMaxIndexDepth));
  }
  remotes::Index index;
  ASSIGN_OR_RETURN(std::string bytes,
                   EnsureDocument(desc, remotes::kMaxManifestSize,
                                  [&](const std::string& b) -> absl::StatusOr<content::Labels> {
                                    ASSIGN_OR_RETURN(index,
                                                     remotes::ParseIndex(b, desc.media_type));
                                    return ChildGcLabels(index.manifests);
                                  }));
  (void)bytes;
  // Containerd's FilterPlatforms + LimitManifests: entries without a platform are candidates
  // too (after the matching ones); one manifest unless platforms were asked for.
  const std::size_t limit = request_.all_platforms || !request_.platforms.empty() ? 0 : 1;
  std::vector<remotes::Descriptor> chosen =
      remotes::SelectManifests(index, *matcher_, limit, /*include_unplatformed=*/true);
  if (chosen.empty()) {
    std::string wanted = request_.platforms.empty() ? std::string("the host's platform") : "";
    for (const std::string& p : request_.platforms) wanted += (wanted.empty() ? "" : ", ") + p;
    return NotFoundError(
        fmt::format("index {}: no manifest for {}", desc.digest.ToString(), wanted));
  }
  for (const remotes::Descriptor& child : chosen) {
    if (remotes::IsIndexType(child.media_type)) {
      RETURN_IF_ERROR(HandleIndex(child, depth + 1));
    } else {
      RETURN_IF_ERROR(HandleManifest(child));
    }
  }
  return absl::OkStatus();
}

absl::Status Puller::Operation::HandleManifest(const remotes::Descriptor& desc) {
  remotes::Manifest manifest;
  ASSIGN_OR_RETURN(std::string bytes,
                   EnsureDocument(desc, remotes::kMaxManifestSize,
                                  [&](const std::string& b) -> absl::StatusOr<content::Labels> {
                                    ASSIGN_OR_RETURN(manifest,
                                                     remotes::ParseManifest(b, desc.media_type));
                                    std::vector<remotes::Descriptor> children;
                                    children.push_back(manifest.config);
                                    children.insert(children.end(), manifest.layers.begin(),
                                                    manifest.layers.end());
                                    return ChildGcLabels(children);
                                  }));
  (void)bytes;
  ManifestPlan plan;
  plan.manifest = desc;
  plan.config = manifest.config;
  // Queue the layers first: they download while the config is fetched and earlier manifests
  // unpack.
  for (const remotes::Descriptor& layer : manifest.layers) plan.layers.push_back(QueueLayer(layer));
  ImageConfig config;
  ASSIGN_OR_RETURN(std::string config_bytes,
                   EnsureDocument(manifest.config, puller_->options_.max_config_size,
                                  [&](const std::string& b) -> absl::StatusOr<content::Labels> {
                                    if (request_.unpack) {
                                      ASSIGN_OR_RETURN(config, ParseImageConfig(b));
                                    }
                                    return content::Labels{};
                                  }));
  (void)config_bytes;
  if (request_.unpack && config.diff_ids.size() != manifest.layers.size()) {
    return InvalidArgumentError(fmt::format(
        "manifest {}: mismatched image rootfs and manifest layers: config {} has {} diff IDs, "
        "the manifest {} layers",
        desc.digest.ToString(), manifest.config.digest.ToString(), config.diff_ids.size(),
        manifest.layers.size()));
  }
  plan.diff_ids = std::move(config.diff_ids);
  plans_.push_back(std::move(plan));
  return absl::OkStatus();
}

absl::Status Puller::Operation::Unpack(const ManifestPlan& plan) {
  ASSIGN_OR_RETURN(snapshot::Snapshotter * sn, puller_->deps_.snapshotters(snapshotter_));
  const std::vector<digest::Digest> chain = ChainIds(plan.diff_ids);
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    // Pipelined: layer i unpacks as soon as it is stored, while later ones download.
    RETURN_IF_ERROR(WaitLayer(plan.layers[i]));
    RETURN_IF_ERROR(UnpackLayer(sn, plan.layers[i]->desc, plan.diff_ids[i], chain[i],
                                i == 0 ? digest::Digest() : chain[i - 1]));
  }
  if (chain.empty()) return absl::OkStatus();
  content::Info info;
  info.digest = plan.config.digest;
  const std::string key = kGcRefSnapshotPrefix + snapshotter_;
  info.labels[key] = chain.back().ToString();
  return Annotate(puller_->deps_.content->Update(ctx_, info, {"labels." + key}).status(),
                  fmt::format("label config {}", plan.config.digest.ToString()));
}

absl::Status Puller::Operation::UnpackLayer(snapshot::Snapshotter* sn,
                                            const remotes::Descriptor& layer,
                                            const digest::Digest& diff_id,
                                            const digest::Digest& chain_id,
                                            const digest::Digest& parent) {
  const std::string chain = chain_id.ToString();
  auto emit = [&](Progress::Kind kind) {
    Progress p;
    p.kind = kind;
    p.digest = layer.digest.ToString();
    p.media_type = layer.media_type;
    p.role = "layer";
    p.snapshot = chain;
    Emit(std::move(p));
  };
  // One unpack of a chain per namespace and snapshotter at a time in this process.
  ASSIGN_OR_RETURN(KeyedMutex::Guard guard,
                   puller_->unpacks_.Lock(ctx_, ctx_.ns + "/" + snapshotter_ + "/" + chain));
  absl::Status st = sn->Stat(ctx_, chain).status();
  if (st.ok()) {
    emit(Progress::Kind::kExists);
    return absl::OkStatus();
  }
  if (!IsNotFound(st)) return Annotate(st, fmt::format("stat snapshot {}", chain));
  emit(Progress::Kind::kUnpacking);

  const snapshot::Labels labels = {{kSnapshotRefLabel, chain}};
  std::string key;
  std::vector<snapshot::Mount> mounts;
  for (int attempt = 1;; ++attempt) {
    key = UnpackKey(chain_id);
    absl::StatusOr<std::vector<snapshot::Mount>> m =
        sn->Prepare(ctx_, key, parent.empty() ? "" : parent.ToString(), labels);
    if (m.ok()) {
      mounts = *std::move(m);
      break;
    }
    if (IsAlreadyExists(m.status()) && attempt < 3) {
      if (sn->Stat(ctx_, chain).ok()) {
        emit(Progress::Kind::kExists);
        return absl::OkStatus();
      }
      continue;
    }
    return Annotate(m.status(), fmt::format("prepare snapshot {:?} for layer {}", key,
                                            layer.digest.ToString()));
  }
  auto remove_key = [&] {
    if (absl::Status r = sn->Remove(CleanupContext(), key); !r.ok() && !IsNotFound(r)) {
      log::Warn("pull: extraction snapshot not removed namespace={:?} key={:?} error={:?}", ctx_.ns,
                key, r.ToString());
    }
  };
  absl::StatusOr<snapshot::diff::Descriptor> applied =
      puller_->deps_.applier->Apply(ctx_, ToDiffDescriptor(layer), mounts);
  if (!applied.ok()) {
    remove_key();
    return Annotate(applied.status(), fmt::format("apply layer {}", layer.digest.ToString()));
  }
  if (applied->digest != diff_id.ToString()) {
    remove_key();
    return FailedPreconditionError(
        fmt::format("apply layer {}: wrong diff id calculated on extraction {:?}, the config "
                    "says {}",
                    layer.digest.ToString(), applied->digest, diff_id.ToString()));
  }
  if (absl::Status c = sn->Commit(ctx_, chain, key, labels); !c.ok()) {
    remove_key();
    if (IsAlreadyExists(c)) {  // committed by someone else meanwhile
      emit(Progress::Kind::kExists);
      return absl::OkStatus();
    }
    return Annotate(c,
                    fmt::format("commit snapshot {} for layer {}", chain, layer.digest.ToString()));
  }
  // The uncompressed label only once apply verified the diffID (as containerd's unpacker).
  content::Info info;
  info.digest = layer.digest;
  info.labels[kUncompressedLabel] = diff_id.ToString();
  RETURN_IF_ERROR(Annotate(
      puller_->deps_.content->Update(ctx_, info, {std::string("labels.") + kUncompressedLabel})
          .status(),
      fmt::format("label layer {}", layer.digest.ToString())));
  ++puller_->layers_unpacked_;
  emit(Progress::Kind::kUnpacked);
  return absl::OkStatus();
}

absl::StatusOr<image::Image> Puller::Operation::WriteImage() {
  image::Image img;
  img.set_name(request_.name.empty() ? resolved_.name : request_.name);
  for (const auto& [k, v] : request_.labels) (*img.mutable_labels())[k] = v;
  const remotes::Descriptor& root = resolved_.descriptor;
  auto* target = img.mutable_target();
  target->set_media_type(root.media_type);
  target->set_digest(root.digest.ToString());
  target->set_size(root.size);
  for (const auto& [k, v] : root.annotations) (*target->mutable_annotations())[k] = v;
  // Images are never leased: no lease on these calls.
  CallContext ctx = ctx_;
  ctx.lease.clear();
  absl::StatusOr<image::Image> created = puller_->deps_.images->Create(ctx, img);
  if (IsAlreadyExists(created.status())) {
    created = puller_->deps_.images->Update(ctx, img, {});
  }
  if (!created.ok()) return Annotate(created.status(), fmt::format("image {:?}", img.name()));
  return created;
}

absl::StatusOr<std::unique_ptr<content::Writer>> Puller::Operation::OpenWriter(
    const remotes::Descriptor& desc) {
  content::WriterOptions options;
  options.ref = IngestRef(desc);
  options.total = desc.size;
  options.expected = desc.digest;
  const auto give_up = Clock::now() + puller_->options_.locked_ingest_timeout;
  auto backoff = std::chrono::milliseconds(16);
  for (;;) {
    absl::StatusOr<std::unique_ptr<content::Writer>> w =
        puller_->deps_.content->OpenWriter(ctx_, options);
    if (w.ok()) return w;
    if (IsAlreadyExists(w.status())) return std::unique_ptr<content::Writer>();
    if (!IsLockedError(w.status()) || Clock::now() >= give_up) {
      return Annotate(w.status(), fmt::format("open ingest {:?}", options.ref));
    }
    // Another writer (a client-side pull) holds the ref: wait as containerd's client does.
    std::mutex m;
    std::condition_variable never;
    std::unique_lock<std::mutex> lock(m);
    CallContext wait = ctx_;
    wait.deadline = std::min(ctx_.deadline, Clock::now() + backoff);
    absl::Status s = WaitUntil(never, lock, wait, [] { return false; });
    if (!IsDeadlineExceeded(s) || Clock::now() >= ctx_.deadline) return s;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

absl::StatusOr<std::string> Puller::Operation::ReadStored(const remotes::Descriptor& desc) {
  ASSIGN_OR_RETURN(std::unique_ptr<content::ReaderAt> reader,
                   puller_->deps_.content->OpenReader(ctx_, desc.digest));
  if (reader->Size() != desc.size) {
    return FailedPreconditionError(fmt::format("stored {} has {} bytes, the descriptor says {}",
                                               BlobName(desc), reader->Size(), desc.size));
  }
  std::string bytes(static_cast<size_t>(desc.size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ASSIGN_OR_RETURN(size_t n, reader->ReadAt(bytes.data() + done, bytes.size() - done,
                                              static_cast<int64_t>(done)));
    if (n == 0) break;
    done += n;
  }
  bytes.resize(done);
  RETURN_IF_ERROR(remotes::VerifyContent(desc, bytes, "content store"));
  return bytes;
}

absl::Status Puller::Operation::LabelStored(const digest::Digest& d, const content::Labels& extra) {
  content::Store* cs = puller_->deps_.content;
  content::Info info;
  info.digest = d;
  info.labels = extra;
  std::vector<std::string> paths;
  for (const auto& [k, v] : extra) paths.push_back("labels." + k);
  const std::string key = source_.LabelKey();
  ASSIGN_OR_RETURN(content::Info current, cs->Info(ctx_, d));
  auto it = current.labels.find(key);
  const std::string value = AppendDistributionSource(
      it == current.labels.end() ? std::string() : it->second, source_.repository);
  // As containerd: a value over the label limit is skipped, not an error.
  if (labels::Validate(key, value).ok() && (it == current.labels.end() || it->second != value)) {
    info.labels[key] = value;
    paths.push_back("labels." + key);
  }
  if (paths.empty()) return absl::OkStatus();
  return cs->Update(ctx_, info, paths).status();
}

absl::StatusOr<std::string> Puller::Operation::EnsureDocument(
    const remotes::Descriptor& desc, std::int64_t max_size,
    const std::function<absl::StatusOr<content::Labels>(const std::string&)>& labels_of) {
  auto fail = [&](const absl::Status& s) { return Annotate(s, BlobName(desc)); };
  if (desc.size > max_size) {
    return InvalidArgumentError(fmt::format("{}: {} bytes, more than the {} berth reads",
                                            BlobName(desc), desc.size, max_size));
  }
  ASSIGN_OR_RETURN(KeyedMutex::Guard guard, puller_->blobs_.Lock(ctx_, desc.digest.ToString()));
  absl::StatusOr<std::unique_ptr<content::Writer>> writer = OpenWriter(desc);
  if (!writer.ok()) return fail(writer.status());
  if (*writer == nullptr) {
    ++puller_->blobs_existing_;
    absl::StatusOr<std::string> bytes = ReadStored(desc);
    if (!bytes.ok()) return fail(bytes.status());
    absl::StatusOr<content::Labels> labels = labels_of(*bytes);
    if (!labels.ok()) return fail(labels.status());
    if (absl::Status s = LabelStored(desc.digest, *labels); !s.ok()) return fail(s);
    EmitBlob(Progress::Kind::kExists, desc, desc.size);
    return bytes;
  }
  content::Writer& w = **writer;
  absl::StatusOr<content::IngestStatus> st = w.Status();
  if (!st.ok()) return fail(st.status());
  if (st->offset == desc.size && desc.size > 0) {
    // Complete already: the bytes are on disk for another namespace (the content store checks
    // the digest at commit). Commit, then read them back to validate and label.
    EmitBlob(Progress::Kind::kVerifying, desc, desc.size);
    absl::Status c = w.Commit(desc.size, desc.digest, {{source_.LabelKey(), source_.repository}});
    if (!c.ok() && !IsAlreadyExists(c)) return fail(c);
    writer->reset();
    absl::StatusOr<std::string> bytes = ReadStored(desc);
    if (!bytes.ok()) return fail(bytes.status());
    absl::StatusOr<content::Labels> labels = labels_of(*bytes);
    if (!labels.ok()) return fail(labels.status());
    if (absl::Status s = LabelStored(desc.digest, *labels); !s.ok()) return fail(s);
    EmitBlob(Progress::Kind::kDone, desc, desc.size);
    return bytes;
  }
  // Documents are small: a partial ingest an earlier pull left is fetched again.
  if (st->offset > 0) {
    if (absl::Status s = w.Truncate(0); !s.ok()) return fail(s);
  }
  std::string bytes;
  {
    ASSIGN_OR_RETURN(Semaphore::Guard slot, puller_->downloads_.Acquire(ctx_));
    EmitBlob(Progress::Kind::kDownloading, desc, 0);
    absl::StatusOr<std::string> fetched = remotes::FetchAll(ctx_, *fetcher_, desc, max_size);
    if (!fetched.ok()) return fail(fetched.status());
    bytes = *std::move(fetched);
  }
  ++puller_->blobs_fetched_;
  puller_->bytes_fetched_ += bytes.size();
  EmitBlob(Progress::Kind::kDownloading, desc, desc.size);
  absl::StatusOr<content::Labels> labels = labels_of(bytes);
  if (!labels.ok()) {
    // Not a document berth accepts: nothing of it is stored.
    writer->reset();
    (void)puller_->deps_.content->Abort(ctx_, IngestRef(desc));
    return fail(labels.status());
  }
  const std::size_t chunk = puller_->options_.chunk_size;
  for (size_t off = 0; off < bytes.size(); off += chunk) {
    if (absl::Status s = w.Write(bytes.substr(off, chunk)); !s.ok()) return fail(s);
  }
  EmitBlob(Progress::Kind::kVerifying, desc, desc.size);
  content::Labels commit_labels = *labels;
  commit_labels[source_.LabelKey()] = source_.repository;
  absl::Status c = w.Commit(desc.size, desc.digest, commit_labels);
  if (IsAlreadyExists(c)) {
    c = LabelStored(desc.digest, *labels);
  }
  if (!c.ok()) return fail(c);
  EmitBlob(Progress::Kind::kDone, desc, desc.size);
  return bytes;
}

absl::Status Puller::Operation::EnsureBlob(const remotes::Descriptor& desc) {
  auto fail = [&](const absl::Status& s) { return Annotate(s, BlobName(desc)); };
  ASSIGN_OR_RETURN(KeyedMutex::Guard guard, puller_->blobs_.Lock(ctx_, desc.digest.ToString()));
  const std::string ref = IngestRef(desc);
  content::Store* cs = puller_->deps_.content;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<std::unique_ptr<content::Writer>> writer = OpenWriter(desc);
    if (!writer.ok()) return fail(writer.status());
    if (*writer == nullptr) {
      ++puller_->blobs_existing_;
      if (absl::Status s = LabelStored(desc.digest, {}); !s.ok()) return fail(s);
      EmitBlob(Progress::Kind::kExists, desc, desc.size);
      return absl::OkStatus();
    }
    content::Writer& w = **writer;
    absl::StatusOr<content::IngestStatus> st = w.Status();
    if (!st.ok()) return fail(st.status());
    int64_t offset = st->offset;
    if (offset > desc.size) {
      if (absl::Status s = w.Truncate(0); !s.ok()) return fail(s);
      offset = 0;
    }
    const int64_t resumed_at = offset;
    if (offset < desc.size) {
      ASSIGN_OR_RETURN(Semaphore::Guard slot, puller_->downloads_.Acquire(ctx_));
      EmitBlob(Progress::Kind::kDownloading, desc, offset);
      absl::StatusOr<std::unique_ptr<remotes::ReadStream>> stream =
          fetcher_->Fetch(ctx_, desc, offset);
      if (!stream.ok()) return fail(stream.status());
      std::string buf;
      const std::size_t chunk = puller_->options_.chunk_size;
      buf.resize(chunk);
      std::size_t filled = 0;
      absl::Status copy;
      for (;;) {
        absl::StatusOr<std::size_t> n = (*stream)->Read(buf.data() + filled, chunk - filled);
        if (!n.ok()) {
          copy = n.status();
          break;
        }
        filled += *n;
        if (filled == chunk || (*n == 0 && filled > 0)) {
          std::string data = buf.substr(0, filled);
          puller_->bytes_fetched_ += filled;
          offset += static_cast<int64_t>(filled);
          filled = 0;
          copy = w.Write(std::move(data));
          if (!copy.ok()) break;
          EmitBlob(Progress::Kind::kDownloading, desc, offset);
        }
        if (*n == 0) break;
      }
      if (!copy.ok()) {
        if (IsDataLoss(copy)) {
          // The registry sent bytes that are not the blob: keep none of them.
          writer->reset();
          if (absl::Status a = cs->Abort(CleanupContext(), ref); !a.ok() && !IsNotFound(a)) {
            log::Warn("pull: ingest not aborted namespace={:?} ref={:?} error={:?}", ctx_.ns, ref,
                      a.ToString());
          }
        }
        return fail(copy);
      }
      ++puller_->blobs_fetched_;
    }
    EmitBlob(Progress::Kind::kVerifying, desc, desc.size);
    absl::Status c = w.Commit(desc.size, desc.digest, {{source_.LabelKey(), source_.repository}});
    if (IsAlreadyExists(c)) c = LabelStored(desc.digest, {});
    if (IsFailedPrecondition(c) && resumed_at > 0 && attempt == 1) {
      // What an earlier pull left in the ingest was not the start of this blob: start over.
      log::Warn(
          "pull: resumed ingest failed verification, fetching again namespace={:?} "
          "ref={:?} error={:?}",
          ctx_.ns, ref, c.ToString());
      writer->reset();
      if (absl::Status a = cs->Abort(ctx_, ref); !a.ok() && !IsNotFound(a)) return fail(a);
      continue;
    }
    if (IsFailedPrecondition(c)) {
      // Size or digest refused at commit: the ingest holds bytes that are not the blob.
      writer->reset();
      if (absl::Status a = cs->Abort(CleanupContext(), ref); !a.ok() && !IsNotFound(a)) {
        log::Warn("pull: ingest not aborted namespace={:?} ref={:?} error={:?}", ctx_.ns, ref,
                  a.ToString());
      }
    }
    if (!c.ok()) return fail(c);
    EmitBlob(Progress::Kind::kDone, desc, desc.size);
    return absl::OkStatus();
  }
}

Puller::Operation::Layer* Puller::Operation::QueueLayer(const remotes::Descriptor& desc) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = layer_by_digest_.find(desc.digest); it != layer_by_digest_.end()) {
    return it->second;
  }
  auto layer = std::make_unique<Layer>();
  layer->desc = desc;
  Layer* l = layer.get();
  layers_.push_back(std::move(layer));
  layer_by_digest_[desc.digest] = l;
  queue_.push_back(l);
  if (idle_workers_ == 0 && workers_.size() < puller_->options_.max_concurrent_downloads) {
    workers_.emplace_back([this] { Worker(); });
  } else {
    cv_.notify_all();
  }
  return l;
}

void Puller::Operation::Worker() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ++idle_workers_;
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    --idle_workers_;
    if (stopping_) return;
    Layer* layer = queue_.front();
    queue_.pop_front();
    lock.unlock();
    absl::Status s = EnsureBlob(layer->desc);
    lock.lock();
    layer->done = true;
    layer->status = s;
    if (!s.ok() && failure_.ok()) {
      failure_ = s;
      aborted_ = true;
    }
    cv_.notify_all();
  }
}

absl::Status Puller::Operation::WaitLayer(Layer* layer) {
  std::unique_lock<std::mutex> lock(mu_);
  absl::Status s = WaitUntil(cv_, lock, caller_, [&] { return layer->done || !failure_.ok(); });
  if (!s.ok()) return s;
  if (!failure_.ok()) return failure_;
  return layer->status;
}

void Puller::Operation::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void Puller::Operation::Emit(Progress p) {
  if (!progress_) return;
  std::lock_guard<std::mutex> lock(progress_mu_);
  progress_(p);
}

void Puller::Operation::EmitBlob(Progress::Kind kind, const remotes::Descriptor& d,
                                 std::int64_t offset) {
  if (!progress_) return;
  Progress p;
  p.kind = kind;
  p.digest = d.digest.ToString();
  p.media_type = d.media_type;
  p.role = RoleOf(d.media_type);
  p.offset = offset;
  p.total = d.size;
  Emit(std::move(p));
}

CallContext Puller::Operation::CleanupContext() const {
  CallContext c = CallContext::Background(ctx_.ns);
  c.lease = ctx_.lease;
  c.deadline = Clock::now() + puller_->options_.cleanup_timeout;
  return c;
}

Puller::Puller(PullerDeps deps, PullerOptions options)
    : deps_(std::move(deps)),
      options_(std::move(options)),
      downloads_(std::max<std::size_t>(1, options_.max_concurrent_downloads_total)) {
  if (options_.max_concurrent_downloads == 0) options_.max_concurrent_downloads = 1;
  if (options_.chunk_size == 0) options_.chunk_size = 1 << 20;
  if (!deps_.new_resolver) {
    deps_.new_resolver = [](const remotes::RegistryOptions& o) {
      return std::make_unique<remotes::RegistryResolver>(o);
    };
  }
}

Puller::~Puller() = default;

absl::StatusOr<remotes::Resolver*> Puller::ResolverFor(const PullRequest& request,
                                                       std::unique_ptr<remotes::Resolver>* owned) {
  remotes::RegistryOptions o = options_.registry;
  if (!request.hosts_dirs.empty()) o.hosts.config_paths = request.hosts_dirs;
  if (request.plain_http) o.hosts.plain_http = true;
  if (request.credentials.has_value()) {
    // Credentials of one request are never shared with other pulls.
    o.credentials = remotes::StaticCredentials(*request.credentials);
    *owned = deps_.new_resolver(o);
    return owned->get();
  }
  std::string key;
  if (!request.hosts_dirs.empty() || request.plain_http) {
    key = request.plain_http ? "http|" : "https|";
    for (const std::string& d : request.hosts_dirs) key += d + ":";
  }
  std::lock_guard<std::mutex> lock(resolvers_mu_);
  auto it = resolvers_.find(key);
  if (it == resolvers_.end()) {
    // A bounded cache: past it, overrides get a resolver of their own.
    if (resolvers_.size() >= 16) {
      *owned = deps_.new_resolver(o);
      return owned->get();
    }
    it = resolvers_.emplace(key, deps_.new_resolver(o)).first;
  }
  return it->second.get();
}

absl::StatusOr<image::Image> Puller::Pull(const CallContext& ctx, const PullRequest& request,
                                          const ProgressFunc& progress) {
  if (deps_.content == nullptr || deps_.images == nullptr) {
    return FailedPreconditionError("pull: no content or image store configured");
  }
  Operation op(this, ctx, request, progress);
  absl::StatusOr<image::Image> image = op.Run();
  if (image.ok()) {
    ++pulls_;
    log::Info("pulled namespace={:?} ref={:?} image={:?} target={}", ctx.ns, request.ref,
              image->name(), image->target().digest());
  } else {
    ++pull_errors_;
    log::Warn("pull failed namespace={:?} ref={:?} error={:?}", ctx.ns, request.ref,
              image.status().ToString());
  }
  return image;
}

Puller::Stats Puller::stats() const {
  Stats s;
  s.pulls = pulls_;
  s.pull_errors = pull_errors_;
  s.blobs_fetched = blobs_fetched_;
  s.bytes_fetched = bytes_fetched_;
  s.blobs_existing = blobs_existing_;
  s.layers_unpacked = layers_unpacked_;
  return s;
}

}  // namespace berth::image::pull
