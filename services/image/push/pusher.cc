#include "services/image/push/pusher.h"

#include <algorithm>
#include <set>
#include <thread>
#include <utility>

#include "fmt/format.h"
#include "lib/digest/digest.h"
#include "lib/log/log.h"
#include "lib/reference/reference.h"
#include "lib/status/status.h"
#include "services/image/pull/labels.h"
#include "services/image/remotes/manifest.h"
#include "services/image/remotes/media_types.h"

namespace berth::image::push {
namespace {

constexpr int kMaxIndexDepth = 4;

// content::ReaderAt as the re-readable remotes::BlobReader the registry client wants.
class ContentBlobReader final : public remotes::BlobReader {
 public:
  explicit ContentBlobReader(std::unique_ptr<content::ReaderAt> r) : r_(std::move(r)) {}
  absl::StatusOr<std::size_t> ReadAt(char* buf, std::size_t n, std::int64_t offset) override {
    return r_->ReadAt(buf, n, offset);
  }

 private:
  std::unique_ptr<content::ReaderAt> r_;
};

// A blob to push, with the role it plays in the tree.
struct Item {
  remotes::Descriptor desc;
  std::string role;
  // Documents only: their bytes, already read and validated.
  std::string bytes;
};

}  // namespace

class Pusher::Operation {
 public:
  Operation(Pusher* pusher, const CallContext& ctx, const PushRequest& request,
            const ProgressFunc& progress)
      : pusher_(pusher), ctx_(ctx), request_(request), progress_(progress) {}

  absl::StatusOr<remotes::Descriptor> Run() {
    ASSIGN_OR_RETURN(image::Image record, FindImage());
    const std::string target_text = request_.target.empty() ? record.name() : request_.target;
    ASSIGN_OR_RETURN(reference::Reference target,
                     reference::Reference::ParseNormalized(target_text));
    target_name_ = target.String();
    ASSIGN_OR_RETURN(pull::DistributionSource source, pull::DistributionSourceOf(target_name_));
    source_ = std::move(source);
    if (!request_.platforms.empty() || request_.all_platforms) {
      ASSIGN_OR_RETURN(platforms::Matcher m,
                       remotes::MatcherFor(request_.platforms, request_.all_platforms));
      matcher_ = std::move(m);
    }

    remotes::Descriptor root;
    root.media_type = record.target().media_type();
    ASSIGN_OR_RETURN(root.digest, digest::Digest::Parse(record.target().digest()));
    root.size = record.target().size();
    if (!remotes::IsIndexType(root.media_type) && !remotes::IsManifestType(root.media_type)) {
      return InvalidArgumentError(
          fmt::format("image {:?} has target media type {:?}: not a manifest or an index",
                      record.name(), root.media_type));
    }
    RETURN_IF_ERROR(Visit(root, 0));

    ASSIGN_OR_RETURN(resolver_, pusher_->ResolverFor(request_, &owned_resolver_));
    ASSIGN_OR_RETURN(remote_, resolver_->NewPusher(ctx_, target_name_));

    RETURN_IF_ERROR(PushBlobs());
    // Documents children first; the root (last in documents_) under the tag.
    for (std::size_t i = 0; i < documents_.size(); ++i) {
      const bool is_root = i + 1 == documents_.size();
      remotes::PushOptions o;
      if (is_root) o.tag = target.tag;
      std::unique_ptr<remotes::BlobReader> r = remotes::BytesReader(documents_[i].bytes);
      RETURN_IF_ERROR(PushOne(documents_[i], *r, o).status());
    }
    Progress done;
    done.kind = Progress::Kind::kDone;
    done.ref = target_name_;
    done.digest = root.digest.ToString();
    done.media_type = root.media_type;
    done.role = pull::RoleOf(root.media_type);
    done.size = root.size;
    Report(done);
    return root;
  }

 private:
  absl::StatusOr<image::Image> FindImage() {
    absl::StatusOr<image::Image> img = pusher_->deps_.images->Get(ctx_, request_.ref);
    if (IsNotFound(img.status())) {
      absl::StatusOr<reference::Reference> r = reference::Reference::ParseNormalized(request_.ref);
      if (r.ok() && r->String() != request_.ref) {
        img = pusher_->deps_.images->Get(ctx_, r->String());
      }
    }
    if (IsNotFound(img.status())) {
      return NotFoundError(
          fmt::format("image {:?} not found in namespace {:?}", request_.ref, ctx_.ns));
    }
    return img;
  }

