// Fuzzes the layer applier (services/snapshot/diff/tar_apply.h, ApplyTar: libarchive parsing,
// every change made under openat2(RESOLVE_IN_ROOT)) with hostile tar streams.
//
// Layout, made once per process under $TMPDIR (or /tmp):
//   <top>/canary/{file,dir/}        canaries two levels above the root
//   <top>/work/canary/{file,dir/}   canaries beside the root
//   <top>/work/root/                the root, made afresh for every input and removed after
// After each ApplyTar (whatever it returns) nothing may have been created, removed or changed
// outside root: <top> and <top>/work list exactly their entries, and every canary keeps its
// type, mode, owner, link count (a hard link out of the root raises it), size, times and
// content. The root itself must still be a directory.
//
// Input: byte 0 selects options (bit 0 overlay whiteouts, bit 1 user.overlay. prefix, bit 2
// create devices, bits 3-4 the chunk size the stream is fed in); the rest is the tar stream.
// Runs as root in CI (lchown, mknod and trusted.* xattrs are then exercised); as a normal user
// the applier skips what it may not do, as it does in a user namespace.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "services/snapshot/diff/stream.h"
#include "services/snapshot/diff/tar_apply.h"

namespace fs = std::filesystem;
namespace diff = berth::snapshot::diff;

namespace {

struct Snapshot {
  struct stat st;
  std::string content;
};

struct Sandbox {
  std::string top;
  std::string work;
  std::string root;
  // path -> state of each canary, taken after creation.
  std::vector<std::pair<std::string, Snapshot>> canaries;
};

void Die(const std::string& what) {
  std::fprintf(stderr, "tar_apply_fuzzer: %s: %s\n", what.c_str(), std::strerror(errno));
  std::abort();
}

Snapshot Take(const std::string& path) {
  Snapshot s;
  if (lstat(path.c_str(), &s.st) != 0) {
    FUZZ_CHECK(false, "canary gone: " + path);
  }
  if (S_ISREG(s.st.st_mode)) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    s.content = buf.str();
  }
  return s;
}

void MakeCanaries(Sandbox& box, const std::string& dir) {
  const std::string canary = dir + "/canary";
  if (mkdir(canary.c_str(), 0755) != 0) Die("mkdir " + canary);
  if (mkdir((canary + "/dir").c_str(), 0700) != 0) Die("mkdir " + canary + "/dir");
  {
    std::ofstream out(canary + "/file", std::ios::binary);
    out << "canary: nothing outside the root may touch this file\n";
  }
  if (chmod((canary + "/file").c_str(), 0640) != 0) Die("chmod " + canary + "/file");
  for (const std::string& p : {canary, canary + "/dir", canary + "/file"}) {
    box.canaries.emplace_back(p, Take(p));
  }
}

Sandbox& Box() {
  static Sandbox* box = [] {
    auto* b = new Sandbox;
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/berth-tar-fuzz-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp " + tmpl);
    b->top = tmpl;
    b->work = b->top + "/work";
    b->root = b->work + "/root";
    if (mkdir(b->work.c_str(), 0755) != 0) Die("mkdir " + b->work);
    MakeCanaries(*b, b->top);
    MakeCanaries(*b, b->work);
    // Remove the sandbox when the fuzzer exits normally (-runs=N, -max_total_time).
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(Box().top, ec);
    });
    return b;
  }();
  return *box;
}

std::set<std::string> List(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) Die("opendir " + dir);
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.insert(name);
  }
  closedir(d);
  return names;
}

void CheckOutside(const Sandbox& box) {
  FUZZ_CHECK((List(box.top) == std::set<std::string>{"canary", "work"}),
             "an entry appeared or vanished in " + box.top);
  FUZZ_CHECK((List(box.work) == std::set<std::string>{"canary", "root"}),
             "an entry appeared or vanished beside the root in " + box.work);
  for (const std::string& dir : {box.top + "/canary", box.work + "/canary"}) {
    FUZZ_CHECK((List(dir) == std::set<std::string>{"dir", "file"}), "canary dir changed: " + dir);
    FUZZ_CHECK(List(dir + "/dir").empty(), "something was written into " + dir + "/dir");
  }
  for (const auto& [path, before] : box.canaries) {
    const Snapshot now = Take(path);
    const struct stat& a = before.st;
    const struct stat& b = now.st;
    FUZZ_CHECK(a.st_ino == b.st_ino && a.st_mode == b.st_mode && a.st_uid == b.st_uid &&
                   a.st_gid == b.st_gid && a.st_nlink == b.st_nlink && a.st_size == b.st_size,
               "canary metadata changed: " + path);
    FUZZ_CHECK(a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec &&
                   a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec,
               "canary times changed: " + path);
    FUZZ_CHECK(before.content == now.content, "canary content changed: " + path);
  }
  struct stat st;
  FUZZ_CHECK(lstat(box.root.c_str(), &st) == 0 && S_ISDIR(st.st_mode),
             "the root is no longer a directory");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Sandbox& box = Box();
  if (mkdir(box.root.c_str(), 0755) != 0) Die("mkdir " + box.root);

  diff::ApplyOptions options;
  options.whiteouts = (data[0] & 1) ? diff::ApplyOptions::Whiteouts::kOverlay
                                    : diff::ApplyOptions::Whiteouts::kDelete;
  options.overlay_xattr_prefix = (data[0] & 2) ? "user.overlay." : "trusted.overlay.";
  options.skip_devices = (data[0] & 4) == 0;
  static constexpr size_t kChunks[] = {1 << 20, 512, 7, 4096};
  const size_t chunk = kChunks[(data[0] >> 3) & 3];

  const std::string_view tar(reinterpret_cast<const char*>(data + 1), size - 1);
  auto source = diff::NewStringSource(tar, chunk);
  auto result = diff::ApplyTar(*source, box.root, options);
  if (result.ok()) {
    FUZZ_CHECK(result->entries >= 0 && result->file_bytes >= 0, "negative stats");
    FUZZ_CHECK(static_cast<size_t>(result->file_bytes) <= tar.size() * 2 + 4096,
               "more file bytes than input: " + std::to_string(result->file_bytes));
  }
  CheckOutside(box);

  std::error_code ec;
  fs::remove_all(box.root, ec);
  FUZZ_CHECK(!ec, "cannot remove the root: " + ec.message());
  return 0;
}
