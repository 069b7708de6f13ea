/*
 * warmup/ext/state.h — optional extension: export and import of learned state (hot-swap hand-off, backups).
 *
 * Looked up with descriptor.get_extension(instance, WARMUP_EXT_STATE). Two instances can hand state over only when
 * their schemas are equal strings; otherwise the new instance starts cold.
 */
#ifndef WARMUP_EXT_STATE_H
#define WARMUP_EXT_STATE_H

#include "../common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WARMUP_EXT_STATE "org.warmup.ext.state.v1"

typedef struct warmup_state_extension {
    uint32_t struct_size;

    /* [control] The state schema id and version, e.g. "org.warmup.state.usage-pattern/1". NUL-terminated, static. */
    const char *(*schema)(void *self);

    /* [control] Writes the whole state to `out` as bytes (format private to the schema). */
    warmup_error *(*export_state)(void *self, const warmup_byte_writer *out);

    /* [control] Replaces the state with `data` (borrowed) exported by an instance of the same schema. On error the
     * instance's state is unchanged. */
    warmup_error *(*import_state)(void *self, warmup_string_view data);
} warmup_state_extension;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_EXT_STATE_H */