  // Reads a stored document (at most kMaxManifestSize bytes) and checks it against `desc`.
  absl::StatusOr<std::string> ReadDocument(const remotes::Descriptor& desc,
                                           const std::string& role) {
    if (desc.size > remotes::kMaxManifestSize) {
      return InvalidArgumentError(fmt::format("{} {}: {} bytes, more than the {} allowed", role,
                                              desc.digest.ToString(), desc.size,
                                              remotes::kMaxManifestSize));
    }
    absl::StatusOr<std::unique_ptr<content::ReaderAt>> r =
        pusher_->deps_.content->OpenReader(ctx_, desc.digest);
    if (IsNotFound(r.status())) {
      return NotFoundError(
          fmt::format("{} {} is not in the content store (pulled for other platforms only? choose "
                      "platforms)",
                      role, desc.digest.ToString()));
    }
    if (!r.ok()) return r.status();
    std::string bytes(static_cast<std::size_t>(desc.size), '\0');
    std::size_t got = 0;
    while (got < bytes.size()) {
      ASSIGN_OR_RETURN(std::size_t n, (*r)->ReadAt(bytes.data() + got, bytes.size() - got,
                                                   static_cast<std::int64_t>(got)));
      if (n == 0) break;
      got += n;
    }
    bytes.resize(got);
    RETURN_IF_ERROR(remotes::VerifyContent(desc, bytes, "content store"));
    return bytes;
  }

  absl::Status Visit(const remotes::Descriptor& desc, int depth) {
    if (depth > kMaxIndexDepth) {
      return InvalidArgumentError(fmt::format("index {}: indexes nested deeper than {}",
                                              desc.digest.ToString(), kMaxIndexDepth));
    }
    if (!visited_.insert(desc.digest.ToString()).second) return absl::OkStatus();
    if (remotes::IsIndexType(desc.media_type)) {
      ASSIGN_OR_RETURN(std::string bytes, ReadDocument(desc, "index"));
      ASSIGN_OR_RETURN(remotes::Index index, remotes::ParseIndex(bytes, desc.media_type));
      std::vector<remotes::Descriptor> children;
      if (matcher_.has_value()) {
        children = remotes::SelectManifests(index, *matcher_);
      } else {
        for (const remotes::Descriptor& d : index.manifests) {
          if (remotes::IsIndexType(d.media_type) || remotes::IsManifestType(d.media_type)) {
            children.push_back(d);
          }
        }
      }
      if (children.empty()) {
        return NotFoundError(
            fmt::format("index {}: no manifest for the chosen platforms", desc.digest.ToString()));
      }
      for (const remotes::Descriptor& child : children) RETURN_IF_ERROR(Visit(child, depth + 1));
      documents_.push_back({desc, "index", std::move(bytes)});
      return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(std::string bytes, ReadDocument(desc, "manifest"));
    ASSIGN_OR_RETURN(remotes::Manifest m, remotes::ParseManifest(bytes, desc.media_type));
    AddBlob(m.config, "config");
    for (const remotes::Descriptor& l : m.layers) AddBlob(l, "layer");
    documents_.push_back({desc, "manifest", std::move(bytes)});
    return absl::OkStatus();
  }

  void AddBlob(const remotes::Descriptor& d, const std::string& role) {
    // Non-distributable (foreign) layers stay where their urls say, as containerd's push
    // leaves them.
    if (d.media_type.find("nondistributable") != std::string::npos ||
        d.media_type.find(".foreign.") != std::string::npos) {
      return;
    }
    if (blob_digests_.insert(d.digest.ToString()).second) blobs_.push_back({d, role, ""});
  }

  // Blobs in parallel; the first failure stops the workers from taking more.
  absl::Status PushBlobs() {
    std::mutex mu;
    std::size_t next = 0;
    absl::Status first;
    auto work = [&] {
      while (true) {
        std::size_t i;
        {
          std::lock_guard<std::mutex> lock(mu);
          if (!first.ok() || next >= blobs_.size()) return;
          i = next++;
        }
        absl::Status s = PushBlob(blobs_[i]);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first.ok()) first = s;
          return;
        }
      }
    };
    const std::size_t n =
        std::min(blobs_.size(), std::max<std::size_t>(1, pusher_->options_.max_concurrent_uploads));
    std::vector<std::thread> workers;
    for (std::size_t i = 1; i < n; ++i) workers.emplace_back(work);
    work();
    for (std::thread& t : workers) t.join();
    return first;
  }

