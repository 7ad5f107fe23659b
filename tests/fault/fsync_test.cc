// Power-loss durability of a content commit, checked by tracing berth-content's system calls
// with strace (`strace -f -y -e trace=fsync,fdatasync,rename,renameat,renameat2,openat`)
// during one commit through the gateway. The protocol (services/content/README.md, "Crash
// safety"; LocalStore::Writer::Commit and LocalStore::CommitIngest):
//   1. size and digest checked against the streamed hash;
//   2. fdatasync of the ingest's data file            — the bytes are on disk;
//   3. rename of the data file into blobs/sha256/<hex> — the blob appears whole or not at all;
//   4. fsync of the blobs/sha256 directory             — the rename is on disk;
//   5. one RocksDB WriteBatch with sync (fdatasync/fsync of the write-ahead log under meta/)
//                                                       — the record is on disk;
//   only then the reply. A crash before 4 leaves no blob (or a whole verified file that the
//   next commit of the same digest adopts); a crash between 4 and 5 leaves a verified file no
//   record names yet, adopted the same way; after 5 both survive.
// The test finds each step in the trace and checks their order: 2 < 3 < 4 < 5.
// Root (ptrace of a service), nats-server and strace are needed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "client/berth.h"
#include "client/testing/suite.h"
#include "lib/digest/digest.h"
#include "lib/testing/child_process.h"
#include "lib/testing/status_matchers.h"
#include "lib/testing/wait_for.h"
#include "services/content/store.h"
#include "tests/fault/fault_testing.h"

