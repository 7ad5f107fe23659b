// Errors as values, mirroring containerd's errdefs on top of absl::Status.
//
// Every berth function that can fail returns absl::Status or absl::StatusOr<T>. The code is
// what callers branch on (IsNotFound, IsAlreadyExists, ...) and what crosses the wire as a
// gRPC status; the message names the operation and the object: `op "path": reason`.
// Conversion to and from grpc::Status lives in lib/status/grpc_status.h, used only by
// servers and proxies.
//
// Thread-safety: all functions are pure and safe to call from any thread.
#ifndef BERTH_LIB_STATUS_STATUS_H_
#define BERTH_LIB_STATUS_STATUS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth {

// The error kinds containerd's errdefs knows, as absl codes (one to one with gRPC codes).
using absl::AlreadyExistsError;
using absl::CancelledError;
using absl::DataLossError;
using absl::DeadlineExceededError;
using absl::FailedPreconditionError;
using absl::InternalError;
using absl::InvalidArgumentError;
using absl::NotFoundError;
using absl::OutOfRangeError;
using absl::PermissionDeniedError;
using absl::ResourceExhaustedError;
using absl::UnavailableError;
using absl::UnimplementedError;
using absl::UnknownError;

using absl::IsAlreadyExists;
using absl::IsCancelled;
using absl::IsDataLoss;
using absl::IsDeadlineExceeded;
using absl::IsFailedPrecondition;
using absl::IsInternal;
using absl::IsInvalidArgument;
using absl::IsNotFound;
using absl::IsOutOfRange;
using absl::IsPermissionDenied;
using absl::IsResourceExhausted;
using absl::IsUnavailable;
using absl::IsUnimplemented;

// Maps an errno from a failed system call to a Status whose message reads
// `op "path": strerror(err)` (or `op: strerror(err)` when path is empty):
// ENOENT -> NotFound, EEXIST -> AlreadyExists, ENOSPC/EDQUOT/ENOMEM/EMFILE/ENFILE ->
// ResourceExhausted, EACCES/EPERM -> PermissionDenied, EINVAL/ENAMETOOLONG/ELOOP/ENOTDIR/
// EISDIR -> InvalidArgument, ENOTEMPTY/EBUSY/EXDEV/EROFS -> FailedPrecondition,
// EAGAIN/ECONNREFUSED -> Unavailable, ETIMEDOUT -> DeadlineExceeded, ECANCELED ->
// Cancelled, ENOSYS/EOPNOTSUPP -> Unimplemented, anything else -> Internal.
[[nodiscard]] absl::Status ErrnoToStatus(std::string_view op, std::string_view path, int err);

// Returns `status` with `context + ": "` put in front of its message, keeping the code.
// OK stays OK.
[[nodiscard]] absl::Status Annotate(const absl::Status& status, std::string_view context);

// Quotes a name for an error message the way berth's messages do: "name".
std::string Quote(std::string_view name);

}  // namespace berth

#define BERTH_STATUS_CONCAT_INNER_(a, b) a##b
#define BERTH_STATUS_CONCAT_(a, b) BERTH_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function with the status of `expr` when it is not OK.
#define RETURN_IF_ERROR(expr)                                              \
  do {                                                                     \
    ::absl::Status berth_status_ = (expr);                                 \
    if (!berth_status_.ok()) return berth_status_;                         \
  } while (false)

// `ASSIGN_OR_RETURN(auto x, Fn());` declares x from an absl::StatusOr, or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(BERTH_STATUS_CONCAT_(berth_statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(statusor).value()

#endif  // BERTH_LIB_STATUS_STATUS_H_
