// berth containers|c, berth ps, berth tasks|t.
#include <signal.h>

#include <map>

#include "cli/cli.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "lib/anytype/anytype.h"

namespace berth::cli {
namespace {

struct Flags {
  bool quiet = false;
  std::string format;
  std::vector<std::string> args;
  bool keep_snapshot = false;
  bool force = false;
  bool all = false;
  bool tty = false;
  bool detach = false;
  std::string signal;
  std::string exec_id;
  std::string cwd;
  std::vector<std::string> env;
  std::string user;
};

void AddFormat(CLI::App* cmd, Flags* f) {
  cmd->add_option("--format", f->format, "table or json")
      ->check(CLI::IsMember({"", "table", "json"}));
}

nlohmann::json ProtoJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(m, &out, o).ok()) return nullptr;
  return nlohmann::json::parse(out, nullptr, false);
}

int ContainersList(Env& env, const Flags& f) {
  absl::StatusOr<std::vector<ContainerRecord>> records = env.client().Containers().List(f.args);
  if (!records.ok()) return Fail(records.status());
  Table table({"CONTAINER", "IMAGE", "RUNTIME"});
  nlohmann::json out = nlohmann::json::array();
  for (const ContainerRecord& r : *records) {
    table.Row({r.id(), r.image().empty() ? "-" : r.image(), r.runtime().name()});
    out.push_back({{"id", r.id()},
                   {"image", r.image()},
                   {"runtime", r.runtime().name()},
                   {"snapshotter", r.snapshotter()},
                   {"snapshot_key", r.snapshot_key()},
                   {"labels", Labels(r.labels().begin(), r.labels().end())}});
  }
  if (f.format == "json") {
    PrintJson(out);
  } else {
    table.Print(stdout, f.quiet);
  }
  return 0;
}

int ContainerInfo(Env& env, const std::string& id) {
  absl::StatusOr<ContainerRecord> r = env.client().Containers().Get(id);
  if (!r.ok()) return Fail(r.status());
  nlohmann::json out = {{"ID", r->id()},
                        {"Labels", Labels(r->labels().begin(), r->labels().end())},
                        {"Image", r->image()},
                        {"Runtime", {{"Name", r->runtime().name()}}},
                        {"SnapshotKey", r->snapshot_key()},
                        {"Snapshotter", r->snapshotter()},
                        {"CreatedAt", FormatTime(FromProtoTime(r->created_at()))},
                        {"UpdatedAt", FormatTime(FromProtoTime(r->updated_at()))}};
  absl::StatusOr<std::string> spec = anytype::UnpackJson(r->spec(), anytype::kSpecTypeURL);
  out["Spec"] = spec.ok() ? nlohmann::json::parse(*spec, nullptr, false) : nlohmann::json(nullptr);
  PrintJson(out);
  return 0;
}

// ctr's `containers rm`: a stopped or created task goes with the container.
int ContainersRemove(Env& env, const Flags& f) {
  int code = 0;
  for (const std::string& id : f.args) {
    Container c(env.client(), id);
    absl::StatusOr<Task> task = c.GetTask();
    if (task.ok()) {
      absl::StatusOr<ProcessStatus> st = task->Status();
      if (st.ok() && (st->state == ProcessState::kStopped || st->state == ProcessState::kCreated)) {
        absl::StatusOr<ExitStatus> deleted = task->Delete(st->state == ProcessState::kCreated);
        if (!deleted.ok()) {
          code = Fail(deleted.status());
          continue;
        }
      } else {
        code = Fail(absl::FailedPreconditionError(fmt::format(
            "cannot delete a non stopped container {:?}: its task is {}", id,
            st.ok() ? ProcessStateName(st->state) : std::string(st.status().message()))));
        continue;
      }
    } else if (!IsNotFound(task.status())) {
      code = Fail(task.status());
      continue;
    }
    std::vector<DeleteOpt> opts;
    if (!f.keep_snapshot) opts.push_back(WithSnapshotCleanup);
    absl::Status s = c.Delete(opts);
    if (!s.ok()) {
      code = Fail(s);
      continue;
    }
  }
  return code;
}

