#include "tests/deploy/deploy_testing.h"

#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "fmt/format.h"
#include "lib/server/config.h"
#include "lib/status/status.h"
#include "lib/testing/wait_for.h"

namespace berth::deploy_testing {

std::string SourceDir() {
  const char* dir = std::getenv("BERTH_SOURCE_DIR");
  return dir != nullptr && *dir != '\0' ? dir : BERTH_SOURCE_DIR_FALLBACK;
}

std::string BinDir() {
  const char* dir = std::getenv("BERTH_BIN");
  return dir != nullptr && *dir != '\0' ? dir : SourceDir() + "/build/bin";
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return InternalError(fmt::format("write \"{}\": failed", path));
  return absl::OkStatus();
}

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& scratch_dir,
                         const std::vector<std::string>& env, std::chrono::seconds timeout) {
  static int runs = 0;
  const std::string out = fmt::format("{}/cmd-{}-{}.out", scratch_dir, getpid(), ++runs);
  const std::string err = out.substr(0, out.size() - 4) + ".err";
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) environment.emplace_back(*e);
  for (const std::string& e : env) environment.push_back(e);
  CommandResult result;
  absl::StatusOr<testing::ChildProcess> child =
      testing::ChildProcess::Start({argv, out, err, environment, ""});
  if (!child.ok()) {
    result.err = child.status().ToString();
    return result;
  }
  absl::StatusOr<int> status =
      child->Wait(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  result.out = ReadText(out);
  result.err = ReadText(err);
  if (status.ok() && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  if (!status.ok()) result.err += "\n" + status.status().ToString();
  ::unlink(out.c_str());
  ::unlink(err.c_str());
  return result;
}

absl::StatusOr<std::unique_ptr<Service>> Service::Start(const std::string& name,
                                                        std::vector<std::string> argv,
                                                        const std::string& ready_file,
                                                        const std::string& log_dir) {
  std::unique_ptr<Service> service(new Service());
  service->name_ = name;
  service->log_ = log_dir + "/" + name + ".log";
  ::unlink(ready_file.c_str());
  ASSIGN_OR_RETURN(testing::ChildProcess child,
                   testing::ChildProcess::Start(
                       {std::move(argv), service->log_, service->log_, std::nullopt, ""}));
  service->process_.emplace(std::move(child));
  testing::ChildProcess& process = *service->process_;
  const bool ready = testing::WaitFor(
      [&] { return ::access(ready_file.c_str(), F_OK) == 0 || !process.Running(); },
      std::chrono::seconds(60));
  if (!ready || !process.Running()) {
    return UnavailableError(fmt::format("{} {}; its log:\n{}", name,
                                        ready ? "exited while starting" : "not ready after 60 s",
                                        service->Log()));
  }
  std::string address = ReadText(ready_file);
  while (!address.empty() && (address.back() == '\n' || address.back() == ' ')) {
    address.pop_back();
  }
  service->address_ = address;
  return service;
}

Service::~Service() = default;

absl::Status Service::Stop() {
  if (!process_.has_value()) return absl::OkStatus();
  ASSIGN_OR_RETURN(int status, process_->Terminate(std::chrono::seconds(30)));
  process_.reset();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return InternalError(fmt::format("{} did not exit cleanly (wait status {}); its log:\n{}",
                                     name_, status, Log()));
  }
  return absl::OkStatus();
}

std::string Service::Log() const { return ReadText(log_); }

std::shared_ptr<grpc::Channel> Connect(const std::string& address,
                                       std::shared_ptr<grpc::ChannelCredentials> credentials,
                                       const std::string& server_name) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  // A connection of its own, so that a test's channels do not share one.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  absl::StatusOr<server::ListenAddress> parsed = server::ParseListenAddress(address);
  const std::string target = parsed.ok() ? parsed->GrpcTarget() : address;
  return grpc::CreateCustomChannel(target, std::move(credentials), args);
}

absl::Status Ingest(content::Store& store, const std::string& ns, const std::string& ref,
                    const std::string& data) {
  const CallContext ctx = CallContext::Background(ns);
  const digest::Digest d = digest::FromBytes(data);
  content::WriterOptions options;
  options.ref = ref;
  options.total = static_cast<int64_t>(data.size());
  options.expected = d;
  ASSIGN_OR_RETURN(std::unique_ptr<content::Writer> writer, store.OpenWriter(ctx, options));
  constexpr size_t kChunk = 1 << 20;
  for (size_t offset = 0; offset < data.size(); offset += kChunk) {
    RETURN_IF_ERROR(writer->Write(data.substr(offset, kChunk)));
  }
  return writer->Commit(static_cast<int64_t>(data.size()), d, {});
}

absl::StatusOr<std::string> ReadBlob(content::Store& store, const std::string& ns,
                                     const digest::Digest& d) {
  const CallContext ctx = CallContext::Background(ns);
  ASSIGN_OR_RETURN(std::unique_ptr<content::ReaderAt> reader, store.OpenReader(ctx, d));
  std::string out(static_cast<size_t>(reader->Size()), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ASSIGN_OR_RETURN(size_t n,
                     reader->ReadAt(out.data() + done, std::min<size_t>(out.size() - done, 4 << 20),
                                    static_cast<int64_t>(done)));
    if (n == 0) return DataLossError(fmt::format("read {}: short blob", d.ToString()));
    done += n;
  }
  return out;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&out[i], &v, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<char>(rng());
  return out;
}

}  // namespace berth::deploy_testing
