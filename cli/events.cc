// berth events: the server's event stream, one line per event.
//
//   <timestamp> <namespace> <topic> <event as JSON>          (default, as ctr events)
//   {"timestamp":...,"namespace":...,"topic":...,"event":{...}}   (--format json)
//
// Lines are flushed one by one so that a pipe reader sees each event as it arrives. Runs until
// interrupted or the server ends the stream (then exits 1 with the reason).
#include "cli/cli.h"

namespace berth::cli {
namespace {

struct EventFlags {
  std::string format;
  std::vector<std::string> filters;
};

int Events(Env& env, const EventFlags& f) {
  absl::StatusOr<std::unique_ptr<EventStream>> stream = env.client().Subscribe(f.filters);
  if (!stream.ok()) return Fail(stream.status());
  while (true) {
    absl::StatusOr<Envelope> e = (*stream)->Next();
    if (!e.ok()) return Fail(e.status());
    const std::string event = e->EventJson();
    if (f.format == "json") {
      nlohmann::json line = {{"timestamp", FormatTime(e->timestamp)},
                             {"namespace", e->ns},
                             {"topic", e->topic},
                             {"type", e->event.type_url()},
                             {"event", nlohmann::json::parse(event, nullptr, false)}};
      std::printf("%s\n", line.dump().c_str());
    } else {
      std::printf("%s %s %s %s\n", FormatTime(e->timestamp).c_str(), e->ns.c_str(),
                  e->topic.c_str(), event.c_str());
    }
    std::fflush(stdout);
  }
}

}  // namespace

void AddEventCommands(CLI::App& app, Env& env) {
  auto f = std::make_shared<EventFlags>();
  CLI::App* ev = app.add_subcommand("events", "print the server's events [FILTER...]");
  ev->alias("event");
  ev->add_option("--format", f->format, "text (default) or json (one object per line)")
      ->check(CLI::IsMember({"", "text", "json"}));
  ev->add_flag_callback("--json", [f] { f->format = "json"; }, "same as --format json");
  ev->add_option("filters", f->filters,
                 "filters, e.g. 'topic==\"/tasks/exit\"' 'namespace==default' (ORed)");
  ev->callback([&env, f] { env.exit_code = Events(env, *f); });
}

}  // namespace berth::cli
