// The one exported symbol of keep_alive_predictor.so. Kept apart from the class so tests compile the class directly.
#include "keep_alive_predictor.hpp"

WARMUP_PLUGIN(warmup::plugins::KeepAlivePredictor, "org.warmup.predictor.keep-alive", "1.0.0",
              "Fixed keep-alive after last use (default 5 min, or never), no pre-warming")
