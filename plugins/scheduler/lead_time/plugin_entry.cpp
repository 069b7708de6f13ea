// The one exported symbol of lead_time_scheduler.so. Kept apart so tests compile the class directly.
#include "lead_time_scheduler.hpp"

WARMUP_PLUGIN(warmup::plugins::LeadTimeScheduler, "org.warmup.scheduler.lead-time", "1.2.0",
              "Pre-warm ahead of the predicted use by the expected load time plus a margin; merge short gaps")
