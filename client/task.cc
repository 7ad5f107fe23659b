#include "client/task.h"

#include <signal.h>

#include <atomic>
#include <mutex>
#include <utility>

#include "client/berth.h"
#include "client/connection.h"
#include "fmt/format.h"
#include "google/protobuf/empty.pb.h"
#include "lib/anytype/anytype.h"
#include "lib/status/status.h"
#include "proto/containerd/runtime/v2/runc/options/oci.pb.h"

namespace berth {

namespace tkpb = containerd::services::tasks::v1;

struct Process::State {
  Client client;
  std::string container_id;
  std::string exec_id;  // empty for the init process
  std::atomic<uint32_t> pid{0};
  std::unique_ptr<cio::IO> io;

  State(Client c, std::string cid, std::string eid)
      : client(std::move(c)), container_id(std::move(cid)), exec_id(std::move(eid)) {}
  ~State() {
    if (io) (void)io->Close();
  }
  const std::string& id() const { return exec_id.empty() ? container_id : exec_id; }
  // "task c1" or "process e1 of task c1", for messages.
  std::string Name() const {
    return exec_id.empty() ? fmt::format("task {:?}", container_id)
                           : fmt::format("process {:?} of task {:?}", exec_id, container_id);
  }
};

namespace {

ProcessState FromProto(containerd::v1::types::Status s) {
  switch (s) {
    case containerd::v1::types::CREATED:
      return ProcessState::kCreated;
    case containerd::v1::types::RUNNING:
      return ProcessState::kRunning;
    case containerd::v1::types::STOPPED:
      return ProcessState::kStopped;
    case containerd::v1::types::PAUSED:
      return ProcessState::kPaused;
    case containerd::v1::types::PAUSING:
      return ProcessState::kPausing;
    default:
      return ProcessState::kUnknown;
  }
}

// Wires the IO's end-of-stdin to CloseIO(stdin) of the process, without keeping it alive.
void AttachCloser(const std::shared_ptr<Process::State>& state) {
  if (!state->io) return;
  std::weak_ptr<Process::State> weak = state;
  state->io->AttachStdinCloser([weak] {
    std::shared_ptr<Process::State> s = weak.lock();
    if (!s) return;
    tkpb::CloseIORequest req;
    req.set_container_id(s->container_id);
    req.set_exec_id(s->exec_id);
    req.set_stdin(true);
    google::protobuf::Empty resp;
    auto ctx = s->client.NewCallContext();
    (void)s->client.connection()->tasks->CloseIO(ctx.get(), req, &resp);
  });
}

}  // namespace

const char* ProcessStateName(ProcessState state) {
  switch (state) {
    case ProcessState::kCreated:
      return "created";
    case ProcessState::kRunning:
      return "running";
    case ProcessState::kStopped:
      return "stopped";
    case ProcessState::kPaused:
      return "paused";
    case ProcessState::kPausing:
      return "pausing";
    case ProcessState::kUnknown:
      break;
  }
  return "unknown";
}

// --- options --------------------------------------------------------------------------------

absl::Status WithStdio(const Client&, TaskConfig* config) {
  cio::Streams s;
  s.stdin_fd = 0;
  s.stdout_sink = cio::FdSink(1);
  s.stderr_sink = cio::FdSink(2);
  config->streams = std::move(s);
  return absl::OkStatus();
}

NewTaskOpt WithStreams(cio::Streams streams) {
  return [streams = std::move(streams)](const Client&, TaskConfig* config) {
    config->streams = streams;
    if (streams.terminal) config->terminal = true;
    return absl::OkStatus();
  };
}

NewTaskOpt WithFIFOs(cio::FIFOSet fifos) {
  return [fifos = std::move(fifos)](const Client&, TaskConfig* config) {
    config->io = cio::WithFIFOs(fifos);
    if (fifos.config.terminal) config->terminal = true;
    return absl::OkStatus();
  };
}

absl::Status WithTerminal(const Client&, TaskConfig* config) {
  config->terminal = true;
  return absl::OkStatus();
}

NewTaskOpt WithIO(cio::Creator creator) {
  return [creator = std::move(creator)](const Client&, TaskConfig* config) {
    config->io = creator;
    return absl::OkStatus();
  };
}

NewTaskOpt WithRootFS(std::vector<containerd::types::Mount> mounts) {
  return [mounts = std::move(mounts)](const Client&, TaskConfig* config) {
    config->rootfs = mounts;
    return absl::OkStatus();
  };
}

NewTaskOpt WithRuntimePath(std::string path) {
  return [path = std::move(path)](const Client&, TaskConfig* config) {
    config->runtime_path = path;
    return absl::OkStatus();
  };
}

absl::Status WithKillAll(KillConfig* config) {
  config->all = true;
  return absl::OkStatus();
}

// --- Process --------------------------------------------------------------------------------

const std::string& Process::ID() const { return state_->id(); }
const std::string& Process::ContainerID() const { return state_->container_id; }
uint32_t Process::Pid() const { return state_->pid.load(); }
cio::IO* Process::IO() const { return state_->io.get(); }

absl::Status Process::Start() const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  tkpb::StartRequest req;
  req.set_container_id(state_->container_id);
  req.set_exec_id(state_->exec_id);
  tkpb::StartResponse resp;
  auto ctx = c.NewCallContext();
  RETURN_IF_ERROR(
      RpcStatus(c.connection()->tasks->Start(ctx.get(), req, &resp), "start " + state_->Name()));
  state_->pid = resp.pid();
  return absl::OkStatus();
}

