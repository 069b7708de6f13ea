/*
 * warmup/model_backend.h — a model server adapter that actually loads and unloads models (sim, page cache, Ollama,
 * Triton, vLLM). Unlike component plugins, backends are called on worker threads, concurrently for different models:
 * load and unload must be thread-safe.
 */
#ifndef WARMUP_MODEL_BACKEND_H
#define WARMUP_MODEL_BACKEND_H

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

typedef struct warmup_model_backend_vtable {
    uint32_t struct_size;

    /* [worker] Loads `model` (borrowed) and returns when it is ready to serve, or with an error. Never called twice
     * concurrently for the same model. Fills `out` (caller sets out->struct_size). */
    warmup_error *(*load)(void *self, const warmup_model_info *model, const warmup_cancel_token *cancel,
                          warmup_load_result *out);

    /* [worker] Unloads `model` (borrowed). */
    warmup_error *(*unload)(void *self, const warmup_model_info *model);
} warmup_model_backend_vtable;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_MODEL_BACKEND_H */
