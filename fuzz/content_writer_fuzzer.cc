// Fuzzes the content store's ingest state machine (services/content LocalStore: OpenWriter,
// Writer::Write/Truncate/Status/Digest/Commit, Abort, Status) with a sequence of operations
// decoded from the input, checked against a model of what each ingest holds.
//
// One LocalStore is opened per process in a temporary directory; every input runs in the
// namespace "fuzz" on the refs "a", "b" and "c" and leaves the store empty again (ingests
// aborted, blobs deleted), so inputs are independent. Invariants checked:
//   - a commit whose expected digest (or size) differs from the bytes written never
//     succeeds, and the wrong digest never becomes visible;
//   - a commit that succeeds makes a blob whose bytes, read back, re-hash to its digest, and
//     that digest is the sha256 of exactly the bytes the model says were written;
//   - a commit with the right size and digest (and compatible declarations) succeeds;
//   - offsets and digests reported by Writer::Status / Digest and Store::Status follow the
//     model; a held ref is locked (Unavailable) for a second writer and for Abort.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "fuzz/fuzz_check.h"
#include "lib/context/call_context.h"
#include "lib/digest/digest.h"
#include "services/content/local_store.h"

namespace c = berth::content;
namespace digest = berth::digest;

namespace {

constexpr int kRefs = 3;
const char* const kRefNames[kRefs] = {"a", "b", "c"};

c::LocalStore& Store() {
  static c::LocalStore* store = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/berth-content-fuzz-XXXXXX";
    FUZZ_CHECK(mkdtemp(tmpl.data()) != nullptr, "mkdtemp " + tmpl);
    static std::string root = tmpl;
    c::LocalStoreOptions options;
    options.root = root;
    options.verify_blobs = false;
    options.expiry_interval = std::chrono::seconds(0);
    auto opened = c::LocalStore::Open(options);
    FUZZ_CHECK(opened.ok(), "LocalStore::Open: " + opened.status().ToString());
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(root, ec);
    });
    // Leaked on purpose: destroying it at exit would race libFuzzer's own exit path.
    return opened->release();
  }();
  return *store;
}

// A digest that no input can produce: sha256 of a marker plus a counter.
digest::Digest WrongDigest(uint8_t n) {
  return digest::FromBytes("berth content fuzzer: wrong digest " + std::to_string(n));
}

struct Ingest {
  bool exists = false;
  std::string data;         // Bytes written so far.
  int64_t total = 0;        // Declared total (0: unknown).
  digest::Digest expected;  // Declared digest (empty: unknown).
  std::unique_ptr<c::Writer> writer;
};

std::string Code(const absl::Status& s) { return s.ToString(); }