absl::Status Process::Kill(int signal, std::vector<KillOpt> opts) const {
  KillConfig config;
  for (const KillOpt& o : opts) {
    if (o) RETURN_IF_ERROR(o(&config));
  }
  if (signal <= 0 || signal >= 65) {
    return InvalidArgumentError(fmt::format("kill {}: invalid signal {}", state_->Name(), signal));
  }
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  tkpb::KillRequest req;
  req.set_container_id(state_->container_id);
  req.set_exec_id(state_->exec_id);
  req.set_signal(static_cast<uint32_t>(signal));
  req.set_all(config.all);
  google::protobuf::Empty resp;
  auto ctx = c.NewCallContext();
  return RpcStatus(c.connection()->tasks->Kill(ctx.get(), req, &resp), "kill " + state_->Name());
}

std::future<absl::StatusOr<ExitStatus>> Process::Wait() const {
  struct Call {
    std::unique_ptr<grpc::ClientContext> ctx;
    tkpb::WaitRequest req;
    tkpb::WaitResponse resp;
    std::promise<absl::StatusOr<ExitStatus>> promise;
    std::string name;
  };
  auto call = std::make_shared<Call>();
  std::future<absl::StatusOr<ExitStatus>> future = call->promise.get_future();
  const Client& c = state_->client;
  if (absl::Status s = c.AddressStatus(); !s.ok()) {
    call->promise.set_value(s);
    return future;
  }
  call->ctx = c.NewCallContext(/*stream=*/true);
  call->req.set_container_id(state_->container_id);
  call->req.set_exec_id(state_->exec_id);
  call->name = "wait " + state_->Name();
  // The callback owns the call (context, messages) until it ran; gRPC keeps the channel.
  c.connection()->tasks->async()->Wait(call->ctx.get(), &call->req, &call->resp,
                                       [call](grpc::Status st) {
                                         if (!st.ok()) {
                                           call->promise.set_value(RpcStatus(st, call->name));
                                           return;
                                         }
                                         ExitStatus e;
                                         e.code = call->resp.exit_status();
                                         e.exited_at = FromProtoTime(call->resp.exited_at());
                                         call->promise.set_value(e);
                                       });
  return future;
}

absl::Status Process::CloseStdin() const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  tkpb::CloseIORequest req;
  req.set_container_id(state_->container_id);
  req.set_exec_id(state_->exec_id);
  req.set_stdin(true);
  google::protobuf::Empty resp;
  auto ctx = c.NewCallContext();
  return RpcStatus(c.connection()->tasks->CloseIO(ctx.get(), req, &resp),
                   "close stdin of " + state_->Name());
}

absl::Status Process::Resize(uint32_t width, uint32_t height) const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  tkpb::ResizePtyRequest req;
  req.set_container_id(state_->container_id);
  req.set_exec_id(state_->exec_id);
  req.set_width(width);
  req.set_height(height);
  google::protobuf::Empty resp;
  auto ctx = c.NewCallContext();
  return RpcStatus(c.connection()->tasks->ResizePty(ctx.get(), req, &resp),
                   "resize " + state_->Name());
}

absl::StatusOr<ProcessStatus> Process::Status() const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  tkpb::GetRequest req;
  req.set_container_id(state_->container_id);
  req.set_exec_id(state_->exec_id);
  tkpb::GetResponse resp;
  auto ctx = c.NewCallContext();
  RETURN_IF_ERROR(
      RpcStatus(c.connection()->tasks->Get(ctx.get(), req, &resp), "get " + state_->Name()));
  ProcessStatus s;
  s.state = FromProto(resp.process().status());
  s.pid = resp.process().pid();
  s.exit_status = resp.process().exit_status();
  s.exited_at = FromProtoTime(resp.process().exited_at());
  return s;
}

