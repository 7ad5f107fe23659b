#include "lib/testing/nats_server.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "lib/status/status.h"
#include "lib/testing/wait_for.h"

namespace berth::testing {
namespace {

// Reads the client port from the ports file nats-server <pid> wrote into `dir`
// (`<exe>_<pid>.ports`, JSON such as {"nats":["nats://127.0.0.1:4222"]}); 0 if it is
// not there (yet) or not complete.
int ReadPortsFile(const std::string& dir, pid_t pid) {
  const std::string suffix = "_" + std::to_string(pid) + ".ports";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::string file;
  while (struct dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      file = dir + "/" + name;
    }
  }
  closedir(d);
  if (file.empty()) return 0;
  std::ifstream in(file);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string json = buf.str();
  // nats-server 2.9 names the client listener "nats" ({"nats":["nats://127.0.0.1:4222"]});
  // later versions "client". The only nats:// URL in the file is the client one either way.
  const size_t url = json.find("nats://");
  if (url == std::string::npos) return 0;
  const size_t end = json.find('"', url);
  if (end == std::string::npos) return 0;
  const size_t colon = json.rfind(':', end);
  if (colon == std::string::npos || colon < url + 7) return 0;
  return std::atoi(json.substr(colon + 1, end - colon - 1).c_str());
}

void RemovePortsFiles(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (struct dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (name.size() > 6 && name.compare(name.size() - 6, 6, ".ports") == 0) {
      unlink((dir + "/" + name).c_str());
    }
  }
  closedir(d);
}

}  // namespace

absl::StatusOr<std::string> FindNatsServer() {
  if (const char* env = std::getenv("BERTH_NATS_SERVER"); env != nullptr && *env != '\0') {
    if (access(env, X_OK) != 0) {
      return NotFoundError("nats-server " + Quote(env) + " ($BERTH_NATS_SERVER): not executable");
    }
    return std::string(env);
  }
  for (const char* candidate : {"/usr/bin/nats-server", "/usr/sbin/nats-server"}) {
    if (access(candidate, X_OK) == 0) return std::string(candidate);
  }
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      std::string candidate = dir + "/nats-server";
      if (!dir.empty() && access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return NotFoundError("nats-server: not installed (apt-get install nats-server)");
}

NatsServer::NatsServer() : dir_("nats") {}

NatsServer::~NatsServer() { (void)Stop(std::chrono::seconds(5)); }

std::string NatsServer::Url() const {
  if (port_ == 0) return "";
  return "nats://127.0.0.1:" + std::to_string(port_);
}

std::string NatsServer::Log() const {
  std::ifstream in(dir_.Path("nats-server.log"));
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

absl::Status NatsServer::Start(std::chrono::milliseconds timeout) {
  if (process_.has_value()) {
    if (process_->Running()) return FailedPreconditionError("start nats-server: already running");
    process_.reset();
  }
  ASSIGN_OR_RETURN(std::string binary, FindNatsServer());
  RemovePortsFiles(dir_.path());

  ChildProcessOptions options;
  options.argv = {binary,
                  "-a",
                  "127.0.0.1",
                  "-p",
                  port_ == 0 ? "-1" : std::to_string(port_),
                  "-js",
                  "-sd",
                  dir_.Path("store"),
                  "--ports_file_dir",
                  dir_.path()};
  options.argv.insert(options.argv.end(), extra_args_.begin(), extra_args_.end());
  // One log per run, so a reconnect test keeps the first run's log too.
  options.stderr_path = dir_.Path("nats-server." + std::to_string(++runs_) + ".log");
  options.stdout_path = options.stderr_path;
  ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Start(std::move(options)));
  process_.emplace(std::move(child));
  // Link the current run's log under a stable name for Log().
  unlink(dir_.Path("nats-server.log").c_str());
  (void)symlink(("nats-server." + std::to_string(runs_) + ".log").c_str(),
                dir_.Path("nats-server.log").c_str());

  const pid_t pid = process_->Pid();
  int port = 0;
  bool exited = false;
  WaitFor(
      [&] {
        if (!process_->Running()) {
          exited = true;
          return true;
        }
        port = ReadPortsFile(dir_.path(), pid);
        return port != 0;
      },
      timeout);
  if (port == 0) {
    std::string log = Log();
    (void)process_->Terminate(std::chrono::seconds(2));
    process_.reset();
    return UnavailableError(std::string("start nats-server: ") +
                            (exited ? "exited" : "did not come up in time") + "; log:\n" + log);
  }
  if (port_ != 0 && port != port_) {
    (void)process_->Terminate(std::chrono::seconds(2));
    process_.reset();
    return InternalError("start nats-server: came up on port " + std::to_string(port) +
                         ", expected " + std::to_string(port_));
  }
  port_ = port;
  return absl::OkStatus();
}

absl::Status NatsServer::Stop(std::chrono::milliseconds timeout) {
  if (!process_.has_value()) return absl::OkStatus();
  absl::StatusOr<int> status = process_->Terminate(timeout);
  process_.reset();
  return status.status();
}

}  // namespace berth::testing
