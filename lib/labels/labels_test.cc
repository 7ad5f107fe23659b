#include "lib/labels/labels.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <unordered_map>

namespace berth::labels {
namespace {

TEST(Validate, AcceptsOrdinaryLabels) {
  EXPECT_TRUE(Validate("containerd.io/gc.root", "2024-01-01T00:00:00Z").ok());
  EXPECT_TRUE(Validate("k", "").ok());
  EXPECT_TRUE(Validate("with spaces and \xc3\xa9", "any \n bytes").ok());
}

TEST(Validate, AcceptsExactlyTheMaximum) {
  // containerd's labels_test: key+value of exactly maxSize passes, one more fails.
  EXPECT_TRUE(Validate("k", std::string(kMaxSize - 1, 'v')).ok());
  EXPECT_TRUE(Validate(std::string(kMaxSize, 'k'), "").ok());
  EXPECT_TRUE(Validate(std::string(kMaxSize / 2, 'k'), std::string(kMaxSize / 2, 'v')).ok());
}

TEST(Validate, RefusesOverTheMaximumNamingTheKey) {
  absl::Status s = Validate("key", std::string(kMaxSize - 2, 'v'));
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_EQ(s.message(),
            "label key and value length (4097 bytes) greater than maximum size (4096 bytes), "
            "key: \"key\"");
}

TEST(Validate, LongKeyIsCutInTheMessage) {
  std::string key = std::string(kMaxKeyInMessage, 'k') + "TAIL";
  absl::Status s = Validate(key, std::string(kMaxSize, 'v'));
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_EQ(s.message(),
            "label key and value length (4164 bytes) greater than maximum size "
            "(4096 bytes), key: \"" +
                std::string(kMaxKeyInMessage, 'k') + "...\"");
  s = Validate(std::string(kMaxSize + 1, 'k'), "");
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_LT(s.message().size(), 200u);
}

TEST(Validate, KeyIsEscapedInTheMessage) {
  absl::Status s = Validate("a\"\n", std::string(kMaxSize, 'v'));
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(std::string(s.message()).find("key: \"a\\\"\\x0a\""), std::string::npos) << s;
}

TEST(Validate, RefusesEmptyKey) {
  absl::Status s = Validate("", "v");
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_EQ(s.message(), "label key must not be empty");
  EXPECT_TRUE(absl::IsInvalidArgument(Validate("", "")));
}

TEST(ValidateMap, ChecksEveryEntry) {
  std::map<std::string, std::string> ok = {{"a", "1"}, {"b", std::string(kMaxSize - 1, 'v')}};
  EXPECT_TRUE(Validate(ok).ok());
  EXPECT_TRUE(Validate(std::map<std::string, std::string>{}).ok());

  std::map<std::string, std::string> bad = ok;
  bad["c"] = std::string(kMaxSize, 'v');
  absl::Status s = Validate(bad);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_NE(std::string(s.message()).find("key: \"c\""), std::string::npos) << s;

  std::unordered_map<std::string, std::string> empty_key = {{"", "v"}};
  EXPECT_EQ(Validate(empty_key).message(), "label key must not be empty");
}

}  // namespace
}  // namespace berth::labels
