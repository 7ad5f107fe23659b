// The berth command end to end against a real local suite (deploy/berth-up with every built
// service): import and export (progress lines, round trip), run (output, exit status, --rm,
// -d, --rootfs), ps, tasks, exec, metrics, kill, events in order, JSON output, errors; and the
// client examples. Root (runc, overlay mounts) and nats-server are needed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "client/testing/suite.h"
#include "lib/platforms/platforms.h"
#include "lib/testing/child_process.h"
#include "lib/testing/oci_image.h"
#include "lib/testing/registry.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/wait_for.h"
#include "nlohmann/json.hpp"

namespace berth::cli {
namespace {

using ::berth::testing::WaitFor;
using client_testing::LocalSuite;
using client_testing::RunResult;

constexpr char kImage[] = "docker.io/test/busybox:1";

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!client_testing::IsRoot() || !client_testing::MissingBinaries().empty()) return;
    suite_ = new LocalSuite();
    absl::Status s = suite_->Start();
    if (s.ok()) {
      s = client_testing::WriteBusyboxArchive(suite_->Path("busybox.tar"), kImage).status();
    }
    if (!s.ok()) start_error_ = new std::string(s.ToString());
  }

  static void TearDownTestSuite() {
    delete suite_;
    suite_ = nullptr;
    delete start_error_;
    start_error_ = nullptr;
  }

  void SetUp() override {
    if (!client_testing::IsRoot()) GTEST_SKIP() << "needs root (overlay mounts, runc)";
    ASSERT_EQ(client_testing::MissingBinaries(), "");
    ASSERT_EQ(start_error_, nullptr) << *start_error_;
    const char* bin = std::getenv("BERTH_BIN");
    bin_ = bin != nullptr ? bin : "build/bin";
    ns_ = "bcli" + std::to_string(getpid()) + "-" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  void TearDown() override {
    if (ns_.empty() || suite_ == nullptr) return;
    RunResult tasks = Berth({"tasks", "ls", "-q"});
    for (const std::string& id : Lines(tasks.out)) Berth({"tasks", "rm", "-f", id});
    RunResult containers = Berth({"containers", "ls", "-q"});
    for (const std::string& id : Lines(containers.out)) Berth({"containers", "rm", id});
    client_testing::RemoveNamespaceCgroups(ns_);
  }

  RunResult Berth(std::vector<std::string> args, const std::string& stdin_path = "") {
    std::vector<std::string> argv = {
        bin_ + "/berth", "-a", suite_->socket(), "-n", ns_, "--fifo-dir", suite_->Path("fifo")};
    argv.insert(argv.end(), args.begin(), args.end());
    return suite_->Run(argv, stdin_path);
  }

  void Import() {
    RunResult r = Berth({"images", "import", suite_->Path("busybox.tar")});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }

  static LocalSuite* suite_;
  static std::string* start_error_;
  std::string bin_;
  std::string ns_;
};

LocalSuite* CliTest::suite_ = nullptr;
std::string* CliTest::start_error_ = nullptr;

