/*
 * garbage_plugin.c — a predictor plugin in plain C whose descriptor or vtable carries garbage, chosen by one compile
 * definition, for the security tests (the SDK's WARMUP_PLUGIN macro cannot express these defects):
 *
 *   (none)                 a correct plugin: the control case, so every refusal is caused by the one defect
 *   GARBAGE_VTABLE_SIZE    vtable.struct_size = 0xFFFFFFFF (far beyond any ABI 1.x table)
 *   GARBAGE_DESCRIPTOR_SIZE descriptor.struct_size = 0x7FFFFFFF
 *   GARBAGE_NULL_CREATE    descriptor.create = NULL
 *   GARBAGE_NULL_INSTANCE  create succeeds but returns no instance
 *   GARBAGE_NULL_FUNCTION  vtable.predict = NULL (the table's size is right)
 * and GARBAGE_PLUGIN_ID, the descriptor's id (a valid one per variant by default; "bad id!" for the id check).
 *
 * The predictor keeps a model warm 1 s after its last use and never pre-warms. It takes no params.
 */
#include <stdlib.h>
#include <warmup/warmup.h>

#ifndef GARBAGE_PLUGIN_ID
#define GARBAGE_PLUGIN_ID "org.warmup.test.garbage-control"
#endif

static warmup_error* garbage_create(const warmup_host* host, warmup_string_view params_yaml, void** out_instance) {
    (void)params_yaml;
#ifdef GARBAGE_NULL_INSTANCE
    (void)host;
    (void)out_instance;
    return NULL; /* success, yet *out_instance is never set */
#else
    int* self = (int*)calloc(1, sizeof(int));
    if (self == NULL) {
        static const char no_memory[] = "out of memory";
        warmup_string_view message = {no_memory, sizeof(no_memory) - 1};
        return host->make_error(host, WARMUP_ERROR_RESOURCE_EXHAUSTED, message);
    }
    *out_instance = self;
    return NULL;
#endif
}

static void garbage_destroy(void* instance) { free(instance); }

static warmup_error* garbage_predict(void* instance, warmup_time_ms now_ms, const warmup_usage_pattern* pattern,
                                     warmup_prediction* out) {
    (void)instance;
    out->model = pattern->model;
    out->horizon_ms = 1000;
    out->p_use_within_horizon = 0.0;
    out->next_arrival_ms = WARMUP_TIME_NEVER;
    out->confidence = 0.0;
    out->keep_until_ms = pattern->last_seen_ms == WARMUP_TIME_NEVER ? now_ms : pattern->last_seen_ms + 1000;
    out->warm_at_ms = WARMUP_TIME_NEVER;
    out->warm_keep_until_ms = WARMUP_TIME_NEVER;
    return NULL;
}

#ifdef GARBAGE_VTABLE_SIZE
#define VTABLE_SIZE 0xFFFFFFFFu
#else
#define VTABLE_SIZE ((uint32_t)sizeof(warmup_predictor_vtable))
#endif
#ifdef GARBAGE_DESCRIPTOR_SIZE
#define DESCRIPTOR_SIZE 0x7FFFFFFFu
#else
#define DESCRIPTOR_SIZE ((uint32_t)sizeof(warmup_plugin_descriptor))
#endif
#ifdef GARBAGE_NULL_CREATE
#define CREATE NULL
/* Still referenced, so the one defect is the NULL pointer and the build stays warning-free. */
const void* garbage_unused_create = (const void*)garbage_create;
#else
#define CREATE garbage_create
#endif

#ifdef GARBAGE_NULL_FUNCTION
#define PREDICT NULL
const void* garbage_unused_predict = (const void*)garbage_predict;
#else
#define PREDICT garbage_predict
#endif

static const warmup_predictor_vtable garbage_vtable = {VTABLE_SIZE, PREDICT};

static const warmup_plugin_descriptor garbage_descriptor = {
    DESCRIPTOR_SIZE,
    {WARMUP_ABI_MAJOR, WARMUP_ABI_MINOR},
    WARMUP_KIND_PREDICTOR,
    GARBAGE_PLUGIN_ID,
    "1.0.0",
    "security test predictor with one deliberate defect",
    CREATE,
    garbage_destroy,
    &garbage_vtable,
    NULL,
};

__attribute__((visibility("default"))) const warmup_plugin_descriptor* warmup_plugin_entry(void);

const warmup_plugin_descriptor* warmup_plugin_entry(void) { return &garbage_descriptor; }
