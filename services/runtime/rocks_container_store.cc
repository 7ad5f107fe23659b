#include "services/runtime/rocks_container_store.h"

#include <optional>
#include <utility>

#include "fmt/format.h"
#include "lib/filters/filters.h"
#include "lib/identifiers/identifiers.h"
#include "lib/labels/labels.h"
#include "lib/log/log.h"
#include "lib/status/status.h"
#include "proto/containerd/events/container.pb.h"
#include "services/runtime/schema.h"
#include "services/runtime/timestamps.h"

namespace berth::runtime {
namespace {

absl::Status Validate(const Container& c) {
  RETURN_IF_ERROR(identifiers::Validate(c.id()));
  for (const auto& [key, value] : c.labels()) {
    RETURN_IF_ERROR(labels::Validate(std::string_view(key), std::string_view(value)));
  }
  if (c.runtime().name().empty()) {
    return InvalidArgumentError(
        fmt::format("container {:?}: container.Runtime.Name must be set", c.id()));
  }
  if (c.spec().type_url().empty()) {
    return InvalidArgumentError(fmt::format("container {:?}: container.Spec must be set", c.id()));
  }
  if (!c.snapshot_key().empty() && c.snapshotter().empty()) {
    return InvalidArgumentError(fmt::format(
        "container {:?}: container.Snapshotter must be set if container.SnapshotKey is set",
        c.id()));
  }
  for (const auto& [key, value] : c.extensions()) {
    if (key.empty() || value.type_url().empty()) {
      return InvalidArgumentError(fmt::format(
          "container {:?}: container.Extension {:?} must have a valid type", c.id(), key));
    }
  }
  return absl::OkStatus();
}

std::optional<std::string> ContainerField(const Container& c, const std::vector<std::string>& p) {
  const std::string& head = p[0];
  auto present = [](const std::string& v) -> std::optional<std::string> {
    if (v.empty()) return std::nullopt;
    return v;
  };
  if (head == "id") return present(c.id());
  if (head == "image") return present(c.image());
  if (head == "snapshotter") return present(c.snapshotter());
  if (head == "runtime") {
    if (p.size() == 2 && p[1] == "name") return present(c.runtime().name());
    return std::nullopt;
  }
  if (head == "labels" && p.size() >= 2) {
    std::string key = p[1];
    for (size_t i = 2; i < p.size(); ++i) key += "." + p[i];
    auto it = c.labels().find(key);
    if (it == c.labels().end()) return std::nullopt;
    return it->second;
  }
  return std::nullopt;
}

}  // namespace

void RocksContainerStore::PublishEvent(const std::string& ns, const std::string& topic,
                                       const google::protobuf::Message& event,
                                       const std::string& type_url) {
  if (publisher_ == nullptr) return;
  absl::Status s = publisher_->Publish(ns, topic, event, type_url);
  if (!s.ok()) log::Warn("publish failed topic={:?} error={:?}", topic, s.ToString());
}

absl::StatusOr<Container> RocksContainerStore::Load(const std::string& ns, const std::string& id) {
  absl::StatusOr<std::string> value = db_->Get(schema::ContainerKey(ns, id));
  if (IsNotFound(value.status())) {
    return NotFoundError(fmt::format("container {:?}: not found", id));
  }
  if (!value.ok()) return value.status();
  Container c;
  if (!c.ParseFromString(*value)) {
    return DataLossError(fmt::format("container {:?}: corrupt record", id));
  }
  return c;
}

absl::StatusOr<Container> RocksContainerStore::Get(const CallContext& call, const std::string& id) {
  RETURN_IF_ERROR(identifiers::Validate(id));
  return Load(call.ns, id);
}

absl::StatusOr<std::vector<Container>> RocksContainerStore::List(
    const CallContext& call, const std::vector<std::string>& filter_strings) {
  ASSIGN_OR_RETURN(filters::Filter filter, filters::ParseAll(filter_strings));
  std::vector<Container> out;
  RETURN_IF_ERROR(db_->Scan(
      schema::ContainersPrefix(call.ns), [&](std::string_view key, std::string_view value) {
        Container c;
        if (!c.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
          log::Error("corrupt container record key={:?}", std::string(key));
          return true;
        }
        filters::FuncAdaptor adaptor(
            [&c](const std::vector<std::string>& path) { return ContainerField(c, path); });
        if (filter.Match(adaptor)) out.push_back(std::move(c));
        return true;
      }));
  return out;
}

absl::StatusOr<Container> RocksContainerStore::Create(const CallContext& call, Container c) {
  RETURN_IF_ERROR(Validate(c));
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = schema::ContainerKey(call.ns, c.id());
  absl::StatusOr<std::string> existing = db_->Get(key);
  if (existing.ok()) {
    return AlreadyExistsError(fmt::format("container {:?}: already exists", c.id()));
  }
  if (!IsNotFound(existing.status())) return existing.status();
  google::protobuf::Timestamp now = NowTimestamp();
  *c.mutable_created_at() = now;
  *c.mutable_updated_at() = now;
  RETURN_IF_ERROR(db_->Put(key, c.SerializeAsString()));

  containerd::events::ContainerCreate event;
  event.set_id(c.id());
  event.set_image(c.image());
  event.mutable_runtime()->set_name(c.runtime().name());
  if (c.runtime().has_options())
    *event.mutable_runtime()->mutable_options() = c.runtime().options();
  PublishEvent(call.ns, "/containers/create", event, "containerd.events.ContainerCreate");
  return c;
}

absl::StatusOr<Container> RocksContainerStore::Update(const CallContext& call, Container u,
                                                      const std::vector<std::string>& paths_in) {
  if (u.id().empty()) return InvalidArgumentError("update container: id must be set");
  RETURN_IF_ERROR(identifiers::Validate(u.id()));
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Container c, Load(call.ns, u.id()));
  std::vector<std::string> paths = paths_in;
  if (paths.empty()) {
    paths = {"labels", "spec", "extensions", "image", "snapshotkey"};
    if (u.snapshotter() != c.snapshotter()) {
      return InvalidArgumentError(
          fmt::format("container {:?}: container.Snapshotter field is immutable", c.id()));
    }
    if (u.runtime().name() != c.runtime().name()) {
      return InvalidArgumentError(
          fmt::format("container {:?}: container.Runtime.Name field is immutable", c.id()));
    }
  }
  for (const std::string& path : paths) {
    if (path.rfind("labels.", 0) == 0) {
      std::string key = path.substr(7);
      auto it = u.labels().find(key);
      if (it == u.labels().end() || it->second.empty()) {
        c.mutable_labels()->erase(key);
      } else {
        (*c.mutable_labels())[key] = it->second;
      }
      continue;
    }
    if (path.rfind("extensions.", 0) == 0) {
      std::string key = path.substr(11);
      auto it = u.extensions().find(key);
      if (it == u.extensions().end()) {
        c.mutable_extensions()->erase(key);
      } else {
        (*c.mutable_extensions())[key] = it->second;
      }
      continue;
    }
    if (path == "labels") {
      *c.mutable_labels() = u.labels();
    } else if (path == "spec") {
      *c.mutable_spec() = u.spec();
    } else if (path == "extensions") {
      *c.mutable_extensions() = u.extensions();
    } else if (path == "image") {
      c.set_image(u.image());
    } else if (path == "snapshotkey") {
      c.set_snapshot_key(u.snapshot_key());
    } else {
      return InvalidArgumentError(
          fmt::format("cannot update {:?} field on container {:?}", path, c.id()));
    }
  }
  RETURN_IF_ERROR(Validate(c));
  *c.mutable_updated_at() = NowTimestamp();
  RETURN_IF_ERROR(db_->Put(schema::ContainerKey(call.ns, c.id()), c.SerializeAsString()));

