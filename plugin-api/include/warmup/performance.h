/*
 * warmup/performance.h — performance plugin: how long a model takes to load and how much memory it needs.
 */
#ifndef WARMUP_PERFORMANCE_H
#define WARMUP_PERFORMANCE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct warmup_performance_estimate {
    uint32_t struct_size;
    warmup_model_index model;
    double load_ms;    /* expected cold-load time */
    double unload_ms;  /* expected unload time */
    double memory_mb;  /* expected resident memory once loaded, MiB */
    double confidence; /* 0..1: 0 = catalog figures only, 1 = well measured */
} warmup_performance_estimate;

/* One finished warm-up as the worker measured it. */
typedef struct warmup_load_observation {
    uint32_t struct_size;
    warmup_model_index model;
    warmup_time_ms finished_ms;
    double load_ms;     /* measured wall (or virtual) time of the load */
    double memory_mb;   /* measured resident memory, or <= 0 when the backend cannot tell */
    uint32_t succeeded; /* 1 = loaded, 0 = failed */
} warmup_load_observation;

typedef struct warmup_performance_vtable {
    uint32_t struct_size;

    /* [control] Estimates for `model` now. Fills `out` (caller sets out->struct_size). */
    warmup_error *(*estimate)(void *self, warmup_model_index model, warmup_performance_estimate *out);

    /* [control] Learns from a finished warm-up (borrowed for the call). */
    warmup_error *(*observe_load)(void *self, const warmup_load_observation *observation);
} warmup_performance_vtable;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_PERFORMANCE_H */
