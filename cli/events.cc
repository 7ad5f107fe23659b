// berth events: the server's event stream, one line per event.
//
//   <timestamp> <namespace> <topic> <event as JSON>          (default, as ctr events)
//   {"timestamp":...,"namespace":...,"topic":...,"event":{...}}   (--format json)
//
// With --since SEQ the events come from the gateway's JetStream stream instead (berth.gateway.v1
// GatewayAdmin/ReplayEvents), from stream sequence SEQ on, each line led by its sequence
// (`<sequence> <timestamp> ...`; "sequence" in JSON); the command ends after the last stored
// event unless --follow, which goes on with new ones.
//
// Lines are flushed one by one so that a pipe reader sees each event as it arrives. Runs until
// interrupted or the server ends the stream (then exits 1 with the reason).
#include <optional>

#include "cli/cli.h"

namespace berth::cli {
namespace {

struct EventFlags {
  std::string format;
  std::vector<std::string> filters;
  std::optional<uint64_t> since;
  bool follow = false;
};

void Print(const EventFlags& f, const Envelope& e, std::optional<uint64_t> seq) {
  const std::string event = e.EventJson();
  if (f.format == "json") {
    nlohmann::json line = {{"timestamp", FormatTime(e.timestamp)},
                           {"namespace", e.ns},
                           {"topic", e.topic},
                           {"type", e.event.type_url()},
                           {"event", nlohmann::json::parse(event, nullptr, false)}};
    if (seq) line["sequence"] = *seq;
    std::printf("%s\n", line.dump().c_str());
  } else {
    std::string prefix = seq ? std::to_string(*seq) + " " : "";
    std::printf("%s%s %s %s %s\n", prefix.c_str(), FormatTime(e.timestamp).c_str(), e.ns.c_str(),
                e.topic.c_str(), event.c_str());
  }
  std::fflush(stdout);
}

int Replay(Env& env, const EventFlags& f) {
  absl::StatusOr<std::unique_ptr<EventReplay>> replay =
      env.client().ReplayEvents(*f.since, f.filters, f.follow);
  if (!replay.ok()) return Fail(replay.status());
  while (true) {
    absl::StatusOr<ReplayedEvent> e = (*replay)->Next();
    if (absl::IsOutOfRange(e.status()) && !f.follow) return 0;
    if (!e.ok()) return Fail(e.status());
    Print(f, e->envelope, e->sequence);
  }
}

int Events(Env& env, const EventFlags& f) {
  if (f.since) return Replay(env, f);
  if (f.follow) return Usage("events: --follow goes with --since");
  absl::StatusOr<std::unique_ptr<EventStream>> stream = env.client().Subscribe(f.filters);
  if (!stream.ok()) return Fail(stream.status());
  while (true) {
    absl::StatusOr<Envelope> e = (*stream)->Next();
    if (!e.ok()) return Fail(e.status());
    Print(f, *e, std::nullopt);
  }
}

}  // namespace

void AddEventCommands(CLI::App& app, Env& env) {
  auto f = std::make_shared<EventFlags>();
  CLI::App* ev = app.add_subcommand("events", "print the server's events [FILTER...]");
  ev->alias("event");
  ev->add_option("--format", f->format, "text (default) or json (one object per line)")
      ->check(CLI::IsMember({"", "text", "json"}));
  ev->add_flag_callback(
      "--json", [f] { f->format = "json"; }, "same as --format json");
  ev->add_option_function<uint64_t>(
      "--since", [f](const uint64_t& seq) { f->since = seq; },
      "replay the events the gateway keeps from stream sequence SEQ on (0: the oldest), each "
      "line led by its sequence; ends after the last one unless --follow");
  ev->add_flag("-f,--follow", f->follow, "with --since: then print new events as they come");
  ev->add_option("filters", f->filters,
                 "filters, e.g. 'topic==\"/tasks/exit\"' 'namespace==default' (ORed)");
  ev->callback([&env, f] { env.exit_code = Events(env, *f); });
}

}  // namespace berth::cli
