/*
 * warmup/ext/simulation.h — optional backend extension: how long a load or unload would take in virtual time.
 *
 * warmup-replay runs backends on a virtual clock (discrete events, no sleeping): instead of calling load/unload it asks
 * this extension for the duration and the outcome. A backend without it cannot be used for replay.
 */
#ifndef WARMUP_EXT_SIMULATION_H
#define WARMUP_EXT_SIMULATION_H

#include "../common.h"
#include "../host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WARMUP_EXT_SIMULATION "org.warmup.ext.simulation.v1"

typedef struct warmup_simulation_extension {
    uint32_t struct_size;

    /* [control] A load of `model` (borrowed) starting at now_ms: writes its duration (ms) and whether it succeeds.
     * Must be deterministic for a given instance state and call sequence. */
    warmup_error *(*simulate_load)(void *self, const warmup_model_info *model, warmup_time_ms now_ms,
                                   double *out_duration_ms, int *out_succeeds);

    /* [control] An unload of `model` starting at now_ms: writes its duration (ms). */
    warmup_error *(*simulate_unload)(void *self, const warmup_model_info *model, warmup_time_ms now_ms,
                                     double *out_duration_ms);
} warmup_simulation_extension;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_EXT_SIMULATION_H */