namespace berth::fault {
namespace {

using ::berth::testing::ChildProcess;
using ::berth::testing::WaitFor;

std::string FindStrace() {
  for (const char* p : {"/usr/bin/strace", "/bin/strace"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// The index of the first line at or after `from` for which `match` holds; -1 when none.
int Find(const std::vector<std::string>& lines, int from,
         const std::function<bool(const std::string&)>& match) {
  for (int i = std::max(from, 0); i < static_cast<int>(lines.size()); ++i) {
    if (match(lines[i])) return i;
  }
  return -1;
}

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// fsync or fdatasync of a descriptor whose path (strace -y: `fd</path>`) satisfies `path`.
bool IsSync(const std::string& line, const std::function<bool(const std::string&)>& path) {
  size_t call = line.find("fsync(");
  if (call == std::string::npos) call = line.find("fdatasync(");
  if (call == std::string::npos) return false;
  size_t open = line.find('<', call);
  size_t close = line.find('>', open == std::string::npos ? call : open);
  if (open == std::string::npos || close == std::string::npos) return false;
  return path(line.substr(open + 1, close - open - 1));
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TEST(FsyncTest, ContentCommitSyncsDataRenamesSyncsDirectoryThenRecords) {
  if (!client_testing::IsRoot()) GTEST_SKIP() << "needs root (strace -p of berth-content)";
  ASSERT_EQ(client_testing::MissingBinaries(), "");
  const std::string strace = FindStrace();
  ASSERT_NE(strace, "") << "strace is missing (scripts/install-deps.sh installs it)";

  FaultSuite suite;
  ASSERT_OK(suite.Start());
  Client client = Client(suite.socket()).WithNamespace("fault");
  content::Store& store = client.ContentStore();
  const std::string root = suite.DataRoot("content");
  // A first commit, so that the namespace and every lazily opened file exist already.
  const std::string warm = "warm-up blob";
  {
    content::WriterOptions o;
    o.ref = "warm";
    ASSERT_OK_AND_ASSIGN(auto w, store.OpenWriter(client.Context(), o));
    ASSERT_OK(w->Write(warm));
    ASSERT_OK(w->Commit(static_cast<int64_t>(warm.size()), digest::FromBytes(warm), {}));
  }

  ASSERT_OK_AND_ASSIGN(pid_t pid, suite.Pid("content"));
  const std::string trace = suite.Path("content.strace");
  testing::ChildProcessOptions options;
  options.argv = {strace,
                  "-f",
                  "-y",
                  "-e",
                  "trace=fsync,fdatasync,rename,renameat,renameat2,openat",
                  "-o",
                  trace,
                  "-p",
                  std::to_string(pid)};
  options.stderr_path = suite.Path("strace.err");
  ASSERT_OK_AND_ASSIGN(ChildProcess tracer, ChildProcess::Start(options));
  // strace says so on stderr once it is attached to the process (and its threads).
  ASSERT_TRUE(
      WaitFor([&] { return Has(tracer.ReadStderr(), "attached"); }, std::chrono::seconds(30)))
      << tracer.ReadStderr();

  const std::string data = PseudoRandomBytes(1 << 20, 77);
  const digest::Digest d = digest::FromBytes(data);
  {
    content::WriterOptions o;
    o.ref = "traced";
    o.total = static_cast<int64_t>(data.size());
    ASSERT_OK_AND_ASSIGN(auto w, store.OpenWriter(client.Context(), o));
    ASSERT_OK(w->Write(data));
    ASSERT_OK(w->Commit(static_cast<int64_t>(data.size()), d, {}));
  }
  // The reply has come: everything the commit did is in the trace. strace detaches on
  // SIGTERM and flushes its output.
  ASSERT_OK(tracer.Terminate().status());
  ASSERT_TRUE(ProcessAlive(pid)) << "berth-content died under strace";

  std::vector<std::string> lines;
  {
    std::ifstream in(trace);
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
  }
  std::ostringstream all;
  for (const std::string& l : lines) all << l << "\n";
  const std::string blob = root + "/blobs/sha256/" + std::string(d.hex());

  const int rename = Find(lines, 0, [&](const std::string& l) {
    return (Has(l, "rename(") || Has(l, "renameat(") || Has(l, "renameat2(")) && Has(l, blob);
  });
  ASSERT_GE(rename, 0) << "no rename into " << blob << " in the trace:\n" << all.str();
  // The data file that was renamed: the first path argument of the rename.
  const std::string& rl = lines[rename];
  size_t q1 = rl.find('"');
  size_t q2 = rl.find('"', q1 + 1);
  ASSERT_NE(q2, std::string::npos) << rl;
  const std::string data_file = rl.substr(q1 + 1, q2 - q1 - 1);
  EXPECT_TRUE(Has(data_file, root + "/ingest/")) << data_file;

  const int data_sync = Find(lines, 0, [&](const std::string& l) {
    return IsSync(l, [&](const std::string& p) { return p == data_file; });
  });
  const int dir_sync = Find(lines, rename, [&](const std::string& l) {
    return IsSync(l, [&](const std::string& p) { return p == root + "/blobs/sha256"; });
  });
  const int meta_sync = Find(lines, dir_sync, [&](const std::string& l) {
    return IsSync(
        l, [&](const std::string& p) { return Has(p, root + "/meta/") && EndsWith(p, ".log"); });
  });
  EXPECT_GE(data_sync, 0) << "the data file " << data_file << " was never synced:\n" << all.str();
  EXPECT_LT(data_sync, rename) << "the data file was synced after the rename:\n" << all.str();
  EXPECT_GT(dir_sync, rename) << "blobs/sha256 was not synced after the rename:\n" << all.str();
  EXPECT_GT(meta_sync, dir_sync)
      << "the RocksDB write-ahead log was not synced after the directory:\n"
      << all.str();

  for (int i : {data_sync, rename, dir_sync, meta_sync}) {
    if (i >= 0) std::cout << "  trace: " << lines[i] << "\n";
  }

  // And the committed blob is what was sent.
  std::vector<std::string> bad = CorruptBlobs(root);
  EXPECT_TRUE(bad.empty()) << ::testing::PrintToString(bad);
}

}  // namespace
}  // namespace berth::fault
