// NatsServer: a real `nats-server` (Debian package nats-server) for integration tests, with
// JetStream on, listening on 127.0.0.1 on a port it picked itself.
//
//   NatsServer nats;
//   ASSERT_OK(nats.Start());          // first start: random port (-p -1)
//   Connect(nats.Url());              // "nats://127.0.0.1:<port>"
//   ASSERT_OK(nats.Stop());           // clients see a disconnect
//   ASSERT_OK(nats.Start());          // same port, same JetStream store: clients reconnect
//
// The server's store (-sd) and its ports file live in a TempDir owned by this object; its
// stderr log is kept there too and quoted in errors. The binary is $BERTH_NATS_SERVER if set,
// else nats-server from /usr/bin, /usr/sbin (where Debian puts it) or $PATH.
//
// Thread-safety: not thread-safe; one thread drives it. Url() and Port() are stable once the
// first Start() returned OK.
#ifndef BERTH_LIB_TESTING_NATS_SERVER_H_
#define BERTH_LIB_TESTING_NATS_SERVER_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "lib/testing/child_process.h"
#include "lib/testing/temp_dir.h"

namespace berth::testing {

class NatsServer {
 public:
  NatsServer();
  // Stops the server if it runs; the TempDir goes with it.
  ~NatsServer();

  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;

  // Starts nats-server and waits (up to `timeout`) until it accepts clients. The first call
  // lets the server pick a free port; later calls restart it on that same port and store.
  // FailedPrecondition if it is already running, NotFound if there is no nats-server binary,
  // Unavailable (with the server's log) if it exits or does not come up in time.
  absl::Status Start(std::chrono::milliseconds timeout = std::chrono::seconds(20));

  // Stops the server (SIGTERM, then SIGKILL after `timeout`). OK if it was not running.
  absl::Status Stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  bool Running() const { return process_.has_value() && process_->Running(); }

  // "nats://127.0.0.1:<port>"; "" before the first successful Start().
  std::string Url() const;
  // The client port; 0 before the first successful Start().
  int Port() const { return port_; }

  // The server's log (its stderr) from the current or last run.
  std::string Log() const;

  // Extra command-line arguments for the next Start() (e.g. {"-DV"} for protocol traces).
  void SetExtraArgs(std::vector<std::string> args) { extra_args_ = std::move(args); }

 private:
  TempDir dir_;
  std::optional<ChildProcess> process_;
  int port_ = 0;
  int runs_ = 0;
  std::vector<std::string> extra_args_;
};

// The nats-server binary berth's tests use, or NotFound.
absl::StatusOr<std::string> FindNatsServer();

}  // namespace berth::testing

#endif  // BERTH_LIB_TESTING_NATS_SERVER_H_
