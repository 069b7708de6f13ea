// The exported entry of value_resource.so (kept apart so tests compile the class without it).
#include "value_resource.hpp"

WARMUP_PLUGIN(warmup::plugins::ValueResource, "org.warmup.resource.value", "1.2.0",
              "Evicts the ready model whose next use within the horizon avoids the fewest cold requests per MiB")