  containerd::events::ContainerUpdate event;
  event.set_id(c.id());
  event.set_image(c.image());
  *event.mutable_labels() = c.labels();
  event.set_snapshot_key(c.snapshot_key());
  PublishEvent(call.ns, "/containers/update", event, "containerd.events.ContainerUpdate");
  return c;
}

absl::Status RocksContainerStore::Delete(const CallContext& call, const std::string& id) {
  RETURN_IF_ERROR(identifiers::Validate(id));
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = schema::ContainerKey(call.ns, id);
  absl::StatusOr<std::string> existing = db_->Get(key);
  if (IsNotFound(existing.status())) {
    return NotFoundError(fmt::format("container {:?}: not found", id));
  }
  if (!existing.ok()) return existing.status();
  RETURN_IF_ERROR(db_->Delete(key));
  containerd::events::ContainerDelete event;
  event.set_id(id);
  PublishEvent(call.ns, "/containers/delete", event, "containerd.events.ContainerDelete");
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RocksContainerStore::Count(const std::string& ns) {
  RETURN_IF_ERROR(identifiers::Validate(ns));
  int64_t n = 0;
  RETURN_IF_ERROR(db_->Scan(schema::ContainersPrefix(ns), [&](std::string_view, std::string_view) {
    ++n;
    return true;
  }));
  return n;
}

}  // namespace berth::runtime
