// The exported entry of value_resource.so (kept apart so tests compile the class without it).
#include "value_resource.hpp"

WARMUP_PLUGIN(
    warmup::plugins::ValueResource, "org.warmup.resource.value", "1.7.0",
    "Evicts by predicted value per MiB, LRU or Greedy-Dual, whichever a shadow cache shows missing least lately")
