// The exported entry of tail_source.so (kept apart so tests compile the class without it).
#include "tail_source.hpp"

WARMUP_PLUGIN(warmup::plugins::TailSource, "org.warmup.source.tail", "1.0.0",
              "Follows a JSON-lines access log (rotation-safe, position kept in the state folder): one event per line")
