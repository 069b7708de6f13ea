/*
 * counting_resource_plugin.c — a resource plugin that counts the uses and the requests the host reports, built twice:
 * with TEST_RESOURCE_ABI_1_3 as a plugin built against ABI 1.3 ships it (descriptor abi {1, 3} and the 1.3 table,
 * which ended after pick_victim, declared here by hand: the static assertions check that it is a prefix of today's),
 * and without it against today's headers, with on_used_requests (ABI 1.4). Admits every load, never picks a victim
 * (the tests give it room). The instance is a counting_resource (counting_resource.h), which a test reads through the
 * component's `self`. Threading: the host's control thread only. Only warmup_plugin_entry is exported.
 */
#include <stdlib.h>
#include <warmup/warmup.h>

#include "counting_resource.h"

static warmup_error* counting_create(const warmup_host* host, warmup_string_view params_yaml, void** out_instance) {
    (void)host;
    (void)params_yaml;
    counting_resource* self = calloc(1, sizeof *self);
    if (self == NULL) abort();
    *out_instance = self;
    return NULL;
}

static void counting_destroy(void* instance) { free(instance); }

static double counting_effective_budget_mb(void* instance, double configured_budget_mb) {
    (void)instance;
    return configured_budget_mb;
}

static warmup_error* counting_admit(void* instance, const warmup_admission_request* request, warmup_admission* out) {
    (void)instance;
    (void)request;
    out->admit = 1;
    out->may_evict = 1;
    return NULL;
}

static void counting_on_ready(void* instance, warmup_model_index model, double memory_mb, double load_ms,
                              warmup_time_ms now_ms) {
    (void)instance;
    (void)model;
    (void)memory_mb;
    (void)load_ms;
    (void)now_ms;
}

static void counting_on_used(void* instance, warmup_model_index model, warmup_time_ms now_ms) {
    (void)model;
    (void)now_ms;
    counting_resource* self = instance;
    ++self->on_used_calls;
    ++self->uses;
    ++self->requests;
}

static void counting_on_removed(void* instance, warmup_model_index model, warmup_time_ms now_ms) {
    (void)instance;
    (void)model;
    (void)now_ms;
}

static warmup_error* counting_pick_victim(void* instance, warmup_time_ms now_ms, warmup_model_index* out_model) {
    (void)instance;
    (void)now_ms;
    *out_model = WARMUP_NO_MODEL; /* never asked: the tests give it room */
    return NULL;
}

#ifdef TEST_RESOURCE_ABI_1_3
/* warmup_resource_vtable as ABI 1.3 declared it. */
typedef struct abi_1_3_resource_vtable {
    uint32_t struct_size;
    double (*effective_budget_mb)(void* self, double configured_budget_mb);
    warmup_error* (*admit)(void* self, const warmup_admission_request* request, warmup_admission* out);
    void (*on_ready)(void* self, warmup_model_index model, double memory_mb, double load_ms, warmup_time_ms now_ms);
    void (*on_used)(void* self, warmup_model_index model, warmup_time_ms now_ms);
    void (*on_removed)(void* self, warmup_model_index model, warmup_time_ms now_ms);
    warmup_error* (*pick_victim)(void* self, warmup_time_ms now_ms, warmup_model_index* out_model);
} abi_1_3_resource_vtable;

_Static_assert(offsetof(abi_1_3_resource_vtable, on_used) == offsetof(warmup_resource_vtable, on_used),
               "the 1.3 table is a prefix of today's");
_Static_assert(offsetof(abi_1_3_resource_vtable, pick_victim) == offsetof(warmup_resource_vtable, pick_victim),
               "the 1.3 table is a prefix of today's");
_Static_assert(sizeof(abi_1_3_resource_vtable) == offsetof(warmup_resource_vtable, on_used_requests),
               "today's table appends on_used_requests right after the 1.3 fields");

static const abi_1_3_resource_vtable counting_vtable = {sizeof(abi_1_3_resource_vtable),
                                                        counting_effective_budget_mb,
                                                        counting_admit,
                                                        counting_on_ready,
                                                        counting_on_used,
                                                        counting_on_removed,
                                                        counting_pick_victim};
#define COUNTING_ABI \
    { 1, 3 }
#define COUNTING_ID "org.warmup.test.counting-resource-abi-1-3"
#else
static void counting_on_used_requests(void* instance, warmup_model_index model, uint32_t requests,
                                      warmup_time_ms now_ms) {
    (void)model;
    (void)now_ms;
    counting_resource* self = instance;
    ++self->uses;
    self->requests += requests;
}

static const warmup_resource_vtable counting_vtable = {sizeof(warmup_resource_vtable),
                                                       counting_effective_budget_mb,
                                                       counting_admit,
                                                       counting_on_ready,
                                                       counting_on_used,
                                                       counting_on_removed,
                                                       counting_pick_victim,
                                                       counting_on_used_requests};
#define COUNTING_ABI \
    { WARMUP_ABI_MAJOR, WARMUP_ABI_MINOR }
#define COUNTING_ID "org.warmup.test.counting-resource"
#endif

static const warmup_plugin_descriptor counting_descriptor = {
    sizeof(warmup_plugin_descriptor),
    COUNTING_ABI,
    WARMUP_KIND_RESOURCE,
    COUNTING_ID,
    "1.0.0",
    "Counts the uses and requests the host reports",
    counting_create,
    counting_destroy,
    &counting_vtable,
    NULL,
};

__attribute__((visibility("default"))) const warmup_plugin_descriptor* warmup_plugin_entry(void) {
    return &counting_descriptor;
}
