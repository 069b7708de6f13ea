// The one exported symbol of hybrid_histogram_predictor.so. Kept apart so tests compile the class directly.
#include "hybrid_histogram_predictor.hpp"

WARMUP_PLUGIN(warmup::plugins::HybridHistogramPredictor, "org.warmup.predictor.hybrid-histogram", "1.0.0",
              "Hybrid histogram keep-alive / pre-warm policy (Shahrad et al., USENIX ATC 2020)")
