// berth namespaces|ns, leases, version, info.
#include "cli/cli.h"
#include "fmt/format.h"

namespace berth::cli {
namespace {

struct ListFlags {
  bool quiet = false;
  std::string format;
  std::vector<std::string> args;
};

void AddListFlags(CLI::App* cmd, ListFlags* f) {
  cmd->add_flag("-q,--quiet", f->quiet, "print only the names");
  cmd->add_option("--format", f->format, "output format: table (default) or json")
      ->check(CLI::IsMember({"", "table", "json"}));
}

int NamespacesList(Env& env, const ListFlags& f) {
  NamespaceService service = env.client().Namespaces();
  absl::StatusOr<std::vector<std::string>> names = service.List();
  if (!names.ok()) return Fail(names.status());
  Table table({"NAME", "LABELS"});
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& n : *names) {
    Labels labels;
    if (!f.quiet) {
      absl::StatusOr<Labels> l = service.GetLabels(n);
      if (!l.ok()) return Fail(l.status());
      labels = *l;
    }
    table.Row({n, FormatLabels(labels)});
    out.push_back({{"name", n}, {"labels", labels}});
  }
  if (f.format == "json") {
    PrintJson(out);
  } else {
    table.Print(stdout, f.quiet);
  }
  return 0;
}

int LeasesList(Env& env, const ListFlags& f) {
  absl::StatusOr<std::vector<Lease>> leases = env.client().Leases().List(f.args);
  if (!leases.ok()) return Fail(leases.status());
  Table table({"ID", "CREATED AT", "LABELS"});
  nlohmann::json out = nlohmann::json::array();
  for (const Lease& l : *leases) {
    table.Row({l.id, FormatTime(l.created_at), FormatLabels(l.labels)});
    out.push_back({{"id", l.id}, {"created_at", FormatTime(l.created_at)}, {"labels", l.labels}});
  }
  if (f.format == "json") {
    PrintJson(out);
  } else {
    table.Print(stdout, f.quiet);
  }
  return 0;
}

}  // namespace

void AddNamespaceCommands(CLI::App& app, Env& env) {
  CLI::App* ns = app.add_subcommand("namespaces", "manage namespaces")->alias("ns");
  ns->alias("namespace");
  ns->require_subcommand(1);

  auto list = std::make_shared<ListFlags>();
  CLI::App* ls = ns->add_subcommand("ls", "list namespaces")->alias("list");
  AddListFlags(ls, list.get());
  ls->callback([&env, list] { env.exit_code = NamespacesList(env, *list); });

  auto create = std::make_shared<std::vector<std::string>>();
  CLI::App* c = ns->add_subcommand("create", "create a namespace: NAME [KEY=VALUE...]");
  c->add_option("args", *create, "name and labels")->required();
  c->callback([&env, create] {
    std::vector<std::string> labels(create->begin() + 1, create->end());
    absl::Status s = env.client().Namespaces().Create((*create)[0], ParseLabels(labels));
    env.exit_code = s.ok() ? 0 : Fail(s);
  });

  auto rm = std::make_shared<std::vector<std::string>>();
  CLI::App* r = ns->add_subcommand("rm", "remove namespaces: NAME...")->alias("remove");
  r->add_option("names", *rm, "namespaces")->required();
  r->callback([&env, rm] {
    int code = 0;
    for (const std::string& n : *rm) {
      absl::Status s = env.client().Namespaces().Delete(n);
      if (s.ok()) {
        std::printf("%s\n", n.c_str());
      } else {
        code = Fail(s);
      }
    }
    env.exit_code = code;
  });

  auto label = std::make_shared<std::vector<std::string>>();
  CLI::App* l = ns->add_subcommand("label", "set or clear labels: NAME KEY=VALUE...");
  l->add_option("args", *label, "name and labels")->required()->expected(2, -1);
  l->callback([&env, label] {
    std::vector<std::string> labels(label->begin() + 1, label->end());
    for (const auto& [k, v] : ParseLabels(labels)) {
      absl::Status s = env.client().Namespaces().SetLabel((*label)[0], k, v);
      if (!s.ok()) {
        env.exit_code = Fail(s);
        return;
      }
    }
  });
}

