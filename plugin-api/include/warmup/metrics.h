/*
 * warmup/metrics.h — metrics plugin: counts what happened and renders it for /metrics.
 */
#ifndef WARMUP_METRICS_H
#define WARMUP_METRICS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum warmup_metric_kind {
    WARMUP_METRIC_REQUEST_WARM = 0,       /* requests that found their model ready; value = count */
    WARMUP_METRIC_REQUEST_COLD = 1,       /* requests that had to wait for a load; value = count */
    WARMUP_METRIC_COLD_WAIT_MS = 2,       /* wait of one cold request, ms (a histogram observation) */
    WARMUP_METRIC_WARMUP_STARTED = 3,     /* value = 1 */
    WARMUP_METRIC_WARMUP_SUCCEEDED = 4,   /* value = load time in ms */
    WARMUP_METRIC_WARMUP_FAILED = 5,      /* value = 1 */
    WARMUP_METRIC_EVICTION = 6,           /* an unload forced by the budget; value = memory_mb freed */
    WARMUP_METRIC_UNLOAD = 7,             /* an unload planned by the scheduler; value = memory_mb freed */
    WARMUP_METRIC_QUEUE_DEPTH = 8,        /* gauge: pending warm-ups */
    WARMUP_METRIC_QUEUE_REJECTED = 9,     /* value = 1 */
    WARMUP_METRIC_PREWARM_USED = 10,      /* a pre-warmed model served a request before leaving memory (precision) */
    WARMUP_METRIC_PREWARM_WASTED = 11,    /* a pre-warmed model left memory unused (precision) */
    WARMUP_METRIC_IDLE_GAP_WARM = 12,     /* a request after an idle gap longer than its load time found it ready
                                             thanks to a pre-warm (recall numerator) */
    WARMUP_METRIC_IDLE_GAP_REQUEST = 13,  /* any request after such an idle gap (recall denominator) */
    WARMUP_METRIC_DECISION_CYCLE_US = 14, /* duration of one control-loop step, microseconds */
    WARMUP_METRIC_EVENTS_ACCEPTED = 15,   /* value = number of usage events accepted */
    WARMUP_METRIC_RESIDENT_MB = 16,       /* gauge: memory held by ready and loading models */
    WARMUP_METRIC_PREWARM_SKIPPED = 17    /* a pre-warm that did not fit the budget; value = 1 */
} warmup_metric_kind;

typedef struct warmup_metric_event {
    uint32_t kind;            /* warmup_metric_kind */
    warmup_model_index model; /* WARMUP_NO_MODEL when not about one model */
    warmup_time_ms ts_ms;
    double value;
    warmup_string_view arm; /* experiment arm label, empty when none; borrowed for the call */
} warmup_metric_event;

typedef struct warmup_metrics_vtable {
    uint32_t struct_size;

    /* [control] Records a batch (borrowed for the call). */
    warmup_error *(*record)(void *self, const warmup_metric_event *events, size_t count);

    /* [control] Writes every metric in `format` ("prometheus": text exposition format 0.0.4) to `out`.
     * WARMUP_ERROR_UNSUPPORTED for an unknown format. */
    warmup_error *(*render)(void *self, const char *format, const warmup_byte_writer *out);
} warmup_metrics_vtable;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_METRICS_H */
