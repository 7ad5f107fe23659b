#include "lib/status/status.h"

#include <cerrno>
#include <cstring>


namespace berth {
namespace {

absl::StatusCode CodeForErrno(int err) {
  switch (err) {
    case 0:
      return absl::StatusCode::kUnknown;
    case ENOENT:
      return absl::StatusCode::kNotFound;
    case EEXIST:
      return absl::StatusCode::kAlreadyExists;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      return absl::StatusCode::kResourceExhausted;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
    case ENOTDIR:
    case EISDIR:
      return absl::StatusCode::kInvalidArgument;
    case ENOTEMPTY:
    case EBUSY:
    case EXDEV:
    case EROFS:
      return absl::StatusCode::kFailedPrecondition;
    case EAGAIN:
    case ECONNREFUSED:
      return absl::StatusCode::kUnavailable;
    case ETIMEDOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case ECANCELED:
      return absl::StatusCode::kCancelled;
    case ENOSYS:
    case EOPNOTSUPP:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

std::string Quote(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '"';
  out += name;
  out += '"';
  return out;
}

absl::Status ErrnoToStatus(std::string_view op, std::string_view path, int err) {
  char buf[256];
  // GNU strerror_r returns the message (possibly not in buf).
  const char* reason = strerror_r(err, buf, sizeof(buf));
  std::string message(op);
  if (!path.empty()) message += " " + Quote(path);
  message += ": ";
  message += reason;
  return absl::Status(CodeForErrno(err), message);
}

absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  std::string message(context);
  message += ": ";
  message += std::string(status.message());
  return absl::Status(status.code(), message);
}

}  // namespace berth