int PsList(Env& env, const Flags& f) {
  const Client& client = env.client();
  absl::StatusOr<std::vector<ContainerRecord>> records = client.Containers().List(f.args);
  if (!records.ok()) return Fail(records.status());
  absl::StatusOr<std::vector<TaskSummary>> tasks = client.ListTasks();
  if (!tasks.ok()) return Fail(tasks.status());
  std::map<std::string, TaskSummary> by_id;
  for (const TaskSummary& t : *tasks) by_id[t.container_id] = t;
  Table table({"CONTAINER", "IMAGE", "STATUS", "PID"});
  nlohmann::json out = nlohmann::json::array();
  for (const ContainerRecord& r : *records) {
    auto it = by_id.find(r.id());
    std::string status = "-", pid = "-";
    nlohmann::json entry = {{"id", r.id()}, {"image", r.image()}};
    if (it != by_id.end()) {
      status = it->second.status;
      if (status == "STOPPED") status += fmt::format(" ({})", it->second.exit_status);
      pid = std::to_string(it->second.pid);
      entry["status"] = it->second.status;
      entry["pid"] = it->second.pid;
      if (it->second.status == "STOPPED") entry["exit_status"] = it->second.exit_status;
    } else {
      entry["status"] = nullptr;
    }
    table.Row({r.id(), r.image().empty() ? "-" : r.image(), status, pid});
    out.push_back(entry);
  }
  if (f.format == "json") {
    PrintJson(out);
  } else {
    table.Print(stdout, f.quiet);
  }
  return 0;
}

absl::StatusOr<Task> LoadTask(Env& env, const std::string& id) {
  Container c(env.client(), id);
  RETURN_IF_ERROR(c.Info().status());
  return c.GetTask();
}

int TasksKill(Env& env, const Flags& f) {
  if (f.args.size() != 1) return Usage("tasks kill: want one container id");
  std::string sig = f.signal;
  if (sig.empty()) {
    absl::StatusOr<Labels> labels = Container(env.client(), f.args[0]).GetLabels();
    if (!labels.ok()) return Fail(labels.status());
    auto it = labels->find("io.containerd.image.config.stop-signal");
    sig = it == labels->end() ? "SIGTERM" : it->second;
  }
  absl::StatusOr<int> signal = ParseSignal(sig);
  if (!signal.ok()) return Fail(signal.status());
  absl::StatusOr<Task> task = LoadTask(env, f.args[0]);
  if (!task.ok()) return Fail(task.status());
  absl::Status s;
  std::vector<KillOpt> opts;
  if (f.all) opts.push_back(WithKillAll);
  if (f.exec_id.empty()) {
    s = task->Kill(*signal, opts);
  } else {
    absl::StatusOr<Process> p = task->LoadProcess(f.exec_id);
    s = p.ok() ? p->Kill(*signal, opts) : p.status();
  }
  return s.ok() ? 0 : Fail(s);
}

int TasksRemove(Env& env, const Flags& f) {
  int code = 0;
  for (const std::string& id : f.args) {
    absl::StatusOr<Task> task = LoadTask(env, id);
    if (!task.ok()) {
      code = Fail(task.status());
      continue;
    }
    absl::StatusOr<ExitStatus> st = task->Delete(f.force);
    if (!st.ok()) {
      code = Fail(st.status());
      continue;
    }
    if (st->code != 0) {
      std::fprintf(stderr, "WARN: task %s exit with non-zero exit code %u\n", id.c_str(), st->code);
    }
  }
  return code;
}

int TasksList(Env& env, const Flags& f) {
  absl::StatusOr<std::vector<TaskSummary>> tasks = env.client().ListTasks();
  if (!tasks.ok()) return Fail(tasks.status());
  Table table({"TASK", "PID", "STATUS"});
  nlohmann::json out = nlohmann::json::array();
  for (const TaskSummary& t : *tasks) {
    table.Row({t.container_id, std::to_string(t.pid), t.status});
    out.push_back({{"id", t.container_id}, {"pid", t.pid}, {"status", t.status}});
  }
  if (f.format == "json") {
    PrintJson(out);
  } else {
    table.Print(stdout, f.quiet);
  }
  return 0;
}