TEST_F(CliTest, VersionNamespacesAndJson) {
  RunResult r = Berth({"version"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "Server:")) << r.out;
  EXPECT_TRUE(Contains(r.out, "UUID: ")) << r.out;

  const std::string other = ns_ + "-x";
  ASSERT_EQ(Berth({"namespaces", "create", other, "team=a"}).exit_code, 0);
  r = Berth({"ns", "create", other});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "already exists")) << r.err;
  r = Berth({"namespaces", "ls"});
  EXPECT_TRUE(Contains(r.out, "NAME")) << r.out;
  EXPECT_TRUE(Contains(r.out, other + "   team=a")) << r.out;
  r = Berth({"namespaces", "ls", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << r.out;
  bool found = false;
  for (const auto& n : j) found = found || (n["name"] == other && n["labels"]["team"] == "a");
  EXPECT_TRUE(found) << r.out;
  ASSERT_EQ(Berth({"namespaces", "rm", other}).exit_code, 0);
  EXPECT_FALSE(Contains(Berth({"namespaces", "ls", "-q"}).out, other + "\n"));

  r = Berth({"info"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "serving:  yes")) << r.out;
}

TEST_F(CliTest, ErrorsAreOneLineWithTheCode) {
  RunResult r = Berth({"containers", "info", "nosuch"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "berth: ")) << r.err;
  EXPECT_TRUE(Contains(r.err, "(not found)")) << r.err;
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  r = Berth({"run"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = Berth({"tasks", "kill", "-s", "NOPE", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "invalid signal")) << r.err;
  r = Berth({"bogus-command"});
  EXPECT_NE(r.exit_code, 0);
  r = suite_->Run(
      {bin_ + "/berth", "-a", suite_->Path("nothing.sock"), "--timeout", "2", "containers", "ls"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "unavailable") || Contains(r.err, "deadline")) << r.err;
}

TEST_F(CliTest, ImportListCheckAndContent) {
  Import();
  RunResult r = Berth({"images", "ls"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "REF")) << r.out;
  EXPECT_TRUE(Contains(r.out, kImage)) << r.out;
  EXPECT_TRUE(Contains(r.out, "linux/")) << r.out;
  EXPECT_EQ(Berth({"images", "ls", "-q"}).out, std::string(kImage) + "\n");
  r = Berth({"images", "check", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json check = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(check.is_array() && check.size() == 1) << r.out;
  EXPECT_EQ(check[0]["complete"], true);
  EXPECT_EQ(check[0]["unpacked"], true);  // import unpacks
  r = Berth({"content", "ls", "-q"});
  EXPECT_EQ(Lines(r.out).size(), 3u) << r.out;  // layer, config, manifest
  r = Berth({"snapshots", "ls"});
  EXPECT_TRUE(Contains(r.out, "Committed")) << r.out;

  // content ingest from stdin, then get it back.
  const std::string file = suite_->Path("blob.txt");
  { std::ofstream(file) << "some bytes"; }
  ASSERT_EQ(Berth({"content", "ingest", "myref"}, file).exit_code, 0);
  r = Berth({"content", "get",
             "sha256:1a0e0a1b0b0d3e2b6d7c8cd4c0c6d2ac6a4b1d6c0c0bfa7b0ad5f6d4a3c2b1a0"});
  EXPECT_EQ(r.exit_code, 1);  // not there
  r = Berth({"content", "ls", "--format", "json"});
  nlohmann::json blobs = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(blobs.is_array()) << r.out;
  std::string digest;
  for (const auto& b : blobs) {
    if (b["size"] == 10) digest = b["digest"];
  }
  ASSERT_FALSE(digest.empty()) << r.out;
  EXPECT_EQ(Berth({"content", "get", digest}).out, "some bytes");

  r = Berth({"images", "rm", kImage, "docker.io/test/nosuch:1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "not found")) << r.err;
  EXPECT_EQ(Berth({"images", "ls", "-q"}).out, "");
}

// berth gc: a dry run lists an unreferenced blob and keeps it; a real run removes it and
// keeps the imported image's content.
TEST_F(CliTest, GcRemovesUnreferencedContentAndKeepsImages) {
  Import();
  const std::string file = suite_->Path("gc-blob.txt");
  { std::ofstream(file) << "garbage for the collector " << ns_; }
  ASSERT_EQ(Berth({"content", "ingest", "gc-ref"}, file).exit_code, 0);
  RunResult r = Berth({"content", "ls", "--format", "json"});
  nlohmann::json blobs = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(blobs.is_array()) << r.out;
  const size_t size = std::string("garbage for the collector ").size() + ns_.size();
  std::string digest;
  for (const auto& b : blobs) {
    if (b["size"] == size) digest = b["digest"];
  }
  ASSERT_FALSE(digest.empty()) << r.out;
  const std::string listed = ns_ + "/content/" + digest;

  r = Berth({"gc", "--dry-run", "-v"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "marked (dry run)")) << r.out;
  EXPECT_TRUE(Contains(r.out, "would remove " + listed)) << r.out;
  EXPECT_EQ(Berth({"content", "get", digest}).exit_code, 0);

  r = Berth({"gc", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json report = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << r.out;
  bool removed = false;
  for (const auto& o : report["removed_objects"]) {
    if (o["namespace"] == ns_ && o["type"] == "content" && o["id"] == digest) removed = true;
  }
  EXPECT_TRUE(removed) << r.out;
  r = Berth({"content", "get", digest});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "NotFound") || Contains(r.err, "not found")) << r.err;
  r = Berth({"images", "check", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  nlohmann::json check = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(check.is_array() && check.size() == 1) << r.out;
  EXPECT_EQ(check[0]["complete"], true) << r.out;
}

TEST_F(CliTest, RunPrintsOutputAndPropagatesExitStatus) {
  Import();
  RunResult r = Berth({"run", "--rm", kImage, "c1", "echo", "hi"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hi\n");
  r = Berth({"run", "--rm", kImage, "c2", "sh", "-c", "echo to-stderr >&2; exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err, "to-stderr\n");
  r = Berth({"run", "--rm", "--env", "GREETING=hello", kImage, "c3", "sh", "-c", "echo $GREETING"});
  EXPECT_EQ(r.out, "hello\n") << r.err;
  // stdin reaches the container.
  const std::string input = suite_->Path("input.txt");
  { std::ofstream(input) << "line one\nline two\n"; }
  r = Berth({"run", "--rm", kImage, "c4", "cat"}, input);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "line one\nline two\n");
  // --rm left nothing behind.
  EXPECT_EQ(Berth({"containers", "ls", "-q"}).out, "");
  EXPECT_EQ(Berth({"snapshots", "ls", "-q"}).out.find("c1"), std::string::npos);
  EXPECT_EQ(Berth({"tasks", "ls", "-q"}).out, "");
  // Without --rm the container stays, stopped task deleted.
  r = Berth({"run", kImage, "c5", "true"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Berth({"containers", "ls", "-q"}).out, "c5\n");
  r = Berth({"run", kImage, "c5", "true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "already exists")) << r.err;
  EXPECT_EQ(Berth({"containers", "rm", "c5"}).exit_code, 0);
  r = Berth({"run", "--rm", "docker.io/test/missing:1", "c6", "true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "not found")) << r.err;
}

TEST_F(CliTest, PullProgressIsLineBasedOnANonTerminal) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<testing::Registry> registry, testing::Registry::Start());
  testing::ImageOptions options;
  options.architecture = platforms::DefaultPlatform().architecture;
  ASSERT_OK_AND_ASSIGN(testing::OciImage image, testing::BusyboxImage(options));
  ASSERT_OK(registry->Push("test/busybox", "1.0", image));
  const std::string ref = registry->Reference("test/busybox", "1.0");

  RunResult r = Berth({"pull", "--plain-http", ref});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // Every line is `<kind> key=value...`; the last one names the image.
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_GE(lines.size(), 3u) << r.out;
  std::set<std::string> kinds;
  std::map<std::string, std::string> layer_done;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    std::vector<std::string> words;
    size_t start = 0;
    while (start <= lines[i].size()) {
      size_t sp = lines[i].find(' ', start);
      if (sp == std::string::npos) sp = lines[i].size();
      words.push_back(lines[i].substr(start, sp - start));
      start = sp + 1;
    }
    kinds.insert(words[0]);
    EXPECT_TRUE(std::set<std::string>({"resolving", "downloading", "verifying", "done", "exists",
                                       "unpacking", "unpacked"})
                    .count(words[0]))
        << lines[i];
    std::map<std::string, std::string> kv;
    for (size_t w = 1; w < words.size(); ++w) {
      size_t eq = words[w].find('=');
      ASSERT_NE(eq, std::string::npos) << lines[i];
      kv[words[w].substr(0, eq)] = words[w].substr(eq + 1);
    }
    if (words[0] == "done" && kv["role"] == "layer") layer_done = kv;
  }
  EXPECT_TRUE(kinds.count("resolving")) << r.out;
  EXPECT_TRUE(kinds.count("unpacked")) << r.out;
  EXPECT_EQ(layer_done["digest"], image.layers[0].blob.digest) << r.out;
  EXPECT_EQ(layer_done["total"], std::to_string(image.layers[0].blob.size)) << r.out;
  EXPECT_EQ(lines.back(), "image " + ref + " digest=" + image.manifest.digest);

  r = Berth({"run", "--rm", ref, "p1", "echo", "pulled"});
  EXPECT_EQ(r.out, "pulled\n") << r.err;
  r = Berth({"pull", "-q", "--plain-http", ref});
  EXPECT_EQ(r.out, ref + "\n") << r.err;
  r = Berth({"pull", "--plain-http", registry->Reference("test/busybox", "nosuchtag")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "(not found)")) << r.err;
}

// Splits a progress line `<kind> [<name>] key=value...` (the name as in pull's last line,
// `image <name> digest=D`) into its kind and pairs, the name as "name"; false when another
// word is not key=value.
bool ParseProgressLine(const std::string& line, std::string* kind,
                       std::map<std::string, std::string>* kv) {
  kv->clear();
  size_t start = 0;
  int index = 0;
  while (start <= line.size()) {
    size_t sp = line.find(' ', start);
    if (sp == std::string::npos) sp = line.size();
    const std::string word = line.substr(start, sp - start);
    start = sp + 1;
    const size_t eq = word.find('=');
    if (index == 0) {
      *kind = word;
    } else if (index == 1 && eq == std::string::npos && !word.empty()) {
      (*kv)["name"] = word;
    } else if (eq == std::string::npos || eq == 0) {
      return false;
    } else {
      (*kv)[word.substr(0, eq)] = word.substr(eq + 1);
    }
    ++index;
  }
  return !kind->empty();
}

// What a progress output says: per blob digest, its last step; the totals.
struct ParsedProgress {
  std::map<std::string, std::map<std::string, std::string>> last_step;  // digest -> pairs
  std::map<std::string, std::string> last_kind;                         // digest -> kind
  std::map<std::string, std::string> total;                             // `total blobs=N bytes=M`
  std::vector<std::string> other;                                       // lines of other kinds
};

ParsedProgress ParseProgress(const std::string& out) {
  ParsedProgress p;
  for (const std::string& line : Lines(out)) {
    std::string kind;
    std::map<std::string, std::string> kv;
    EXPECT_TRUE(ParseProgressLine(line, &kind, &kv)) << "not `<kind> key=value...`: " << line;
    if (kind == "copying" || kind == "done" || kind == "exists") {
      EXPECT_FALSE(kv["path"].empty()) << line;
      EXPECT_FALSE(kv["total"].empty()) << line;
      if (kind == "copying") continue;
      EXPECT_EQ(kv["offset"], kv["total"]) << line;
      p.last_step[kv["digest"]] = kv;
      p.last_kind[kv["digest"]] = kind;
    } else if (kind == "total") {
      p.total = kv;
    } else {
      p.other.push_back(line);
    }
  }
  return p;
}

// berth images import / export on a non-terminal: one parseable line per step naming each blob
// (digest, path, bytes), then the totals; --quiet keeps only the result; the exported archive
// imports back.
TEST_F(CliTest, ImportExportProgressIsLineBasedOnANonTerminal) {
  RunResult r = Berth({"images", "import", suite_->Path("busybox.tar")});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ParsedProgress imported = ParseProgress(r.out);
  // The blobs: the namespace's content now.
  RunResult ls = Berth({"content", "ls", "--format", "json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  nlohmann::json blobs = nlohmann::json::parse(ls.out, nullptr, false);
  ASSERT_TRUE(blobs.is_array() && blobs.size() == 3) << ls.out;  // layer, config, manifest
  int64_t bytes = 0;
  std::string manifest;
  for (const auto& b : blobs) {
    const std::string digest = b["digest"];
    const int64_t size = b["size"];
    bytes += size;
    ASSERT_TRUE(imported.last_step.count(digest)) << digest << " not named in\n" << r.out;
    EXPECT_EQ(imported.last_step[digest]["total"], std::to_string(size)) << r.out;
    EXPECT_EQ(imported.last_step[digest]["path"], "blobs/sha256/" + digest.substr(7)) << r.out;
    EXPECT_TRUE(imported.last_kind[digest] == "done" || imported.last_kind[digest] == "exists")
        << r.out;
  }
  EXPECT_EQ(imported.total["blobs"], "3") << r.out;
  EXPECT_EQ(imported.total["bytes"], std::to_string(bytes)) << r.out;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines.front(), "importing source=" + suite_->Path("busybox.tar"));
  ASSERT_EQ(imported.other.size(), 3u) << r.out;  // importing, imported, unpacked
  const std::string imported_prefix = std::string("imported ") + kImage + " digest=sha256:";
  EXPECT_EQ(imported.other[1].compare(0, imported_prefix.size(), imported_prefix), 0) << r.out;
  manifest = imported.other[1].substr(imported_prefix.size() - 7);
  EXPECT_EQ(imported.other[2], std::string("unpacked ") + kImage) << r.out;

  // Quiet: the image name only.
  r = Berth({"images", "import", "-q", "--no-unpack", suite_->Path("busybox.tar")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string(kImage) + "\n");

  // Export: every blob with its role, then the totals.
  const std::string tar = suite_->Path(ns_ + "-export.tar");
  r = Berth({"images", "export", tar, kImage});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ParsedProgress exported = ParseProgress(r.out);
  EXPECT_TRUE(exported.other.empty()) << r.out;
  std::set<std::string> roles;
  for (const auto& b : blobs) {
    const std::string digest = b["digest"];
    ASSERT_TRUE(exported.last_step.count(digest)) << digest << " not named in\n" << r.out;
    EXPECT_EQ(exported.last_kind[digest], "done") << r.out;
    EXPECT_EQ(exported.last_step[digest]["total"], std::to_string(b["size"].get<int64_t>()));
    roles.insert(exported.last_step[digest]["role"]);
  }
  EXPECT_EQ(roles, (std::set<std::string>{"layer", "config", "manifest"})) << r.out;
  EXPECT_EQ(exported.last_step[manifest]["role"], "manifest") << r.out;
  EXPECT_EQ(Lines(r.out).back(), "total blobs=3 bytes=" + std::to_string(bytes)) << r.out;
  r = Berth({"images", "export", "-q", suite_->Path(ns_ + "-quiet.tar"), kImage});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  // To stdout: the progress goes to stderr.
  r = Berth({"images", "export", "-", kImage});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(r.out.size(), static_cast<size_t>(bytes));
  EXPECT_TRUE(Contains(r.err, "total blobs=3 bytes=" + std::to_string(bytes))) << r.err;

  // The round trip: removed and collected (--sync), imported back from the export, and run.
  ASSERT_EQ(Berth({"images", "rm", "--sync", kImage}).exit_code, 0);
  EXPECT_EQ(Berth({"content", "ls", "-q"}).out, "");
  r = Berth({"images", "import", tar});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ParsedProgress back = ParseProgress(r.out);
  EXPECT_EQ(back.total["blobs"], "3") << r.out;
  for (const auto& [digest, kind] : back.last_kind) EXPECT_EQ(kind, "done") << r.out;
  EXPECT_TRUE(Contains(r.out, std::string("imported ") + kImage + " digest=" + manifest)) << r.out;
  r = Berth({"run", "--rm", kImage, "rt1", "echo", "round trip"});
  EXPECT_EQ(r.out, "round trip\n") << r.err;
}

TEST_F(CliTest, RunWithATerminal) {
  ASSERT_EQ(std::system("command -v script >/dev/null 2>&1"), 0)
      << "script(1) is not installed (bsdutils)";
  Import();
  // script(1) gives berth a pseudo-terminal; -e passes the exit status on.
  const std::string cmd = bin_ + "/berth -a " + suite_->socket() + " -n " + ns_ + " --fifo-dir " +
                          suite_->Path("fifo") + " run --rm -t " + kImage +
                          " tty1 sh -c 'tty; echo $TERM; exit 5'";
  RunResult r = suite_->Run({"script", "-qec", cmd, "/dev/null"});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "/dev/pts/")) << r.out;
  EXPECT_TRUE(Contains(r.out, "xterm")) << r.out;
  EXPECT_EQ(Berth({"containers", "ls", "-q"}).out, "");
}

TEST_F(CliTest, RunRootfsDirectory) {
  const std::string rootfs = suite_->Path("rootfs-" + ns_);
  ASSERT_OK(client_testing::MakeBusyboxRootfs(rootfs));
  RunResult r = Berth({"run", "--rm", "--rootfs", rootfs, "r1", "/bin/echo", "from rootfs"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "from rootfs\n");
  r = Berth({"run", "--rm", "--rootfs", "-u", "app", rootfs, "r2", "id", "-u"});
  EXPECT_EQ(r.out, "1000\n") << r.err;
}

TEST_F(CliTest, DetachedPsExecMetricsKill) {
  Import();
  RunResult r = Berth({"run", "-d", kImage, "d1", "sleep", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Berth({"ps"});
  EXPECT_TRUE(Contains(r.out, "CONTAINER")) << r.out;
  EXPECT_TRUE(Contains(r.out, "RUNNING")) << r.out;
  r = Berth({"ps", "--format", "json"});
  nlohmann::json ps = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(ps.is_array() && ps.size() == 1) << r.out;
  EXPECT_EQ(ps[0]["id"], "d1");
  EXPECT_EQ(ps[0]["image"], kImage);
  EXPECT_EQ(ps[0]["status"], "RUNNING");
  EXPECT_GT(ps[0]["pid"].get<int>(), 0);

  r = Berth({"tasks", "exec", "--exec-id", "e1", "d1", "echo", "x"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "x\n");
  r = Berth({"tasks", "exec", "--exec-id", "e2", "d1", "sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  r = Berth({"tasks", "ps", "d1"});
  EXPECT_TRUE(Contains(r.out, std::to_string(ps[0]["pid"].get<int>()))) << r.out;
  r = Berth({"tasks", "metrics", "d1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "pids.current")) << r.out;
  r = Berth({"tasks", "metrics", "--format", "json", "d1"});
  EXPECT_TRUE(nlohmann::json::parse(r.out, nullptr, false).contains("data")) << r.out;
  ASSERT_EQ(Berth({"tasks", "pause", "d1"}).exit_code, 0);
  EXPECT_TRUE(Contains(Berth({"tasks", "ls"}).out, "PAUSED"));
  ASSERT_EQ(Berth({"tasks", "resume", "d1"}).exit_code, 0);
  // A running container cannot be removed.
  r = Berth({"containers", "rm", "d1"});
  EXPECT_EQ(r.exit_code, 1);

  ASSERT_EQ(Berth({"tasks", "kill", "-s", "KILL", "d1"}).exit_code, 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Contains(Berth({"tasks", "ls"}).out, "STOPPED");
      },
      std::chrono::seconds(30)));
  EXPECT_TRUE(Contains(Berth({"ps"}).out, "STOPPED (137)"));
  r = Berth({"tasks", "rm", "d1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "137")) << r.err;
  EXPECT_EQ(Berth({"containers", "rm", "d1"}).exit_code, 0);
  EXPECT_EQ(Berth({"containers", "ls", "-q"}).out, "");
}

TEST_F(CliTest, EventsInOrder) {
  Import();
  const std::string out = suite_->Path("events-" + ns_ + ".out");
  testing::ChildProcessOptions o;
  o.argv = {bin_ + "/berth", "-a", suite_->socket(), "events", "namespace==" + ns_};
  o.stdout_path = out;
  o.stderr_path = out + ".err";
  ASSERT_OK_AND_ASSIGN(testing::ChildProcess events, testing::ChildProcess::Start(o));
  // Until the subscription is in place: make namespace events and wait to see one.
  int n = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        Berth({"namespaces", "label", ns_, "probe=" + std::to_string(n++)});
        return Contains(client_testing::ReadFile(out), "/namespaces/update");
      },
      std::chrono::seconds(30)))
      << client_testing::ReadFile(out + ".err");
  RunResult r = Berth({"run", "--rm", kImage, "ev1", "sh", "-c", "exit 3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  ASSERT_TRUE(WaitFor([&] { return Contains(client_testing::ReadFile(out), "/containers/delete"); },
                      std::chrono::seconds(30)))
      << client_testing::ReadFile(out);
  std::vector<std::string> topics;
  std::string exit_line;
  for (const std::string& line : Lines(client_testing::ReadFile(out))) {
    // <time> <namespace> <topic> <json>
    std::vector<std::string> f;
    size_t start = 0;
    for (int i = 0; i < 3; ++i) {
      size_t sp = line.find(' ', start);
      f.push_back(line.substr(start, sp - start));
      start = sp + 1;
    }
    EXPECT_EQ(f[1], ns_) << line;
    if (f[2].compare(0, 7, "/tasks/") == 0) topics.push_back(f[2]);
    if (f[2] == "/tasks/exit") exit_line = line;
  }
  EXPECT_EQ(topics, (std::vector<std::string>{"/tasks/create", "/tasks/start", "/tasks/exit",
                                              "/tasks/delete"}));
  EXPECT_TRUE(Contains(exit_line, "\"container_id\":\"ev1\"")) << exit_line;
  EXPECT_TRUE(Contains(exit_line, "\"exit_status\":3")) << exit_line;
  EXPECT_TRUE(events.Running());
}

// Splits "a b c rest..." into `n` space-separated fields and the rest.
std::vector<std::string> Fields(const std::string& line, int n) {
  std::vector<std::string> f;
  size_t start = 0;
  for (int i = 0; i < n && start <= line.size(); ++i) {
    size_t sp = line.find(' ', start);
    if (sp == std::string::npos) sp = line.size();
    f.push_back(line.substr(start, sp - start));
    start = sp + 1;
  }
  f.push_back(start <= line.size() ? line.substr(start) : "");
  return f;
}

// `events --since`: the gateway's JetStream stream replayed from a sequence, filtered, in
// order, each line led by its sequence; with --follow new events follow.
TEST_F(CliTest, EventsSinceReplaysTheStream) {
  // Namespace events carry the namespace of the call that made them.
  const std::string other = ns_ + "-other";
  auto in_other = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {bin_ + "/berth", "-a", suite_->socket(), "-n", other};
    argv.insert(argv.end(), args.begin(), args.end());
    return suite_->Run(argv).exit_code;
  };
  ASSERT_EQ(Berth({"namespaces", "create", ns_}).exit_code, 0);
  ASSERT_EQ(in_other({"namespaces", "create", other}), 0);
  for (const char* v : {"1", "2", "3"}) {
    ASSERT_EQ(Berth({"namespaces", "label", ns_, std::string("probe=") + v}).exit_code, 0);
    ASSERT_EQ(in_other({"namespaces", "label", other, std::string("probe=") + v}), 0);
  }
  // Publishing is asynchronous: wait until the stream has all of ours.
  const std::string mine = "namespace==" + ns_;
  RunResult r;
  ASSERT_TRUE(WaitFor(
      [&] {
        r = Berth({"events", "--since", "0", mine});
        return r.exit_code == 0 && Contains(r.out, "\"probe\":\"3\"");
      },
      std::chrono::seconds(30)))
      << r.out << r.err;
  // <seq> <time> <namespace> <topic> <json>: create, then update 1, 2, 3.
  std::vector<uint64_t> seqs;
  std::vector<std::string> topics;
  for (const std::string& line : Lines(r.out)) {
    std::vector<std::string> f = Fields(line, 4);
    seqs.push_back(std::stoull(f[0]));
    EXPECT_EQ(f[2], ns_) << line;
    topics.push_back(f[3]);
  }
  ASSERT_EQ(topics, (std::vector<std::string>{"/namespaces/create", "/namespaces/update",
                                              "/namespaces/update", "/namespaces/update"}))
      << r.out;
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));
  EXPECT_TRUE(std::adjacent_find(seqs.begin(), seqs.end()) == seqs.end()) << r.out;

  // From the second update on: exactly updates 2 and 3, in order.
  r = Berth({"events", "--since", std::to_string(seqs[2]), mine});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(Fields(lines[0], 1)[0], std::to_string(seqs[2]));
  EXPECT_TRUE(Contains(lines[0], "\"probe\":\"2\"")) << lines[0];
  EXPECT_EQ(Fields(lines[1], 1)[0], std::to_string(seqs[3]));
  EXPECT_TRUE(Contains(lines[1], "\"probe\":\"3\"")) << lines[1];

  // Unfiltered, the other namespace's events are there too, between ours; a topic filter.
  r = Berth({"events", "--since", std::to_string(seqs[2])});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, " " + other + " /namespaces/update ")) << r.out;
  r = Berth({"events", "--since", std::to_string(seqs[0]),
             "topic==\"/namespaces/create\",namespace==" + ns_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(r.out).size(), 1u) << r.out;
  EXPECT_TRUE(Contains(r.out, "/namespaces/create")) << r.out;

  // JSON lines carry the sequence.
  r = Berth({"events", "--since", std::to_string(seqs[3]), "--format", "json", mine});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["sequence"], seqs[3]);
  EXPECT_EQ(j["topic"], "/namespaces/update");
  EXPECT_EQ(j["event"]["labels"]["probe"], "3");

  // Past the end: nothing, success. Bad filter: one line, invalid argument.
  r = Berth({"events", "--since", std::to_string(seqs[3] + 1), mine});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  r = Berth({"events", "--since", "0", "topic=="});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "(invalid argument)")) << r.err;
  EXPECT_EQ(Berth({"events", "--follow"}).exit_code, 2);

  // --follow: the stored events, then new ones as they come.
  const std::string out = suite_->Path("follow-" + ns_ + ".out");
  testing::ChildProcessOptions o;
  o.argv = {bin_ + "/berth", "-a", suite_->socket(), "events", "--since", std::to_string(seqs[3]),
            "--follow",      mine};
  o.stdout_path = out;
  o.stderr_path = out + ".err";
  ASSERT_OK_AND_ASSIGN(testing::ChildProcess follow, testing::ChildProcess::Start(o));
  ASSERT_TRUE(WaitFor([&] { return Contains(client_testing::ReadFile(out), "\"probe\":\"3\""); },
                      std::chrono::seconds(30)))
      << client_testing::ReadFile(out + ".err");
  ASSERT_EQ(in_other({"namespaces", "label", other, "probe=4"}), 0);
  ASSERT_EQ(Berth({"namespaces", "label", ns_, "probe=4"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return Contains(client_testing::ReadFile(out), "\"probe\":\"4\""); },
                      std::chrono::seconds(30)))
      << client_testing::ReadFile(out) << client_testing::ReadFile(out + ".err");
  lines = Lines(client_testing::ReadFile(out));
  ASSERT_EQ(lines.size(), 2u) << client_testing::ReadFile(out);
  EXPECT_GT(std::stoull(Fields(lines[1], 1)[0]), seqs[3]);
  EXPECT_TRUE(Contains(lines[1], " " + ns_ + " /namespaces/update ")) << lines[1];
  EXPECT_TRUE(follow.Running());
  ASSERT_EQ(Berth({"namespaces", "rm", other}).exit_code, 0);
}

// --seccomp applies containerd's default profile: filter mode in /proc/self/status, and a
// syscall the profile forbids (unshare without CAP_SYS_ADMIN) fails; without it neither.
TEST_F(CliTest, RunWithDefaultSeccomp) {
  Import();
  RunResult r =
      Berth({"run", "--rm", kImage, "s1", "busybox", "grep", "Seccomp:", "/proc/self/status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Seccomp:\t0\n");
  r = Berth({"run", "--rm", "--seccomp", kImage, "s2", "busybox", "grep",
             "Seccomp:", "/proc/self/status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Seccomp:\t2\n");
  // A new user namespace needs no capability, only the profile stops it.
  r = Berth({"run", "--rm", kImage, "s3", "busybox", "unshare", "-U", "echo", "unshared"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "unshared\n");
  r = Berth(
      {"run", "--rm", "--seccomp", kImage, "s4", "busybox", "unshare", "-U", "echo", "unshared"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(Contains(r.err, "Operation not permitted")) << r.err;
  // Ordinary work goes on under the profile (fork, exec, pipes, files).
  r = Berth({"run", "--rm", "--seccomp", kImage, "s5", "sh", "-c",
             "echo a > /tmp/f && cat /tmp/f | cat && ls /tmp"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a\nf\n");
}

TEST_F(CliTest, RunPlatform) {
  Import();
  const std::string host = platforms::Format(platforms::DefaultPlatform());
  RunResult r = Berth({"run", "--rm", "--platform", host, kImage, "pl1", "echo", "ok"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "ok\n");
  const std::string other =
      platforms::DefaultPlatform().architecture == "s390x" ? "linux/ppc64le" : "linux/s390x";
  r = Berth({"run", "--rm", "--platform", other, kImage, "pl2", "echo", "ok"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "(not found)")) << r.err;
  EXPECT_EQ(r.out, "");
  r = Berth({"run", "--rm", "--platform", "linux/a/b/c", kImage, "pl3", "echo", "ok"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "(invalid argument)")) << r.err;
}

TEST_F(CliTest, SnapshotsTree) {
  ASSERT_EQ(Berth({"snapshots", "prepare", "base-active"}).exit_code, 0);
  ASSERT_EQ(Berth({"snapshots", "commit", "base", "base-active"}).exit_code, 0);
  ASSERT_EQ(Berth({"snapshots", "prepare", "mid-active", "base"}).exit_code, 0);
  ASSERT_EQ(Berth({"snapshots", "commit", "mid", "mid-active"}).exit_code, 0);
  ASSERT_EQ(Berth({"snapshots", "prepare", "leaf", "mid"}).exit_code, 0);
  ASSERT_EQ(Berth({"snapshots", "view", "aside", "base"}).exit_code, 0);
  ASSERT_EQ(Berth({"snapshots", "prepare", "alone"}).exit_code, 0);
  RunResult r = Berth({"snapshots", "tree"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            " alone\n"
            " base\n"
            "  \\_ aside\n"
            "  \\_ mid\n"
            "    \\_ leaf\n")
      << r.out;
  for (const char* key : {"alone", "aside", "leaf", "mid", "base"}) {
    EXPECT_EQ(Berth({"snapshots", "rm", key}).exit_code, 0) << key;
  }
  EXPECT_EQ(Berth({"snapshots", "tree"}).out, "");
}

// `content fetch`: the image's blobs into the content store, nothing unpacked.
TEST_F(CliTest, ContentFetchDoesNotUnpack) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<testing::Registry> registry, testing::Registry::Start());
  testing::ImageOptions options;
  options.architecture = platforms::DefaultPlatform().architecture;
  ASSERT_OK_AND_ASSIGN(testing::OciImage image, testing::BusyboxImage(options));
  ASSERT_OK(registry->Push("test/fetched", "1.0", image));
  const std::string ref = registry->Reference("test/fetched", "1.0");

  RunResult r = Berth({"content", "fetch", "--plain-http", ref});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(Contains(r.out, "unpack")) << r.out;
  EXPECT_EQ(Lines(r.out).back(), "image " + ref + " digest=" + image.manifest.digest);
  r = Berth({"content", "ls", "-q"});
  EXPECT_TRUE(Contains(r.out, image.manifest.digest)) << r.out;
  EXPECT_TRUE(Contains(r.out, image.layers[0].blob.digest)) << r.out;
  EXPECT_EQ(Berth({"snapshots", "ls", "-q"}).out, "");
  r = Berth({"content", "fetch", "--plain-http", registry->Reference("test/fetched", "nosuch")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(Contains(r.err, "(not found)")) << r.err;
  EXPECT_EQ(Berth({"images", "rm", ref}).exit_code, 0);
}

// The README's "events from NATS" program: subscribed to this namespace's subjects on the
// suite's nats-server, it prints each event's subject, namespace, topic and type.
TEST_F(CliTest, NatsEventsExampleDecodesEnvelopes) {
  std::string port = client_testing::ReadFile(suite_->root() + "/nats/port");
  while (!port.empty() && (port.back() == '\n' || port.back() == ' ')) port.pop_back();
  ASSERT_FALSE(port.empty());
  const std::string out = suite_->Path("nats-events-" + ns_ + ".out");
  testing::ChildProcessOptions o;
  o.argv = {bin_ + "/berth-example-nats-events", "nats://127.0.0.1:" + port,
            "berth.events." + ns_ + ".>"};
  o.stdout_path = out;
  o.stderr_path = out + ".err";
  ASSERT_OK_AND_ASSIGN(testing::ChildProcess reader, testing::ChildProcess::Start(o));
  int n = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        Berth({"namespaces", "label", ns_, "probe=" + std::to_string(n++)});
        return Contains(client_testing::ReadFile(out), "/namespaces/update");
      },
      std::chrono::seconds(30)))
      << client_testing::ReadFile(out + ".err");
  std::string first = Lines(client_testing::ReadFile(out)).front();
  EXPECT_EQ(first.rfind("berth.events." + ns_ + ".namespaces.update ", 0), 0u) << first;
  EXPECT_TRUE(Contains(first, " " + ns_ + " ")) << first;
  EXPECT_TRUE(Contains(first, "containerd.events.NamespaceUpdate")) << first;
}

TEST_F(CliTest, ExamplesRun) {
  Import();
  char host_ns[256] = {0};
  ASSERT_GT(readlink("/proc/self/ns/pid", host_ns, sizeof(host_ns) - 1), 0);
  RunResult r = suite_->Run({bin_ + "/berth-example-htop", "-a", suite_->socket(), "-n", ns_,
                             kImage, "readlink", "/proc/self/ns/pid"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string(host_ns) + "\n");
  // Runs a shell that exits 143 on SIGTERM, which the example sends after 3 seconds (then
  // SIGKILL, 137, should the shell not have set its trap yet on a loaded machine); without the
  // kill it would exit 0 after 60 seconds.
  r = suite_->Run({bin_ + "/berth-example-run", "-a", suite_->socket(), "-n", ns_, kImage, "sh",
                   "-c",
                   "trap 'exit 143' TERM; i=0; while [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "exited with status: 143") ||
              Contains(r.out, "exited with status: 137"))
      << r.out << r.err.substr(0, 2000);
  EXPECT_EQ(Berth({"containers", "ls", "-q"}).out, "");
}

}  // namespace
}  // namespace berth::cli
