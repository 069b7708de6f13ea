/*
 * warmup/ext/model_state.h — optional extension: the learned state of ONE model, exported, imported and forgotten on
 * its own.
 *
 * Looked up with descriptor.get_extension(instance, WARMUP_EXT_MODEL_STATE). A fleet of hosts moves a model from one
 * node to another (host/cluster/): the old owner exports what it learned about that model, the new owner imports it
 * before it decides anything for the model, and the old owner forgets it. The whole-state extension (ext/state.h)
 * cannot do this: its import replaces every model at once.
 *
 * Rationale:
 *  - The bytes name no model index: index numbers are private to each host process (two nodes number the same model
 *    differently). The host keys the bytes by model name and passes each side its own index.
 *  - Two instances exchange bytes only when their schema() strings are equal (the same rule as ext/state.h; a plugin
 *    offering both returns the same schema from both).
 *  - Relations between models (e.g. "B follows A") are not part of one model's state.
 */
#ifndef WARMUP_EXT_MODEL_STATE_H
#define WARMUP_EXT_MODEL_STATE_H

#include "../common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WARMUP_EXT_MODEL_STATE "org.warmup.ext.model-state.v1"

typedef struct warmup_model_state_extension {
    uint32_t struct_size;

    /* [control] The state schema id and version, e.g. "org.warmup.state.usage-pattern/1". NUL-terminated, static. */
    const char *(*schema)(void *self);

    /* [control] Writes what the instance learned about `model` to `out` (format private to the schema). Writes
     * nothing when it learned nothing about the model. */
    warmup_error *(*export_model)(void *self, warmup_model_index model, const warmup_byte_writer *out);

    /* [control] Replaces what the instance knows about `model` with `data` (borrowed) exported by an instance of the
     * same schema, for the same model, possibly in another process. Other models are untouched. On error the
     * instance's state is unchanged. */
    warmup_error *(*import_model)(void *self, warmup_model_index model, warmup_string_view data);

    /* [control] Forgets what the instance learned about `model`, as if it had never been seen (the model moved to
     * another host). Other models are untouched. */
    warmup_error *(*forget_model)(void *self, warmup_model_index model);
} warmup_model_state_extension;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_EXT_MODEL_STATE_H */
