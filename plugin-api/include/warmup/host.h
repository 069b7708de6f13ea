/*
 * warmup/host.h — what the host offers to every plugin instance.
 *
 * A `warmup_host` is passed to `create` and stays valid until the instance is destroyed (owned by the host; the plugin
 * keeps the pointer, never frees it). It carries the error factory, logging, the clock and the model catalog, and
 * (ABI 1.2) host extensions looked up by id.
 *
 * Rationale for host extensions (get_extension, ABI 1.2): a host service added later comes as an extension with an
 * id, never as one more field here, so a plugin asks for it and runs on (or says clearly what it misses) when a host
 * does not offer it, instead of being refused for its ABI minor. The services of ABI 1.0 (logging, clock, catalog)
 * are offered under ids too (ext/host_log.h, ext/host_clock.h, ext/host_catalog.h), so a plugin can hold everything
 * it uses from the host as extension tables. The fields below stay: ABI 1.x never removes a field.
 */
#ifndef WARMUP_HOST_H
#define WARMUP_HOST_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One model of the host's catalog. Host-owned; `name` is valid for the life of the host process. */
typedef struct warmup_model_info {
    uint32_t struct_size;
    warmup_model_index index;
    warmup_string_view name; /* e.g. "llama3:8b" or "language/m-large/chunk-17" */
    double memory_mb;        /* declared memory footprint when loaded (catalog), MiB */
    double load_ms;          /* declared cold-load time (catalog), ms */
    double unload_ms;        /* declared unload time (catalog), ms */
    uint32_t priority;       /* catalog priority class, 0 = highest */
} warmup_model_info;

typedef struct warmup_host warmup_host;

struct warmup_host {
    uint32_t struct_size;
    warmup_abi_version abi; /* the host's ABI version */
    void *host_data;        /* the host's; plugins pass `host` back, never touch this */

    /* [any] Creates an error in host memory. `message` is borrowed (copied). Never returns NULL. The plugin owns the
     * returned error until it returns it from a call (from then on the host owns and frees it) or frees it with
     * free_error (ABI 1.2); before 1.2 every error made had to be returned. */
    warmup_error *(*make_error)(const warmup_host *host, warmup_status code, warmup_string_view message);

    /* [any] Writes a log line attributed to the calling plugin. `message` is borrowed. */
    void (*log)(const warmup_host *host, warmup_log_level level, warmup_string_view message);

    /* [any] Current time on the host clock, ms. Wall clock when live, the virtual clock during replay. */
    warmup_time_ms (*now_ms)(const warmup_host *host);

    /* [any] Number of models in the catalog so far. The catalog only grows (models matched by a glob are added when
     * first seen); indexes are dense: 0 .. count-1. */
    uint32_t (*model_count)(const warmup_host *host);

    /* [any] Fills `out` (caller sets out->struct_size) for `model`. Returns WARMUP_OK or WARMUP_ERROR_NOT_FOUND. */
    warmup_status (*model_info)(const warmup_host *host, warmup_model_index model, warmup_model_info *out);

    /* [any] Looks a model up by name. Returns its index or WARMUP_NO_MODEL if the catalog has not seen it. */
    warmup_model_index (*find_model)(const warmup_host *host, warmup_string_view name);

    /* ABI 1.2. Present in every host that loads a plugin built against ABI >= 1.2 (an older host refuses such a
     * plugin, see version.h), so that plugin calls the two below without checking struct_size.
     *
     * [any] The host extension with the NUL-terminated id `id` (borrowed), e.g. WARMUP_HOST_EXT_CLOCK: a pointer to
     * its table (a struct starting with uint32_t struct_size; the id's header says which), or NULL when this host
     * does not offer that id (or `id` is NULL). The table is the host's, valid as long as `host`; never freed by the
     * plugin. Its functions take this same `host` first. Asking twice returns the same pointer. */
    const void *(*get_extension)(const warmup_host *host, const char *id);

    /* [any] Frees an error made with make_error that the plugin will not return (it recovered, or it returns another
     * error instead). The plugin owned it; afterwards the pointer is dangling. NULL is accepted and ignored. Never
     * free an error that was returned to the host, and never free one twice. */
    void (*free_error)(const warmup_host *host, warmup_error *error);
};

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_HOST_H */
