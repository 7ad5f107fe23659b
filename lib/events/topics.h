// Event topics, namespaces and the NATS subjects and headers berth publishes them under.
//
// A containerd topic is `/`-separated identifier components (`/tasks/exit`,
// `/snapshot/prepare`, `/tasks/exec-added`). berth publishes an event of namespace `ns` and
// topic `/a/b` on the NATS subject
//
//   berth.events.<ns>.<a>.<b>          e.g. ns "default", "/tasks/exit"
//                                           -> "berth.events.default.tasks.exit"
//
// with NATS headers Berth-Namespace and Berth-Topic carrying the exact namespace and topic.
//
// Identifiers may contain '.', which is NATS's token separator: "k8s.io" (the CRI namespace)
// would otherwise make `berth.events.k8s.io.tasks.exit` indistinguishable from namespace
// "k8s" with topic "/io/tasks/exit", and a subscription to one namespace (`berth.events.k8s.>`)
// would receive another's events. So inside a token '.' is written as "%2E" (identifiers can
// never contain '%'): "k8s.io" -> `berth.events.k8s%2Eio.tasks.exit`. Names without dots —
// the common case — appear unchanged.
//
// Thread-safety: pure functions.
#ifndef BERTH_LIB_EVENTS_TOPICS_H_
#define BERTH_LIB_EVENTS_TOPICS_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace berth::events {

// Subject every berth event is published under, and the wildcard that matches them all.
inline constexpr char kSubjectPrefix[] = "berth.events";
inline constexpr char kAllEventsSubject[] = "berth.events.>";

// NATS message headers on every event.
inline constexpr char kTopicHeader[] = "Berth-Topic";
inline constexpr char kNamespaceHeader[] = "Berth-Namespace";

// containerd's topic rule: starts with '/', at least one component, every component a valid
// identifier (lib/identifiers). InvalidArgument naming the topic otherwise.
[[nodiscard]] absl::Status ValidateTopic(std::string_view topic);

// A namespace must be a valid identifier. InvalidArgument naming it otherwise.
[[nodiscard]] absl::Status ValidateNamespace(std::string_view ns);

// The NATS subject for an event of `ns` on `topic`, both already validated.
std::string SubjectFor(std::string_view ns, std::string_view topic);

// The subject matching every event of one namespace: `berth.events.<ns>.>`. `ns` must be
// valid.
std::string NamespaceSubject(std::string_view ns);

}  // namespace berth::events

#endif  // BERTH_LIB_EVENTS_TOPICS_H_
