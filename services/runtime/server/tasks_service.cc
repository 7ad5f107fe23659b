#include "services/runtime/server/tasks_service.h"

#include <string>
#include <vector>

#include "fmt/format.h"
#include "lib/server/call_context.h"
#include "lib/status/status.h"

namespace berth::runtime {

namespace tv1 = containerd::services::tasks::v1;

grpc::Status TasksService::Create(grpc::ServerContext* ctx, const tv1::CreateTaskRequest* req,
                                  tv1::CreateTaskResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(uint32_t pid, tasks_->Create(call, *req));
    resp->set_container_id(req->container_id());
    resp->set_pid(pid);
    return absl::OkStatus();
  });
}

grpc::Status TasksService::Start(grpc::ServerContext* ctx, const tv1::StartRequest* req,
                                 tv1::StartResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(uint32_t pid, tasks_->Start(call, req->container_id(), req->exec_id()));
    resp->set_pid(pid);
    return absl::OkStatus();
  });
}

grpc::Status TasksService::Delete(grpc::ServerContext* ctx, const tv1::DeleteTaskRequest* req,
                                  tv1::DeleteResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*resp, tasks_->Delete(call, req->container_id()));
    return absl::OkStatus();
  });
}

grpc::Status TasksService::DeleteProcess(grpc::ServerContext* ctx,
                                         const tv1::DeleteProcessRequest* req,
                                         tv1::DeleteResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*resp, tasks_->DeleteProcess(call, req->container_id(), req->exec_id()));
    return absl::OkStatus();
  });
}

grpc::Status TasksService::Get(grpc::ServerContext* ctx, const tv1::GetRequest* req,
                               tv1::GetResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*resp->mutable_process(),
                     tasks_->Get(call, req->container_id(), req->exec_id()));
    return absl::OkStatus();
  });
}

grpc::Status TasksService::List(grpc::ServerContext* ctx, const tv1::ListTasksRequest*,
                                tv1::ListTasksResponse* resp) {
  // containerd ignores ListTasksRequest.filter; so does berth.
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<containerd::v1::types::Process> list, tasks_->List(call));
    for (auto& p : list) *resp->add_tasks() = std::move(p);
    return absl::OkStatus();
  });
}

grpc::Status TasksService::Kill(grpc::ServerContext* ctx, const tv1::KillRequest* req,
                                google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return tasks_->Kill(call, req->container_id(), req->exec_id(), req->signal(), req->all());
  });
}

grpc::Status TasksService::Exec(grpc::ServerContext* ctx, const tv1::ExecProcessRequest* req,
                                google::protobuf::Empty*) {
  return server::GrpcHandler(
      ctx, true, [&](const CallContext& call) -> absl::Status { return tasks_->Exec(call, *req); });
}

grpc::Status TasksService::ResizePty(grpc::ServerContext* ctx, const tv1::ResizePtyRequest* req,
                                     google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return tasks_->ResizePty(call, req->container_id(), req->exec_id(), req->width(),
                             req->height());
  });
}

grpc::Status TasksService::CloseIO(grpc::ServerContext* ctx, const tv1::CloseIORequest* req,
                                   google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return tasks_->CloseIO(call, req->container_id(), req->exec_id(), req->stdin());
  });
}

grpc::Status TasksService::Pause(grpc::ServerContext* ctx, const tv1::PauseTaskRequest* req,
                                 google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return tasks_->Pause(call, req->container_id());
  });
}

grpc::Status TasksService::Resume(grpc::ServerContext* ctx, const tv1::ResumeTaskRequest* req,
                                  google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return tasks_->Resume(call, req->container_id());
  });
}

grpc::Status TasksService::ListPids(grpc::ServerContext* ctx, const tv1::ListPidsRequest* req,
                                    tv1::ListPidsResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(std::vector<containerd::v1::types::ProcessInfo> list,
                     tasks_->ListPids(call, req->container_id()));
    for (auto& p : list) *resp->add_processes() = std::move(p);
    return absl::OkStatus();
  });
}

grpc::Status TasksService::Checkpoint(grpc::ServerContext* ctx,
                                      const tv1::CheckpointTaskRequest* req,
                                      tv1::CheckpointTaskResponse*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext&) -> absl::Status {
    return UnimplementedError(fmt::format(
        "checkpoint task {:?}: checkpoint/restore (CRIU) is not supported by berth-runtime",
        req->container_id()));
  });
}

grpc::Status TasksService::Update(grpc::ServerContext* ctx, const tv1::UpdateTaskRequest* req,
                                  google::protobuf::Empty*) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    return tasks_->Update(call, req->container_id(), req->resources());
  });
}

grpc::Status TasksService::Metrics(grpc::ServerContext* ctx, const tv1::MetricsRequest* req,
                                   tv1::MetricsResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    std::vector<std::string> filters(req->filters().begin(), req->filters().end());
    ASSIGN_OR_RETURN(std::vector<containerd::types::Metric> list, tasks_->Metrics(call, filters));
    for (auto& m : list) *resp->add_metrics() = std::move(m);
    return absl::OkStatus();
  });
}

grpc::Status TasksService::Wait(grpc::ServerContext* ctx, const tv1::WaitRequest* req,
                                tv1::WaitResponse* resp) {
  return server::GrpcHandler(ctx, true, [&](const CallContext& call) -> absl::Status {
    ASSIGN_OR_RETURN(*resp, tasks_->Wait(call, req->container_id(), req->exec_id()));
    return absl::OkStatus();
  });
}

}  // namespace berth::runtime
