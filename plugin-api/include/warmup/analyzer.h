/*
 * warmup/analyzer.h — analyzer: turns usage events into a per-model pattern.
 */
#ifndef WARMUP_ANALYZER_H
#define WARMUP_ANALYZER_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One usage observation: `count` requests for `model` at `ts_ms`. */
typedef struct warmup_usage_event {
    warmup_time_ms ts_ms;
    warmup_model_index model;
    uint32_t count;       /* >= 1 */
    uint32_t tenant_hash; /* stable hash of the tenant name, 0 when none */
    uint32_t reserved;    /* 0 */
} warmup_usage_event;

/* Which model tends to follow this one (within the analyzer's follow window). */
typedef struct warmup_follower {
    warmup_model_index model;
    float share; /* fraction of this model's requests that were followed by `model`, 0..1 */
} warmup_follower;

/* What the analyzer learned about one model. Filled by get_pattern; every pointer inside is owned by the analyzer
 * instance and valid until its next observe, reset or destroy call (borrowed by the reader). */
typedef struct warmup_usage_pattern {
    uint32_t struct_size;
    warmup_model_index model;
    uint64_t request_count;          /* requests observed in total */
    warmup_time_ms first_seen_ms;    /* WARMUP_TIME_NEVER if never seen */
    warmup_time_ms last_seen_ms;     /* WARMUP_TIME_NEVER if never seen */
    warmup_time_ms previous_seen_ms; /* the arrival before last_seen_ms (distinct timestamp), or NEVER */
    double ewma_rate_per_s;          /* exponentially weighted request rate as of last_seen_ms */

    /* Idle-time histogram: idle_histogram[i] counts idle gaps (time between two consecutive distinct arrival
     * timestamps) in [i*idle_bin_ms, (i+1)*idle_bin_ms). Gaps at or beyond bins*idle_bin_ms are counted in
     * idle_out_of_range only. */
    const uint32_t *idle_histogram;
    uint32_t idle_histogram_bins;
    uint32_t idle_bin_ms;
    uint64_t idle_samples;      /* gaps inside the histogram's range */
    uint64_t idle_out_of_range; /* gaps beyond it */

    /* Share of requests per hour of day (24 entries, UTC) and day of week (7 entries, 0 = Monday); sums to 1 when
     * request_count > 0. */
    const double *hour_of_day;
    const double *day_of_week;

    /* Models that tend to follow this one, most likely first. */
    const warmup_follower *followers;
    uint32_t follower_count;
} warmup_usage_pattern;

typedef struct warmup_analyzer_vtable {
    uint32_t struct_size;

    /* [control] Observes a batch of events, sorted by ts_ms (borrowed for the call). */
    warmup_error *(*observe)(void *self, const warmup_usage_event *events, size_t count);

    /* [control] Fills `out` (caller sets out->struct_size) with the pattern of `model`. A model never observed gets
     * request_count 0 and last_seen_ms NEVER (not an error). */
    warmup_error *(*get_pattern)(void *self, warmup_model_index model, warmup_usage_pattern *out);

    /* [control] Forgets everything learned (operator's reset of data collection). */
    warmup_error *(*reset)(void *self);
} warmup_analyzer_vtable;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_ANALYZER_H */
