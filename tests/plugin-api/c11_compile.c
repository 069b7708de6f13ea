/*
 * c11_compile.c — the ABI headers as a C11 plugin author uses them (-std=c11 -Wall -Wextra -pedantic -Werror): a
 * descriptor written with designated initializers, the layout promises checked at compile time, and at run time the
 * growth rule (WARMUP_HAS_FIELD) and the "every growable struct starts with a 32-bit struct_size" rule checked over
 * the whole layout table. Exit status 0 = all checks passed.
 */
#include <stdio.h>
#include <string.h>
#include <warmup/warmup.h>

#include "abi_layout_table.h"
#include "abi_promises.h"

static int failures = 0;

#define CHECK(condition)                                                                  \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
            ++failures;                                                                   \
        }                                                                                 \
    } while (0)

static warmup_error* create_nothing(const warmup_host* host, warmup_string_view params_yaml, void** out_instance) {
    (void)host;
    (void)params_yaml;
    (void)out_instance;
    return NULL;
}

static void destroy_nothing(void* instance) { (void)instance; }

static warmup_error* predict_never(void* self, warmup_time_ms now_ms, const warmup_usage_pattern* pattern,
                                   warmup_prediction* out) {
    (void)self;
    (void)now_ms;
    out->model = pattern->model;
    out->next_arrival_ms = WARMUP_TIME_NEVER;
    return NULL;
}

static const warmup_predictor_vtable predictor_vtable = {
    .struct_size = sizeof(warmup_predictor_vtable),
    .predict = predict_never,
};

/* What a C plugin's entry returns: every ABI 1.0 field set by name, so a reordering would not compile silently. */
static const warmup_plugin_descriptor descriptor = {
    .struct_size = sizeof(warmup_plugin_descriptor),
    .abi = WARMUP_ABI_VERSION_INIT,
    .kind = WARMUP_KIND_PREDICTOR,
    .id = "org.warmup.test.c11",
    .version = "1.0.0",
    .description = "compile check",
    .create = create_nothing,
    .destroy = destroy_nothing,
    .vtable = &predictor_vtable,
    .get_extension = NULL,
};

int main(void) {
    /* The descriptor reads back through the generic entry type. */
    warmup_plugin_entry_fn entry_type_check = NULL;
    (void)entry_type_check;
    CHECK(descriptor.struct_size == sizeof(warmup_plugin_descriptor));
    CHECK(strcmp(WARMUP_PLUGIN_ENTRY_SYMBOL, "warmup_plugin_entry") == 0);

    /* The compatibility rule of version.h, as host and plugins share it: same major, plugin minor <= host minor. */
    const warmup_abi_version current = WARMUP_ABI_VERSION_INIT;
    const warmup_abi_version plugin_1_0 = {1, 0};
    const warmup_abi_version plugin_newer_minor = {WARMUP_ABI_MAJOR, WARMUP_ABI_MINOR + 1};
    const warmup_abi_version plugin_other_major = {WARMUP_ABI_MAJOR + 1, 0};
    const warmup_abi_version host_older_major = {WARMUP_ABI_MAJOR - 1, WARMUP_ABI_MINOR + 5};
    CHECK(current.major == WARMUP_ABI_MAJOR && current.minor == WARMUP_ABI_MINOR);
    CHECK(descriptor.abi.major == WARMUP_ABI_MAJOR && descriptor.abi.minor == WARMUP_ABI_MINOR);
    CHECK(warmup_abi_is_compatible(current, current));
    CHECK(warmup_abi_is_compatible(current, plugin_1_0));
    CHECK(!warmup_abi_is_compatible(current, plugin_newer_minor));
    CHECK(warmup_abi_is_compatible(plugin_newer_minor, current));
    CHECK(!warmup_abi_is_compatible(current, plugin_other_major));
    CHECK(!warmup_abi_is_compatible(plugin_other_major, current));
    CHECK(!warmup_abi_is_compatible(host_older_major, plugin_1_0));

    /* Growth rule: a prediction written by an older plugin that stopped after next_arrival_ms. */
    warmup_prediction older = {0};
    older.struct_size = (uint32_t)offsetof(warmup_prediction, confidence);
    CHECK(WARMUP_HAS_FIELD(&older, warmup_prediction, next_arrival_ms));
    CHECK(!WARMUP_HAS_FIELD(&older, warmup_prediction, confidence));
    CHECK(!WARMUP_HAS_FIELD(&older, warmup_prediction, warm_keep_until_ms));

    /* Calling through the vtable as the host would. */
    warmup_usage_pattern pattern = {0};
    pattern.struct_size = sizeof pattern;
    pattern.model = 7;
    warmup_prediction prediction = {0};
    prediction.struct_size = sizeof prediction;
    CHECK(descriptor.vtable == &predictor_vtable);
    CHECK(predictor_vtable.predict(NULL, 0, &pattern, &prediction) == NULL);
    CHECK(prediction.model == 7);
    CHECK(prediction.next_arrival_ms == WARMUP_TIME_NEVER);

    /* Every struct in the table that has a struct_size has it first, as a uint32_t. */
    size_t count = 0;
    const warmup_abi_layout_entry* layout = warmup_abi_layout_as_c(&count);
    size_t sized_structs = 0;
    for (size_t i = 0; i < count; ++i) {
        if (strcmp(layout[i].field_name, "struct_size") != 0) continue;
        ++sized_structs;
        if (layout[i].offset != 0 || layout[i].size != 4) {
            fprintf(stderr, "%s.struct_size is at offset %zu with size %zu, expected offset 0 size 4\n",
                    layout[i].type_name, layout[i].offset, layout[i].size);
            ++failures;
        }
    }
    /* 31 growable structs in ABI 1.4 (counted by hand from the headers: model_info, host, descriptor, usage_pattern,
     * prediction, performance_estimate, load_observation, plan_input, plan, admission_request, admission,
     * load_result, resident_model (1.1), source_poll (1.1), source_poll_result (1.1), 9 vtables, 3 plugin extensions
     * (state, simulation, model state (1.1)), 4 host extensions (log, clock, catalog (1.2), call failure: an id a
     * plugin looks up, no ABI minor of its own)). */
    CHECK(sized_structs == 31);

    if (failures != 0) {
        fprintf(stderr, "%d ABI check(s) failed in C11\n", failures);
        return 1;
    }
    printf("C11: ABI headers compile; %zu layout entries, %zu growable structs checked\n", count, sized_structs);
    return 0;
}
