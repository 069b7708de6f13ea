/*
 * warmup/version.h — the ABI version this header set describes, and the one rule that decides whether a host and a
 * plugin can work together.
 *
 * The rule (warmup_abi_is_compatible): the majors are equal and the plugin's minor is not newer than the host's.
 * The host's loader applies it to every descriptor before it reads anything past `abi`; the SDK applies it again in
 * `create` to the host it is handed; a plugin written in C may call it on `warmup_host.abi` as well. One inline
 * function in this header, so the host and every plugin judge with the same code.
 *
 * Rationale:
 *  - A minor bump only appends: fields at the end of structs (readers check `struct_size`, see WARMUP_HAS_FIELD in
 *    common.h) and optional function pointers at the end of vtables. A plugin of an older minor therefore works with a
 *    newer host, which reads only what the plugin's struct sizes say it wrote.
 *  - A plugin of a newer minor may rely on host fields an older host does not have (e.g. warmup_host.get_extension,
 *    ABI 1.2): the older host refuses it instead of letting it read past the end of the host's struct.
 *  - A new major may change any layout, so nothing but `struct_size` and `abi` (offsets 0 and 4 of the descriptor and
 *    of warmup_host, pinned for every major) is read from a descriptor of another major.
 */
#ifndef WARMUP_VERSION_H
#define WARMUP_VERSION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes. History of minors (each only appends):
 *  1.0  the first release.
 *  1.1  warmup_backend_vtable.list_resident (optional), warmup_resident_model, warmup_resident_model_writer;
 *       the source kind (source.h); the model-state extension (ext/model_state.h).
 *  1.2  warmup_host.get_extension and the host extensions (ext/host_log.h, ext/host_clock.h, ext/host_catalog.h);
 *       warmup_host.free_error.
 *  1.3  warmup_prediction.replan_models and replan_count: the followers a use makes likely soon (successions).
 *  1.4  warmup_resource_vtable.on_used_requests (optional): a use with the number of requests it served.
 * Within 1.2, names only: each component kind took one word (analyzer, predictor, performance, scheduler, resource,
 * queue, metrics, backend, source) for its header, WARMUP_KIND_* constant and vtable type. The kind values, struct
 * layouts and the entry symbol did not change, so libraries built before load as they did; their sources need the
 * new names to compile. */
#define WARMUP_ABI_MAJOR 1
#define WARMUP_ABI_MINOR 4

typedef struct warmup_abi_version {
    uint16_t major;
    uint16_t minor;
} warmup_abi_version;

/* An initializer for the version this header describes: `warmup_abi_version v = WARMUP_ABI_VERSION_INIT;` or the
 * `.abi` field of a descriptor. */
#define WARMUP_ABI_VERSION_INIT \
    { WARMUP_ABI_MAJOR, WARMUP_ABI_MINOR }

/* [any] Non-zero when a plugin built against `plugin` may be loaded by a host that speaks `host`: the same major, and
 * the plugin's minor not newer than the host's. Pure; no side effects. */
static inline int warmup_abi_is_compatible(warmup_abi_version host, warmup_abi_version plugin) {
    return host.major == plugin.major && plugin.minor <= host.minor;
}

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_VERSION_H */
