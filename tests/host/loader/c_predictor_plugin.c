/*
 * c_predictor_plugin.c — a predictor plugin written in plain C against the ABI headers, without the SDK, so tests can
 * build it correct (the control case) or with exactly one field of its descriptor or vtable corrupted, chosen by
 * compile definitions:
 *
 *   TEST_PLUGIN_ID        the descriptor id                                   default "org.warmup.test.c-predictor"
 *   TEST_PLUGIN_VERSION   the plugin's own version                            default "1.0.0"
 *   TEST_ABI_MAJOR        descriptor.abi.major                                default WARMUP_ABI_MAJOR
 *   TEST_ABI_MINOR        descriptor.abi.minor                                default WARMUP_ABI_MINOR
 *   TEST_KIND             descriptor.kind                                     default WARMUP_KIND_PREDICTOR
 *   TEST_DESCRIPTOR_SIZE  descriptor.struct_size                              default sizeof(warmup_plugin_descriptor)
 *   TEST_VTABLE_SIZE      vtable.struct_size                                  default sizeof(warmup_predictor_vtable)
 *   TEST_UNDEFINED_SYMBOL destroy calls a function no library defines (the file then cannot be loaded)
 *
 * The predictor itself is a fixed keep-alive of TEST_KEEP_ALIVE_MS after the last use, never pre-warming, so a test
 * that calls through the vtable has a hand-computable answer. It takes no params (any non-blank params text is
 * refused with INVALID_ARGUMENT naming the key path "params"). Only warmup_plugin_entry is exported.
 */
#include <stdlib.h>
#include <warmup/warmup.h>

#ifndef TEST_PLUGIN_ID
#define TEST_PLUGIN_ID "org.warmup.test.c-predictor"
#endif
#ifndef TEST_PLUGIN_VERSION
#define TEST_PLUGIN_VERSION "1.0.0"
#endif
#ifndef TEST_ABI_MAJOR
#define TEST_ABI_MAJOR WARMUP_ABI_MAJOR
#endif
#ifndef TEST_ABI_MINOR
#define TEST_ABI_MINOR WARMUP_ABI_MINOR
#endif
#ifndef TEST_KIND
#define TEST_KIND WARMUP_KIND_PREDICTOR
#endif
#ifndef TEST_DESCRIPTOR_SIZE
#define TEST_DESCRIPTOR_SIZE sizeof(warmup_plugin_descriptor)
#endif
#ifndef TEST_VTABLE_SIZE
#define TEST_VTABLE_SIZE sizeof(warmup_predictor_vtable)
#endif

#define TEST_KEEP_ALIVE_MS 1000

/* One instance: the host it was created with (to create errors later) and how many predictions it made. */
typedef struct c_predictor {
    const warmup_host* host;
    uint64_t predictions;
} c_predictor;

static int is_blank(warmup_string_view text) {
    for (size_t i = 0; i < text.size; ++i)
        if (text.data[i] != ' ' && text.data[i] != '\n' && text.data[i] != '\t' && text.data[i] != '\r') return 0;
    return 1;
}

static warmup_error* c_predictor_create(const warmup_host* host, warmup_string_view params_yaml, void** out_instance) {
    static const char no_params[] = "params: this test plugin takes no parameters";
    if (!is_blank(params_yaml)) {
        warmup_string_view message = {no_params, sizeof(no_params) - 1};
        return host->make_error(host, WARMUP_ERROR_INVALID_ARGUMENT, message);
    }
    c_predictor* self = (c_predictor*)calloc(1, sizeof(c_predictor));
    if (self == NULL) {
        static const char no_memory[] = "out of memory";
        warmup_string_view message = {no_memory, sizeof(no_memory) - 1};
        return host->make_error(host, WARMUP_ERROR_RESOURCE_EXHAUSTED, message);
    }
    self->host = host;
    *out_instance = self;
    return NULL;
}

#ifdef TEST_UNDEFINED_SYMBOL
void warmup_test_defined_nowhere(void);
static void c_predictor_destroy(void* instance) {
    warmup_test_defined_nowhere();
    free(instance);
}
#else
static void c_predictor_destroy(void* instance) { free(instance); }
#endif

static warmup_error* c_predictor_predict(void* instance, warmup_time_ms now_ms, const warmup_usage_pattern* pattern,
                                         warmup_prediction* out) {
    c_predictor* self = (c_predictor*)instance;
    ++self->predictions;
    out->model = pattern->model;
    out->horizon_ms = TEST_KEEP_ALIVE_MS;
    out->p_use_within_horizon = 0.0;
    out->next_arrival_ms = WARMUP_TIME_NEVER;
    out->confidence = 0.0;
    out->keep_until_ms =
        pattern->last_seen_ms == WARMUP_TIME_NEVER ? now_ms : pattern->last_seen_ms + TEST_KEEP_ALIVE_MS;
    out->warm_at_ms = WARMUP_TIME_NEVER;
    out->warm_keep_until_ms = WARMUP_TIME_NEVER;
    return NULL;
}

static const warmup_predictor_vtable c_predictor_vtable = {
    (uint32_t)(TEST_VTABLE_SIZE),
    c_predictor_predict,
};

static const warmup_plugin_descriptor c_predictor_descriptor = {
    (uint32_t)(TEST_DESCRIPTOR_SIZE),
    {TEST_ABI_MAJOR, TEST_ABI_MINOR},
    TEST_KIND,
    TEST_PLUGIN_ID,
    TEST_PLUGIN_VERSION,
    "hand-written C predictor for the loader tests (fixed 1 s keep-alive)",
    c_predictor_create,
    c_predictor_destroy,
    &c_predictor_vtable,
    NULL,
};

__attribute__((visibility("default"))) const warmup_plugin_descriptor* warmup_plugin_entry(void);

const warmup_plugin_descriptor* warmup_plugin_entry(void) { return &c_predictor_descriptor; }
