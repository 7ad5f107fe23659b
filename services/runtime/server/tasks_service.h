// TasksService: containerd.services.tasks.v1.Tasks over the TaskManager — the gRPC edge of
// berth-runtime's tasks (reference/containerd-api.md §3.11). Every method maps one to one
// onto TaskManager; Checkpoint is UNIMPLEMENTED (berth has no CRIU support).
//
// Thread-safety: gRPC's sync server calls the handlers from many threads; TaskManager is
// thread-safe. Wait blocks its handler thread until the process exits or the call ends.
#ifndef BERTH_SERVICES_RUNTIME_SERVER_TASKS_SERVICE_H_
#define BERTH_SERVICES_RUNTIME_SERVER_TASKS_SERVICE_H_

#include "proto/containerd/services/tasks/v1/tasks.grpc.pb.h"
#include "services/runtime/task_manager.h"

namespace berth::runtime {

class TasksService final : public containerd::services::tasks::v1::Tasks::Service {
 public:
  // `tasks` is not owned.
  explicit TasksService(TaskManager* tasks) : tasks_(tasks) {}

  grpc::Status Create(grpc::ServerContext* ctx,
                      const containerd::services::tasks::v1::CreateTaskRequest* req,
                      containerd::services::tasks::v1::CreateTaskResponse* resp) override;
  grpc::Status Start(grpc::ServerContext* ctx,
                     const containerd::services::tasks::v1::StartRequest* req,
                     containerd::services::tasks::v1::StartResponse* resp) override;
  grpc::Status Delete(grpc::ServerContext* ctx,
                      const containerd::services::tasks::v1::DeleteTaskRequest* req,
                      containerd::services::tasks::v1::DeleteResponse* resp) override;
  grpc::Status DeleteProcess(grpc::ServerContext* ctx,
                             const containerd::services::tasks::v1::DeleteProcessRequest* req,
                             containerd::services::tasks::v1::DeleteResponse* resp) override;
  grpc::Status Get(grpc::ServerContext* ctx, const containerd::services::tasks::v1::GetRequest* req,
                   containerd::services::tasks::v1::GetResponse* resp) override;
  grpc::Status List(grpc::ServerContext* ctx,
                    const containerd::services::tasks::v1::ListTasksRequest* req,
                    containerd::services::tasks::v1::ListTasksResponse* resp) override;
  grpc::Status Kill(grpc::ServerContext* ctx,
                    const containerd::services::tasks::v1::KillRequest* req,
                    google::protobuf::Empty* resp) override;
  grpc::Status Exec(grpc::ServerContext* ctx,
                    const containerd::services::tasks::v1::ExecProcessRequest* req,
                    google::protobuf::Empty* resp) override;
  grpc::Status ResizePty(grpc::ServerContext* ctx,
                         const containerd::services::tasks::v1::ResizePtyRequest* req,
                         google::protobuf::Empty* resp) override;
  grpc::Status CloseIO(grpc::ServerContext* ctx,
                       const containerd::services::tasks::v1::CloseIORequest* req,
                       google::protobuf::Empty* resp) override;
  grpc::Status Pause(grpc::ServerContext* ctx,
                     const containerd::services::tasks::v1::PauseTaskRequest* req,
                     google::protobuf::Empty* resp) override;
  grpc::Status Resume(grpc::ServerContext* ctx,
                      const containerd::services::tasks::v1::ResumeTaskRequest* req,
                      google::protobuf::Empty* resp) override;
  grpc::Status ListPids(grpc::ServerContext* ctx,
                        const containerd::services::tasks::v1::ListPidsRequest* req,
                        containerd::services::tasks::v1::ListPidsResponse* resp) override;
  grpc::Status Checkpoint(grpc::ServerContext* ctx,
                          const containerd::services::tasks::v1::CheckpointTaskRequest* req,
                          containerd::services::tasks::v1::CheckpointTaskResponse* resp) override;
  grpc::Status Update(grpc::ServerContext* ctx,
                      const containerd::services::tasks::v1::UpdateTaskRequest* req,
                      google::protobuf::Empty* resp) override;
  grpc::Status Metrics(grpc::ServerContext* ctx,
                       const containerd::services::tasks::v1::MetricsRequest* req,
                       containerd::services::tasks::v1::MetricsResponse* resp) override;
  grpc::Status Wait(grpc::ServerContext* ctx,
                    const containerd::services::tasks::v1::WaitRequest* req,
                    containerd::services::tasks::v1::WaitResponse* resp) override;

 private:
  TaskManager* tasks_;
};

}  // namespace berth::runtime

#endif  // BERTH_SERVICES_RUNTIME_SERVER_TASKS_SERVICE_H_
