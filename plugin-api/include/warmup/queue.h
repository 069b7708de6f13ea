/*
 * warmup/queue.h — queue plugin: the order in which pending warm-ups reach the workers.
 */
#ifndef WARMUP_QUEUE_H
#define WARMUP_QUEUE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum warmup_warmup_reason {
    WARMUP_REASON_DEMAND = 0,  /* a request is waiting for the model */
    WARMUP_REASON_PREWARM = 1, /* predicted use */
    WARMUP_REASON_RETRY = 2    /* a failed warm-up tried again */
} warmup_warmup_reason;

/* A pending warm-up. Plain value; copied into the queue. */
typedef struct warmup_queue_item {
    warmup_model_index model;
    uint32_t priority_class; /* 0 = highest */
    uint32_t reason;         /* warmup_warmup_reason */
    uint32_t attempt;        /* 1 for the first try */
    uint32_t tenant_hash;
    uint32_t reserved; /* 0 */
    warmup_time_ms enqueued_ms;
    warmup_time_ms deadline_ms; /* ready-by time, NEVER when none */
    double cost;                /* expected load time, ms (used by fair queuing as the job size) */
} warmup_queue_item;

typedef struct warmup_queue_vtable {
    uint32_t struct_size;

    /* [control] Adds an item (borrowed, copied). When full: WARMUP_ERROR_RESOURCE_EXHAUSTED, message says why; the
     * policy counts the rejection. */
    warmup_error *(*push)(void *self, const warmup_queue_item *item);

    /* [control] Removes the next item into *out. Returns 1 when an item was popped, 0 when empty. */
    int (*pop)(void *self, warmup_time_ms now_ms, warmup_queue_item *out);

    /* [control] Removes every pending item for `model` (a warm-up cancelled). Returns how many were removed. */
    size_t (*remove_model)(void *self, warmup_model_index model);

    /* [control] Removes everything (emergency stop). Returns how many were removed. */
    size_t (*clear)(void *self);

    /* [control] Items pending. */
    size_t (*size)(void *self);

    /* [control] Pushes refused because the queue was full, since create. */
    uint64_t (*rejected_count)(void *self);
} warmup_queue_vtable;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_QUEUE_H */
