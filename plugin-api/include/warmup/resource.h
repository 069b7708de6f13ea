/*
 * warmup/resource.h — resource plugin: the memory budget, admission of loads and the eviction order.
 *
 * The budget itself is enforced by the host (a load starts only if it fits); the policy chooses the effective budget,
 * whether a load may start now, and which ready model to evict first. The host tells the policy about every change of
 * the ready set, so the policy can keep its own order (LRU list, Greedy-Dual heap, ...).
 */
#ifndef WARMUP_RESOURCE_H
#define WARMUP_RESOURCE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct warmup_admission_request {
    uint32_t struct_size;
    warmup_time_ms now_ms;
    warmup_model_index model;
    double memory_mb;   /* what the load needs */
    double used_mb;     /* memory held by ready and loading models now */
    double budget_mb;   /* the effective budget */
    uint32_t is_demand; /* 1 = a request is waiting for this model; 0 = a pre-warm */
} warmup_admission_request;

typedef struct warmup_admission {
    uint32_t struct_size;
    uint32_t admit;            /* 1 = may start (evicting as needed), 0 = refuse now (a demand load is only delayed:
                                  it starts at the next dispatch, within 1 s at most) */
    uint32_t may_evict;        /* 1 = the host may evict ready models to make room (pre-warms: a demand load
                                  that is admitted may always evict) */
    warmup_string_view reason; /* why refused (shown to operators with the decision: plugin_says); owned by the
                                  instance, valid until its next call */
} warmup_admission;

typedef struct warmup_resource_vtable {
    uint32_t struct_size;

    /* [control] The budget to enforce, given the configured one (MiB). A policy may cap it by the real host limit; the
       host ignores (and logs) an answer above the configured budget, or not above 0. */
    double (*effective_budget_mb)(void *self, double configured_budget_mb);

    /* [control] Decides whether a load may start. Fills `out` (caller sets out->struct_size). */
    warmup_error *(*admit)(void *self, const warmup_admission_request *request, warmup_admission *out);

    /* [control] Ready-set changes: a load finished (model is ready), the model served a request, it left memory. */
    void (*on_ready)(void *self, warmup_model_index model, double memory_mb, double load_ms, warmup_time_ms now_ms);
    void (*on_used)(void *self, warmup_model_index model, warmup_time_ms now_ms);
    void (*on_removed)(void *self, warmup_model_index model, warmup_time_ms now_ms);

    /* [control] The ready model to evict first, into *out_model. WARMUP_ERROR_NOT_FOUND when none is ready. The host
     * evicts it, calls on_removed, and asks again if more room is needed. */
    warmup_error *(*pick_victim)(void *self, warmup_time_ms now_ms, warmup_model_index *out_model);

    /* [control] ABI 1.4, optional: on_used with the number of requests served (>= 1): those of one usage event the
     * ready model served, or those that waited for the load that just finished (after its on_ready). When the table
     * has it (WARMUP_HAS_FIELD) and it is not NULL, the host calls it instead of on_used; an ABI 1.3 table ends before
     * it and gets on_used. A policy that weighs a cold start by the requests it makes wait needs the counts: one usage
     * event may carry many requests. */
    void (*on_used_requests)(void *self, warmup_model_index model, uint32_t requests, warmup_time_ms now_ms);
} warmup_resource_vtable;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_RESOURCE_H */
