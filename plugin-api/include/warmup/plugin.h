/*
 * warmup/plugin.h — the one exported symbol and the descriptor it returns.
 *
 * A plugin library exports exactly one symbol, `warmup_plugin_entry` (use WARMUP_PLUGIN_EXPORT from the SDK), which
 * returns a pointer to a static descriptor. Everything else in the library is hidden.
 *
 * Lifecycle: the host dlopens the library, calls the entry, checks size, ABI version and kind, then calls `create` as
 * many times as it needs instances (one per component slot or experiment arm). Each instance is destroyed with
 * `destroy` before the library is unloaded; the host keeps the library loaded while any instance lives.
 */
#ifndef WARMUP_PLUGIN_H
#define WARMUP_PLUGIN_H

#include "common.h"
#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WARMUP_PLUGIN_ENTRY_SYMBOL "warmup_plugin_entry"

typedef struct warmup_plugin_descriptor {
    uint32_t struct_size;   /* sizeof(warmup_plugin_descriptor) as the plugin was compiled */
    warmup_abi_version abi; /* {WARMUP_ABI_MAJOR, WARMUP_ABI_MINOR} the plugin was compiled against */
    uint32_t kind;          /* a warmup_plugin_kind */

    /* NUL-terminated, static (live as long as the library): */
    const char *id;          /* reverse-DNS id, unique among loaded plugins, e.g. "org.acme.predictor.seasonal" */
    const char *version;     /* the plugin's own semantic version, e.g. "1.4.2" */
    const char *description; /* one line for humans */

    /* [control] Creates an instance.
     *  host:        owned by the host, valid until destroy(instance) returns; the instance may keep it.
     *  params_yaml: borrowed; the YAML text of the plugin's `params` subtree (may be empty: no params). The plugin
     *               validates it and refuses unknown keys or bad values with WARMUP_ERROR_INVALID_ARGUMENT and a
     *               message naming the key path (e.g. "params.horizon_ms: expected a positive integer").
     *  out_instance: on success, receives the instance; owned by the host, freed only through destroy.
     * Returns NULL on success or an error (owned by the host). On error *out_instance is left untouched. */
    warmup_error *(*create)(const warmup_host *host, warmup_string_view params_yaml, void **out_instance);

    /* [control] Destroys an instance created by create. Never fails. */
    void (*destroy)(void *instance);

    /* The kind-specific vtable (static, lives as long as the library): a warmup_<kind>_vtable, chosen by `kind`. */
    const void *vtable;

    /* [control] Optional capabilities by extension id (the plugin extensions of ext/: state.h, model_state.h,
     * simulation.h; the ext/host_*.h ids are the host's own, asked of warmup_host.get_extension). Returns a static
     * extension vtable, or NULL when the instance does not support that id. May itself be NULL: then no extension is
     * supported. */
    const void *(*get_extension)(void *instance, const char *extension_id);
} warmup_plugin_descriptor;

/* The signature of the exported entry. Called on the control thread; may be called more than once. */
typedef const warmup_plugin_descriptor *(*warmup_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_PLUGIN_H */
