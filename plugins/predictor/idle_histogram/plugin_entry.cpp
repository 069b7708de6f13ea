// The one exported symbol of idle_histogram_predictor.so. The class lives in idle_histogram_predictor.cpp so unit
// tests can compile it directly without this entry point.
#include "idle_histogram_predictor.hpp"

WARMUP_PLUGIN(warmup::plugins::IdleHistogramPredictor, "org.warmup.predictor.idle-histogram", "1.1.0",
              "Cost-aware idle-time histogram policy: keep-alive and pre-warm windows per model, calendar fallback")
