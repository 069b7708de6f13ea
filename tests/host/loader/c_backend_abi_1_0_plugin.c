/*
 * c_backend_abi_1_0_plugin.c — a backend as a plugin built against ABI 1.0 sees it: descriptor abi {1, 0} and
 * the 1.0 backend vtable, which ended after `unload` (ABI 1.1 appended list_resident). The 1.0 table is declared
 * here by hand, as the 1.0 header declared it, so this library is byte for byte what an old backend ships; the static
 * assertions check that it is a prefix of today's table. Loads and unloads succeed at once and are counted, so a test
 * can call through the host's view of the table. Only warmup_plugin_entry is exported.
 */
#include <stdlib.h>
#include <warmup/warmup.h>

/* warmup_backend_vtable as ABI 1.0 declared it. */
typedef struct abi_1_0_backend_vtable {
    uint32_t struct_size;
    warmup_error* (*load)(void* self, const warmup_model_info* model, const warmup_cancel_token* cancel,
                          warmup_load_result* out);
    warmup_error* (*unload)(void* self, const warmup_model_info* model);
} abi_1_0_backend_vtable;

_Static_assert(offsetof(abi_1_0_backend_vtable, load) == offsetof(warmup_backend_vtable, load),
               "the 1.0 table is a prefix of today's");
_Static_assert(offsetof(abi_1_0_backend_vtable, unload) == offsetof(warmup_backend_vtable, unload),
               "the 1.0 table is a prefix of today's");
_Static_assert(sizeof(abi_1_0_backend_vtable) == offsetof(warmup_backend_vtable, list_resident),
               "today's table appends list_resident right after the 1.0 fields");

typedef struct old_backend {
    uint64_t loads;
    uint64_t unloads;
} old_backend;

static warmup_error* old_backend_create(const warmup_host* host, warmup_string_view params_yaml, void** out_instance) {
    (void)host;
    (void)params_yaml;
    old_backend* self = calloc(1, sizeof *self);
    if (self == NULL) abort();
    *out_instance = self;
    return NULL;
}

static void old_backend_destroy(void* instance) { free(instance); }

static warmup_error* old_backend_load(void* instance, const warmup_model_info* model, const warmup_cancel_token* cancel,
                                      warmup_load_result* out) {
    (void)model;
    (void)cancel;
    ++((old_backend*)instance)->loads;
    if (out->struct_size >= offsetof(warmup_load_result, memory_mb) + sizeof out->memory_mb) out->memory_mb = 0;
    return NULL;
}

static warmup_error* old_backend_unload(void* instance, const warmup_model_info* model) {
    (void)model;
    ++((old_backend*)instance)->unloads;
    return NULL;
}

static const abi_1_0_backend_vtable old_backend_vtable = {sizeof(abi_1_0_backend_vtable), old_backend_load,
                                                          old_backend_unload};

static const warmup_plugin_descriptor old_backend_descriptor = {
    sizeof(warmup_plugin_descriptor),
    {1, 0},
    WARMUP_KIND_BACKEND,
    "org.warmup.test.backend-abi-1-0",
    "1.0.0",
    "A backend built against ABI 1.0 (no list_resident)",
    old_backend_create,
    old_backend_destroy,
    &old_backend_vtable,
    NULL,
};

__attribute__((visibility("default"))) const warmup_plugin_descriptor* warmup_plugin_entry(void) {
    return &old_backend_descriptor;
}