void AddLeaseCommands(CLI::App& app, Env& env) {
  CLI::App* leases = app.add_subcommand("leases", "manage leases");
  leases->require_subcommand(1);
  auto list = std::make_shared<ListFlags>();
  CLI::App* ls = leases->add_subcommand("ls", "list leases [FILTER...]")->alias("list");
  AddListFlags(ls, list.get());
  ls->add_option("filters", list->args, "filters");
  ls->callback([&env, list] { env.exit_code = LeasesList(env, *list); });

  struct CreateFlags {
    std::string id;
    int expire_seconds = 86400;
    std::vector<std::string> labels;
  };
  auto cf = std::make_shared<CreateFlags>();
  CLI::App* c = leases->add_subcommand("create", "create a lease [KEY=VALUE...]");
  c->add_option("--id", cf->id, "lease id (default: made up)");
  c->add_option("--expires", cf->expire_seconds, "expiry in seconds (0: none)")
      ->capture_default_str();
  c->add_option("labels", cf->labels, "labels");
  c->callback([&env, cf] {
    LeaseOptions o;
    o.id = cf->id;
    o.labels = ParseLabels(cf->labels);
    o.expire = std::chrono::seconds(cf->expire_seconds);
    absl::StatusOr<Lease> l = env.client().Leases().Create(o);
    if (!l.ok()) {
      env.exit_code = Fail(l.status());
      return;
    }
    std::printf("%s\n", l->id.c_str());
  });

  struct RmFlags {
    bool sync = false;
    std::vector<std::string> ids;
  };
  auto rf = std::make_shared<RmFlags>();
  CLI::App* r = leases->add_subcommand("rm", "delete leases: ID...")->alias("delete");
  r->add_flag("--sync", rf->sync, "collect garbage before returning");
  r->add_option("ids", rf->ids, "lease ids")->required();
  r->callback([&env, rf] {
    for (const std::string& id : rf->ids) {
      absl::Status s = env.client().Leases().Delete(id, rf->sync);
      if (!s.ok()) {
        env.exit_code = Fail(s);
      } else {
        std::printf("%s\n", id.c_str());
      }
    }
  });
}

void AddVersionCommands(CLI::App& app, Env& env) {
  CLI::App* v = app.add_subcommand("version", "client and server versions");
  v->callback([&env] {
    std::printf("Client:\n  Version:  berth 0.1.0\n\n");
    absl::StatusOr<VersionInfo> server = env.client().Version();
    if (!server.ok()) {
      env.exit_code = Fail(server.status());
      return;
    }
    absl::StatusOr<std::string> uuid = env.client().ServerUUID();
    std::printf("Server:\n  Version:  %s\n  Revision: %s\n  UUID: %s\n", server->version.c_str(),
                server->revision.c_str(), uuid.ok() ? uuid->c_str() : "");
  });

  auto format = std::make_shared<std::string>();
  CLI::App* info = app.add_subcommand("info", "the server's health and plugins (services)");
  info->add_option("--format", *format, "table or json")
      ->check(CLI::IsMember({"", "table", "json"}));
  info->callback([&env, format] {
    const Client& c = env.client();
    absl::StatusOr<bool> serving = c.IsServing();
    if (!serving.ok()) {
      env.exit_code = Fail(serving.status());
      return;
    }
    absl::StatusOr<VersionInfo> version = c.Version();
    absl::StatusOr<std::vector<std::pair<std::string, std::string>>> plugins = c.Plugins();
    if (!plugins.ok()) {
      env.exit_code = Fail(plugins.status());
      return;
    }
    if (*format == "json") {
      nlohmann::json out = {{"address", env.globals.address},
                            {"serving", *serving},
                            {"version", version.ok() ? version->version : ""},
                            {"plugins", nlohmann::json::array()}};
      for (const auto& [name, err] : *plugins) {
        out["plugins"].push_back({{"plugin", name}, {"error", err}});
      }
      PrintJson(out);
      return;
    }
    std::printf("address:  %s\nserving:  %s\nversion:  %s\n\n", env.globals.address.c_str(),
                *serving ? "yes" : "no", version.ok() ? version->version.c_str() : "?");
    Table table({"PLUGIN", "STATUS"});
    for (const auto& [name, err] : *plugins)
      table.Row({name, err.empty() ? "ok" : "error: " + err});
    table.Print();
    if (!*serving) env.exit_code = 1;
  });
}

}  // namespace berth::cli