absl::StatusOr<ExitStatus> Process::Delete(bool force) const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  if (force) {
    ASSIGN_OR_RETURN(ProcessStatus st, Status());
    if (st.state != ProcessState::kStopped) {
      std::future<absl::StatusOr<ExitStatus>> exited = Wait();
      std::vector<KillOpt> opts;
      if (state_->exec_id.empty()) opts.push_back(WithKillAll);
      absl::Status k = Kill(SIGKILL, opts);
      if (!k.ok() && !IsNotFound(k)) return k;
      absl::StatusOr<ExitStatus> e = exited.get();
      if (!e.ok() && !IsNotFound(e.status())) return e.status();
    }
  }
  tkpb::DeleteResponse resp;
  grpc::Status st;
  auto ctx = c.NewCallContext();
  if (state_->exec_id.empty()) {
    tkpb::DeleteTaskRequest req;
    req.set_container_id(state_->container_id);
    st = c.connection()->tasks->Delete(ctx.get(), req, &resp);
  } else {
    tkpb::DeleteProcessRequest req;
    req.set_container_id(state_->container_id);
    req.set_exec_id(state_->exec_id);
    st = c.connection()->tasks->DeleteProcess(ctx.get(), req, &resp);
  }
  RETURN_IF_ERROR(RpcStatus(st, "delete " + state_->Name()));
  if (state_->io) {
    // The process and its shim end are gone: the copies reach end-of-file.
    state_->io->Wait();
    (void)state_->io->Close();
  }
  ExitStatus e;
  e.code = resp.exit_status();
  e.exited_at = FromProtoTime(resp.exited_at());
  return e;
}

absl::StatusOr<std::vector<TaskSummary>> Client::ListTasks() const {
  RETURN_IF_ERROR(AddressStatus());
  tkpb::ListTasksRequest req;
  tkpb::ListTasksResponse resp;
  auto ctx = NewCallContext();
  RETURN_IF_ERROR(RpcStatus(connection()->tasks->List(ctx.get(), req, &resp), "list tasks"));
  std::vector<TaskSummary> out;
  for (const auto& p : resp.tasks()) {
    TaskSummary t;
    t.container_id = p.container_id().empty() ? p.id() : p.container_id();
    t.pid = p.pid();
    t.status = containerd::v1::types::Status_Name(p.status());
    t.exit_status = p.exit_status();
    out.push_back(std::move(t));
  }
  return out;
}

// --- Task -----------------------------------------------------------------------------------

Task Task::FromCreated(Client client, std::string container_id, uint32_t pid,
                       std::unique_ptr<cio::IO> io) {
  auto state = std::make_shared<State>(std::move(client), std::move(container_id), "");
  state->pid = pid;
  state->io = std::move(io);
  AttachCloser(state);
  return Task(std::move(state));
}

absl::Status Task::Pause() const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  tkpb::PauseTaskRequest req;
  req.set_container_id(state_->container_id);
  google::protobuf::Empty resp;
  auto ctx = c.NewCallContext();
  return RpcStatus(c.connection()->tasks->Pause(ctx.get(), req, &resp), "pause " + state_->Name());
}

absl::Status Task::Resume() const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  tkpb::ResumeTaskRequest req;
  req.set_container_id(state_->container_id);
  google::protobuf::Empty resp;
  auto ctx = c.NewCallContext();
  return RpcStatus(c.connection()->tasks->Resume(ctx.get(), req, &resp),
                   "resume " + state_->Name());
}

