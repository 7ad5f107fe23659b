#include "services/snapshot/diff/stream.h"

#include <gtest/gtest.h>
#include <libdeflate.h>

#include <random>
#include <string>

#include "lib/digest/digest.h"
#include "lib/status/status.h"
#include "lib/testing/status_matchers.h"
#include "services/snapshot/diff/tar_builder.h"

namespace berth::snapshot::diff {
namespace {

std::string RandomText(size_t n, unsigned seed = 1) {
  // Compressible but not trivial: words from a small alphabet.
  std::mt19937 rng(seed);
  std::string out;
  out.reserve(n);
  while (out.size() < n) out += static_cast<char>('a' + rng() % 7);
  return out;
}

absl::StatusOr<std::string> ReadAll(ChunkSource& src) {
  std::string out;
  while (true) {
    ASSIGN_OR_RETURN(std::string_view chunk, src.Next());
    if (chunk.empty()) return out;
    out.append(chunk);
  }
}

absl::StatusOr<std::string> Decompress(std::string_view data, size_t chunk = 1 << 20) {
  auto src = NewDecompressor(NewStringSource(data, chunk));
  return ReadAll(*src);
}

std::string LibdeflateGzip(std::string_view data) {
  libdeflate_compressor* c = libdeflate_alloc_compressor(6);
  std::string out(libdeflate_gzip_compress_bound(c, data.size()), '\0');
  size_t n = libdeflate_gzip_compress(c, data.data(), data.size(), out.data(), out.size());
  libdeflate_free_compressor(c);
  out.resize(n);
  return out;
}

TEST(StreamTest, DetectCompression) {
  EXPECT_EQ(DetectCompression(std::string("\x1f\x8b\x08\x00", 4)), Compression::kGzip);
  EXPECT_EQ(DetectCompression(std::string("\x28\xb5\x2f\xfd", 4)), Compression::kZstd);
  EXPECT_EQ(DetectCompression(std::string("\x50\x2a\x4d\x18", 4)), Compression::kZstd);
  EXPECT_EQ(DetectCompression("etc/"), Compression::kNone);
  EXPECT_EQ(DetectCompression(""), Compression::kNone);
  EXPECT_EQ(DetectCompression("\x1f"), Compression::kNone);
}

TEST(StreamTest, CompressionForMediaType) {
  EXPECT_EQ(*CompressionForMediaType("application/vnd.oci.image.layer.v1.tar"), Compression::kNone);
  EXPECT_EQ(*CompressionForMediaType("application/vnd.oci.image.layer.v1.tar+gzip"),
            Compression::kGzip);
  EXPECT_EQ(*CompressionForMediaType("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::kGzip);
  EXPECT_EQ(*CompressionForMediaType("application/vnd.oci.image.layer.v1.tar+zstd"),
            Compression::kZstd);
  EXPECT_TRUE(IsUnimplemented(
      CompressionForMediaType("application/vnd.oci.image.layer.v1.tar+gzip+encrypted").status()));
  EXPECT_TRUE(IsUnimplemented(CompressionForMediaType("application/json").status()));
  EXPECT_TRUE(IsUnimplemented(CompressionForMediaType("").status()));
}

TEST(StreamTest, GzipRoundTripAnyChunking) {
  std::string data = RandomText(3 << 20);
  std::string gz = GzipBytes(data);
  ASSERT_LT(gz.size(), data.size());
  for (size_t chunk : {size_t{1} << 20, size_t{65536}, size_t{4093}, size_t{7}}) {
    SCOPED_TRACE(chunk);
    ASSERT_OK_AND_ASSIGN(std::string out, Decompress(gz, chunk));
    EXPECT_EQ(out, data);
  }
}

TEST(StreamTest, GzipFromAnotherEncoder) {
  std::string data = RandomText(1 << 20, 7);
  ASSERT_OK_AND_ASSIGN(std::string out, Decompress(LibdeflateGzip(data)));
  EXPECT_EQ(out, data);
}

TEST(StreamTest, GzipConcatenatedMembersAreOneStream) {
  std::string a = RandomText(100000, 2), b = RandomText(200000, 3);
  ASSERT_OK_AND_ASSIGN(std::string out, Decompress(GzipBytes(a) + LibdeflateGzip(b), 999));
  EXPECT_EQ(out, a + b);
}

TEST(StreamTest, GzipTrailingZerosIgnoredGarbageRefused) {
  std::string data = RandomText(5000);
  ASSERT_OK_AND_ASSIGN(std::string out, Decompress(GzipBytes(data) + std::string(512, '\0')));
  EXPECT_EQ(out, data);
  EXPECT_TRUE(IsDataLoss(Decompress(GzipBytes(data) + "garbage!").status()));
}

TEST(StreamTest, GzipCorruptOrTruncated) {
  std::string data = RandomText(1 << 20);
  std::string gz = GzipBytes(data);
  std::string truncated = gz.substr(0, gz.size() / 2);
  absl::Status s = Decompress(truncated).status();
  EXPECT_TRUE(IsDataLoss(s)) << s;
  std::string no_trailer = gz.substr(0, gz.size() - 4);
  s = Decompress(no_trailer).status();
  EXPECT_TRUE(IsDataLoss(s)) << s;
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 0x55;  // Inside the CRC32 of the trailer.
  s = Decompress(bad_crc).status();
  EXPECT_TRUE(IsDataLoss(s)) << s;
  std::string flipped = gz;
  for (size_t i = 100; i < flipped.size() - 100; i += 97) flipped[i] ^= 0xff;
  s = Decompress(flipped).status();
  EXPECT_TRUE(IsDataLoss(s)) << s;
}

TEST(StreamTest, ZstdRoundTripAndMultiFrame) {
  std::string a = RandomText(2 << 20, 4), b = RandomText(300000, 5);
  ASSERT_OK_AND_ASSIGN(std::string out, Decompress(ZstdBytes(a), 8191));
  EXPECT_EQ(out, a);
  ASSERT_OK_AND_ASSIGN(out, Decompress(ZstdBytes(a) + ZstdBytes(b), 65536));
  EXPECT_EQ(out, a + b);
  std::string z = ZstdBytes(a);
  absl::Status s = Decompress(z.substr(0, z.size() - 10)).status();
  EXPECT_TRUE(IsDataLoss(s)) << s;
  std::string corrupt = z;
  corrupt[4] ^= 0xff;  // Frame header descriptor.
  s = Decompress(corrupt).status();
  EXPECT_TRUE(IsDataLoss(s)) << s;
}

TEST(StreamTest, PlainPassesThrough) {
  std::string tar = TarBuilder().File("a", "hello", 0644).Build();
  ASSERT_OK_AND_ASSIGN(std::string out, Decompress(tar, 100));
  EXPECT_EQ(out, tar);
  ASSERT_OK_AND_ASSIGN(out, Decompress(""));
  EXPECT_EQ(out, "");
}

TEST(StreamTest, VerifyingReaderChecksDigestAndSize) {
  std::string blob = RandomText(3000000);
  auto read = [&blob](char* buf, size_t n, std::int64_t off) -> absl::StatusOr<size_t> {
    if (off >= static_cast<std::int64_t>(blob.size())) return size_t{0};
    size_t k = std::min(n, blob.size() - static_cast<size_t>(off));
    std::memcpy(buf, blob.data() + off, k);
    return k;
  };
  {
    auto src = NewVerifyingReader(read, blob.size(), digest::FromBytes(blob), 1 << 16);
    ASSERT_OK_AND_ASSIGN(std::string out, ReadAll(*src));
    EXPECT_EQ(out, blob);
  }
  {
    auto src = NewVerifyingReader(read, blob.size(), digest::FromBytes("other"));
    absl::Status s = ReadAll(*src).status();
    EXPECT_TRUE(IsFailedPrecondition(s)) << s;
    EXPECT_NE(s.message().find(digest::FromBytes("other").ToString()), std::string::npos);
  }
  {
    // The descriptor claims more bytes than the blob has.
    auto src = NewVerifyingReader(read, blob.size() + 10, digest::FromBytes(blob));
    absl::Status s = ReadAll(*src).status();
    EXPECT_TRUE(IsDataLoss(s)) << s;
  }
  {
    auto failing = [](char*, size_t, std::int64_t) -> absl::StatusOr<size_t> {
      return absl::UnavailableError("content service down");
    };
    auto src = NewVerifyingReader(failing, 10, digest::FromBytes("x"));
    EXPECT_TRUE(IsUnavailable(ReadAll(*src).status()));
  }
}

TEST(StreamTest, DigestingAndPrefetch) {
  std::string data = RandomText(5 << 20, 9);
  std::string gz = GzipBytes(data);
  auto digesting = std::make_unique<DigestingSource>(NewDecompressor(NewStringSource(gz, 12345)));
  DigestingSource* d = digesting.get();
  auto prefetch = NewPrefetchSource(std::move(digesting), 3);
  ASSERT_OK_AND_ASSIGN(std::string out, ReadAll(*prefetch));
  EXPECT_EQ(out, data);
  EXPECT_EQ(d->Sum(), digest::FromBytes(data));
  EXPECT_EQ(d->size(), static_cast<std::int64_t>(data.size()));

  // Errors come through the prefetcher; destroying it mid-stream stops its thread.
  const std::string cut = gz.substr(0, gz.size() / 3);
  auto bad = NewPrefetchSource(NewDecompressor(NewStringSource(cut)));
  EXPECT_TRUE(IsDataLoss(ReadAll(*bad).status()));
  auto early = NewPrefetchSource(NewDecompressor(NewStringSource(gz, 1000)), 2);
  ASSERT_OK(early->Next().status());
  early.reset();
}

TEST(StreamTest, CompressorsRoundTrip) {
  std::string data = RandomText(1 << 20, 11);
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(std::string(CompressionName(c)));
    std::string out;
    auto comp = NewCompressor(c, [&](std::string_view chunk) {
      out.append(chunk);
      return absl::OkStatus();
    });
    for (size_t i = 0; i < data.size(); i += 100000) {
      ASSERT_OK(comp->Write(std::string_view(data).substr(i, 100000)));
    }
    ASSERT_OK(comp->Close());
    EXPECT_EQ(DetectCompression(out), c == Compression::kNone ? DetectCompression(data) : c);
    ASSERT_OK_AND_ASSIGN(std::string back, Decompress(out));
    EXPECT_EQ(back, data);
  }
  // A failing sink fails the write.
  auto comp = NewCompressor(Compression::kGzip,
                            [](std::string_view) { return absl::ResourceExhaustedError("full"); });
  absl::Status s = comp->Write(data);
  if (s.ok()) s = comp->Close();
  EXPECT_TRUE(IsResourceExhausted(s)) << s;
}

}  // namespace
}  // namespace berth::snapshot::diff
