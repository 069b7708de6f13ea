/*
 * warmup/common.h — types shared by every part of the warm-up plugin ABI.
 *
 * This header set is the only thing an outside plugin compiles against. It is plain C (C11) and also compiles as
 * C++17/20; nothing C++ (STL types, exceptions, RTTI) crosses it.
 *
 * Rules that hold for the whole ABI (read once, they are not repeated on every function):
 *  - Versioning (version.h): the host loads a plugin only if the plugin's ABI major equals the host's and its minor is
 *    not newer than the host's (warmup_abi_is_compatible). A minor bump only appends fields to structs or optional
 *    function pointers to vtables; a break is a new major.
 *  - Growth: every struct that can grow starts with `struct_size` (uint32_t, bytes). A reader checks it before it
 *    touches a field past the ones it knows (WARMUP_HAS_FIELD). Fields are never reordered or removed.
 *  - Vtables take `self` (the instance pointer the plugin returned from create) first.
 *  - Strings are UTF-8 `warmup_string_view` (pointer + length, not necessarily NUL-terminated) unless a field says
 *    "NUL-terminated".
 *  - Errors: a function that can fail returns `warmup_error*`; NULL means success. A plugin creates errors only with
 *    `warmup_host.make_error`, so they live in host memory and outlive an unloaded plugin. The caller (the host) owns
 *    the returned error and frees it. An error the plugin made and will not return (it recovered, or it made a
 *    better one) it frees with `warmup_host.free_error` (ABI 1.2).
 *  - Threads: every function pointer is tagged [control] (the host's single control thread, which owns all component
 *    plugins, so component plugins need no locks), [worker] (one of the host's warm-up worker threads; only
 *    backends are called there), [source] (the host thread of one source instance; only sources are
 *    called there) or [any] (callable from any thread, concurrently: must be thread-safe).
 *  - Ownership: every pointer is tagged "borrowed" (valid for the duration of the call only), or says who owns it and
 *    who frees it.
 */
#ifndef WARMUP_COMMON_H
#define WARMUP_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* WARMUP_ABI_MAJOR, WARMUP_ABI_MINOR and warmup_abi_version lived here before ABI 1.2; code that includes only
 * common.h keeps seeing them. */
#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* True when a struct of `struct_size` bytes written by the other side contains `field` of type `type_name`. */
#define WARMUP_HAS_FIELD(struct_ptr, type_name, field) \
    ((struct_ptr)->struct_size >= offsetof(type_name, field) + sizeof(((type_name *)0)->field))

/* Milliseconds. Absolute times are on the host clock (wall clock live, virtual clock in replay), epoch-based. */
typedef int64_t warmup_time_ms;

/* "Never" / "unknown" for absolute times. Compares later than every real time. */
#define WARMUP_TIME_NEVER INT64_MAX

/* Dense index of a model in the host's catalog, stable for the life of the host process (never reused). */
typedef uint32_t warmup_model_index;

#define WARMUP_NO_MODEL UINT32_MAX

/* UTF-8 text, not necessarily NUL-terminated. Ownership is stated where it is used. */
typedef struct warmup_string_view {
    const char *data;
    size_t size;
} warmup_string_view;

/* The stable set of error codes. New codes may be added in a minor version; treat unknown codes as INTERNAL. */
typedef enum warmup_status {
    WARMUP_OK = 0,
    WARMUP_ERROR_INVALID_ARGUMENT = 1,   /* bad parameter or configuration value; the message names the key */
    WARMUP_ERROR_NOT_FOUND = 2,          /* no such model, extension or item */
    WARMUP_ERROR_UNSUPPORTED = 3,        /* the plugin cannot do this (e.g. a state schema it does not know) */
    WARMUP_ERROR_RESOURCE_EXHAUSTED = 4, /* full queue, budget exceeded, out of memory */
    WARMUP_ERROR_UNAVAILABLE = 5,        /* a backend or service is not reachable right now; retry may succeed */
    WARMUP_ERROR_INTERNAL = 6,           /* a bug or an unexpected exception inside the plugin */
    WARMUP_ERROR_CANCELLED = 7,          /* the operation was cancelled by the host */
    WARMUP_ERROR_TIMEOUT = 8             /* the operation exceeded its time budget */
} warmup_status;

/* Opaque error object. Created by warmup_host.make_error in host memory. Owned by whoever holds it: a plugin that
 * returns it hands it to the host (which frees it); a plugin that keeps it frees it with warmup_host.free_error. */
typedef struct warmup_error warmup_error;

/* The component kinds. A descriptor declares exactly one; the host refuses a plugin in a slot of another kind. */
typedef enum warmup_plugin_kind {
    WARMUP_KIND_ANALYZER = 1,
    WARMUP_KIND_PREDICTOR = 2,
    WARMUP_KIND_PERFORMANCE = 3,
    WARMUP_KIND_SCHEDULER = 4,
    WARMUP_KIND_RESOURCE = 5,
    WARMUP_KIND_QUEUE = 6,
    WARMUP_KIND_METRICS = 7,
    WARMUP_KIND_BACKEND = 8, /* loads and unloads models */
    WARMUP_KIND_SOURCE = 9   /* feeds usage events from outside (source.h); since ABI 1.1 */
} warmup_plugin_kind;

/* Log levels for warmup_host.log. */
typedef enum warmup_log_level {
    WARMUP_LOG_DEBUG = 0,
    WARMUP_LOG_INFO = 1,
    WARMUP_LOG_WARN = 2,
    WARMUP_LOG_ERROR = 3
} warmup_log_level;

/* Where a model is right now, as the host sees it. */
typedef enum warmup_residency {
    WARMUP_RESIDENCY_ABSENT = 0,  /* not loaded */
    WARMUP_RESIDENCY_QUEUED = 1,  /* a warm-up is queued or waiting for memory */
    WARMUP_RESIDENCY_LOADING = 2, /* a backend load is running */
    WARMUP_RESIDENCY_READY = 3    /* loaded and serving */
} warmup_residency;

/* A sink for bytes the plugin produces (state export, metrics text). Borrowed for the call that receives it. */
typedef struct warmup_byte_writer {
    void *context; /* host's; pass back unchanged */
    /* [same thread as the call that received the writer] Appends `size` bytes (borrowed). Returns 0 on success. */
    int (*write)(void *context, const char *data, size_t size);
} warmup_byte_writer;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_COMMON_H */
