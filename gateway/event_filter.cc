#include "gateway/event_filter.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/reflection.h>

#include "proto/containerd/events/container.pb.h"
#include "proto/containerd/events/content.pb.h"
#include "proto/containerd/events/image.pb.h"
#include "proto/containerd/events/namespace.pb.h"
#include "proto/containerd/events/snapshot.pb.h"
#include "proto/containerd/events/task.pb.h"

namespace berth::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// One message of each event .proto: referencing them keeps their descriptors linked in.
const std::vector<const google::protobuf::FileDescriptor*>& EventFiles() {
  static const auto* const files = new std::vector<const google::protobuf::FileDescriptor*>{
      containerd::events::ContainerCreate::descriptor()->file(),
      containerd::events::ContentDelete::descriptor()->file(),
      containerd::services::images::v1::ImageCreate::descriptor()->file(),
      containerd::events::NamespaceCreate::descriptor()->file(),
      containerd::events::SnapshotPrepare::descriptor()->file(),
      containerd::events::TaskExit::descriptor()->file(),
  };
  return *files;
}

const Descriptor* FindEventType(std::string_view type_url) {
  const size_t slash = type_url.rfind('/');
  const std::string name(slash == std::string_view::npos ? type_url : type_url.substr(slash + 1));
  for (const google::protobuf::FileDescriptor* f : EventFiles()) {
    for (int i = 0; i < f->message_type_count(); ++i) {
      if (f->message_type(i)->full_name() == name) return f->message_type(i);
    }
  }
  return nullptr;
}

std::optional<std::string> NonEmpty(std::string value) {
  if (value.empty()) return std::nullopt;
  return value;
}

// containerd's generated Field(): strings, nested messages and string maps.
std::optional<std::string> MessageField(const Message& m, const std::vector<std::string>& path,
                                        size_t i) {
  if (i >= path.size()) return std::nullopt;
  const FieldDescriptor* f = m.GetDescriptor()->FindFieldByName(path[i]);
  if (f == nullptr) return std::nullopt;
  const google::protobuf::Reflection* r = m.GetReflection();
  if (f->is_map()) {
    const Descriptor* entry = f->message_type();
    const FieldDescriptor* key = entry->map_key();
    const FieldDescriptor* value = entry->map_value();
    if (key->type() != FieldDescriptor::TYPE_STRING ||
        value->type() != FieldDescriptor::TYPE_STRING || i + 1 >= path.size()) {
      return std::nullopt;
    }
    std::string wanted = path[i + 1];
    for (size_t j = i + 2; j < path.size(); ++j) wanted += "." + path[j];
    for (int k = 0; k < r->FieldSize(m, f); ++k) {
      const Message& e = r->GetRepeatedMessage(m, f, k);
      if (e.GetReflection()->GetString(e, key) == wanted) {
        return e.GetReflection()->GetString(e, value);
      }
    }
    return std::nullopt;
  }
  if (f->is_repeated()) return std::nullopt;
  if (f->type() == FieldDescriptor::TYPE_STRING) {
    if (i + 1 != path.size()) return std::nullopt;
    return NonEmpty(r->GetString(m, f));
  }
  if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
    if (!r->HasField(m, f)) return std::nullopt;
    return MessageField(r->GetMessage(m, f), path, i + 1);
  }
  return std::nullopt;
}

}  // namespace

EnvelopeAdaptor::EnvelopeAdaptor(const containerd::services::events::v1::Envelope& envelope)
    : envelope_(envelope) {}

EnvelopeAdaptor::~EnvelopeAdaptor() = default;

std::optional<std::string> EnvelopeAdaptor::Field(const std::vector<std::string>& path) const {
  if (path.empty()) return std::nullopt;
  if (path[0] == "topic") return path.size() == 1 ? NonEmpty(envelope_.topic()) : std::nullopt;
  if (path[0] == "namespace") {
    return path.size() == 1 ? NonEmpty(envelope_.namespace_()) : std::nullopt;
  }
  if (path[0] != "event" || path.size() < 2) return std::nullopt;
  if (!decoded_) {
    decoded_ = true;
    const Descriptor* d = FindEventType(envelope_.event().type_url());
    if (d != nullptr) {
      const Message* prototype =
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
      if (prototype != nullptr) {
        std::unique_ptr<Message> m(prototype->New());
        if (m->ParseFromString(envelope_.event().value())) event_ = std::move(m);
      }
    }
  }
  if (event_ == nullptr) return std::nullopt;
  return MessageField(*event_, path, 1);
}

bool KnownEventType(std::string_view type_url) { return FindEventType(type_url) != nullptr; }

}  // namespace berth::gateway
