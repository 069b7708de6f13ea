/*
 * warmup/backend.h — a model server adapter that actually loads and unloads models (sim, page cache, Ollama,
 * Triton, vLLM). Unlike component plugins, backends are called on worker threads, concurrently for different models:
 * load and unload must be thread-safe.
 */
#ifndef WARMUP_BACKEND_H
#define WARMUP_BACKEND_H

#include "common.h"
#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Lets a long load notice that the host gave up on it (timeout, emergency stop). Borrowed for the load call. */
typedef struct warmup_cancel_token {
    void *context;
    /* [any] Non-zero once the operation should stop as soon as it can. */
    int (*is_cancelled)(void *context);
} warmup_cancel_token;

typedef struct warmup_load_result {
    uint32_t struct_size;
    double memory_mb; /* resident memory measured after the load, or 0 when unknown */
} warmup_load_result;

/* ABI 1.1. One model the server holds now, as list_resident reports it. Borrowed for the `add` call. */
typedef struct warmup_resident_model {
    uint32_t struct_size;
    warmup_string_view name; /* the catalog model name (the backend maps server names back); borrowed */
    double memory_mb;        /* resident memory the server reports, MiB, or 0 when unknown (the catalog's applies) */
} warmup_resident_model;

/* ABI 1.1. Where list_resident reports; the host's, borrowed for the list_resident call. */
typedef struct warmup_resident_model_writer {
    void *context; /* host's; pass back unchanged */
    /* [same thread as list_resident, during that call] Records one resident model (`model` and its name are borrowed,
     * copied by the host). Reporting a name twice counts once. Returns 0. */
    int (*add)(void *context, const warmup_resident_model *model);
} warmup_resident_model_writer;

typedef struct warmup_backend_vtable {
    uint32_t struct_size;

    /* [worker] Loads `model` (borrowed) and returns when it is ready to serve, or with an error. Never called twice
     * concurrently for the same model. Fills `out` (caller sets out->struct_size). */
    warmup_error *(*load)(void *self, const warmup_model_info *model, const warmup_cancel_token *cancel,
                          warmup_load_result *out);

    /* [worker] Unloads `model` (borrowed). */
    warmup_error *(*unload)(void *self, const warmup_model_info *model);

    /* ABI 1.1, optional. Absent in a 1.0 plugin's table (its struct_size ends before this field: check
     * WARMUP_HAS_FIELD(vtable, warmup_backend_vtable, list_resident)) or NULL: the backend cannot list.
     *
     * [worker] Reports through `out` every model the server holds right now (Ollama GET /api/ps, Triton
     * POST /v2/repository/index, vLLM GET /is_sleeping or /v1/models), so the host can reconcile its own books with
     * what is really resident: a model it does not know of is adopted into the memory budget, a model it believes
     * loaded but is gone is marked unloaded. Called concurrently with load and unload of any model.
     * Returns NULL when the whole list was reported. On an error (server unreachable, an answer it cannot read) the
     * host changes nothing for this round; WARMUP_ERROR_UNSUPPORTED means this instance can never list (its
     * configuration does not allow it) and the host stops asking. */
    warmup_error *(*list_resident)(void *self, const warmup_resident_model_writer *out);
} warmup_backend_vtable;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_BACKEND_H */
