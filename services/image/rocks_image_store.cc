#include "services/image/rocks_image_store.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "fmt/format.h"
#include "lib/filters/filters.h"
#include "lib/identifiers/identifiers.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "services/image/schema.h"

namespace berth::image {
namespace {

absl::Status CheckNamespace(const CallContext& call) {
  if (call.ns.empty()) return FailedPreconditionError("namespace is required");
  return Annotate(identifiers::Validate(call.ns), "namespace validation");
}

bool HasPrefix(const std::string& s, const char* prefix, std::string* rest) {
  const size_t n = std::char_traits<char>::length(prefix);
  if (s.compare(0, n, prefix) != 0) return false;
  *rest = s.substr(n);
  return true;
}

// Sets m[key] to update's value, or erases it when update has none (or "").
void SetOrErase(google::protobuf::Map<std::string, std::string>* m,
                const google::protobuf::Map<std::string, std::string>& update,
                const std::string& key) {
  auto it = update.find(key);
  if (it == update.end() || it->second.empty()) {
    m->erase(key);
  } else {
    (*m)[key] = it->second;
  }
}

}  // namespace

google::protobuf::Timestamp RocksImageStore::Now() const {
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.now().time_since_epoch())
          .count();
  google::protobuf::Timestamp ts;
  int64_t seconds = nanos / 1000000000;
  int64_t rest = nanos % 1000000000;
  if (rest < 0) {
    rest += 1000000000;
    --seconds;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest));
  return ts;
}

absl::StatusOr<Image> RocksImageStore::Load(const std::string& ns, const std::string& name) const {
  absl::StatusOr<std::string> value = db_->Get(schema::ImageKey(ns, name));
  if (IsNotFound(value.status())) {
    return NotFoundError(fmt::format("image {:?}: not found", name));
  }
  if (!value.ok()) return value.status();
  Image image;
  if (!image.ParseFromString(*value) || image.name() != name) {
    return DataLossError(fmt::format("image {:?}: corrupt record", name));
  }
  return image;
}

absl::StatusOr<Image> RocksImageStore::Get(const CallContext& call, const std::string& name) {
  RETURN_IF_ERROR(CheckNamespace(call));
  RETURN_IF_ERROR(ValidateName(name));
  return Load(call.ns, name);
}

absl::StatusOr<std::vector<Image>> RocksImageStore::List(
    const CallContext& call, const std::vector<std::string>& filter_strings) {
  RETURN_IF_ERROR(CheckNamespace(call));
  ASSIGN_OR_RETURN(filters::Filter filter, filters::ParseAll(filter_strings));
  std::vector<Image> out;
  RETURN_IF_ERROR(
      db_->Scan(schema::ImagesPrefix(call.ns), [&](std::string_view key, std::string_view value) {
        Image image;
        if (!image.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          // One bad record must not hide every other image; it is logged for the operator.
          log::Error("corrupt image record key={:?}", std::string(key));
          return true;
        }
        filters::FuncAdaptor adaptor(
            [&image](const std::vector<std::string>& path) { return FilterField(image, path); });
        if (filter.Match(adaptor)) out.push_back(std::move(image));
        return true;
      }));
  std::sort(out.begin(), out.end(),
            [](const Image& a, const Image& b) { return a.name() < b.name(); });
  return out;
}

absl::StatusOr<Image> RocksImageStore::Create(const CallContext& call, Image image) {
  RETURN_IF_ERROR(CheckNamespace(call));
  DropEmptyValues(&image);
  RETURN_IF_ERROR(ValidateImage(image));
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = schema::ImageKey(call.ns, image.name());
  absl::StatusOr<std::string> existing = db_->Get(key);
  if (existing.ok()) {
    return AlreadyExistsError(fmt::format("image {:?}: already exists", image.name()));
  }
  if (!IsNotFound(existing.status())) return existing.status();
  const google::protobuf::Timestamp now = Now();
  *image.mutable_created_at() = now;
  *image.mutable_updated_at() = now;
  RETURN_IF_ERROR(db_->Put(key, image.SerializeAsString()));
  return image;
}

absl::StatusOr<Image> RocksImageStore::Update(const CallContext& call, Image update,
                                              const std::vector<std::string>& fieldpaths) {
  RETURN_IF_ERROR(CheckNamespace(call));
  if (update.name().empty()) {
    return InvalidArgumentError("update image: image name is required for update");
  }
  RETURN_IF_ERROR(ValidateName(update.name()));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Image stored, Load(call.ns, update.name()));
  const google::protobuf::Timestamp created_at = stored.created_at();
  Image result;
  if (fieldpaths.empty()) {
    // No mask: the caller's image replaces the stored one (ctr pull does this when the image
    // already exists).
    result = std::move(update);
  } else {
    result = std::move(stored);
    for (const std::string& path : fieldpaths) {
      std::string key;
      if (HasPrefix(path, "labels.", &key)) {
        SetOrErase(result.mutable_labels(), update.labels(), key);
      } else if (HasPrefix(path, "annotations.", &key)) {
        SetOrErase(result.mutable_target()->mutable_annotations(), update.target().annotations(),
                   key);
      } else if (path == "labels") {
        *result.mutable_labels() = update.labels();
      } else if (path == "target") {
        // As containerd: the target is replaced as a unit, never field by field.
        *result.mutable_target() = update.target();
      } else if (path == "annotations") {
        *result.mutable_target()->mutable_annotations() = update.target().annotations();
      } else {
        return InvalidArgumentError(
            fmt::format("cannot update {:?} field on image {:?}", path, update.name()));
      }
    }
  }
  DropEmptyValues(&result);
  RETURN_IF_ERROR(ValidateImage(result));
  *result.mutable_created_at() = created_at;
  *result.mutable_updated_at() = Now();
  RETURN_IF_ERROR(db_->Put(schema::ImageKey(call.ns, result.name()), result.SerializeAsString()));
  return result;
}

absl::Status RocksImageStore::Delete(const CallContext& call, const std::string& name) {
  RETURN_IF_ERROR(CheckNamespace(call));
  RETURN_IF_ERROR(ValidateName(name));
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key = schema::ImageKey(call.ns, name);
  absl::StatusOr<std::string> existing = db_->Get(key);
  if (IsNotFound(existing.status())) {
    return NotFoundError(fmt::format("image {:?}: not found", name));
  }
  if (!existing.ok()) return existing.status();
  return db_->Delete(key);
}

}  // namespace berth::image
