// NamespaceStore: the gateway's record of containerd namespaces and their labels.
//
// Namespaces are implicit in containerd: any write in a namespace creates it (Touch), and
// Namespaces.Create only adds one explicitly. What a namespace holds (blobs, snapshots,
// leases, ...) is not here; Namespaces.Delete asks the owners first.
//
// Thread-safety: implementations are safe to call from any thread.
#ifndef BERTH_GATEWAY_NAMESPACE_STORE_H_
#define BERTH_GATEWAY_NAMESPACE_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::gateway {

using Labels = std::map<std::string, std::string>;

struct Namespace {
  std::string name;
  Labels labels;
};

class NamespaceStore {
 public:
  virtual ~NamespaceStore() = default;

  // The namespace `name`. NotFound `namespace "x": not found` when it does not exist.
  virtual absl::StatusOr<Namespace> Get(const std::string& name) = 0;

  // Every namespace, sorted by name.
  virtual absl::StatusOr<std::vector<Namespace>> List() = 0;

  // Adds a namespace. InvalidArgument for a name that is not an identifier or a bad label;
  // AlreadyExists `namespace "x": already exists`.
  virtual absl::Status Create(const Namespace& ns) = 0;

  // Makes sure `name` exists (no labels when it is new): implicit creation on a write.
  // Returns true when it was created now. Cheap when it exists (no disk access).
  // InvalidArgument for a name that is not an identifier.
  virtual absl::StatusOr<bool> Touch(const std::string& name) = 0;

  // Replaces the labels of `name`, creating it when missing (as containerd's SetLabel).
  // InvalidArgument for a bad name or label.
  virtual absl::Status SetLabels(const std::string& name, const Labels& labels) = 0;

  // Removes the record. NotFound `namespace "x": not found` when absent.
  virtual absl::Status Delete(const std::string& name) = 0;
};

}  // namespace berth::gateway

#endif  // BERTH_GATEWAY_NAMESPACE_STORE_H_
