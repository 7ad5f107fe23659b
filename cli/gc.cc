// berth gc: runs a garbage collection on the gateway now and prints what it removed.
//
//   berth gc [--dry-run] [-v] [--format table|json]
//
// The table has one row per object type (removed, bytes, failed); -v also lists every object
// removed (the gateway reports at most 1000). With --dry-run nothing is deleted and the rows
// say what a collection would remove. Exit status 1 when the call fails or when some
// deletions failed; backends that were down are reported ("postponed") but are not an error,
// as the gateway retries them on its next run.
#include <google/protobuf/util/json_util.h>

#include <memory>

#include "cli/cli.h"

namespace berth::cli {
namespace {

struct GcFlags {
  bool dry_run = false;
  bool verbose = false;
  std::string format;
};

void PrintReport(const GcReport& report, bool verbose) {
  std::printf("%s in %.3f s: %lld objects, %lld reachable, %lld kept as newer, %lld in use\n",
              report.dry_run() ? "marked (dry run)" : "collected",
              static_cast<double>(report.duration_nanos()) / 1e9,
              static_cast<long long>(report.objects()), static_cast<long long>(report.marked()),
              static_cast<long long>(report.kept_newer()),
              static_cast<long long>(report.in_use()));
  Table table({"TYPE", report.dry_run() ? "WOULD REMOVE" : "REMOVED", "SIZE", "FAILED"});
  for (const auto& t : report.removed()) {
    table.Row({t.type(), std::to_string(t.removed()), HumanSize(t.bytes()),
               std::to_string(t.failed())});
  }
  if (report.removed_size() > 0) table.Print();
  for (const std::string& lease : report.expired_leases()) {
    std::printf("expired lease %s\n", lease.c_str());
  }
  for (const std::string& p : report.postponed()) std::printf("postponed: %s\n", p.c_str());
  for (const std::string& e : report.errors()) std::fprintf(stderr, "error: %s\n", e.c_str());
  if (verbose) {
    for (const auto& o : report.removed_objects()) {
      std::printf("%s %s/%s\n", report.dry_run() ? "would remove" : "removed",
                  o.namespace_().c_str(), (o.type() + "/" + o.id()).c_str());
    }
    if (report.removed_objects_truncated()) std::printf("(list truncated)\n");
  }
}

}  // namespace

void AddGcCommand(CLI::App& app, Env& env) {
  auto flags = std::make_shared<GcFlags>();
  CLI::App* gc = app.add_subcommand("gc", "collect garbage now: unreferenced content, "
                                          "snapshots, ingests and expired leases");
  gc->add_flag("--dry-run", flags->dry_run, "only mark: show what would be removed");
  gc->add_flag("-v,--verbose", flags->verbose, "list every object removed");
  gc->add_option("--format", flags->format, "table or json")
      ->check(CLI::IsMember({"", "table", "json"}));
  gc->callback([&env, flags] {
    absl::StatusOr<GcReport> report = env.client().GarbageCollect(flags->dry_run);
    if (!report.ok()) {
      env.exit_code = Fail(report.status());
      return;
    }
    if (flags->format == "json") {
      std::string json;
      google::protobuf::util::JsonPrintOptions options;
      options.add_whitespace = true;
      options.preserve_proto_field_names = true;
      (void)google::protobuf::util::MessageToJsonString(*report, &json, options);
      std::printf("%s", json.c_str());
    } else {
      PrintReport(*report, flags->verbose);
    }
    int64_t failed = 0;
    for (const auto& t : report->removed()) failed += t.failed();
    if (failed > 0) env.exit_code = 1;
  });
}

}  // namespace berth::cli
