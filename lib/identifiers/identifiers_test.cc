#include "lib/identifiers/identifiers.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth::identifiers {
namespace {

// containerd's identifiers_test.go tables, plus edge cases of the hand-written scan.
TEST(Validate, AcceptsContainerdValidIdentifiers) {
  const std::vector<std::string> valid = {
      "default",
      "Default",
      "TestValidIdentifiers",
      "default-default",
      "containerd.io",
      "foo.boo",
      "swarmkit.docker.io",
      "0912341234",
      "task.0.0123456789",
      "container.system-75-f19a.00",
      "underscores_are_allowed",
      "a",
      "0",
      "a.b_c-d",
      "A1-b2_C3.d4",
      std::string(kMaxLength, 'a'),
      std::string(kMaxLength - 2, 'a') + ".b",
  };
  for (const std::string& id : valid) {
    EXPECT_TRUE(Validate(id).ok()) << id << ": " << Validate(id);
  }
}

TEST(Validate, RefusesContainerdInvalidIdentifiers) {
  const std::vector<std::string> invalid = {
      ".foo..foo",   "foo/foo", "foo/..",   "foo..foo",
      "foo.-boo",    "-foo",    "foo-",     "foo_",
      "_foo",        ".",       "-",        "_",
      "foo.",        ".foo",    "foo--bar", "foo__bar",
      "foo._bar",    "foo~",    "foo~bar",  "foo^bar",
      "foo:bar",     "foo bar", " foo",     "foo ",
      "-foo\n",      "foo\n",   "\nfoo",    std::string("foo\0bar", 7),
      "caf\xc3\xa9",  // Non-ASCII letters are not letters here.
      "\xff",
  };
  for (const std::string& id : invalid) {
    absl::Status s = Validate(id);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << id << ": " << s;
  }
}

TEST(Validate, EmptyHasItsOwnMessage) {
  absl::Status s = Validate("");
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_EQ(s.message(), "identifier must not be empty");
}

TEST(Validate, PatternMessageQuotesTheIdentifier) {
  absl::Status s = Validate("foo/bar");
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_EQ(s.message(),
            "identifier \"foo/bar\" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$");
}

TEST(Validate, MessageEscapesNonPrintableBytes) {
  absl::Status s = Validate(std::string("a\0\"\\\n", 5));
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_EQ(s.message(),
            "identifier \"a\\x00\\\"\\\\\\x0a\" must match "
            "^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$");
}

TEST(Validate, TooLongIsRefusedAndTruncatedInTheMessage) {
  std::string id(kMaxLength + 1, 'a');
  absl::Status s = Validate(id);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_EQ(s.message(), "identifier \"" + std::string(kMaxLength, 'a') +
                             "...\" greater than maximum length (76 characters)");

  // A huge hostile id does not end up in the message whole.
  std::string huge(1 << 20, 'x');
  s = Validate(huge);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_LT(s.message().size(), 200u);
}

TEST(Validate, LengthIsCheckedBeforeThePattern) {
  // Containerd reports the length first even when the characters are bad as well.
  absl::Status s = Validate(std::string(kMaxLength + 1, '/'));
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(std::string(s.message()).find("greater than maximum length"), std::string::npos);
}

}  // namespace
}  // namespace berth::identifiers
