// The one exported symbol of calibrated_performance.so. Kept apart so tests compile the class directly.
#include "calibrated_performance.hpp"

WARMUP_PLUGIN(warmup::plugins::CalibratedPerformance, "org.warmup.performance.calibrated", "1.0.0",
              "Catalog load time and memory, corrected online by an EWMA of measured warm-ups")
