/*
 * warmup/ext/host_catalog.h — host extension (ABI 1.2): the host's model catalog, read-only.
 *
 * Looked up with host->get_extension(host, WARMUP_HOST_EXT_CATALOG). Every host of ABI >= 1.2 offers it. The same
 * services as warmup_host.model_count, model_info and find_model, under an id (see host.h for why host services have
 * ids).
 */
#ifndef WARMUP_EXT_HOST_CATALOG_H
#define WARMUP_EXT_HOST_CATALOG_H

#include "../common.h"
#include "../host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WARMUP_HOST_EXT_CATALOG "org.warmup.host.catalog.v1"

typedef struct warmup_host_catalog_extension {
    uint32_t struct_size;

    /* [any] Number of models in the catalog so far. The catalog only grows (models matched by a glob are added when
     * first seen); indexes are dense: 0 .. count-1 and never reused. */
    uint32_t (*model_count)(const warmup_host *host);

    /* [any] Fills `out` (caller sets out->struct_size; the host writes at most that many bytes and sets struct_size
     * to what it wrote) for `model`. Returns WARMUP_OK or WARMUP_ERROR_NOT_FOUND. The name inside stays valid for the
     * life of the host process. */
    warmup_status (*model_info)(const warmup_host *host, warmup_model_index model, warmup_model_info *out);

    /* [any] Looks a model up by name (borrowed). Returns its index, or WARMUP_NO_MODEL when the catalog has not seen
     * it (no glob is expanded by this call). */
    warmup_model_index (*find_model)(const warmup_host *host, warmup_string_view name);
} warmup_host_catalog_extension;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_EXT_HOST_CATALOG_H */
