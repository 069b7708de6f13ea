/* counting_resource.h — the instance of counting_resource_plugin.c, read by the engine tests through `self`. */
#ifndef WARMUP_TEST_COUNTING_RESOURCE_H
#define WARMUP_TEST_COUNTING_RESOURCE_H

#include <stdint.h>

typedef struct counting_resource {
    uint64_t uses;          /* on_used and on_used_requests calls */
    uint64_t requests;      /* the requests they reported (1 for each on_used) */
    uint64_t on_used_calls; /* on_used alone */
} counting_resource;

#endif
