// The exported entry of greedy_dual_resource.so (kept apart so tests compile the class without it).
#include "greedy_dual_resource.hpp"

WARMUP_PLUGIN(warmup::plugins::GreedyDualResource, "org.warmup.resource.greedy-dual", "1.0.0",
              "FaasCache Greedy-Dual keep-alive: evicts the lowest clock + frequency x load cost / memory")
