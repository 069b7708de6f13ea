/*
 * no_entry_plugin.c — a valid shared object that exports a descriptor under the wrong name (a typo of the entry
 * symbol), as a plugin built without the SDK's WARMUP_PLUGIN macro might. The host must refuse it by name.
 */
#include <warmup/warmup.h>

static const warmup_plugin_descriptor no_descriptor_fields = {0};

__attribute__((visibility("default"))) const warmup_plugin_descriptor* warmup_plugin_entry_v1(void);

const warmup_plugin_descriptor* warmup_plugin_entry_v1(void) { return &no_descriptor_fields; }
