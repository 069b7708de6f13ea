/* flaky_resolver.c — an LD_PRELOAD library for tests: getaddrinfo() of the host name in WARMUP_TEST_FLAKY_NAME fails
 * with EAI_AGAIN (a temporary failure: no resolver reachable, as at boot before the network is up) for its first
 * WARMUP_TEST_FLAKY_FAILURES calls (-1: always), then answers as the system's resolver does. Every other name goes
 * to the system's resolver at once. The count is per process; the library is not thread-safe beyond an atomic count,
 * which is all warmupd's start-up lookups need. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef int (*getaddrinfo_fn)(const char*, const char*, const struct addrinfo*, struct addrinfo**);

static atomic_int calls;

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints, struct addrinfo** res) {
    const getaddrinfo_fn system_getaddrinfo = (getaddrinfo_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    const char* name = getenv("WARMUP_TEST_FLAKY_NAME");
    const char* failures_text = getenv("WARMUP_TEST_FLAKY_FAILURES");
    if (node != NULL && name != NULL && strcmp(node, name) == 0) {
        const int failures = failures_text != NULL ? atoi(failures_text) : -1;
        const int call = atomic_fetch_add(&calls, 1);
        if (failures < 0 || call < failures) return EAI_AGAIN;
    }
    return system_getaddrinfo(node, service, hints, res);
}
