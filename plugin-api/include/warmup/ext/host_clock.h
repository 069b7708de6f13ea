/*
 * warmup/ext/host_clock.h — host extension (ABI 1.2): the host clock.
 *
 * Looked up with host->get_extension(host, WARMUP_HOST_EXT_CLOCK). Every host of ABI >= 1.2 offers it. The same
 * service as warmup_host.now_ms, under an id (see host.h for why host services have ids).
 */
#ifndef WARMUP_EXT_HOST_CLOCK_H
#define WARMUP_EXT_HOST_CLOCK_H

#include "../common.h"
#include "../host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WARMUP_HOST_EXT_CLOCK "org.warmup.host.clock.v1"

typedef struct warmup_host_clock_extension {
    uint32_t struct_size;

    /* [any] Current time on the host clock, ms since the epoch: the wall clock when live, the virtual clock during
     * replay. */
    warmup_time_ms (*now_ms)(const warmup_host *host);
} warmup_host_clock_extension;

#ifdef __cplusplus
}
#endif

#endif /* WARMUP_EXT_HOST_CLOCK_H */
