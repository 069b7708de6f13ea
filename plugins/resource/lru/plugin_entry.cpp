// The exported entry of lru_resource.so (kept apart so tests compile the class without the entry symbol).
#include "lru_resource.hpp"

WARMUP_PLUGIN(warmup::plugins::LruResource, "org.warmup.resource.lru", "1.0.0",
              "Evicts the least recently used ready model; caps the budget by the cgroup or machine memory")
