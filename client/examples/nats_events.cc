// Reads berth's events straight from NATS — no gateway, no `nats` CLI — as a monitoring tool
// would. Every berth process publishes each event on `berth.events.<namespace>.<topic>`
// (topic "/tasks/exit" -> "tasks.exit"); the payload is containerd's Envelope (timestamp,
// namespace, topic, event as Any) and the headers Berth-Topic and Berth-Namespace repeat the
// topic and namespace for tools that do not decode protobuf.
//
//   berth-example-nats-events [NATS_URL [SUBJECT]]
//
// NATS_URL defaults to nats://127.0.0.1:4222 (`deploy/berth-up status ROOT` prints the local
// suite's); SUBJECT to "berth.events.>" (every namespace and topic); "berth.events.demo.tasks.>"
// would be the task events of namespace demo. Runs until interrupted.
#include <nats/nats.h>

#include <cstdio>
#include <string>

#include "proto/containerd/services/events/v1/events.pb.h"

int main(int argc, char** argv) {
  const char* url = argc > 1 ? argv[1] : "nats://127.0.0.1:4222";
  const char* subject = argc > 2 ? argv[2] : "berth.events.>";
  natsConnection* nc = nullptr;
  natsSubscription* sub = nullptr;
  natsStatus s = natsConnection_ConnectTo(&nc, url);
  if (s == NATS_OK) s = natsConnection_SubscribeSync(&sub, nc, subject);
  while (s == NATS_OK || s == NATS_TIMEOUT) {
    natsMsg* msg = nullptr;
    s = natsSubscription_NextMsg(&msg, sub, 60 * 1000);
    if (s != NATS_OK) continue;
    containerd::services::events::v1::Envelope envelope;
    if (envelope.ParseFromArray(natsMsg_GetData(msg), natsMsg_GetDataLength(msg))) {
      std::printf("%s  %-12s %-20s %s\n", natsMsg_GetSubject(msg), envelope.namespace_().c_str(),
                  envelope.topic().c_str(), envelope.event().type_url().c_str());
      std::fflush(stdout);
    }
    natsMsg_Destroy(msg);
  }
  std::fprintf(stderr, "nats %s: %s\n", url, natsStatus_GetText(s));
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);
  return 1;
}