  absl::Status PushBlob(const Item& item) {
    if (ctx_.IsCancelled()) return CancelledError("push cancelled");
    absl::StatusOr<content::Info> info = pusher_->deps_.content->Info(ctx_, item.desc.digest);
    if (IsNotFound(info.status())) {
      return NotFoundError(
          fmt::format("{} {} is not in the content store", item.role, item.desc.digest.ToString()));
    }
    if (!info.ok()) return info.status();
    remotes::PushOptions o;
    o.chunk_size = request_.chunk_size;
    std::string sources;
    if (auto it = info->labels.find(source_.LabelKey()); it != info->labels.end()) {
      sources = it->second;
      // The first repository other than the target's: the target's own is found by HEAD.
      std::size_t start = 0;
      while (start <= sources.size()) {
        std::size_t end = sources.find(',', start);
        if (end == std::string::npos) end = sources.size();
        std::string repo = sources.substr(start, end - start);
        if (!repo.empty() && repo != source_.repository) {
          o.mount_from = repo;
          break;
        }
        start = end + 1;
      }
    }
    ASSIGN_OR_RETURN(std::unique_ptr<content::ReaderAt> r,
                     pusher_->deps_.content->OpenReader(ctx_, item.desc.digest));
    ContentBlobReader reader(std::move(r));
    ASSIGN_OR_RETURN(remotes::PushResult result, PushOne(item, reader, o));
    (void)result;
    // Remember where the blob now is, so that pushes to other repositories can mount it.
    const std::string updated = pull::AppendDistributionSource(sources, source_.repository);
    if (updated != sources) {
      content::Info label;
      label.digest = item.desc.digest;
      label.labels[source_.LabelKey()] = updated;
      absl::Status s =
          pusher_->deps_.content->Update(ctx_, label, {"labels." + source_.LabelKey()}).status();
      if (!s.ok()) {
        log::Warn("push: labelling {} with its distribution source failed error={:?}",
                  item.desc.digest.ToString(), s.ToString());
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<remotes::PushResult> PushOne(const Item& item, remotes::BlobReader& reader,
                                              const remotes::PushOptions& o) {
    Progress p;
    p.kind = Progress::Kind::kPushing;
    p.digest = item.desc.digest.ToString();
    p.media_type = item.desc.media_type;
    p.role = item.role;
    p.size = item.desc.size;
    Report(p);
    absl::StatusOr<remotes::PushResult> result = remote_->Push(ctx_, item.desc, reader, o);
    if (!result.ok()) {
      return Annotate(result.status(), fmt::format("{} {}", item.role, p.digest));
    }
    switch (*result) {
      case remotes::PushResult::kUploaded:
        p.kind = Progress::Kind::kUploaded;
        pusher_->blobs_uploaded_++;
        break;
      case remotes::PushResult::kAlreadyExists:
        p.kind = Progress::Kind::kExists;
        pusher_->blobs_existing_++;
        break;
      case remotes::PushResult::kMounted:
        p.kind = Progress::Kind::kMounted;
        p.mounted_from = o.mount_from;
        pusher_->blobs_mounted_++;
        break;
    }
    Report(p);
    return result;
  }

  void Report(const Progress& p) {
    if (!progress_) return;
    std::lock_guard<std::mutex> lock(progress_mu_);
    progress_(p);
  }

  Pusher* pusher_;
  CallContext ctx_;
  const PushRequest& request_;
  const ProgressFunc& progress_;
  std::mutex progress_mu_;
  std::string target_name_;
  pull::DistributionSource source_;
  std::optional<platforms::Matcher> matcher_;
  std::set<std::string> visited_;
  std::set<std::string> blob_digests_;
  std::vector<Item> blobs_;
  std::vector<Item> documents_;
  std::unique_ptr<remotes::Resolver> owned_resolver_;
  remotes::Resolver* resolver_ = nullptr;
  std::unique_ptr<remotes::Pusher> remote_;
};

Pusher::Pusher(PusherDeps deps, PusherOptions options)
    : deps_(std::move(deps)), options_(std::move(options)) {
  if (options_.max_concurrent_uploads == 0) options_.max_concurrent_uploads = 1;
  if (!deps_.new_resolver) {
    deps_.new_resolver = [](const remotes::RegistryOptions& o) {
      return std::make_unique<remotes::RegistryResolver>(o);
    };
  }
}

Pusher::~Pusher() = default;

absl::StatusOr<remotes::Descriptor> Pusher::Push(const CallContext& ctx, const PushRequest& request,
                                                 const ProgressFunc& progress) {
  absl::StatusOr<remotes::Descriptor> result;
  if (request.ref.empty()) {
    result = InvalidArgumentError("push: an image name is required");
  } else if (ctx.ns.empty()) {
    result = FailedPreconditionError("push: namespace is required");
  } else {
    Operation op(this, ctx, request, progress);
    result = op.Run();
    if (!result.ok()) {
      result = Annotate(result.status(), fmt::format("push {:?}", request.ref));
    }
  }
  (result.ok() ? pushes_ : push_errors_)++;
  return result;
}

Pusher::Stats Pusher::stats() const {
  Stats s;
  s.pushes = pushes_.load();
  s.push_errors = push_errors_.load();
  s.blobs_uploaded = blobs_uploaded_.load();
  s.blobs_mounted = blobs_mounted_.load();
  s.blobs_existing = blobs_existing_.load();
  return s;
}

absl::StatusOr<remotes::Resolver*> Pusher::ResolverFor(const PushRequest& request,
                                                       std::unique_ptr<remotes::Resolver>* owned) {
  remotes::RegistryOptions o = options_.registry;
  if (!request.hosts_dirs.empty()) o.hosts.config_paths = request.hosts_dirs;
  if (request.plain_http) o.hosts.plain_http = true;
  if (request.credentials.has_value()) {
    // Credentials of one request are never shared with other pushes.
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
    if (resolvers_.size() >= 16) {
      *owned = deps_.new_resolver(o);
      return owned->get();
    }
    it = resolvers_.emplace(key, deps_.new_resolver(o)).first;
  }
  return it->second.get();
}

}  // namespace berth::image::push
