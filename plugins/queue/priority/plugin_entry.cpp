// The exported entry of priority_queue.so (kept apart so tests compile the class without it).
#include "priority_queue.hpp"

WARMUP_PLUGIN(warmup::plugins::PriorityQueue, "org.warmup.queue.priority", "1.0.0",
              "Warm-up queue ordered by Strict priority, WeightedFair queuing across classes, or EDF")