absl::StatusOr<std::vector<ProcessInfo>> Task::Pids() const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  tkpb::ListPidsRequest req;
  req.set_container_id(state_->container_id);
  tkpb::ListPidsResponse resp;
  auto ctx = c.NewCallContext();
  RETURN_IF_ERROR(RpcStatus(c.connection()->tasks->ListPids(ctx.get(), req, &resp),
                            "list pids of " + state_->Name()));
  std::vector<ProcessInfo> out;
  for (const auto& p : resp.processes()) {
    ProcessInfo info;
    info.pid = p.pid();
    containerd::runc::v1::ProcessDetails details;
    if (p.has_info() && anytype::Unpack(p.info(), &details).ok()) info.exec_id = details.exec_id();
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<TaskMetrics> Task::Metrics() const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  tkpb::MetricsRequest req;
  req.add_filters("id==" + state_->container_id);
  tkpb::MetricsResponse resp;
  auto ctx = c.NewCallContext();
  RETURN_IF_ERROR(RpcStatus(c.connection()->tasks->Metrics(ctx.get(), req, &resp),
                            "metrics of " + state_->Name()));
  if (resp.metrics_size() == 0) {
    return NotFoundError(fmt::format("metrics of {}: no metrics received", state_->Name()));
  }
  const containerd::types::Metric& m = resp.metrics(0);
  TaskMetrics out;
  out.timestamp = FromProtoTime(m.timestamp());
  out.id = m.id();
  out.raw = m.data();
  out.type_url = m.data().type_url();
  if (anytype::Is(m.data(), io::containerd::cgroups::v1::Metrics::descriptor()->full_name())) {
    io::containerd::cgroups::v1::Metrics v1;
    RETURN_IF_ERROR(anytype::Unpack(m.data(), &v1));
    out.v1 = std::move(v1);
  } else if (anytype::Is(m.data(),
                         io::containerd::cgroups::v2::Metrics::descriptor()->full_name())) {
    io::containerd::cgroups::v2::Metrics v2;
    RETURN_IF_ERROR(anytype::Unpack(m.data(), &v2));
    out.v2 = std::move(v2);
  }
  return out;
}

absl::StatusOr<oci::Spec> Task::ProcessSpec(std::vector<std::string> args, bool terminal) const {
  Container container(state_->client, state_->container_id);
  ASSIGN_OR_RETURN(oci::Spec spec, container.Spec());
  oci::Spec process = spec.contains("process") && spec["process"].is_object() ? spec["process"]
                                                                              : oci::Spec::object();
  process["args"] = std::move(args);
  process["terminal"] = terminal;
  return process;
}

absl::StatusOr<Process> Task::Exec(const std::string& exec_id, const oci::Spec& process,
                                   cio::Creator io_creator) const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  if (exec_id.empty()) return InvalidArgumentError("exec: the exec id is required");
  if (!process.is_object()) return InvalidArgumentError("exec: the process is not a JSON object");
  if (!io_creator) io_creator = cio::NullIO();
  ASSIGN_OR_RETURN(std::unique_ptr<cio::IO> io, io_creator(exec_id));
  tkpb::ExecProcessRequest req;
  req.set_container_id(state_->container_id);
  req.set_exec_id(exec_id);
  req.set_stdin(io->config().stdin_path);
  req.set_stdout(io->config().stdout_path);
  req.set_stderr(io->config().stderr_path);
  req.set_terminal(io->config().terminal || process.value("terminal", false));
  absl::StatusOr<google::protobuf::Any> spec =
      anytype::PackJson(anytype::kProcessTypeURL, process.dump());
  if (!spec.ok()) {
    (void)io->Close();
    return spec.status();
  }
  *req.mutable_spec() = *spec;
  google::protobuf::Empty resp;
  auto ctx = c.NewCallContext();
  grpc::Status st = c.connection()->tasks->Exec(ctx.get(), req, &resp);
  if (!st.ok()) {
    (void)io->Close();
    return RpcStatus(st, fmt::format("exec {:?} in task {:?}", exec_id, state_->container_id));
  }
  auto state = std::make_shared<State>(c, state_->container_id, exec_id);
  state->io = std::move(io);
  AttachCloser(state);
  return Process(std::move(state));
}

absl::StatusOr<Process> Task::LoadProcess(const std::string& exec_id) const {
  if (exec_id.empty()) return InvalidArgumentError("load process: the exec id is required");
  auto state = std::make_shared<State>(state_->client, state_->container_id, exec_id);
  Process p(state);
  ASSIGN_OR_RETURN(ProcessStatus st, p.Status());
  state->pid = st.pid;
  return p;
}

absl::Status Task::Update(const oci::Spec& resources) const {
  const Client& c = state_->client;
  RETURN_IF_ERROR(c.AddressStatus());
  tkpb::UpdateTaskRequest req;
  req.set_container_id(state_->container_id);
  ASSIGN_OR_RETURN(*req.mutable_resources(),
                   anytype::PackJson(anytype::kLinuxResourcesTypeURL, resources.dump()));
  google::protobuf::Empty resp;
  auto ctx = c.NewCallContext();
  return RpcStatus(c.connection()->tasks->Update(ctx.get(), req, &resp),
                   "update " + state_->Name());
}

}  // namespace berth