void CheckBlob(c::LocalStore& store, const berth::CallContext& ctx, const digest::Digest& d,
               const std::string& data) {
  auto info = store.Info(ctx, d);
  FUZZ_CHECK(info.ok(), "committed blob has no info: " + Code(info.status()));
  FUZZ_CHECK(info->size == static_cast<int64_t>(data.size()), "committed size differs");
  auto reader = store.OpenReader(ctx, d);
  FUZZ_CHECK(reader.ok(), "committed blob cannot be opened: " + Code(reader.status()));
  std::string back((*reader)->Size(), '\0');
  size_t got = 0;
  while (got < back.size()) {
    auto n = (*reader)->ReadAt(back.data() + got, back.size() - got, got);
    FUZZ_CHECK(n.ok() && *n > 0, "short read of a committed blob");
    got += *n;
  }
  FUZZ_CHECK(digest::FromBytes(back) == d, "committed blob does not re-hash to its digest");
  FUZZ_CHECK(back == data, "committed blob holds other bytes than were written");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  c::LocalStore& store = Store();
  const berth::CallContext ctx = berth::CallContext::Background("fuzz");
  FuzzedDataProvider in(bytes, size);
  std::array<Ingest, kRefs> ingests;
  std::set<digest::Digest> committed;  // In this input.
  std::set<digest::Digest> wrong;      // Refused at commit.

  for (int step = 0; step < 64 && in.remaining_bytes() > 0; ++step) {
    const int r = in.ConsumeIntegralInRange<int>(0, kRefs - 1);
    Ingest& ing = ingests[r];
    const std::string ref = kRefNames[r];
    switch (in.ConsumeIntegralInRange<int>(0, 8)) {
      case 0: {  // OpenWriter
        c::WriterOptions opts;
        opts.ref = ref;
        opts.total = in.ConsumeIntegralInRange<int64_t>(0, 4096);
        if (in.ConsumeBool()) opts.total = 0;
        const int e = in.ConsumeIntegralInRange<int>(0, 2);
        if (e == 1) opts.expected = WrongDigest(in.ConsumeIntegral<uint8_t>());
        if (e == 2) opts.expected = digest::FromBytes(in.ConsumeRandomLengthString(64));
        auto w = store.OpenWriter(ctx, opts);
        const bool known = !opts.expected.empty() && committed.count(opts.expected) > 0;
        if (ing.writer != nullptr) {
          // As containerd (its metadata store answers before the backend locks the ref): a
          // committed expected digest is AlreadyExists even while the ref is held.
          FUZZ_CHECK(!w.ok() && (absl::IsUnavailable(w.status()) ||
                                 (known && absl::IsAlreadyExists(w.status()))),
                     "second writer on a held ref: " + Code(w.status()));
          break;
        }
        if (!w.ok()) {
          FUZZ_CHECK(known && absl::IsAlreadyExists(w.status()),
                     "OpenWriter failed: " + Code(w.status()));
          break;
        }
        if (!ing.exists) {
          ing.exists = true;
          ing.data.clear();
          ing.total = opts.total;
          ing.expected = opts.expected;
        } else {
          if (ing.total == 0) ing.total = opts.total;
          if (ing.expected.empty()) ing.expected = opts.expected;
        }
        ing.writer = std::move(*w);
        auto st = ing.writer->Status();
        FUZZ_CHECK(st.ok(), "Status of a new writer: " + Code(st.status()));
        FUZZ_CHECK(st->offset == static_cast<int64_t>(ing.data.size()),
                   "resumed offset " + std::to_string(st->offset) + ", model " +
                       std::to_string(ing.data.size()));
        break;
      }
      case 1:
      case 2: {  // Write
        if (ing.writer == nullptr) break;
        std::string chunk = in.ConsumeRandomLengthString(1024);
        const std::string copy = chunk;
        const absl::Status s = ing.writer->Write(std::move(chunk));
        FUZZ_CHECK(s.ok(), "Write: " + Code(s));
        ing.data += copy;
        break;
      }
      case 3: {  // Commit
        if (ing.writer == nullptr) break;
        const digest::Digest actual = digest::FromBytes(ing.data);
        const int64_t len = static_cast<int64_t>(ing.data.size());
        int64_t commit_size = 0;
        switch (in.ConsumeIntegralInRange<int>(0, 2)) {
          case 1:
            commit_size = len;
            break;
          case 2:
            commit_size = len + in.ConsumeIntegralInRange<int64_t>(1, 3);
            break;
          default:
            break;
        }
        digest::Digest expected;
        const int e = in.ConsumeIntegralInRange<int>(0, 2);
        if (e == 1) expected = actual;
        if (e == 2) expected = WrongDigest(in.ConsumeIntegral<uint8_t>());
        const absl::Status s = ing.writer->Commit(commit_size, expected, {});
        const bool ok = s.ok() || absl::IsAlreadyExists(s);
        const bool size_right = commit_size == 0 || commit_size == len;
        const bool digest_right = expected.empty() || expected == actual;
        const bool declared_right = (ing.total == 0 || ing.total == len) &&
                                    (ing.expected.empty() || ing.expected == actual);
        if (!size_right || !digest_right) {
          FUZZ_CHECK(!ok, "commit with wrong size or digest succeeded");
          FUZZ_CHECK(absl::IsFailedPrecondition(s) || absl::IsInvalidArgument(s),
                     "commit refused with an unexpected code: " + Code(s));
        }
        if (!digest_right) wrong.insert(expected);
        if (size_right && digest_right && declared_right) {
          FUZZ_CHECK(ok, "commit of the right bytes failed: " + Code(s));
        }
        if (ok) {
          CheckBlob(store, ctx, actual, ing.data);
          committed.insert(actual);
          ing = Ingest{};
        } else {
          // The ingest stays as it was.
          ing.writer.reset();
          auto st = store.Status(ctx, ref);
          FUZZ_CHECK(st.ok() && st->offset == len, "ingest changed by a refused commit");
        }
        break;
      }
      case 4: {  // Abort through the store
        const absl::Status s = store.Abort(ctx, ref);
        if (ing.writer != nullptr) {
          FUZZ_CHECK(absl::IsUnavailable(s), "Abort of a held ref: " + Code(s));
        } else if (ing.exists) {
          FUZZ_CHECK(s.ok(), "Abort: " + Code(s));
          ing = Ingest{};
        } else {
          FUZZ_CHECK(absl::IsNotFound(s), "Abort of no ingest: " + Code(s));
        }
        break;
      }
      case 5: {  // Status through the writer and the store
        auto st = store.Status(ctx, ref);
        if (!ing.exists) {
          FUZZ_CHECK(absl::IsNotFound(st.status()), "Status of no ingest: " + Code(st.status()));
          break;
        }
        FUZZ_CHECK(st.ok(), "Status: " + Code(st.status()));
        if (ing.writer != nullptr) {
          auto ws = ing.writer->Status();
          FUZZ_CHECK(ws.ok() && ws->offset == static_cast<int64_t>(ing.data.size()),
                     "writer offset differs from the model");
        } else {
          FUZZ_CHECK(st->offset == static_cast<int64_t>(ing.data.size()),
                     "store offset differs from the model");
        }
        FUZZ_CHECK(st->ref == ref, "Status names another ref");
        break;
      }
      case 6: {  // Truncate
        if (ing.writer == nullptr) break;
        const int64_t to = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<int64_t>(1, 100);
        const absl::Status s = ing.writer->Truncate(to);
        if (to == 0) {
          FUZZ_CHECK(s.ok(), "Truncate(0): " + Code(s));
          ing.data.clear();
        } else {
          FUZZ_CHECK(absl::IsInvalidArgument(s),
                     "Truncate(" + std::to_string(to) + "): " + Code(s));
        }
        break;
      }
      case 7: {  // Close the writer (the ingest stays resumable)
        ing.writer.reset();
        break;
      }
      default: {  // Digest
        if (ing.writer == nullptr) break;
        auto d = ing.writer->Digest();
        FUZZ_CHECK(d.ok(), "Digest: " + Code(d.status()));
        FUZZ_CHECK(*d == digest::FromBytes(ing.data), "writer digest differs from the model");
        break;
      }
    }
  }

  // Wrong digests never became blobs.
  for (const digest::Digest& d : wrong) {
    if (committed.count(d) > 0) continue;
    FUZZ_CHECK(absl::IsNotFound(store.Info(ctx, d).status()), "a wrong digest was committed");
  }
  // Leave the store empty.
  for (Ingest& ing : ingests) ing.writer.reset();
  for (const char* ref : kRefNames) {
    const absl::Status s = store.Abort(ctx, ref);
    FUZZ_CHECK(s.ok() || absl::IsNotFound(s), "cleanup Abort: " + Code(s));
  }
  for (const digest::Digest& d : committed) {
    const absl::Status s = store.Delete(ctx, d);
    FUZZ_CHECK(s.ok(), "cleanup Delete: " + Code(s));
  }
  auto left = store.ListStatuses(ctx, {});
  FUZZ_CHECK(left.ok() && left->empty(), "ingests left after cleanup");
  int blobs = 0;
  const absl::Status walk = store.Walk(ctx, {}, [&](const c::Info&) {
    ++blobs;
    return absl::OkStatus();
  });
  FUZZ_CHECK(walk.ok() && blobs == 0, "blobs left after cleanup");
  return 0;
}