int TasksPs(Env& env, const Flags& f) {
  if (f.args.size() != 1) return Usage("tasks ps: want one container id");
  absl::StatusOr<Task> task = LoadTask(env, f.args[0]);
  if (!task.ok()) return Fail(task.status());
  absl::StatusOr<std::vector<ProcessInfo>> pids = task->Pids();
  if (!pids.ok()) return Fail(pids.status());
  Table table({"PID", "INFO"});
  nlohmann::json out = nlohmann::json::array();
  for (const ProcessInfo& p : *pids) {
    table.Row({std::to_string(p.pid), p.exec_id.empty() ? "-" : "exec " + p.exec_id});
    out.push_back({{"pid", p.pid}, {"exec_id", p.exec_id}});
  }
  if (f.format == "json") {
    PrintJson(out);
  } else {
    table.Print();
  }
  return 0;
}

int TasksMetrics(Env& env, const Flags& f) {
  if (f.args.size() != 1) return Usage("tasks metrics: want one container id");
  absl::StatusOr<Task> task = LoadTask(env, f.args[0]);
  if (!task.ok()) return Fail(task.status());
  absl::StatusOr<TaskMetrics> m = task->Metrics();
  if (!m.ok()) return Fail(m.status());
  if (f.format == "json") {
    nlohmann::json out = {
        {"id", m->id}, {"timestamp", FormatTime(m->timestamp)}, {"type", m->type_url}};
    if (m->v1) out["data"] = ProtoJson(*m->v1);
    if (m->v2) out["data"] = ProtoJson(*m->v2);
    PrintJson(out);
    return 0;
  }
  Table head({"ID", "TIMESTAMP"});
  head.Row({m->id, FormatTime(m->timestamp)});
  head.Print();
  std::printf("\n");
  Table table({"METRIC", "VALUE"});
  if (m->v1) {
    const auto& v = *m->v1;
    table.Row({"memory.usage_in_bytes", std::to_string(v.memory().usage().usage())});
    table.Row({"memory.limit_in_bytes", std::to_string(v.memory().usage().limit())});
    table.Row({"memory.stat.cache", std::to_string(v.memory().total_cache())});
    table.Row({"cpuacct.usage", std::to_string(v.cpu().usage().total())});
    std::string per_cpu;
    for (uint64_t c : v.cpu().usage().per_cpu())
      per_cpu += (per_cpu.empty() ? "" : " ") + std::to_string(c);
    table.Row({"cpuacct.usage_percpu", "[" + per_cpu + "]"});
    table.Row({"pids.current", std::to_string(v.pids().current())});
    table.Row({"pids.limit", std::to_string(v.pids().limit())});
  } else if (m->v2) {
    const auto& v = *m->v2;
    table.Row({"memory.usage", std::to_string(v.memory().usage())});
    table.Row({"memory.usage_limit", std::to_string(v.memory().usage_limit())});
    table.Row({"memory.stat.anon", std::to_string(v.memory().anon())});
    table.Row({"cpu.usage_usec", std::to_string(v.cpu().usage_usec())});
    table.Row({"pids.current", std::to_string(v.pids().current())});
    table.Row({"pids.limit", std::to_string(v.pids().limit())});
  } else {
    return Fail(absl::UnimplementedError("cannot convert metric data " + m->type_url));
  }
  table.Print();
  return 0;
}

