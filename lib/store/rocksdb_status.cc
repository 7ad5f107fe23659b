#include "lib/store/rocksdb_status.h"

#include <string>

#include "lib/status/status.h"

namespace berth::store {
namespace {

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// RocksDB reports a LOCK held by another DB object in this process as
// "lock hold by current process" and one held by another process as
// "While lock file: <path>/LOCK: Resource temporarily unavailable".
bool IsLockHeld(const rocksdb::Status& status, const std::string& text) {
  return status.IsIOError() && (Contains(text, "lock hold by current process") ||
                                (Contains(text, "/LOCK:") && Contains(text, "lock file")));
}

}  // namespace

absl::Status FromRocksDB(const rocksdb::Status& status, std::string_view op,
                         std::string_view path) {
  if (status.ok()) return absl::OkStatus();
  const std::string text = status.ToString();
  std::string message(op);
  message += " " + Quote(path) + ": ";
  if (IsLockHeld(status, text)) {
    return UnavailableError(message +
                            "database is locked by another primary store (in this process or "
                            "another; only one primary may open it, followers use "
                            "OpenSecondary): " +
                            text);
  }
  message += text;
  switch (status.code()) {
    case rocksdb::Status::kNotFound:
      return NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return DataLossError(message);
    case rocksdb::Status::kNotSupported:
      return UnimplementedError(message);
    case rocksdb::Status::kInvalidArgument:
      // "<path>/CURRENT: does not exist (create_if_missing is false)"
      if (Contains(text, "does not exist")) return NotFoundError(message);
      return InvalidArgumentError(message);
    case rocksdb::Status::kIOError:
      if (status.IsNoSpace() || Contains(text, "No space left on device")) {
        return ResourceExhaustedError(message);
      }
      if (status.IsPathNotFound() || Contains(text, "No such file or directory")) {
        return NotFoundError(message);
      }
      if (Contains(text, "Permission denied") || Contains(text, "Operation not permitted")) {
        return PermissionDeniedError(message);
      }
      return InternalError(message);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kShutdownInProgress:
    case rocksdb::Status::kIncomplete:
      return UnavailableError(message);
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kExpired:
      return DeadlineExceededError(message);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(message);
    default:
      return InternalError(message);
  }
}

}  // namespace berth::store
