/*
 * warmup/scheduler.h — scheduler: turns a prediction and a cost estimate into timed warm / keep / unload actions.
 *
 * The host calls `plan` for one model whenever something about it changed (it was used, a warm-up finished, a timer
 * fired). The answer replaces that model's pending timers: the host keeps at most one unload timer and one warm-up
 * timer per model. A request for a model cancels its pending timers before plan is called again.
 */
#ifndef WARMUP_SCHEDULER_H
#define WARMUP_SCHEDULER_H

#include "common.h"
#include "performance.h"
#include "predictor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Why plan is being called. */
typedef enum warmup_plan_trigger {
    WARMUP_TRIGGER_USED = 0,   /* the model just served a request */
    WARMUP_TRIGGER_WARMED = 1, /* a pre-warm just finished; the model is ready */
    WARMUP_TRIGGER_TIMER = 2   /* a timer set by an earlier plan fired; re-evaluate */
} warmup_plan_trigger;

typedef struct warmup_plan_input {
    uint32_t struct_size;
    warmup_time_ms now_ms;
    warmup_model_index model;
    uint32_t trigger;                            /* warmup_plan_trigger */
    uint32_t residency;                          /* warmup_residency */
    const warmup_prediction *prediction;         /* borrowed for the call */
    const warmup_performance_estimate *estimate; /* borrowed for the call */
} warmup_plan_input;

typedef struct warmup_plan {
    uint32_t struct_size;
    warmup_model_index model;
    warmup_time_ms unload_at_ms;      /* unload then if the model stays unused; NEVER = no unload timer */
    warmup_time_ms warm_start_at_ms;  /* start a pre-warm then (already accounts for load time + margin); NEVER = none.
                                         The host starts it only if the model is not loaded then: with unload_at NEVER
                                         it pre-warms a model the budget evicted before it (one evicted after it is
                                         not loaded back) */
    warmup_time_ms warm_ready_by_ms;  /* when the pre-warm must be finished (its deadline, for EDF-like queues) */
    warmup_time_ms warm_unload_at_ms; /* after the pre-warm, unload then if unused; NEVER = keep */
    uint32_t priority_class;          /* queue priority class of the pre-warm, 0 = highest */
} warmup_plan;

typedef struct warmup_scheduler_vtable {
    uint32_t struct_size;

    /* [control] Plans for input->model. Fills `out` (caller sets out->struct_size). */
    warmup_error *(*plan)(void *self, const warmup_plan_input *input, warmup_plan *out);

    /* [control] A warm-up of `model` failed for the `attempt`-th time (1-based) at now_ms. Writes when to retry into
     * *out_retry_at_ms, or NEVER to give up. The host retries no sooner than 100 ms after the failure. */
    warmup_error *(*on_warmup_failed)(void *self, warmup_model_index model, uint32_t attempt, warmup_time_ms now_ms,
                                      warmup_time_ms *out_retry_at_ms);
} warmup_scheduler_vtable;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_SCHEDULER_H */