int TasksExec(Env& env, const Flags& f) {
  if (f.args.size() < 2) return Usage("tasks exec: want --exec-id ID CONTAINER CMD...");
  if (f.exec_id.empty()) return Usage("tasks exec: --exec-id is required");
  absl::StatusOr<Task> task = LoadTask(env, f.args[0]);
  if (!task.ok()) return Fail(task.status());
  std::vector<std::string> cmd(f.args.begin() + 1, f.args.end());
  absl::StatusOr<oci::Spec> process = task->ProcessSpec(cmd, f.tty);
  if (!process.ok()) return Fail(process.status());
  if (!f.cwd.empty()) (*process)["cwd"] = f.cwd;
  if (!f.env.empty()) {
    std::vector<std::string> current;
    if (process->contains("env")) current = (*process)["env"].get<std::vector<std::string>>();
    (*process)["env"] = oci::ReplaceOrAppendEnv(current, f.env);
  }
  cio::CreatorOptions co;
  co.fifo_dir = env.client().Options().fifo_dir;
  absl::StatusOr<Process> p =
      task->Exec(f.exec_id, *process, f.detach ? cio::NullIO() : cio::WithStdio(f.tty, co));
  if (!p.ok()) return Fail(p.status());
  if (f.detach) {
    absl::Status s = p->Start();
    return s.ok() ? 0 : Fail(s);
  }
  absl::StatusOr<uint32_t> code = Attach(*p, f.tty, [&] { return p->Start(); });
  absl::StatusOr<ExitStatus> deleted = p->Delete(/*force=*/!code.ok());
  if (!code.ok()) return Fail(code.status());
  if (!deleted.ok()) return Fail(deleted.status());
  return static_cast<int>(*code);
}

int TasksStart(Env& env, const Flags& f) {
  if (f.args.size() != 1) return Usage("tasks start: want one container id");
  absl::StatusOr<Container> c = env.client().LoadContainer(f.args[0]);
  if (!c.ok()) return Fail(c.status());
  if (f.detach) {
    absl::StatusOr<Task> task = c->NewTask(WithIO(cio::NullIO()));
    if (!task.ok()) return Fail(task.status());
    absl::Status s = task->Start();
    return s.ok() ? 0 : Fail(s);
  }
  std::vector<NewTaskOpt> opts = {WithStdio};
  if (f.tty) opts.push_back(WithTerminal);
  absl::StatusOr<Task> task = c->NewTask(opts);
  if (!task.ok()) return Fail(task.status());
  absl::StatusOr<uint32_t> code = Attach(*task, f.tty, [&] { return task->Start(); });
  absl::StatusOr<ExitStatus> deleted = task->Delete(/*force=*/!code.ok());
  if (!code.ok()) return Fail(code.status());
  if (!deleted.ok()) return Fail(deleted.status());
  return static_cast<int>(*code);
}

}  // namespace

void AddContainerCommands(CLI::App& app, Env& env) {
  CLI::App* c = app.add_subcommand("containers", "manage containers")->alias("c");
  c->alias("container");
  c->require_subcommand(1);

  auto lf = std::make_shared<Flags>();
  CLI::App* ls = c->add_subcommand("ls", "list containers [FILTER...]")->alias("list");
  ls->add_flag("-q,--quiet", lf->quiet, "print only the ids");
  AddFormat(ls, lf.get());
  ls->add_option("filters", lf->args, "filters");
  ls->callback([&env, lf] { env.exit_code = ContainersList(env, *lf); });

  auto id = std::make_shared<std::string>();
  CLI::App* info = c->add_subcommand("info", "a container's record and spec as JSON: ID");
  info->add_option("id", *id, "container id")->required();
  info->callback([&env, id] { env.exit_code = ContainerInfo(env, *id); });

  auto rf = std::make_shared<Flags>();
  CLI::App* rm = c->add_subcommand("rm", "delete containers: ID...")->alias("delete");
  rm->alias("remove");
  rm->add_flag("--keep-snapshot", rf->keep_snapshot, "keep the rootfs snapshot");
  rm->add_option("ids", rf->args, "container ids")->required();
  rm->callback([&env, rf] { env.exit_code = ContainersRemove(env, *rf); });

  auto label = std::make_shared<std::vector<std::string>>();
  CLI::App* l = c->add_subcommand("label", "set or clear labels: ID KEY=VALUE...");
  l->add_option("args", *label, "id and labels")->required()->expected(2, -1);
  l->callback([&env, label] {
    absl::StatusOr<Labels> labels = Container(env.client(), (*label)[0])
                                        .SetLabels(ParseLabels({label->begin() + 1, label->end()}));
    if (!labels.ok()) env.exit_code = Fail(labels.status());
  });

  auto pf = std::make_shared<Flags>();
  CLI::App* ps = app.add_subcommand("ps", "containers with their task's status and pid");
  ps->add_flag("-q,--quiet", pf->quiet, "print only the ids");
  AddFormat(ps, pf.get());
  ps->add_option("filters", pf->args, "filters");
  ps->callback([&env, pf] { env.exit_code = PsList(env, *pf); });
}

