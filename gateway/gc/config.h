// GcConfig: the `[gateway.gc]` table of berth's config file — when the gateway collects
// garbage (gateway/gc/README.md).
//
//   [gateway.gc]
//   automatic = true          # collect after deletions, on the schedule and at start
//   deletion_threshold = 0    # deleting calls that make a collection due; 0: off
//   mutation_threshold = 100  # writes that make one due, if one was a deletion; 0: off
//   interval = "1h"           # scheduled collections; "0s": none
//   max_time_percent = 2      # automatic collections take at most this share of wall time
//   trigger_delay = "100ms"   # after a deleting call; later ones within it share the run
//   startup_delay = "1s"      # first collection after start
//   ingest_expiry = "24h"     # unleased ingests idle this long are collected
//   timeout = "2m"            # deadline of each call to a backend during a collection
//
// Which backends take part is `collectable` in each [gateway.backends.<name>] table.
//
// Thread-safety: plain values.
#ifndef BERTH_GATEWAY_GC_CONFIG_H_
#define BERTH_GATEWAY_GC_CONFIG_H_

#include <chrono>
#include <cstdint>

#include "absl/status/statusor.h"
#include "lib/server/config.h"

namespace berth::gateway::gc {

struct GcConfig {
  // Collections after deletions (thresholds below), every `interval`, and `startup_delay`
  // after start. false: only deletes with `sync` and GatewayAdmin.GarbageCollect collect.
  bool automatic = true;
  // As containerd's GC scheduler: a collection is due after this many deleting calls
  // (Images.Delete, Leases.Delete, Containers.Delete, Snapshots.Remove, Content.Delete)
  // through the gateway; 0 (containerd's default): deletions alone never make one due.
  int64_t deletion_threshold = 0;
  // ... or after this many writes through the gateway, if at least one was a deletion
  // (containerd's default 100); 0: never.
  int64_t mutation_threshold = 100;
  // Between scheduled collections; 0: none (collections only follow deletions).
  std::chrono::nanoseconds interval = std::chrono::hours(1);
  // Automatic collections keep a pause after each one so that they take at most this
  // percentage of wall time (containerd's pause_threshold 0.02 = 2). 1..100.
  int64_t max_time_percent = 2;
  // Collections start this long after they became due (containerd's schedule_delay); what
  // comes meanwhile shares the collection.
  std::chrono::nanoseconds trigger_delay = std::chrono::milliseconds(100);
  // The first automatic collection after start.
  std::chrono::nanoseconds startup_delay = std::chrono::seconds(1);
  // Ingests no lease holds and nobody wrote for this long are collected (containerd's and
  // berth-content's own expiry: 24 h).
  std::chrono::nanoseconds ingest_expiry = std::chrono::hours(24);
  // Deadline of each call to a backend during a collection (a listing of many objects, a
  // sweep of many deletions).
  std::chrono::nanoseconds timeout = std::chrono::minutes(2);
};

// Parses a `[gateway.gc]` table (absent: the defaults). Errors name file, table and key:
//   config "/etc/berth/config.toml": [gateway.gc] max_time_percent: ...
[[nodiscard]] absl::StatusOr<GcConfig> ParseGcConfig(server::ConfigSection& section);

}  // namespace berth::gateway::gc

#endif  // BERTH_GATEWAY_GC_CONFIG_H_
