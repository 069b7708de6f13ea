/*
 * warmup/predictor.h — predictor: from a model's pattern to when it will be used next.
 */
#ifndef WARMUP_PREDICTOR_H
#define WARMUP_PREDICTOR_H

#include "analyzer.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A prediction for one model, made at `now_ms`. Times are absolute on the host clock. */
typedef struct warmup_prediction {
    uint32_t struct_size;
    warmup_model_index model;
    warmup_time_ms horizon_ms;      /* the window p_use_within_horizon refers to: [now, now + horizon_ms) */
    double p_use_within_horizon;    /* 0..1 */
    warmup_time_ms next_arrival_ms; /* expected next request, or NEVER when unknown */
    double confidence;              /* 0..1: how much history backs this prediction */

    /* The residency plan that follows from the prediction (the scheduler turns it into timed actions):
     *  keep_until_ms: keep the model loaded until then after its last use, then unload if still idle;
     *                 NEVER = keep (only the budget evicts it); <= now = unload now.
     *  warm_at_ms:    the model should be ready again at this time (pre-warm target); NEVER = no pre-warm.
     *  warm_keep_until_ms: after a pre-warm, keep it until then if unused; ignored when warm_at_ms is NEVER. A
     *                 window that ends before it starts (warm_keep_until_ms < warm_at_ms) is the call's error
     *                 (INVALID_ARGUMENT, counted like a returned one; the host plans with its fallback). */
    warmup_time_ms keep_until_ms;
    warmup_time_ms warm_at_ms;
    warmup_time_ms warm_keep_until_ms;

    /* ABI 1.3 (check WARMUP_HAS_FIELD before writing): other models whose plans this prediction moves, a succession
     * (a use of this model makes their next use likely soon). After a plan made on a use (trigger USED: a batch of
     * requests, or a load that ends with requests waiting), the host plans each of them again at the same now_ms,
     * before its next timer; after any other plan the list is ignored, so a succession never chains. Indexes outside
     * the catalog are skipped. Borrowed: valid until the plugin's next call; NULL when replan_count is 0. */
    const warmup_model_index *replan_models;
    uint32_t replan_count;
} warmup_prediction;

typedef struct warmup_predictor_vtable {
    uint32_t struct_size;

    /* [control] Predicts for pattern->model at now_ms. `pattern` is borrowed for the call. Fills `out` (caller sets
     * out->struct_size and out->model, and next_arrival_ms, warm_at_ms and warm_keep_until_ms to NEVER, every other
     * field to 0: a field left alone says nothing predicted, no pre-warm). */
    warmup_error *(*predict)(void *self, warmup_time_ms now_ms, const warmup_usage_pattern *pattern,
                             warmup_prediction *out);
} warmup_predictor_vtable;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_PREDICTOR_H */
