#include "lib/status/status.h"

#include <cerrno>

#include <gtest/gtest.h>

#include "absl/status/statusor.h"
#include "lib/status/grpc_status.h"

namespace berth {
namespace {

TEST(ErrnoToStatus, MapsCodesAndNamesTheObject) {
  absl::Status s = ErrnoToStatus("open", "/var/lib/berth/blobs/x", ENOENT);
  EXPECT_TRUE(IsNotFound(s));
  EXPECT_EQ(s.message(), "open \"/var/lib/berth/blobs/x\": No such file or directory");

  EXPECT_TRUE(IsAlreadyExists(ErrnoToStatus("mkdir", "/a", EEXIST)));
  EXPECT_TRUE(IsResourceExhausted(ErrnoToStatus("write", "/a", ENOSPC)));
  EXPECT_TRUE(IsResourceExhausted(ErrnoToStatus("write", "/a", EDQUOT)));
  EXPECT_TRUE(IsPermissionDenied(ErrnoToStatus("open", "/a", EACCES)));
  EXPECT_TRUE(IsInvalidArgument(ErrnoToStatus("openat2", "/a", ELOOP)));
  EXPECT_TRUE(IsFailedPrecondition(ErrnoToStatus("rmdir", "/a", ENOTEMPTY)));
  EXPECT_TRUE(IsUnavailable(ErrnoToStatus("connect", "/a", ECONNREFUSED)));
  EXPECT_TRUE(IsInternal(ErrnoToStatus("read", "/a", EIO)));
}

TEST(ErrnoToStatus, WithoutPath) {
  absl::Status s = ErrnoToStatus("fork", "", EAGAIN);
  EXPECT_TRUE(IsUnavailable(s));
  EXPECT_EQ(s.message(), "fork: Resource temporarily unavailable");
}

TEST(Annotate, KeepsCodePrefixesMessage) {
  absl::Status s = Annotate(NotFoundError("blob sha256:ab"), "read");
  EXPECT_TRUE(IsNotFound(s));
  EXPECT_EQ(s.message(), "read: blob sha256:ab");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

absl::StatusOr<int> Half(int n) {
  if (n % 2 != 0) return InvalidArgumentError("odd");
  return n / 2;
}

absl::StatusOr<int> Quarter(int n) {
  ASSIGN_OR_RETURN(int half, Half(n));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status CheckEven(int n) {
  RETURN_IF_ERROR(Half(n).status());
  return absl::OkStatus();
}

TEST(Macros, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_TRUE(IsInvalidArgument(Quarter(6).status()));
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_TRUE(IsInvalidArgument(CheckEven(3)));
}

TEST(GrpcStatus, RoundTripsEveryCode) {
  for (int c = 0; c <= 16; ++c) {
    auto code = static_cast<absl::StatusCode>(c);
    absl::Status s(code, c == 0 ? "" : "message");
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), c);
    absl::Status back = FromGrpcStatus(g);
    EXPECT_EQ(back.code(), code);
    if (c != 0) {
      EXPECT_EQ(back.message(), "message");
    }
  }
}

TEST(GrpcStatus, CodesCtrBranchesOn) {
  EXPECT_EQ(ToGrpcStatus(AlreadyExistsError("x")).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ToGrpcStatus(NotFoundError("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpcStatus(UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ToGrpcStatus(UnimplementedError("x")).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(ToGrpcStatus(FailedPreconditionError("x")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(GrpcStatus, UnknownCodeFromPeer) {
  // 20 is past the last named code but inside the enum's value range (0..31): a value
  // outside that range cannot be built without undefined behaviour, which UBSan flags.
  absl::Status s = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(20), "weird"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(s.message(), "weird");
}

}  // namespace
}  // namespace berth
