// The exported entry of prometheus_metrics_sink.so (kept apart so tests compile the class without it).
#include "prometheus_metrics_sink.hpp"

WARMUP_PLUGIN(warmup::plugins::PrometheusMetricsSink, "org.warmup.metrics.prometheus", "1.1.0",
              "Counters, gauges and histograms per experiment arm in the Prometheus text format 0.0.4")