void AddTaskCommands(CLI::App& app, Env& env) {
  CLI::App* t = app.add_subcommand("tasks", "manage tasks")->alias("t");
  t->alias("task");
  t->require_subcommand(1);

  auto lf = std::make_shared<Flags>();
  CLI::App* ls = t->add_subcommand("ls", "list tasks")->alias("list");
  ls->add_flag("-q,--quiet", lf->quiet, "print only the ids");
  AddFormat(ls, lf.get());
  ls->callback([&env, lf] { env.exit_code = TasksList(env, *lf); });

  auto kf = std::make_shared<Flags>();
  CLI::App* kill = t->add_subcommand("kill", "signal a task: ID");
  kill->add_option("-s,--signal", kf->signal,
                   "signal (default: the image's stop signal, else SIGTERM)");
  kill->add_flag("-a,--all", kf->all, "every process of the container");
  kill->add_option("--exec-id", kf->exec_id, "an exec process instead of the init process");
  kill->add_option("id", kf->args, "container id")->required();
  kill->callback([&env, kf] { env.exit_code = TasksKill(env, *kf); });

  auto rf = std::make_shared<Flags>();
  CLI::App* rm = t->add_subcommand("rm", "delete stopped tasks: ID...")->alias("delete");
  rm->add_flag("-f,--force", rf->force, "kill a running task first");
  rm->add_option("ids", rf->args, "container ids")->required();
  rm->callback([&env, rf] { env.exit_code = TasksRemove(env, *rf); });

  auto psf = std::make_shared<Flags>();
  CLI::App* ps = t->add_subcommand("ps", "processes of a task: ID");
  AddFormat(ps, psf.get());
  ps->add_option("id", psf->args, "container id")->required();
  ps->callback([&env, psf] { env.exit_code = TasksPs(env, *psf); });

  auto mf = std::make_shared<Flags>();
  CLI::App* metrics = t->add_subcommand("metrics", "cgroup metrics of a task: ID")->alias("metric");
  AddFormat(metrics, mf.get());
  metrics->add_option("id", mf->args, "container id")->required();
  metrics->callback([&env, mf] { env.exit_code = TasksMetrics(env, *mf); });

  auto ef = std::make_shared<Flags>();
  CLI::App* exec = t->add_subcommand("exec", "run a process in a task: --exec-id E ID CMD...");
  exec->prefix_command();
  exec->fallthrough(false);
  exec->add_option("--exec-id", ef->exec_id, "id of the new process")->required();
  exec->add_flag("-t,--tty", ef->tty, "allocate a terminal");
  exec->add_flag("-d,--detach", ef->detach, "start and return");
  exec->add_option("--cwd", ef->cwd, "working directory");
  exec->add_option("--env", ef->env, "environment KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  exec->callback([&env, ef, exec] {
    Flags f = *ef;
    f.args = exec->remaining();
    env.exit_code = TasksExec(env, f);
  });

  auto sf = std::make_shared<Flags>();
  CLI::App* start = t->add_subcommand("start", "create and start a container's task: ID");
  start->add_flag("-t,--tty", sf->tty, "allocate a terminal");
  start->add_flag("-d,--detach", sf->detach, "start and return");
  start->add_option("id", sf->args, "container id")->required();
  start->callback([&env, sf] { env.exit_code = TasksStart(env, *sf); });

  for (const char* verb : {"pause", "resume"}) {
    auto pf = std::make_shared<Flags>();
    const std::string name = verb;
    CLI::App* cmd = t->add_subcommand(name, name + " a task: ID");
    cmd->add_option("id", pf->args, "container id")->required();
    cmd->callback([&env, pf, name] {
      absl::StatusOr<Task> task = LoadTask(env, pf->args[0]);
      if (!task.ok()) {
        env.exit_code = Fail(task.status());
        return;
      }
      absl::Status s = name == "pause" ? task->Pause() : task->Resume();
      if (!s.ok()) env.exit_code = Fail(s);
    });
  }
}

}  // namespace berth::cli
