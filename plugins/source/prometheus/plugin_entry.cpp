// The exported entry of prometheus_source.so (kept apart so tests compile the class without it).
#include "prometheus_source.hpp"

WARMUP_PLUGIN(warmup::plugins::PrometheusSource, "org.warmup.source.prometheus", "1.0.0",
              "Scrapes a model server's Prometheus metrics: the increase of a per-model request counter as events")
