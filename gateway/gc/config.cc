#include "gateway/gc/config.h"

#include "lib/status/status.h"

namespace berth::gateway::gc {

absl::StatusOr<GcConfig> ParseGcConfig(server::ConfigSection& s) {
  GcConfig c;
  ASSIGN_OR_RETURN(c.automatic, s.GetBool("automatic", c.automatic));
  ASSIGN_OR_RETURN(c.deletion_threshold,
                   s.GetInt("deletion_threshold", c.deletion_threshold, 0, 1000000000));
  ASSIGN_OR_RETURN(c.mutation_threshold,
                   s.GetInt("mutation_threshold", c.mutation_threshold, 0, 1000000000));
  ASSIGN_OR_RETURN(c.interval, s.GetDuration("interval", c.interval));
  if (c.interval > std::chrono::nanoseconds(0) && c.interval < std::chrono::seconds(1)) {
    return s.InvalidValue("interval", "must be 0 (none) or at least 1s");
  }
  ASSIGN_OR_RETURN(c.max_time_percent, s.GetInt("max_time_percent", c.max_time_percent, 1, 100));
  ASSIGN_OR_RETURN(c.trigger_delay, s.GetDuration("trigger_delay", c.trigger_delay));
  ASSIGN_OR_RETURN(c.startup_delay, s.GetDuration("startup_delay", c.startup_delay));
  ASSIGN_OR_RETURN(c.ingest_expiry, s.GetDuration("ingest_expiry", c.ingest_expiry));
  ASSIGN_OR_RETURN(c.timeout, s.GetDuration("timeout", c.timeout));
  if (c.timeout < std::chrono::seconds(1)) return s.InvalidValue("timeout", "must be at least 1s");
  return c;
}

}  // namespace berth::gateway::gc
