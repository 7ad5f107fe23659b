// A minimal berth service process, wired exactly as a real main() is, for
// server_signal_test: `server_test_main <config.toml> <section>` serves grpc.health.v1 and a
// Version service on the section's address until SIGTERM or SIGINT, then exits 0 after a
// clean shutdown (1 on any error, printed to stderr in the berth log format).
//
// Its Version call never answers, so a test can hold a call in flight across a shutdown: it
// logs "call started" and ends only when the call is cancelled, or never when the request
// carries metadata `x-berth-test: ignore-cancel` (a handler that ignores cancellation).
#include <grpcpp/server_context.h>

#include <cstdio>
#include <functional>
#include <string>

#include "lib/log/log.h"
#include "lib/server/config.h"
#include "lib/server/server.h"
#include "proto/containerd/services/version/v1/version.grpc.pb.h"

namespace {

using containerd::services::version::v1::VersionResponse;

class HangingVersion final : public containerd::services::version::v1::Version::CallbackService {
  grpc::ServerUnaryReactor* Version(grpc::CallbackServerContext* ctx,
                                    const google::protobuf::Empty*, VersionResponse*) override {
    bool ignore_cancel = false;
    auto range = ctx->client_metadata().equal_range("x-berth-test");
    for (auto it = range.first; it != range.second; ++it) {
      ignore_cancel = ignore_cancel || it->second == "ignore-cancel";
    }
    berth::log::Info("call started ignore_cancel={}", ignore_cancel);
    return new Reactor(ignore_cancel);
  }

  class Reactor final : public grpc::ServerUnaryReactor {
   public:
    explicit Reactor(bool ignore_cancel) : ignore_cancel_(ignore_cancel) {}
    void OnCancel() override {
      if (!ignore_cancel_) Finish(grpc::Status::CANCELLED);
    }
    void OnDone() override { delete this; }

   private:
    const bool ignore_cancel_;
  };
};

}  // namespace

int main(int argc, char** argv) {
  using namespace berth;
  // Before anything starts a thread.
  if (absl::Status s = server::BlockShutdownSignals(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <config.toml> <section>\n", argv[0]);
    return 1;
  }
  std::function<absl::StatusOr<server::ServerConfig>(server::ConfigSection&)> parse =
      server::ParseServerConfig;
  absl::StatusOr<server::ServerConfig> config = server::LoadSection(argv[1], argv[2], parse);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    return 1;
  }
  if (absl::Status s = log::Init(argv[2], config->log_level); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  HangingVersion version;
  server::ServerOptions options;
  options.services.push_back(&version);
  absl::StatusOr<std::unique_ptr<server::Server>> server =
      server::Server::Start(*config, std::move(options));
  if (!server.ok()) {
    log::Error("start failed error={:?}", server.status().ToString());
    return 1;
  }
  absl::Status s = (*server)->Run();
  if (!s.ok()) {
    log::Error("run failed error={:?}", s.ToString());
    return 1;
  }
  return 0;
}
