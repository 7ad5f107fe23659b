#include "lib/digest/digest.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/container/flat_hash_set.h"

namespace berth::digest {
namespace {

constexpr char kEmpty[] = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbc[] = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
// FIPS 180-2 test vectors.
constexpr char kTwoBlock[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr char kTwoBlockDigest[] =
    "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr char kMillionA[] =
    "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

Digest MustParse(std::string_view s) {
  absl::StatusOr<Digest> d = Digest::Parse(s);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *d : Digest();
}

// SHA-256 in one EVP_Digest call, independent of the Sha256 class.
std::string OneShotHex(std::string_view data) {
  unsigned char raw[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), raw, &n, EVP_sha256(), nullptr), 1);
  std::string hex;
  for (unsigned int i = 0; i < n; ++i) {
    static constexpr char kDigits[] = "0123456789abcdef";
    hex += kDigits[raw[i] >> 4];
    hex += kDigits[raw[i] & 0xf];
  }
  return hex;
}

std::string Pattern(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 12345;
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

TEST(Parse, AcceptsSha256) {
  Digest d = MustParse(kAbc);
  EXPECT_FALSE(d.empty());
  EXPECT_EQ(d.algorithm(), "sha256");
  EXPECT_EQ(d.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(d.ToString(), kAbc);
  std::ostringstream os;
  os << d;
  EXPECT_EQ(os.str(), kAbc);
}

TEST(Parse, EmptyDigestIsDefaultOnly) {
  Digest d;
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.ToString(), "");
  EXPECT_EQ(d.algorithm(), "");
  EXPECT_EQ(d.hex(), "");
  EXPECT_TRUE(absl::IsInvalidArgument(Digest::Parse("").status()));
}

TEST(Parse, RefusesBadFormat) {
  const std::string hex64(64, 'a');
  for (const std::string& s : std::vector<std::string>{
           "",
           ":",
           "sha256",
           "sha256:",
           ":" + hex64,
           hex64,
           "SHA256:" + hex64,
           "sha 256:" + hex64,
           "-sha256:" + hex64,
           "sha256-:" + hex64,
           "sha256++x:" + hex64,
       }) {
    absl::Status st = Digest::Parse(s).status();
    EXPECT_TRUE(absl::IsInvalidArgument(st)) << s;
    EXPECT_NE(std::string(st.message()).find("invalid checksum digest format"), std::string::npos)
        << s << ": " << st;
  }
}

TEST(Parse, RefusesOtherAlgorithmsSayingSha256Only) {
  absl::Status st = Digest::Parse("sha512:" + std::string(128, 'a')).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_EQ(st.message(), "invalid digest \"sha512:" + std::string(93, 'a') +
                              "...\": unsupported digest algorithm \"sha512\": berth supports "
                              "sha256 only");
  st = Digest::Parse("sha384:" + std::string(96, 'a')).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_NE(std::string(st.message()).find("berth supports sha256 only"), std::string::npos);
  st = Digest::Parse("md5:d41d8cd98f00b204e9800998ecf8427e").status();
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_NE(std::string(st.message()).find("unsupported digest algorithm \"md5\""),
            std::string::npos);
  // A syntactically fine algorithm with extra parts is not sha256 either.
  EXPECT_TRUE(
      absl::IsInvalidArgument(Digest::Parse("sha256+b64:" + std::string(64, 'a')).status()));
}

TEST(Parse, RefusesWrongLength) {
  absl::Status st = Digest::Parse("sha256:abc").status();
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_EQ(st.message(),
            "invalid digest \"sha256:abc\": invalid checksum digest length: sha256 needs 64 hex "
            "characters, got 3");
  EXPECT_TRUE(absl::IsInvalidArgument(Digest::Parse("sha256:" + std::string(63, 'a')).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Digest::Parse("sha256:" + std::string(65, 'a')).status()));
}

TEST(Parse, RefusesUppercaseAndNonHex) {
  std::string upper = "sha256:" + std::string(10, 'a') + "B" + std::string(53, 'a');
  absl::Status st = Digest::Parse(upper).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_NE(std::string(st.message()).find("uppercase hex 'B' at offset 10, hex must be lowercase"),
            std::string::npos)
      << st;

  std::string nonhex = "sha256:g" + std::string(63, 'a');
  st = Digest::Parse(nonhex).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_NE(std::string(st.message()).find("non-hex character 'g' at offset 0"), std::string::npos)
      << st;

  std::string nul = "sha256:" + std::string(63, 'a') + std::string(1, '\0');
  st = Digest::Parse(nul).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_NE(std::string(st.message()).find("non-hex character '\\x00' at offset 63"),
            std::string::npos)
      << st;
  // Trailing garbage after a valid digest is a length error.
  EXPECT_TRUE(absl::IsInvalidArgument(Digest::Parse(std::string(kAbc) + "\n").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Digest::Parse(std::string(kAbc) + ":x").status()));
}

TEST(Digest, ComparesAndHashes) {
  Digest a = MustParse(kAbc);
  Digest b = MustParse(kEmpty);
  EXPECT_EQ(a, MustParse(kAbc));
  EXPECT_NE(a, b);
  EXPECT_LT(a, b);  // "ba78..." < "e3b0..."
  EXPECT_LT(Digest(), a);

  absl::flat_hash_set<Digest> set = {a, b, MustParse(kAbc)};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_TRUE(set.contains(a));
  std::unordered_set<Digest> uset = {a, b, MustParse(kAbc)};
  EXPECT_EQ(uset.size(), 2u);
  EXPECT_TRUE(uset.count(b));
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(FromBytes("").ToString(), kEmpty);
  EXPECT_EQ(FromBytes("abc").ToString(), kAbc);
  EXPECT_EQ(FromBytes(kTwoBlock).ToString(), kTwoBlockDigest);
  EXPECT_EQ(FromBytes(std::string(1000000, 'a')).ToString(), kMillionA);

  Sha256 h;
  EXPECT_EQ(h.Finish().ToString(), kEmpty);
  h.Update("a");
  h.Update("");
  h.Update("bc", 2);
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.Finish().ToString(), kAbc);
  // Finish resets.
  EXPECT_EQ(h.size(), 0u);
  EXPECT_EQ(h.Finish().ToString(), kEmpty);
}

TEST(Sha256, OneMiBMatchesOneShot) {
  std::string data = Pattern(1 << 20);
  Digest d = FromBytes(data);
  EXPECT_EQ(d.hex(), OneShotHex(data));
  // And a parse round trip of what the hasher produces.
  EXPECT_EQ(MustParse(d.ToString()), d);
}

TEST(Sha256, OddChunksGiveTheSameDigest) {
  std::string data = Pattern((1 << 20) + 13);
  const std::string want = OneShotHex(data);
  for (std::size_t chunk : {1u, 3u, 7u, 63u, 64u, 65u, 4093u, 65537u}) {
    Sha256 h;
    for (std::size_t off = 0; off < data.size(); off += chunk) {
      h.Update(std::string_view(data).substr(off, chunk));
    }
    EXPECT_EQ(h.size(), data.size());
    EXPECT_EQ(h.Finish().hex(), want) << "chunk " << chunk;
  }
  Sha256 h;
  for (std::size_t off = 0; off < 1000000; off += 997) {
    h.Update(std::string(std::min<std::size_t>(997, 1000000 - off), 'a'));
  }
  EXPECT_EQ(h.Finish().ToString(), kMillionA);
}

TEST(Sha256, SumDoesNotDisturbTheStream) {
  Sha256 h;
  h.Update("a");
  EXPECT_EQ(h.Sum(), FromBytes("a"));
  h.Update("bc");
  EXPECT_EQ(h.Sum().ToString(), kAbc);
  EXPECT_EQ(h.Finish().ToString(), kAbc);
}

TEST(Sha256, Moves) {
  Sha256 a;
  a.Update("ab");
  Sha256 b = std::move(a);
  b.Update("c");
  EXPECT_EQ(b.Finish().ToString(), kAbc);
  Sha256 c;
  c = std::move(b);
  c.Update("abc");
  EXPECT_EQ(c.Finish().ToString(), kAbc);
}

TEST(Verifier, AcceptsMatchingStream) {
  std::string data = Pattern(100000);
  Verifier v(static_cast<std::int64_t>(data.size()), FromBytes(data));
  for (std::size_t off = 0; off < data.size(); off += 999) {
    ASSERT_TRUE(v.Update(std::string_view(data).substr(off, 999)).ok());
  }
  EXPECT_TRUE(v.Verify().ok()) << v.Verify();
  EXPECT_EQ(v.size(), 100000);
  EXPECT_EQ(v.Sum(), FromBytes(data));
}

TEST(Verifier, UnknownSizeChecksDigestOnly) {
  Verifier v(-1, MustParse(kAbc));
  ASSERT_TRUE(v.Update("ab").ok());
  ASSERT_TRUE(v.Update("c").ok());
  EXPECT_TRUE(v.Verify().ok());
  EXPECT_EQ(v.expected_size(), -1);
}

TEST(Verifier, WrongDigestNamesBoth) {
  Verifier v(3, MustParse(kEmpty));
  ASSERT_TRUE(v.Update("abc").ok());
  absl::Status st = v.Verify();
  EXPECT_TRUE(absl::IsFailedPrecondition(st));
  EXPECT_EQ(st.message(), std::string("unexpected commit digest ") + kAbc + ", expected " + kEmpty);
}

TEST(Verifier, ShortStreamNamesBothSizes) {
  Verifier v(4, MustParse(kAbc));
  ASSERT_TRUE(v.Update("abc").ok());
  absl::Status st = v.Verify();
  EXPECT_TRUE(absl::IsFailedPrecondition(st));
  EXPECT_EQ(st.message(), "unexpected commit size 3, expected 4");
}

TEST(Verifier, OverflowIsReportedImmediatelyAndSticks) {
  Verifier v(3, MustParse(kAbc));
  ASSERT_TRUE(v.Update("ab").ok());
  absl::Status st = v.Update("cd");
  EXPECT_TRUE(absl::IsFailedPrecondition(st));
  EXPECT_EQ(st.message(), "unexpected commit size 4, expected 3");
  EXPECT_EQ(v.Update("").message(), st.message());
  EXPECT_EQ(v.Verify(), st);
}

TEST(Verifier, ZeroSizeExpected) {
  Verifier v(0, MustParse(kEmpty));
  EXPECT_TRUE(v.Verify().ok());
  EXPECT_TRUE(v.Update("").ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(v.Update("x")));
}

}  // namespace
}  // namespace berth::digest
