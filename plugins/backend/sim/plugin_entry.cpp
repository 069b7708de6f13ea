// The exported entry of sim_backend.so (kept apart so tests compile the class without it).
#include "sim_backend.hpp"

WARMUP_PLUGIN(warmup::plugins::SimBackend, "org.warmup.backend.sim", "1.0.0",
              "Simulated model server: catalog load times, optional jitter and injected failures, replay support")
