#include "lib/events/topics.h"

#include "lib/identifiers/identifiers.h"
#include "lib/status/status.h"

namespace berth::events {
namespace {

// One subject token: '.' would split it, so it is escaped as "%2E".
void AppendToken(std::string* out, std::string_view token) {
  for (char c : token) {
    if (c == '.') {
      *out += "%2E";
    } else {
      *out += c;
    }
  }
}

}  // namespace

absl::Status ValidateTopic(std::string_view topic) {
  if (topic.empty()) return InvalidArgumentError("topic: must not be empty");
  if (topic[0] != '/')
    return InvalidArgumentError("topic " + Quote(topic) + ": must start with '/'");
  if (topic.size() == 1) {
    return InvalidArgumentError("topic " + Quote(topic) + ": must have at least one component");
  }
  std::string_view rest = topic.substr(1);
  for (;;) {
    const size_t slash = rest.find('/');
    const std::string_view component = rest.substr(0, slash);
    absl::Status s = identifiers::Validate(component);
    if (!s.ok()) return Annotate(s, "topic " + Quote(topic));
    if (slash == std::string_view::npos) return absl::OkStatus();
    rest = rest.substr(slash + 1);
  }
}

absl::Status ValidateNamespace(std::string_view ns) {
  absl::Status s = identifiers::Validate(ns);
  if (!s.ok()) return Annotate(s, "namespace");
  return absl::OkStatus();
}

std::string SubjectFor(std::string_view ns, std::string_view topic) {
  std::string subject = kSubjectPrefix;
  subject += '.';
  AppendToken(&subject, ns);
  std::string_view rest = topic.substr(topic.empty() || topic[0] != '/' ? 0 : 1);
  for (;;) {
    const size_t slash = rest.find('/');
    subject += '.';
    AppendToken(&subject, rest.substr(0, slash));
    if (slash == std::string_view::npos) return subject;
    rest = rest.substr(slash + 1);
  }
}

std::string NamespaceSubject(std::string_view ns) {
  std::string subject = kSubjectPrefix;
  subject += '.';
  AppendToken(&subject, ns);
  subject += ".>";
  return subject;
}

}  // namespace berth::events
