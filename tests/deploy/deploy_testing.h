// Helpers for tests/deploy: running commands and berth service processes, and moving blobs
// through a content service (berth-content, a replica, or the gateway) over gRPC.
//
//   Service content = ...Service::Start("content", {bin, "--config", cfg, "--ready-file", r},
//                                       r, dir.path());          // waits for the ready-file
//   auto channel = Connect(content->address());
//   proxy::ContentProxy store(channel);
//   ASSERT_OK(Ingest(store, "default", "ref", data));
//
// Paths come from the environment CTest sets: $BERTH_SOURCE_DIR (the repository) and
// $BERTH_BIN (built binaries).
//
// Thread-safety: one thread drives a Service; the free functions are safe from any thread.
#ifndef BERTH_TESTS_DEPLOY_DEPLOY_TESTING_H_
#define BERTH_TESTS_DEPLOY_DEPLOY_TESTING_H_

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/digest/digest.h"
#include "lib/testing/child_process.h"
#include "services/content/store.h"

namespace berth::deploy_testing {

// The repository ($BERTH_SOURCE_DIR, else the build's source directory).
std::string SourceDir();
// Where the binaries are ($BERTH_BIN, else <source>/build/bin).
std::string BinDir();

struct CommandResult {
  int exit_code = -1;  // -1 when the command did not exit normally (or could not start)
  std::string out;
  std::string err;
};

// Runs `argv` to completion (killed after `timeout`), with "KEY=value" entries of `env`
// added to the test's environment. Output is captured in files under `scratch_dir`.
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& scratch_dir,
                         const std::vector<std::string>& env = {},
                         std::chrono::seconds timeout = std::chrono::seconds(120));

// Whole-file helpers ("" / error when the file cannot be read or written).
std::string ReadText(const std::string& path);
absl::Status WriteText(const std::string& path, const std::string& text);

// A berth process that writes a ready-file once it serves. Killed (SIGKILL to its process
// group) when destroyed.
class Service {
 public:
  // Starts argv with output in <log_dir>/<name>.log and waits (up to 60 s) for
  // `ready_file`. Unavailable with the end of its log when it exits or does not get ready.
  static absl::StatusOr<std::unique_ptr<Service>> Start(const std::string& name,
                                                        std::vector<std::string> argv,
                                                        const std::string& ready_file,
                                                        const std::string& log_dir);
  ~Service();

  // The address it serves, from its ready-file ("unix:///...", "tcp://127.0.0.1:40123").
  const std::string& address() const { return address_; }
  // SIGTERM and wait for it to exit; OK when it exited with status 0.
  absl::Status Stop();
  bool Running() const { return process_.has_value() && process_->Running(); }
  std::string Log() const;

 private:
  Service() = default;
  std::string name_;
  std::string log_;
  std::string address_;
  std::optional<testing::ChildProcess> process_;
};

// A channel to a service address in config syntax, with berth's message limits.
std::shared_ptr<grpc::Channel> Connect(
    const std::string& address,
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials(),
    const std::string& server_name = "");

// Writes `data` as a new blob through `store` (OpenWriter, Write in 1 MiB chunks, Commit).
absl::Status Ingest(content::Store& store, const std::string& ns, const std::string& ref,
                    const std::string& data);
// The whole blob `d`, read through `store`.
absl::StatusOr<std::string> ReadBlob(content::Store& store, const std::string& ns,
                                     const digest::Digest& d);

// Deterministic pseudo-random bytes.
std::string RandomBytes(size_t n, uint32_t seed);

}  // namespace berth::deploy_testing

#endif  // BERTH_TESTS_DEPLOY_DEPLOY_TESTING_H_
