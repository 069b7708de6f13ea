// The exported entry of prometheus_metrics.so (kept apart so tests compile the class without it).
#include "prometheus_metrics.hpp"

WARMUP_PLUGIN(warmup::plugins::PrometheusMetrics, "org.warmup.metrics.prometheus", "1.1.0",
              "Counters, gauges and histograms per experiment arm in the Prometheus text format 0.0.4")
