/*
 * warmup/ext/host_log.h — host extension (ABI 1.2): log lines attributed to the calling plugin instance.
 *
 * Looked up with host->get_extension(host, WARMUP_HOST_EXT_LOG). Every host of ABI >= 1.2 offers it. The same service
 * as warmup_host.log, under an id (see host.h for why host services have ids).
 */
#ifndef WARMUP_EXT_HOST_LOG_H
#define WARMUP_EXT_HOST_LOG_H

#include "../common.h"
#include "../host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WARMUP_HOST_EXT_LOG "org.warmup.host.log.v1"

typedef struct warmup_host_log_extension {
    uint32_t struct_size;

    /* [any] Writes one log line at `level`, attributed to the plugin instance `host` was given to (the host prefixes
     * the instance's label). `message` is borrowed (copied). */
    void (*log)(const warmup_host *host, warmup_log_level level, warmup_string_view message);
} warmup_host_log_extension;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_EXT_HOST_LOG_H */
