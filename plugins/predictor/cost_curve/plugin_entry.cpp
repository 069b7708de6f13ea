// The one exported symbol of cost_curve_predictor.so. Kept apart from the class so tests compile the class directly.
#include "cost_curve_predictor.hpp"

WARMUP_PLUGIN(warmup::plugins::CostCurvePredictor, "org.warmup.predictor.cost-curve", "1.12.0",
              "Per-model keep time and pre-warm window chosen on each model's own cold-request and memory-time "
              "curves, inside the memory of a 20-minute keep-alive")
