// Result: the shim's error value — a status code (absl/gRPC numbering, as carried in
// berth.shim.v1.Response.code) and a message reading `op "object": reason`.
//
// The shim does not link abseil (it must stay small), so it has its own tiny status type.
//
// Thread-safety: a plain value.
#ifndef BERTH_SERVICES_RUNTIME_SHIM_RESULT_H_
#define BERTH_SERVICES_RUNTIME_SHIM_RESULT_H_

#include <string>
#include <utility>

namespace berth::shim {

// The codes the shim uses (same numbers as absl::StatusCode / grpc::StatusCode).
enum Code : int {
  kOk = 0,
  kUnknown = 2,
  kInvalidArgument = 3,
  kNotFound = 5,
  kAlreadyExists = 6,
  kFailedPrecondition = 9,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
};

struct Result {
  int code = kOk;
  std::string message;

  bool ok() const { return code == kOk; }
  static Result Ok() { return {}; }
  static Result Error(int code, std::string message) { return {code, std::move(message)}; }
};

// `op "object": strerror(err)` with a code derived from err as lib/status's ErrnoToStatus
// maps the common ones (ENOENT -> kNotFound, EEXIST -> kAlreadyExists, EINVAL ->
// kInvalidArgument, EBUSY -> kFailedPrecondition, else kInternal).
Result ErrnoResult(const std::string& op, const std::string& object, int err);

}  // namespace berth::shim

#endif  // BERTH_SERVICES_RUNTIME_SHIM_RESULT_H_
